using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Messages;
using Kraft.Storage.Records;

namespace Kraft.Cli.Commands;

/// <summary>
/// <c>kraft bench produce</c> and <c>kraft bench consume</c>: end-to-end throughput and latency, reported the way
/// Kafka's kafka-producer-perf-test and kafka-consumer-perf-test report them (records/s, MB/s with MB = 2^20 bytes,
/// latency avg/p50/p95/p99/p99.9/max), with <c>--output json</c> for scripts.
/// </summary>
public static class BenchCommand
{
    public static Command Build()
    {
        return new Command("bench", "Measure produce and consume throughput and latency against a running cluster") { Produce(), Consume(), QuorumBenchCommand.Build(), QuorumBenchCommand.BuildNode() };
    }

    private static Command Produce()
    {
        var topic = new Option<string>("--topic", "-t") { Description = "Topic to write to (must exist)", Required = true };
        var records = new Option<long>("--records", "-n") { Description = "Number of records to send", Required = true };
        var recordSize = new Option<int>("--record-size", "-s") { Description = "Value size of each record in bytes (null key)", DefaultValueFactory = _ => 100 };
        var acks = new Option<string>("--acks") { Description = "0, 1 or all", DefaultValueFactory = _ => "all" };
        var producers = new Option<int>("--producers") { Description = "Concurrent producers, each with its own connections", DefaultValueFactory = _ => 1 };
        var batchSize = new Option<int>("--batch-size") { Description = "Largest record batch in bytes (Kafka's batch.size)", DefaultValueFactory = _ => 16 * 1024 };
        var inFlight = new Option<int>("--in-flight") { Description = "Requests in flight per connection (Kafka's max.in.flight.requests.per.connection)", DefaultValueFactory = _ => 5 };
        var linger = new Option<int>("--linger-ms") { Description = "With --throughput: how long a batch waits to fill before it is sent", DefaultValueFactory = _ => 5 };
        var throughput = new Option<long>("--throughput") { Description = "Pace the producers to this many records/s in total (default: as fast as possible)", DefaultValueFactory = _ => -1 };
        acks.AcceptOnlyFromAmong("0", "1", "all", "-1");
        var command = new Command("produce", "Send N records as fast as possible (or paced) and report throughput and latency")
        {
            topic, records, recordSize, acks, producers, batchSize, inFlight, linger, throughput,
        };
        command.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            // Checked here rather than in a parse validator: validators see unset options as zero, not their defaults.
            string? problem = p.GetValue(records) < 1 ? "--records must be at least 1"
                : p.GetValue(recordSize) < 0 ? "--record-size must not be negative"
                : p.GetValue(producers) is < 1 or > 64 ? "--producers must be between 1 and 64"
                : p.GetValue(batchSize) < 128 ? "--batch-size must be at least 128 bytes"
                : p.GetValue(inFlight) is < 1 or > 100 ? "--in-flight must be between 1 and 100"
                : p.GetValue(linger) < 0 ? "--linger-ms must not be negative"
                : p.GetValue(throughput) is 0 or < -1 ? "--throughput must be positive (or omitted)"
                : null;
            if (problem is not null)
            {
                output.Fail(problem);
                return ExitCodes.UsageError;
            }
            var settings = new ProduceBenchSettings(
                p.GetValue(topic)!, p.GetValue(records), p.GetValue(recordSize), p.GetValue(acks) switch { "0" => (short)0, "1" => (short)1, _ => (short)-1 },
                p.GetValue(producers), p.GetValue(batchSize), p.GetValue(inFlight), p.GetValue(linger), p.GetValue(throughput));
            return await ProduceBench.RunAsync(client, ClientOptions(p), settings, output, token).ConfigureAwait(false);
        }));
        return command;
    }

    private static Command Consume()
    {
        var topic = new Option<string>("--topic", "-t") { Description = "Topic to read (from the earliest offset)", Required = true };
        var records = new Option<long>("--records", "-n") { Description = "Stop after this many records", Required = true };
        var fetchBytes = new Option<int>("--fetch-max-bytes") { Description = "Largest fetch response per partition", DefaultValueFactory = _ => 4 * 1024 * 1024 };
        var timeout = new Option<int>("--timeout-ms") { Description = "Give up after this long without new records", DefaultValueFactory = _ => 30000 };
        var command = new Command("consume", "Read N records from the start of a topic and report throughput") { topic, records, fetchBytes, timeout };
        command.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            string? problem = p.GetValue(records) < 1 ? "--records must be at least 1"
                : p.GetValue(fetchBytes) < 1024 ? "--fetch-max-bytes must be at least 1024"
                : p.GetValue(timeout) < 1 ? "--timeout-ms must be positive"
                : null;
            if (problem is not null)
            {
                output.Fail(problem);
                return ExitCodes.UsageError;
            }
            return await ConsumeBench.RunAsync(client, p.GetValue(topic)!, p.GetValue(records), p.GetValue(fetchBytes), p.GetValue(timeout), output, token).ConfigureAwait(false);
        }));
        return command;
    }

    /// <summary>The client settings of the CLI, for producers that open clients of their own.</summary>
    private static KafkaClientOptions ClientOptions(ParseResult parse) => new()
    {
        BootstrapServers = (parse.GetValue(ClientCommand.Bootstrap) ?? DevCluster.DefaultBootstrap).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        ClientId = "kraft-bench",
        ConnectTimeout = TimeSpan.FromSeconds(3),
        RequestTimeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>Progress lines go to stderr only when a person is watching (stderr is a terminal).</summary>
    internal static bool Interactive(Output output) => ReferenceEquals(output.Err, Console.Error) && !Console.IsErrorRedirected;

    internal static string Format(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}

/// <summary>What one <c>bench produce</c> run does.</summary>
public sealed record ProduceBenchSettings(
    string Topic, long Records, int RecordSizeBytes, short Acks, int Producers, int BatchSizeBytes, int InFlightPerConnection,
    int LingerMs, long ThroughputRecordsPerSecond);

/// <summary>
/// Weighted latency samples: one sample per acknowledged batch, weighted by the records in it, so that each record
/// is attributed its batch's send-to-acknowledgement time (as Kafka's perf test does). Exact percentiles: a run
/// produces tens of thousands of batches at most, so keeping every sample is cheaper than a histogram's error.
/// </summary>
/// <remarks>Pure: no clock, no I/O. Not thread-safe; callers lock.</remarks>
public sealed class LatencySamples
{
    private readonly List<(double Ms, int Weight)> _samples = [];
    private double _weightedSumMs;

    public long Count { get; private set; }

    public void Add(double latencyMs, int records)
    {
        if (records <= 0) throw new ArgumentOutOfRangeException(nameof(records), "a sample covers at least one record");
        _samples.Add((latencyMs, records));
        _weightedSumMs += latencyMs * records;
        Count += records;
    }

    public void AddAll(LatencySamples other)
    {
        foreach (var (ms, weight) in other._samples) Add(ms, weight);
    }

    /// <summary>Average, percentiles (nearest rank over records) and maximum, in milliseconds; zeros when empty.</summary>
    public LatencySummary Summarize()
    {
        if (Count == 0) return new LatencySummary(0, 0, 0, 0, 0, 0);
        var sorted = _samples.OrderBy(s => s.Ms).ToList();
        double Percentile(double q)
        {
            // Nearest rank: the smallest latency such that at least q of the records are at or below it.
            long rank = Math.Max(1, (long)Math.Ceiling(q * Count));
            long seen = 0;
            foreach (var (ms, weight) in sorted)
            {
                seen += weight;
                if (seen >= rank) return ms;
            }
            return sorted[^1].Ms;
        }
        return new LatencySummary(_weightedSumMs / Count, Percentile(0.50), Percentile(0.95), Percentile(0.99), Percentile(0.999), sorted[^1].Ms);
    }
}

public sealed record LatencySummary(double AvgMs, double P50Ms, double P95Ms, double P99Ms, double P999Ms, double MaxMs);

/// <summary>
/// Encodes benchmark batches: every record has a null key and the same value (random letters, like Kafka's perf
/// test payload), so a batch of n records differs from the last one of n records only in its timestamps and CRC.
/// One template per record count is encoded once; each batch is a copy with fresh timestamps and CRC.
/// </summary>
/// <remarks>Pure apart from allocation; thread-safe (templates are immutable once cached).</remarks>
public sealed class BenchBatchFactory
{
    private readonly byte[] _value;
    private readonly ConcurrentDictionary<int, byte[]> _templates = new();

    public BenchBatchFactory(int recordSizeBytes, int batchSizeBytes)
    {
        var random = new Random(42);
        _value = new byte[recordSizeBytes];
        for (int i = 0; i < _value.Length; i++) _value[i] = (byte)('A' + random.Next(26));
        RecordsPerBatch = 1;
        // Kafka's batch.size is an upper bound; a record larger than it travels alone.
        while (RecordsPerBatch < 100_000 && Template(RecordsPerBatch + 1).Length <= batchSizeBytes) RecordsPerBatch++;
        if (RecordsPerBatch > 1 && Template(RecordsPerBatch).Length > batchSizeBytes) RecordsPerBatch--;
    }

    public int RecordsPerBatch { get; }

    public int RecordSizeBytes => _value.Length;

    private byte[] Template(int records) => _templates.GetOrAdd(records, n =>
    {
        var builder = new RecordBatchBuilder();
        for (int i = 0; i < n; i++) builder.Add(null, _value, 0);
        return builder.Build(0);
    });

    /// <summary>A batch of <paramref name="records"/> records, all stamped <paramref name="timestampMs"/>.</summary>
    public byte[] Create(int records, long timestampMs)
    {
        var batch = (byte[])Template(records).Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.BaseTimestampOffset), timestampMs);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(batch.AsSpan(RecordBatch.MaxTimestampOffset), timestampMs);
        RecordBatch.UpdateCrc(batch);
        return batch;
    }

    /// <summary>How <paramref name="total"/> records are split over <paramref name="slots"/> senders: as evenly as possible.</summary>
    public static long Share(long total, int slots, int slot) => total / slots + (slot < total % slots ? 1 : 0);
}

/// <summary>
/// Counters shared by all producers of a run: acknowledged records and bytes, latency samples, retries, and per
/// partition the longest gap between two acknowledgements (the failover measurement: how long a partition was not
/// writable), with wall-clock ends so a script can line the gap up with the moment it killed a broker.
/// </summary>
/// <remarks>Thread-safe: one lock; a few thousand acknowledgements per second contend little.</remarks>
internal sealed class ProduceStats(int partitions)
{
    private readonly object _lock = new();
    private readonly LatencySamples _latencies = new();
    private readonly long[] _lastAck = new long[partitions];
    private readonly long[] _maxGap = new long[partitions];
    private readonly long[] _gapStart = new long[partitions];
    private readonly long[] _records = new long[partitions];
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly long _startUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private long _windowRecords;
    private double _windowLatencySumMs;
    private double _windowMaxMs;

    public long Records { get; private set; }
    public long Batches { get; private set; }
    public long Retries;

    public long StartTimestamp => _startTimestamp;

    public long UnixMs(long timestamp) => _startUnixMs + (long)Stopwatch.GetElapsedTime(_startTimestamp, timestamp).TotalMilliseconds;

    public void Acked(int partition, int records, long readyTimestamp, long now)
    {
        double ms = Stopwatch.GetElapsedTime(readyTimestamp, now).TotalMilliseconds;
        lock (_lock)
        {
            _latencies.Add(ms, records);
            Records += records;
            Batches++;
            _records[partition] += records;
            _windowRecords += records;
            _windowLatencySumMs += ms * records;
            _windowMaxMs = Math.Max(_windowMaxMs, ms);
            long since = _lastAck[partition] == 0 ? _startTimestamp : _lastAck[partition];
            if (now - since > _maxGap[partition])
            {
                _maxGap[partition] = now - since;
                _gapStart[partition] = since;
            }
            _lastAck[partition] = Math.Max(_lastAck[partition], now);
        }
    }

    /// <summary>Records, average and maximum latency since the last call (for progress lines).</summary>
    public (long Records, double AvgMs, double MaxMs) TakeWindow()
    {
        lock (_lock)
        {
            var result = (_windowRecords, _windowRecords == 0 ? 0 : _windowLatencySumMs / _windowRecords, _windowMaxMs);
            _windowRecords = 0;
            _windowLatencySumMs = 0;
            _windowMaxMs = 0;
            return result;
        }
    }

    public LatencySummary Latency()
    {
        lock (_lock) return _latencies.Summarize();
    }

    public IReadOnlyList<object> Partitions()
    {
        lock (_lock)
        {
            return Enumerable.Range(0, _records.Length).Select(p => (object)new
            {
                partition = p,
                records = _records[p],
                maxGapMs = Math.Round(Stopwatch.GetElapsedTime(0, _maxGap[p]).TotalMilliseconds, 1),
                gapStartUnixMs = _maxGap[p] == 0 ? 0 : UnixMs(_gapStart[p]),
                gapEndUnixMs = _maxGap[p] == 0 ? 0 : UnixMs(_gapStart[p] + _maxGap[p]),
            }).ToList();
        }
    }
}

/// <summary>
/// The produce benchmark: K producers, each with its own client (so one connection per partition leader per
/// producer); per producer one sender per partition (round robin over partitions), each sealing record batches of
/// up to batch.size and keeping several requests in flight, at most M per connection. Retriable errors (leader
/// moved, not enough replicas, connection lost) are retried after refreshing metadata until a 120 s delivery
/// timeout (Kafka's delivery.timeout.ms), so a run survives a broker kill and measures the gap.
/// </summary>
internal static class ProduceBench
{
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan RetryBackoff = TimeSpan.FromMilliseconds(20);

    public static async Task<int> RunAsync(KafkaClient admin, KafkaClientOptions clientOptions, ProduceBenchSettings settings, Output output, CancellationToken cancellationToken)
    {
        var metadata = await admin.MetadataAsync([settings.Topic], cancellationToken).ConfigureAwait(false);
        var info = metadata.Topics.Single();
        if (info.ErrorCode != 0 || info.Partitions.Count == 0)
        {
            output.Fail($"unknown topic: {settings.Topic} (create it first with `kraft topics create {settings.Topic}`)");
            return ExitCodes.Failure;
        }

        int partitions = info.Partitions.Count;
        var factory = new BenchBatchFactory(settings.RecordSizeBytes, settings.BatchSizeBytes);
        var stats = new ProduceStats(partitions);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? failure = null;
        var clients = Enumerable.Range(0, settings.Producers).Select(_ => new KafkaClient(clientOptions)).ToList();
        using var progressStop = new CancellationTokenSource();
        var progress = BenchCommand.Interactive(output) ? ProgressAsync(stats, output, progressStop.Token) : Task.CompletedTask;
        long start = Stopwatch.GetTimestamp();
        try
        {
            var senders = new List<Task>();
            int slots = settings.Producers * partitions;
            for (int producer = 0; producer < settings.Producers; producer++)
            {
                var client = clients[producer];
                var gates = new ConcurrentDictionary<int, LeaderRequests>();
                for (int partition = 0; partition < partitions; partition++)
                {
                    int slot = producer * partitions + partition;
                    long quota = BenchBatchFactory.Share(settings.Records, slots, slot);
                    double rate = settings.ThroughputRecordsPerSecond > 0 ? (double)settings.ThroughputRecordsPerSecond / slots : 0;
                    int p = partition;
                    senders.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await SenderAsync(client, gates, settings, factory, stats, p, quota, rate, failed.Token).ConfigureAwait(false);
                        }
                        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                        {
                            Interlocked.CompareExchange(ref failure, e, null);
                            await failed.CancelAsync().ConfigureAwait(false);
                        }
                    }, CancellationToken.None));
                }
            }
            await Task.WhenAll(senders).ConfigureAwait(false);
        }
        finally
        {
            await progressStop.CancelAsync().ConfigureAwait(false);
            await progress.ConfigureAwait(false);
            foreach (var client in clients) await client.DisposeAsync().ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (failure is not null)
        {
            output.Fail($"bench produce stopped after {stats.Records} acknowledged record(s): {Unwrap(failure).Message}");
            return ExitCodes.Failure;
        }

        var latency = stats.Latency();
        double recordsPerSecond = stats.Records / seconds;
        double mbPerSecond = stats.Records * (double)settings.RecordSizeBytes / (1024 * 1024) / seconds;
        if (output.Json)
        {
            output.WriteJson(new
            {
                topic = settings.Topic,
                records = stats.Records,
                recordSizeBytes = settings.RecordSizeBytes,
                acks = settings.Acks == -1 ? "all" : settings.Acks.ToString(CultureInfo.InvariantCulture),
                producers = settings.Producers,
                batchSizeBytes = settings.BatchSizeBytes,
                recordsPerBatch = factory.RecordsPerBatch,
                inFlightPerConnection = settings.InFlightPerConnection,
                throughputLimit = settings.ThroughputRecordsPerSecond,
                elapsedSeconds = Math.Round(seconds, 3),
                recordsPerSecond = Math.Round(recordsPerSecond, 1),
                mbPerSecond = Math.Round(mbPerSecond, 2),
                batches = stats.Batches,
                retries = Interlocked.Read(ref stats.Retries),
                latencyMs = new
                {
                    avg = Math.Round(latency.AvgMs, 2), p50 = Math.Round(latency.P50Ms, 2), p95 = Math.Round(latency.P95Ms, 2),
                    p99 = Math.Round(latency.P99Ms, 2), p999 = Math.Round(latency.P999Ms, 2), max = Math.Round(latency.MaxMs, 2),
                },
                partitions = stats.Partitions(),
            });
        }
        else
        {
            output.Out.WriteLine(
                $"{stats.Records} records sent, {BenchCommand.Format(recordsPerSecond)} records/sec ({BenchCommand.Format(mbPerSecond)} MB/sec), " +
                $"{BenchCommand.Format(latency.AvgMs)} ms avg latency, {BenchCommand.Format(latency.MaxMs)} ms max latency, " +
                $"{BenchCommand.Format(latency.P50Ms)} ms 50th, {BenchCommand.Format(latency.P95Ms)} ms 95th, {BenchCommand.Format(latency.P99Ms)} ms 99th, {BenchCommand.Format(latency.P999Ms)} ms 99.9th.");
            output.Out.WriteLine($"{stats.Batches} batches of up to {factory.RecordsPerBatch} records, {Interlocked.Read(ref stats.Retries)} retries.");
        }
        return ExitCodes.Ok;
    }

    private static Exception Unwrap(Exception e) => e is AggregateException { InnerException: { } inner } ? inner : e;

    private static async Task ProgressAsync(ProduceStats stats, Output output, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        long last = Stopwatch.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                long now = Stopwatch.GetTimestamp();
                var (records, avg, max) = stats.TakeWindow();
                double seconds = Stopwatch.GetElapsedTime(last, now).TotalSeconds;
                last = now;
                output.Err.WriteLine($"{records} records sent, {BenchCommand.Format(records / seconds)} records/sec, {BenchCommand.Format(avg)} ms avg latency, {BenchCommand.Format(max)} ms max latency.");
            }
        }
        catch (OperationCanceledException)
        {
            // The run finished.
        }
    }

    /// <summary>
    /// One partition's sender within one producer: seals batches (full ones when unpaced; when paced, a batch is
    /// sealed when full or when its first record has waited linger.ms) and keeps up to M of them outstanding.
    /// </summary>
    private static async Task SenderAsync(
        KafkaClient client, ConcurrentDictionary<int, LeaderRequests> gates, ProduceBenchSettings settings, BenchBatchFactory factory,
        ProduceStats stats, int partition, long quota, double ratePerSecond, CancellationToken cancellationToken)
    {
        using var outstanding = new SemaphoreSlim(settings.InFlightPerConnection);
        var sends = new List<Task>();
        long produced = 0;
        long start = Stopwatch.GetTimestamp();
        int perBatch = factory.RecordsPerBatch;
        while (produced < quota)
        {
            int records = (int)Math.Min(perBatch, quota - produced);
            if (ratePerSecond > 0)
            {
                // Record i (0-based) is due at i / rate seconds after the start.
                double firstDue = produced / ratePerSecond;
                double fullDue = (produced + records - 1) / ratePerSecond;
                double sendAt = Math.Min(fullDue, firstDue + settings.LingerMs / 1000.0);
                double now = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (sendAt > now)
                {
                    await Task.Delay(TimeSpan.FromSeconds(sendAt - now), cancellationToken).ConfigureAwait(false);
                    now = Stopwatch.GetElapsedTime(start).TotalSeconds;
                }
                long due = (long)Math.Floor(now * ratePerSecond) + 1;
                records = (int)Math.Clamp(due - produced, 1, records);
            }

            await outstanding.WaitAsync(cancellationToken).ConfigureAwait(false);
            var batch = factory.Create(records, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            produced += records;
            sends.Add(SendAndReleaseAsync(client, gates, settings, stats, partition, batch, records, outstanding, cancellationToken));
            if (sends.Count > 256)
            {
                foreach (var done in sends.Where(t => t.IsCompleted).ToList())
                {
                    await done.ConfigureAwait(false);
                    sends.Remove(done);
                }
            }
        }
        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    private static async Task SendAndReleaseAsync(
        KafkaClient client, ConcurrentDictionary<int, LeaderRequests> gates, ProduceBenchSettings settings, ProduceStats stats,
        int partition, byte[] batch, int records, SemaphoreSlim outstanding, CancellationToken cancellationToken)
    {
        try
        {
            await SendWithRetryAsync(client, gates, settings, stats, partition, batch, records, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            outstanding.Release();
        }
    }

    /// <summary>Produce errors a Kafka producer retries (after refreshing metadata): the record was not, or may not have been, stored.</summary>
    internal static bool Retriable(ErrorCode error) => error is ErrorCode.NOT_LEADER_OR_FOLLOWER or ErrorCode.LEADER_NOT_AVAILABLE
        or ErrorCode.NOT_ENOUGH_REPLICAS or ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND or ErrorCode.REQUEST_TIMED_OUT
        or ErrorCode.NETWORK_EXCEPTION or ErrorCode.FENCED_LEADER_EPOCH or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        or ErrorCode.KAFKA_STORAGE_ERROR or ErrorCode.UNKNOWN_TOPIC_ID;

    private static async Task SendWithRetryAsync(
        KafkaClient client, ConcurrentDictionary<int, LeaderRequests> gates, ProduceBenchSettings settings, ProduceStats stats,
        int partition, byte[] batch, int records, CancellationToken cancellationToken)
    {
        long ready = Stopwatch.GetTimestamp();
        while (true)
        {
            ErrorCode error;
            string detail;
            try
            {
                var (leader, _) = await client.FindLeaderAsync(settings.Topic, partition, cancellationToken).ConfigureAwait(false);
                var requests = gates.GetOrAdd(leader, l => new LeaderRequests(client, l, settings));
                (error, detail) = await requests.SendAsync(partition, batch, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaClientException e)
            {
                error = ErrorCode.NETWORK_EXCEPTION;
                detail = e.Message;
            }

            if (error == ErrorCode.NONE)
            {
                stats.Acked(partition, records, ready, Stopwatch.GetTimestamp());
                return;
            }

            if (!Retriable(error))
            {
                throw new KafkaClientException($"produce to {settings.Topic}-{partition} failed: {detail}");
            }

            if (Stopwatch.GetElapsedTime(ready) > DeliveryTimeout)
            {
                throw new KafkaClientException($"produce to {settings.Topic}-{partition} not acknowledged within {DeliveryTimeout.TotalSeconds} s: {detail}");
            }

            Interlocked.Increment(ref stats.Retries);
            if (error is not (ErrorCode.NOT_ENOUGH_REPLICAS or ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND or ErrorCode.REQUEST_TIMED_OUT))
            {
                client.InvalidateMetadata();
            }
            await Task.Delay(RetryBackoff, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>
/// One producer's Produce requests to one partition leader, sent the way Kafka's producer sends them: every batch
/// waiting for that leader when a request slot is free goes into one request (at most one batch per partition per
/// request, as Kafka's RecordAccumulator.drain), with up to max.in.flight.requests.per.connection requests
/// outstanding. A request then carries the batches of all the leader's partitions instead of one, which is what a
/// Kafka client costs a broker. Thread-safe; the queue is guarded by a lock, the sending runs on the thread pool.
/// </summary>
internal sealed class LeaderRequests(KafkaClient client, int leader, ProduceBenchSettings settings)
{
    private readonly Lock _lock = new();
    private readonly List<Pending> _queue = [];
    private readonly SemaphoreSlim _inFlight = new(settings.InFlightPerConnection);
    private bool _draining;

    private sealed record Pending(int Partition, byte[] Batch, TaskCompletionSource<(ErrorCode, string)> Done);

    /// <summary>Queues one batch; completes with the partition's error code in the response that carried it.</summary>
    public Task<(ErrorCode Error, string Detail)> SendAsync(int partition, byte[] batch, CancellationToken cancellationToken)
    {
        var pending = new Pending(partition, batch, new TaskCompletionSource<(ErrorCode, string)>(TaskCreationOptions.RunContinuationsAsynchronously));
        bool start;
        lock (_lock)
        {
            _queue.Add(pending);
            start = !_draining;
            _draining = true;
        }
        if (start)
        {
            _ = Task.Run(() => DrainAsync(cancellationToken), CancellationToken.None);
        }
        return pending.Done.Task;
    }

    private async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await _inFlight.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                lock (_lock)
                {
                    foreach (var p in _queue) p.Done.TrySetCanceled(cancellationToken);
                    _queue.Clear();
                    _draining = false;
                }
                return;
            }
            var take = new List<Pending>();
            lock (_lock)
            {
                var partitions = new HashSet<int>();
                for (int i = 0; i < _queue.Count;)
                {
                    if (partitions.Add(_queue[i].Partition))
                    {
                        take.Add(_queue[i]);
                        _queue.RemoveAt(i);
                    }
                    else
                    {
                        i++;
                    }
                }
                if (take.Count == 0)
                {
                    _draining = false;
                    _inFlight.Release();
                    return;
                }
            }
            _ = SendOneAsync(take, cancellationToken);
        }
    }

    private async Task SendOneAsync(List<Pending> batches, CancellationToken cancellationToken)
    {
        try
        {
            var request = new ProduceRequest
            {
                Acks = settings.Acks,
                TimeoutMs = 30000,
                TopicData = [new ProduceRequest.TopicProduceData
                {
                    Name = settings.Topic,
                    PartitionData = [.. batches.Select(b => new ProduceRequest.PartitionProduceData { Index = b.Partition, Records = new ReadOnlyMemory<byte>(b.Batch) })],
                }],
            };
            var connection = await client.GetBrokerConnectionAsync(leader, cancellationToken).ConfigureAwait(false);
            if (settings.Acks == 0)
            {
                await connection.SendOneWayAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
                foreach (var b in batches) b.Done.TrySetResult((ErrorCode.NONE, nameof(ErrorCode.NONE)));
                return;
            }
            var response = await connection.SendAsync<ProduceResponse>(request, cancellationToken: cancellationToken).ConfigureAwait(false);
            var answers = response.Responses.SelectMany(t => t.PartitionResponses).ToList();
            foreach (var b in batches)
            {
                var answer = answers.FirstOrDefault(r => r.Index == b.Partition);
                var error = answer is null ? ErrorCode.UNKNOWN_SERVER_ERROR : (ErrorCode)answer.ErrorCode;
                b.Done.TrySetResult((error, error.ToString()));
            }
        }
        catch (KafkaClientException e)
        {
            foreach (var b in batches) b.Done.TrySetResult((ErrorCode.NETWORK_EXCEPTION, e.Message));
        }
        catch (OperationCanceledException)
        {
            foreach (var b in batches) b.Done.TrySetCanceled(cancellationToken);
        }
#pragma warning disable CA1031 // Anything else still has to complete the callers' waits; they rethrow it.
        catch (Exception e)
#pragma warning restore CA1031
        {
            foreach (var b in batches) b.Done.TrySetException(e);
        }
        finally
        {
            _inFlight.Release();
        }
    }
}

/// <summary>
/// The consume benchmark: reads from the earliest offset of every partition, one Fetch per leader per round
/// (all of that leader's partitions, large max bytes), the leaders' fetches in parallel, until N records.
/// </summary>
public static class ConsumeBench
{
    internal static async Task<int> RunAsync(KafkaClient client, string topic, long records, int fetchMaxBytes, int timeoutMs, Output output, CancellationToken cancellationToken)
    {
        var metadata = await client.MetadataAsync([topic], cancellationToken).ConfigureAwait(false);
        var info = metadata.Topics.Single();
        if (info.ErrorCode != 0 || info.Partitions.Count == 0)
        {
            output.Fail($"unknown topic: {topic}");
            return ExitCodes.Failure;
        }

        var positions = new Dictionary<int, long>();
        foreach (var part in info.Partitions)
        {
            var offset = await client.ListOffsetsAsync(topic, part.PartitionIndex, KafkaClient.EarliestTimestamp, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (offset.ErrorCode != 0)
            {
                output.Fail($"cannot find the start of {topic}-{part.PartitionIndex}: {(ErrorCode)offset.ErrorCode}");
                return ExitCodes.Failure;
            }
            positions[part.PartitionIndex] = offset.Offset;
        }

        long seen = 0, bytes = 0, fetches = 0;
        long start = Stopwatch.GetTimestamp(), lastProgress = start, lastPrint = start;
        bool interactive = BenchCommand.Interactive(output);
        while (seen < records)
        {
            if (Stopwatch.GetElapsedTime(lastProgress).TotalMilliseconds > timeoutMs)
            {
                output.Fail($"only {seen} of {records} record(s) arrived; nothing new for {timeoutMs} ms");
                return ExitCodes.Failure;
            }

            var byLeader = new Dictionary<int, List<int>>();
            Guid topicId = Guid.Empty;
            foreach (var partition in positions.Keys)
            {
                try
                {
                    var (leader, id) = await client.FindLeaderAsync(topic, partition, cancellationToken).ConfigureAwait(false);
                    topicId = id;
                    if (!byLeader.TryGetValue(leader, out var list)) byLeader[leader] = list = [];
                    list.Add(partition);
                }
                catch (KafkaClientException)
                {
                    // No leader right now; the next round asks again.
                }
            }

            var rounds = byLeader.Select(pair => FetchAsync(client, topic, topicId, pair.Key, pair.Value, positions, fetchMaxBytes, cancellationToken)).ToList();
            foreach (var round in rounds)
            {
                IReadOnlyList<(int Partition, ErrorCode Error, ReadOnlyMemory<byte> Records)> results;
                try
                {
                    results = await round.ConfigureAwait(false);
                }
                catch (KafkaClientException)
                {
                    client.InvalidateMetadata();
                    continue;
                }
                fetches++;
                foreach (var (partition, error, data) in results)
                {
                    if (error != ErrorCode.NONE)
                    {
                        client.InvalidateMetadata();
                        continue;
                    }
                    var (count, size, next) = Count(data.Span, positions[partition]);
                    if (count > 0) lastProgress = Stopwatch.GetTimestamp();
                    // Like kafka-consumer-perf-test, count exactly N even when the last fetch brought more.
                    seen += Math.Min(count, records - seen);
                    bytes += size;
                    positions[partition] = next;
                }
            }

            if (rounds.Count == 0) await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            if (interactive && Stopwatch.GetElapsedTime(lastPrint).TotalSeconds >= 2)
            {
                lastPrint = Stopwatch.GetTimestamp();
                output.Err.WriteLine($"{Math.Min(seen, records)} records read, {BenchCommand.Format(seen / Stopwatch.GetElapsedTime(start).TotalSeconds)} records/sec");
            }
        }

        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        double mb = bytes / (1024.0 * 1024.0);
        if (output.Json)
        {
            output.WriteJson(new
            {
                topic,
                records = seen,
                fetchedMb = Math.Round(mb, 2),
                elapsedSeconds = Math.Round(seconds, 3),
                recordsPerSecond = Math.Round(seen / seconds, 1),
                mbPerSecond = Math.Round(mb / seconds, 2),
                fetches,
            });
        }
        else
        {
            output.Out.WriteLine($"{seen} records read, {BenchCommand.Format(seen / seconds)} records/sec, {BenchCommand.Format(mb)} MB fetched ({BenchCommand.Format(mb / seconds)} MB/sec), {fetches} fetches.");
        }
        return ExitCodes.Ok;
    }

    /// <summary>Records at or above <paramref name="from"/> in a fetched buffer, their batch bytes, and the next offset to fetch.</summary>
    public static (long Records, long Bytes, long Next) Count(ReadOnlySpan<byte> buffer, long from)
    {
        long records = 0, bytes = 0, next = from;
        var walker = new BatchWalker(buffer);
        while (walker.TryNext(out var header, out _, out _))
        {
            if (header.NextOffset <= from) continue;
            bytes += header.SizeInBytes;
            if (!header.IsControl) records += header.NextOffset - Math.Max(from, header.BaseOffset);
            next = header.NextOffset;
        }
        return (records, bytes, next);
    }

    private static async Task<IReadOnlyList<(int, ErrorCode, ReadOnlyMemory<byte>)>> FetchAsync(
        KafkaClient client, string topic, Guid topicId, int leader, List<int> partitions, Dictionary<int, long> positions, int maxBytes, CancellationToken cancellationToken)
    {
        var connection = await client.GetBrokerConnectionAsync(leader, cancellationToken).ConfigureAwait(false);
        short version = connection.VersionFor(ApiKey.Fetch);
        if (version >= 13 && topicId == Guid.Empty) version = 12;
        var request = new FetchRequest
        {
            ReplicaId = -1,
            MaxWaitMs = 500,
            MinBytes = 1,
            MaxBytes = maxBytes * partitions.Count,
            IsolationLevel = 0,
            SessionEpoch = -1,
            Topics =
            [
                new FetchRequest.FetchTopic
                {
                    Topic = topic,
                    TopicId = topicId,
                    Partitions = partitions.Select(p => new FetchRequest.FetchPartition { Partition = p, FetchOffset = positions[p], PartitionMaxBytes = maxBytes }).ToList(),
                },
            ],
        };
        var response = await connection.SendAsync<FetchResponse>(request, version, cancellationToken).ConfigureAwait(false);
        if (response.ErrorCode != 0 && response.Responses.Count == 0)
        {
            throw new KafkaClientException($"fetch from broker {leader}: {(ErrorCode)response.ErrorCode}");
        }
        return response.Responses.SelectMany(t => t.Partitions)
            .Where(p => partitions.Contains(p.PartitionIndex))
            .Select(p => (p.PartitionIndex, (ErrorCode)p.ErrorCode, p.Records ?? ReadOnlyMemory<byte>.Empty)).ToList();
    }
}
