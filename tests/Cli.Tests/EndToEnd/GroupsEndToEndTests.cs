using System.Text.Json;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// Consumer groups with real processes: kafkajs 2.2.4 (a group of two, then one member resuming), kcat's balanced
/// consumer, the kraft CLI (consume --group, groups list/describe/reset-offsets), and a SIGKILL of the group
/// coordinator's broker after offsets were committed: the new coordinator loads them from __consumer_offsets and
/// the group resumes exactly where it left off.
/// </summary>
[Trait("Category", "EndToEnd")]
public class GroupsEndToEndTests
{
    private static string CompatDirectory([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        if (FindRoot(dir) is null) dir = new DirectoryInfo(Path.GetDirectoryName(sourceFile)!);
        var root = FindRoot(dir) ?? Environment.GetEnvironmentVariable("KRAFT_REPO_ROOT")
            ?? throw new InvalidOperationException("cannot find the repository root (Kraft.sln) from " + AppContext.BaseDirectory);
        return Path.Combine(root, "tests", "Compat");
    }

    private static string? FindRoot(DirectoryInfo? dir)
    {
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kraft.sln"))) dir = dir.Parent;
        return dir?.FullName;
    }

    private static async Task<JsonElement> Kafkajs(string compat, string bootstrap, string topic, string group, string mode, int count, LocalCluster cluster)
    {
        var (code, output, error) = await LocalCluster.Run("node", [Path.Combine(compat, "kafkajs-consumer-group.js"), bootstrap, topic, group, mode, count.ToString(System.Globalization.CultureInfo.InvariantCulture)], "", TimeSpan.FromSeconds(90));
        Assert.True(code == 0, $"kafkajs {mode}: {error}\n{cluster.Logs()}");
        return JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
    }

    private static async Task<JsonElement> DescribeGroup(LocalCluster cluster, string group, string bootstrap)
    {
        var (code, output, error) = await cluster.Kraft("groups", "describe", group, "-o", "json", "-b", bootstrap);
        Assert.True(code == 0, $"groups describe {group}: {error}\n{cluster.Logs()}");
        return JsonDocument.Parse(output).RootElement;
    }

    private static long Committed(JsonElement described) =>
        described.GetProperty("offsets").EnumerateArray().Sum(o => Math.Max(0, o.GetProperty("committed").GetInt64()));

    [Fact]
    public async Task Groups_commit_and_resume_across_clients_and_a_coordinator_kill()
    {
        string compat = CompatDirectory();
        Assert.True(Directory.Exists(Path.Combine(compat, "node_modules", "kafkajs")), "kafkajs is not installed: run .ci/install (npm install in tests/Compat)");
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();
        const int First = 300, Second = 120;

        // kafkajs: a group of two consumes everything, committing as it goes; both members got partitions.
        var first = await Kafkajs(compat, cluster.Bootstrap, "orders", "js-group", "first", First, cluster);
        Assert.Equal(First, first.GetProperty("distinct").GetInt32());
        var assigned = first.GetProperty("assignments").EnumerateArray().Select(a => a.GetArrayLength()).ToList();
        Assert.Equal(2, assigned.Count);
        Assert.All(assigned, n => Assert.True(n > 0, "each of the two members should own a partition"));
        Assert.Equal(3, assigned.Sum());

        var described = await DescribeGroup(cluster, "js-group", cluster.Bootstrap);
        Assert.Equal("Empty", described.GetProperty("state").GetString());
        // The group committed the end of every partition. kafkajs has no idempotent producer here, so a retried batch
        // can be stored twice (at-least-once): the log may hold more records than the First distinct values.
        long total = described.GetProperty("offsets").EnumerateArray().Sum(o => o.GetProperty("logEnd").GetInt64());
        Assert.True(total >= First, $"the log holds {total} records, fewer than the {First} produced");
        Assert.Equal(total, Committed(described));

        // kcat's balanced consumer (librdkafka) reads everything through its own group.
        var (kcode, kout, kerr) = await LocalCluster.Run("kcat", ["-b", cluster.Bootstrap, "-G", "kcat-group", "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%s\\n", "orders"], "", TimeSpan.FromSeconds(60));
        Assert.True(kcode == 0, kerr + cluster.Logs());
        Assert.Equal(Enumerable.Range(0, First).Select(i => $"first-{i}").Order(), kout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Distinct().Order());

        // The CLI: list shows both groups; a consume --group member commits what it printed; reset needs an Empty group.
        var (lcode, lout, lerr) = await cluster.Kraft("groups", "list", "-o", "json", "-b", cluster.Bootstrap);
        Assert.True(lcode == 0, lerr);
        var listed = JsonDocument.Parse(lout).RootElement.EnumerateArray().Select(g => g.GetProperty("group").GetString()).ToList();
        Assert.Contains("js-group", listed);
        Assert.Contains("kcat-group", listed);

        var (ccode, cout, cerr) = await cluster.Kraft("consume", "orders", "--group", "cli-group", "--from-beginning", "--max", "100", "-b", cluster.Bootstrap);
        Assert.True(ccode == 0, cerr + cluster.Logs());
        Assert.Equal(100, cout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var cli = await DescribeGroup(cluster, "cli-group", cluster.Bootstrap);
        Assert.Equal(100, Committed(cli));
        var (rcode, _, rerr) = await cluster.Kraft("groups", "reset-offsets", "cli-group", "--topic", "orders", "--to-latest", "-b", cluster.Bootstrap);
        Assert.True(rcode == 0, rerr);
        Assert.Equal(total, Committed(await DescribeGroup(cluster, "cli-group", cluster.Bootstrap)));

        // While a member is in the group, reset-offsets refuses with a clear error.
        var member = cluster.Kraft("consume", "orders", "--group", "cli-group", "--idle-timeout-ms", "6000", "-b", cluster.Bootstrap);
        var stableBy = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < stableBy && (await DescribeGroup(cluster, "cli-group", cluster.Bootstrap)).GetProperty("state").GetString() != "Stable")
        {
            await Task.Delay(200);
        }
        var (bcode, _, berr) = await cluster.Kraft("groups", "reset-offsets", "cli-group", "--topic", "orders", "--to-earliest", "-b", cluster.Bootstrap);
        Assert.Equal(ExitCodes.Failure, bcode);
        Assert.Contains("only while the group is Empty", berr);
        Assert.Equal(0, (await member).Code);

        // SIGKILL the coordinator of js-group; its committed offsets come back from __consumer_offsets on the new one.
        int coordinator = described.GetProperty("coordinator").GetInt32();
        cluster.Kill(coordinator);
        string survivors = string.Join(',', Enumerable.Range(1, cluster.Nodes).Where(n => n != coordinator).Select(n => $"127.0.0.1:{cluster.BasePort + n - 1}"));
        JsonElement after = default;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var (dcode, dout, _) = await cluster.Kraft("groups", "describe", "js-group", "-o", "json", "-b", survivors);
            if (dcode == 0)
            {
                after = JsonDocument.Parse(dout).RootElement;
                if (after.GetProperty("coordinator").GetInt32() != coordinator) break;
            }
            await Task.Delay(300);
        }
        Assert.NotEqual(coordinator, after.GetProperty("coordinator").GetInt32());
        Assert.Equal(total, Committed(after));

        // One kafkajs member resumes: every new record, none of the committed ones, no record read twice.
        var resumed = await Kafkajs(compat, survivors, "orders", "js-group", "resume", Second, cluster);
        Assert.Equal(Second, resumed.GetProperty("distinct").GetInt32());
        Assert.Equal(0, resumed.GetProperty("old").GetInt32());
        Assert.Equal(0, resumed.GetProperty("duplicates").GetInt32());
    }
}

/// <summary>The consumer embedded protocol and range assignor behind <c>kraft consume --group</c> (no cluster needed).</summary>
public class ConsumerProtocolTests
{
    [Fact]
    public void Range_assignment_gives_the_first_members_in_id_order_one_partition_more()
    {
        var members = new List<(string, IReadOnlyList<string>)> { ("b", ["t"]), ("a", ["t"]), ("c", ["other"]) };
        var assigned = Kraft.Cli.Commands.ConsumerProtocol.RangeAssign(members, "t", 3).ToDictionary(x => x.MemberId, x => x.Partitions);
        Assert.Equal(new[] { 0, 1 }, assigned["a"]);
        Assert.Equal(new[] { 2 }, assigned["b"]);
        Assert.Empty(assigned["c"]);
    }

    [Fact]
    public void Subscriptions_and_assignments_round_trip_in_Kafkas_v0_layout()
    {
        byte[] subscription = Kraft.Cli.Commands.ConsumerProtocol.EncodeSubscription(["orders", "audit"]);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 2, 0, 6 }, subscription[..8]);
        Assert.Equal(new[] { "orders", "audit" }, Kraft.Cli.Commands.ConsumerProtocol.DecodeSubscription(subscription));

        byte[] assignment = Kraft.Cli.Commands.ConsumerProtocol.EncodeAssignment("orders", [2, 0]);
        Assert.Equal(new[] { ("orders", 2), ("orders", 0) }, Kraft.Cli.Commands.ConsumerProtocol.DecodeAssignment(assignment));
        Assert.Empty(Kraft.Cli.Commands.ConsumerProtocol.DecodeAssignment([]));
    }
}
