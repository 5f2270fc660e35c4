using System.Text.Json;
using Kraft.Cli.Tests.EndToEnd;

namespace Kraft.Cli.Tests;

/// <summary>
/// `kraft bench quorum` end to end, briefly: three real voter processes, both runs of a second each. Checks that the
/// command works and reports committed records and latencies, never how fast (CI machines vary too much).
/// </summary>
[Collection(LocalCluster.Collection)]
public class QuorumBenchTests
{
    [Fact]
    public async Task Bench_quorum_runs_three_voter_processes_and_reports_commits_from_both_runs()
    {
        var (code, output, error) = await LocalCluster.Run("dotnet",
            [LocalCluster.KraftDll, "bench", "quorum", "--duration-seconds", "1", "--warmup-seconds", "0.5", "--rate", "200",
             "--batch-records", "50", "--concurrency", "2", "--fsync-probe-seconds", "0.2", "-o", "json"],
            "", TimeSpan.FromSeconds(150));
        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        var root = JsonDocument.Parse(output).RootElement;
        Assert.True(root.GetProperty("fsyncPerSecond4KiB").GetDouble() > 0);
        var runs = root.GetProperty("results").EnumerateArray().ToDictionary(r => r.GetProperty("Run").GetString()!);
        Assert.Equal(["latency", "throughput"], runs.Keys.Order());
        foreach (var run in runs.Values)
        {
            Assert.True(run.GetProperty("CommittedRecords").GetInt64() > 0, run.ToString());
            Assert.Equal(JsonValueKind.Null, run.GetProperty("Error").ValueKind);
            Assert.True(run.GetProperty("P99Ms").GetDouble() >= run.GetProperty("P50Ms").GetDouble(), run.ToString());
        }
        // The throughput run appends whole batches: committed records are a multiple of the batch.
        Assert.Equal(0, runs["throughput"].GetProperty("CommittedRecords").GetInt64() % 50);
    }

    [Fact]
    public async Task Bench_quorum_refuses_a_bad_run_name_without_starting_anything()
    {
        var (code, _, error) = await LocalCluster.Run("dotnet", [LocalCluster.KraftDll, "bench", "quorum", "--runs", "sideways"], "", TimeSpan.FromSeconds(60));
        Assert.Equal(ExitCodes.UsageError, code);
        Assert.Contains("--runs", error);
    }
}
