using System.Text.Json;
using Kraft.Cli.Commands;
using Kraft.Cli.Tests.EndToEnd;
using Kraft.Storage.Records;

namespace Kraft.Cli.Tests;

/// <summary>Pure parts of `kraft bench` and `kraft partitions`: percentiles, batch encoding, replica lists.</summary>
[Collection(Kraft.Cli.Tests.EndToEnd.LocalCluster.Collection)]
public class BenchPureTests
{
    [Fact]
    public void Percentiles_attribute_a_batch_latency_to_every_record_in_it()
    {
        var samples = new LatencySamples();
        samples.Add(1, 98);   // 98 records at 1 ms
        samples.Add(50, 1);   // one record at 50 ms
        samples.Add(100, 1);  // one record at 100 ms
        var summary = samples.Summarize();
        Assert.Equal(100, samples.Count);
        Assert.Equal(1, summary.P50Ms);
        Assert.Equal(50, summary.P99Ms);
        Assert.Equal(100, summary.P999Ms);
        Assert.Equal(100, summary.MaxMs);
        Assert.Equal((98 + 50 + 100) / 100.0, summary.AvgMs, 6);
    }

    [Fact]
    public void Benchmark_batches_are_valid_v2_batches_no_larger_than_the_batch_size()
    {
        var factory = new BenchBatchFactory(recordSizeBytes: 100, batchSizeBytes: 16 * 1024);
        Assert.InRange(factory.RecordsPerBatch, 100, 160);
        var batch = factory.Create(factory.RecordsPerBatch, 1_700_000_000_000);
        Assert.True(batch.Length <= 16 * 1024);
        Assert.Equal(BatchValidation.Ok, RecordBatch.Validate(batch, out var header));
        Assert.Equal(factory.RecordsPerBatch, header.RecordsCount);
        Assert.Equal(1_700_000_000_000, header.MaxTimestamp);
        var (records, bytes, next) = ConsumeBench.Count(batch, 5);
        Assert.Equal(factory.RecordsPerBatch - 5, records);
        Assert.Equal(batch.Length, bytes);
        Assert.Equal(factory.RecordsPerBatch, next);
    }

    [Fact]
    public void A_record_larger_than_the_batch_size_travels_alone()
    {
        var factory = new BenchBatchFactory(recordSizeBytes: 4000, batchSizeBytes: 1024);
        Assert.Equal(1, factory.RecordsPerBatch);
    }

    [Fact]
    public void Records_are_shared_evenly_over_senders()
    {
        long total = Enumerable.Range(0, 7).Sum(slot => BenchBatchFactory.Share(100, 7, slot));
        Assert.Equal(100, total);
        Assert.All(Enumerable.Range(0, 7), slot => Assert.InRange(BenchBatchFactory.Share(100, 7, slot), 14, 15));
    }

    [Theory]
    [InlineData("1,2,3", null)]
    [InlineData("2, 3", null)]
    [InlineData("2,2", "twice")]
    [InlineData("a,3", "separated by commas")]
    [InlineData("-1", "separated by commas")]
    [InlineData("", "separated by commas")]
    public void Replica_lists_are_checked_before_anything_is_sent(string text, string? problem)
    {
        string? found = PartitionsCommand.ParseReplicas(text, out var replicas);
        if (problem is null)
        {
            Assert.Null(found);
            Assert.NotEmpty(replicas);
        }
        else
        {
            Assert.Contains(problem, found);
        }
    }
}

/// <summary>`kraft bench` and `kraft partitions reassign` as real command lines against a real 3-node cluster.</summary>
[Trait("Category", "EndToEnd")]
[Collection(Kraft.Cli.Tests.EndToEnd.LocalCluster.Collection)]
public class BenchAndReassignEndToEndTests
{
    [Fact]
    public async Task Bench_produce_reports_every_record_and_bench_consume_reads_them_back()
    {
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();
        var (code, _, error) = await cluster.Kraft("topics", "create", "bench", "--partitions", "3", "--replication-factor", "3", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);

        (code, var output, error) = await cluster.Kraft("bench", "produce", "--topic", "bench", "--records", "5000", "--record-size", "50", "--acks", "all", "--producers", "2", "-o", "json", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error + cluster.Logs());
        var report = JsonDocument.Parse(output).RootElement;
        Assert.Equal(5000, report.GetProperty("records").GetInt64());
        Assert.True(report.GetProperty("recordsPerSecond").GetDouble() > 0);
        Assert.True(report.GetProperty("latencyMs").GetProperty("p99").GetDouble() >= report.GetProperty("latencyMs").GetProperty("p50").GetDouble());
        Assert.Equal(5000, report.GetProperty("partitions").EnumerateArray().Sum(p => p.GetProperty("records").GetInt64()));
        Assert.Empty(error); // not interactive: no progress lines

        (code, output, error) = await cluster.Kraft("bench", "consume", "--topic", "bench", "--records", "5000", "-o", "json", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);
        Assert.Equal(5000, JsonDocument.Parse(output).RootElement.GetProperty("records").GetInt64());

        (code, _, error) = await cluster.Kraft("bench", "produce", "--topic", "missing", "--records", "10", "-b", cluster.Bootstrap);
        Assert.Equal(1, code);
        Assert.Contains("unknown topic: missing", error);
        (code, _, error) = await cluster.Kraft("bench", "consume", "--topic", "bench", "--records", "6000", "--timeout-ms", "1500", "-b", cluster.Bootstrap);
        Assert.Equal(1, code);
        Assert.Contains("only 5000 of 6000", error);
    }

    [Fact]
    public async Task Reassigning_a_partition_moves_its_replicas_and_keeps_its_data()
    {
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();
        var (code, _, error) = await cluster.Kraft("topics", "create", "moving", "--partitions", "1", "--replication-factor", "2", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);
        (code, _, error) = await cluster.Kraft("bench", "produce", "--topic", "moving", "--records", "300", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);

        // First pin the replicas to [1,2] (placement may have chosen others), then move them to [2,3].
        (code, _, error) = await cluster.Kraft("partitions", "reassign", "--topic", "moving", "--partition", "0", "--replicas", "1,2", "--timeout", "60", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error + cluster.Logs());
        (code, var output, error) = await cluster.Kraft("partitions", "reassign", "--topic", "moving", "--partition", "0", "--replicas", "2,3", "--timeout", "60", "-o", "json", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error + cluster.Logs());
        var done = JsonDocument.Parse(output).RootElement;
        Assert.True(done.GetProperty("done").GetBoolean());

        var partition = (await cluster.DescribeAsync("moving")).EnumerateArray().Single();
        Assert.Equal([2, 3], partition.GetProperty("replicas").EnumerateArray().Select(r => r.GetInt32()).Order());
        (code, output, error) = await cluster.Kraft("bench", "consume", "--topic", "moving", "--records", "300", "-o", "json", "-b", cluster.Bootstrap);
        Assert.True(code == 0, error);
        Assert.Equal(300, JsonDocument.Parse(output).RootElement.GetProperty("records").GetInt64());

        (code, output, _) = await cluster.Kraft("partitions", "reassignments", "-o", "json", "-b", cluster.Bootstrap);
        Assert.Equal(0, code);
        Assert.Empty(JsonDocument.Parse(output).RootElement.EnumerateArray());

        // Bad input: one line on stderr, the right exit code, nothing sent for usage errors.
        (code, _, error) = await cluster.Kraft("partitions", "reassign", "--topic", "moving", "--partition", "0", "--replicas", "2,2", "-b", cluster.Bootstrap);
        Assert.Equal(2, code);
        Assert.Contains("twice", error);
        (code, _, error) = await cluster.Kraft("partitions", "reassign", "--topic", "moving", "--partition", "0", "--replicas", "2,9", "-b", cluster.Bootstrap);
        Assert.Equal(1, code);
        Assert.Contains("not a registered broker", error);
        (code, _, error) = await cluster.Kraft("partitions", "reassign", "--topic", "nowhere", "--partition", "0", "--replicas", "2,3", "-b", cluster.Bootstrap);
        Assert.Equal(1, code);
        Assert.Contains("unknown topic: nowhere", error);
    }

    [Theory]
    [InlineData("bench", "produce", "--topic", "t")]                                   // --records missing
    [InlineData("bench", "produce", "--topic", "t", "--records", "10", "--acks", "2")]   // bad acks
    [InlineData("bench", "produce", "--topic", "t", "--records", "ten")]
    [InlineData("bench", "produce", "--topic", "t", "--records", "10", "--in-flight", "0")]
    [InlineData("bench", "consume", "--topic", "t", "--records", "0")]
    [InlineData("partitions", "reassign", "--topic", "t", "--partition", "0")]          // --replicas missing
    [InlineData("partitions", "reassign", "--topic", "t", "--partition", "0", "--replicas", "1,x")]
    public async Task Bad_flags_are_usage_errors(params string[] args)
    {
        // A closed port: usage errors must be reported before any connection is tried.
        var (code, _, error) = await LocalCluster.Run("dotnet", [LocalCluster.KraftDll, .. args, "-b", "127.0.0.1:1"], "", TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.StartsWith("kraft: ", error);
    }
}
