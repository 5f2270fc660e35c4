using System.Text.Json;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>kafkajs 2.2.4 (npm, installed by .ci/install into tests/Compat) against a real three-node cluster.</summary>
[Trait("Category", "EndToEnd")]
[Collection(LocalCluster.Collection)]
public class KafkajsTests
{
    private static string CompatDirectory([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        // The test binaries may live outside the tree (--artifacts-path): fall back to where this source file was compiled.
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

    [Fact]
    public async Task Kafkajs_admin_creates_a_topic_and_its_producer_writes_with_acks_all()
    {
        string compat = CompatDirectory();
        Assert.True(Directory.Exists(Path.Combine(compat, "node_modules", "kafkajs")), "kafkajs is not installed: run .ci/install (npm install in tests/Compat)");
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();

        var (code, output, error) = await LocalCluster.Run("node", [Path.Combine(compat, "kafkajs-admin-produce.js"), cluster.Bootstrap, "from-kafkajs", "500"], "", TimeSpan.FromSeconds(120));
        Assert.True(code == 0, error + cluster.Logs());
        var result = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.True(result.GetProperty("created").GetBoolean());
        Assert.Equal(500, result.GetProperty("acknowledged").GetInt32());
        // Without an idempotent producer a resent batch can be written twice (Kafka's at-least-once); every value must be there.
        Assert.True(result.GetProperty("total").GetInt32() >= 500);
        Assert.Equal(3, result.GetProperty("partitions").GetInt32());

        var (kcode, consumed, kerr) = await LocalCluster.Run("kcat", ["-b", cluster.Bootstrap, "-C", "-t", "from-kafkajs", "-o", "beginning", "-e", "-q", "-f", "%s\\n"], "", TimeSpan.FromSeconds(60));
        Assert.True(kcode == 0, kerr);
        var values = consumed.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 500).Select(i => $"kafkajs-{i}").Order(), values.Distinct().Order());
        Console.WriteLine($"kafkajs produced 500 values; {values.Length - values.Distinct().Count()} duplicates from producer retries");
    }

    /// <summary>
    /// kafkajs with idempotent: true (InitProducerId, sequence numbers) while the partition's leader is SIGKILLed
    /// mid-stream: the client retries batches whose acknowledgement it lost, and the new leader recognises those its
    /// predecessor had stored, so every value is stored exactly once. One partition: see kafkajs-admin-produce.js for
    /// the kafkajs retry behaviour that makes multi-partition idempotent sends unreliable across leader changes.
    /// </summary>
    [Fact]
    public async Task Kafkajs_idempotent_producer_stores_every_value_exactly_once_across_a_broker_kill()
    {
        string compat = CompatDirectory();
        Assert.True(Directory.Exists(Path.Combine(compat, "node_modules", "kafkajs")), "kafkajs is not installed: run .ci/install (npm install in tests/Compat)");
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();

        const int Count = 3000;
        var producing = LocalCluster.Run("node", [Path.Combine(compat, "kafkajs-admin-produce.js"), cluster.Bootstrap, "idempotent", Count.ToString(System.Globalization.CultureInfo.InvariantCulture), "idempotent"], "", TimeSpan.FromSeconds(150));
        // Fault injection, not logic: wait until records are flowing, then kill the partition's leader while the producer runs.
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (!producing.IsCompleted && stopwatch.Elapsed < TimeSpan.FromSeconds(60))
        {
            var (_, offsets, _) = await LocalCluster.Run("kcat", ["-b", cluster.Bootstrap, "-Q", "-t", "idempotent:0:-1"], "", TimeSpan.FromSeconds(20));
            if (offsets.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() is { } end && long.TryParse(end, out long n) && n > 100) break;
            await Task.Delay(100);
        }
        int leader = (await cluster.DescribeAsync("idempotent")).EnumerateArray().Single().GetProperty("leader").GetInt32();
        cluster.Kill(leader);

        var (code, output, error) = await producing;
        Assert.True(code == 0, error + cluster.Logs());
        var result = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
        Assert.Equal(Count, result.GetProperty("acknowledged").GetInt32());
        Assert.Equal(Count, result.GetProperty("total").GetInt32()); // no duplicate stored (ListOffsets waits for KIP-207)

        // Read everything back. Right after a failover a new leader's high watermark can lag for a fetch round, so a
        // short read is retried; a read longer than Count (a duplicate) fails at once.
        string[] values = [];
        for (var reading = System.Diagnostics.Stopwatch.StartNew(); values.Length < Count && reading.Elapsed < TimeSpan.FromSeconds(30);)
        {
            var (kcode, consumed, kerr) = await LocalCluster.Run("kcat", ["-b", cluster.Bootstrap, "-C", "-t", "idempotent", "-o", "beginning", "-e", "-q", "-f", "%s\\n"], "", TimeSpan.FromSeconds(60));
            Assert.True(kcode == 0, kerr);
            values = consumed.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"kafkajs-{i}").Order(), values.Order());

        // For the record (timing-dependent, so not asserted): how many retried batches the surviving leaders recognised.
        long recognised = 0;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        foreach (int node in Enumerable.Range(1, cluster.Nodes).Where(n => n != leader))
        {
            string metrics = await http.GetStringAsync($"http://127.0.0.1:{cluster.BasePort + 200 + node - 1}/metrics");
            recognised += metrics.Split('\n').Where(l => l.StartsWith("kraft_broker_produce_duplicates_total ", StringComparison.Ordinal))
                .Sum(l => (long)double.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture));
        }
        Console.WriteLine($"kafkajs idempotent: {Count} values stored once each; {recognised} retried batch(es) recognised after killing leader {leader}");
    }
}
