using BenchmarkDotNet.Attributes;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Benchmarks;

/// <summary>
/// Appends pre-built batches to a real log on disk: 100 B and 1 KiB records, 16 KiB and 1 MiB batches,
/// buffered (Kafka's default flush policy) and with fsync after every batch (the Raft log's policy).
/// One operation = one batch appended (validation, offset assignment, write, and fsync when asked).
/// Throughput in MB/s = BatchBytes / mean time per operation.
/// </summary>
[MemoryDiagnoser]
public class LogAppendBenchmarks
{
    private string _directory = "";
    private SegmentedLog _log = null!;
    private byte[] _batch = [];

    [Params(100, 1024)]
    public int RecordBytes { get; set; }

    [Params(16 * 1024, 1024 * 1024)]
    public int BatchBytes { get; set; }

    [Params(false, true)]
    public bool Fsync { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Environment.GetEnvironmentVariable("KRAFT_BENCH_DIR") ?? Path.GetTempPath(), "kraft-bench-" + Guid.NewGuid().ToString("N"));
        _log = SegmentedLog.Open(_directory, new LogConfig { SegmentBytes = 256L << 20, RetentionBytes = 512L << 20, RetentionMs = -1, FsyncEveryAppend = Fsync, Preallocate = Fsync, MaxMessageBytes = 2 << 20 });
        var value = new byte[RecordBytes - 10];
        new Random(1).NextBytes(value);
        var builder = new RecordBatchBuilder();
        while (builder.EstimatedSizeInBytes + RecordBytes < BatchBytes)
        {
            builder.Add(null, value, 0);
        }
        _batch = builder.Build();
    }

    [Benchmark]
    public long Append() => _log.AppendAsLeader(_batch, 1).LastOffset;

    [IterationCleanup]
    public void Retain() => _log.EnforceRetention();

    [GlobalCleanup]
    public void Cleanup()
    {
        _log.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>CRC-32C and batch validation over 16 KiB and 1 MiB buffers (the produce path's per-batch CPU cost).</summary>
[MemoryDiagnoser]
public class BatchCheckBenchmarks
{
    private byte[] _batch = [];

    [Params(16 * 1024, 1024 * 1024)]
    public int BatchBytes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var value = new byte[90];
        new Random(2).NextBytes(value);
        var builder = new RecordBatchBuilder();
        while (builder.EstimatedSizeInBytes + 100 < BatchBytes)
        {
            builder.Add(null, value, 0);
        }
        _batch = builder.Build();
    }

    [Benchmark]
    public uint Crc32C() => Kraft.Storage.Records.Crc32C.Compute(_batch);

    [Benchmark]
    public BatchValidation ValidateHeaderAndCrc() => RecordBatch.Validate(_batch, out _);

    [Benchmark]
    public BatchValidation ValidateDeep()
    {
        RecordBatch.Validate(_batch, out var header);
        return RecordBatch.ValidateRecords(_batch, header);
    }
}
