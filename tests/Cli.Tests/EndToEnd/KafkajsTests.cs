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
}
