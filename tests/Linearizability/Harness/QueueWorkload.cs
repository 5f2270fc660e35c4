using System.Globalization;
using System.Text;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Storage.Records;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// Jepsen's Kafka queue workload over Kraft's own client: producers <c>:send</c> unique values to random partitions
/// (a key is a partition number), consumers <c>:poll</c> the partitions assigned to them from their positions, and
/// a final phase drains every partition from the beginning. Role: generate and record client operations; the
/// checker judges them. Invariants: a value is sent at most once; a send answered with an error code that Kraft only
/// gives before appending (<see cref="IsDefinitelyNotAppended"/>) completes as <c>:fail</c>; an operation whose
/// outcome is unknown (timeout, connection error, any other error code: the batch may have been appended before the
/// error) completes as <c>:info</c> and its process is retired (the next op uses a new process id, as in Jepsen,
/// because the request may still land later); a consumer advances its position only past what an <c>:ok</c> poll returned.
/// Thread-safe: one task per worker; shared state is the recorder and an interlocked value counter.
/// </summary>
public sealed class QueueWorkload(RunOptions options, ProcessCluster cluster, HistoryRecorder recorder, TextWriter log)
{
    public const string Topic = "jepsen-queue";

    // Short timeouts keep workers moving when a node is paused (a paused node accepts connections but never
    // answers); the broker's produce timeout is below the client's so that acks=all waits end with an answer.
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(3);
    private const int ProduceTimeoutMs = 2000;
    private long nextValue;

    private int ProcessStride => options.Producers + options.Consumers;

    /// <summary>
    /// Produce error codes that Kraft's leader answers only before the batch reaches its log, so the batch was
    /// certainly not appended and the send is a definite <c>:fail</c> (a later poll of it is G1a, an aborted read).
    /// NOT_ENOUGH_REPLICAS is the acks=all refusal when the ISR is below min.insync.replicas (Partition.AppendAsLeaderAsync
    /// checks it before Log.AppendAsLeader); UNKNOWN_TOPIC_OR_PARTITION comes from DataPlaneHandler before any append;
    /// CORRUPT_MESSAGE, MESSAGE_TOO_LARGE and INVALID_RECORD are the log's own refusals of a batch it did not write.
    /// Not here: NOT_LEADER_OR_FOLLOWER (also the answer to an acks=all waiter whose leader stepped down after
    /// appending: a new leader may hold that batch), NOT_ENOUGH_REPLICAS_AFTER_APPEND and REQUEST_TIMED_OUT (after
    /// the append, which replicas may already have copied), and every other code (unknown, so :info).
    /// </summary>
    public static bool IsDefinitelyNotAppended(ErrorCode code) => code is ErrorCode.NOT_ENOUGH_REPLICAS
        or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION or ErrorCode.CORRUPT_MESSAGE or ErrorCode.MESSAGE_TOO_LARGE or ErrorCode.INVALID_RECORD;

    private int ReplicationFactor => Math.Min(3, options.Nodes);

    /// <summary>Creates the topic (RF 3, or the node count if smaller) and waits until every partition has a leader.</summary>
    public async Task SetUpAsync(CancellationToken cancellationToken)
    {
        await using var client = NewClient(0, "jepsen-setup");
        var configs = new Dictionary<string, string?>();
        if (options.Unclean)
        {
            configs["unclean.leader.election.enable"] = "true";
        }

        var response = await client.CreateTopicsAsync([(Topic, options.Partitions, (short)ReplicationFactor)], configs, cancellationToken: cancellationToken).ConfigureAwait(false);
        var result = response.Topics.Single();
        if (result.ErrorCode != 0)
        {
            throw new InvalidOperationException($"cannot create {Topic}: {(ErrorCode)result.ErrorCode} {result.ErrorMessage}");
        }

        if (await WaitForIsrsAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false) is string problem)
        {
            throw new InvalidOperationException($"{Topic} did not become ready: {problem}");
        }
    }

    /// <summary>Runs producers and consumers until <paramref name="stop"/> fires.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        var tasks = new List<Task>();
        for (int i = 0; i < options.Producers; i++)
        {
            tasks.Add(ProduceLoopAsync(i, stop));
        }

        for (int i = 0; i < options.Consumers; i++)
        {
            var keys = Enumerable.Range(0, options.Partitions).Where(p => p % options.Consumers == i).ToList();
            tasks.Add(ConsumeLoopAsync(options.Producers + i, keys, stop));
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits until every node answers Metadata and they all agree, for every partition, on the leader and its epoch,
    /// with a full ISR (the replication factor); returns null when they do, or a description of what is still missing
    /// at the deadline. Asking every node, not any one, matters after a partition heals: a node that was cut off may
    /// still believe it leads at an old epoch with a full ISR, and a final read served by it would miss records the
    /// new leader acknowledged (it has not yet learned the new epoch and truncated its divergent tail).
    /// </summary>
    public async Task<string?> WaitForIsrsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        string problem = "no metadata";
        while (DateTime.UtcNow < deadline)
        {
            cancellationToken.ThrowIfCancellationRequested();
            problem = await IsrProblemAsync(cancellationToken).ConfigureAwait(false) ?? "";
            if (problem.Length == 0)
            {
                return null;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
        }

        return problem;
    }

    /// <summary>What keeps the nodes from agreeing on full ISRs right now, or null when nothing does.</summary>
    private async Task<string?> IsrProblemAsync(CancellationToken cancellationToken)
    {
        var views = new List<(string Server, Dictionary<int, (int Leader, int Epoch, int Isr)> Partitions)>();
        foreach (var server in cluster.BootstrapServers)
        {
            await using var client = new KafkaClient(new KafkaClientOptions
            {
                BootstrapServers = [server],
                RequestTimeout = TimeSpan.FromSeconds(3),
                ConnectTimeout = TimeSpan.FromSeconds(2),
                ClientId = "jepsen-isr",
            });
            try
            {
                var metadata = await client.MetadataAsync([Topic], cancellationToken).ConfigureAwait(false);
                views.Add((server, metadata.Topics.SelectMany(t => t.Partitions).ToDictionary(p => p.PartitionIndex, p => (p.LeaderId, p.LeaderEpoch, p.IsrNodes.Count))));
            }
            catch (KafkaClientException e)
            {
                return $"{server}: {e.Message}";
            }
        }

        for (int partition = 0; partition < options.Partitions; partition++)
        {
            var seen = views.Select(v => (v.Server, Found: v.Partitions.TryGetValue(partition, out var p), State: p)).ToList();
            if (seen.FirstOrDefault(v => !v.Found) is { Server: not null } absent)
            {
                return $"partition {partition} missing from {absent.Server}'s metadata";
            }
            var first = seen[0].State;
            if (first.Leader < 0 || first.Isr < ReplicationFactor)
            {
                return $"partition {partition}: leader {first.Leader}, {first.Isr} in ISR";
            }
            if (seen.FirstOrDefault(v => v.State != first) is { Server: not null } stale)
            {
                return $"partition {partition}: {stale.Server} sees leader {stale.State.Leader} epoch {stale.State.Epoch}, {seen[0].Server} sees leader {first.Leader} epoch {first.Epoch}";
            }
        }
        return null;
    }

    /// <summary>
    /// The final reads: one fresh process per partition polls from offset 0 until it reaches the partition's end
    /// offset as listed after recovery. Returns the partitions that could not be drained before the deadline.
    /// </summary>
    public async Task<IReadOnlyList<int>> FinalReadsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        var undrained = new List<int>();
        for (int partition = 0; partition < options.Partitions; partition++)
        {
            long process = 100_000 + partition;
            await using var client = NewClient(partition, "jepsen-final");
            long? end = null;
            long position = 0;
            var keys = EdnWriter.Vector((long)partition);
            recorder.Invoke(process, "assign", keys);
            recorder.Complete(process, EventType.Ok, "assign", keys);
            while (DateTime.UtcNow < deadline)
            {
                if (end is null)
                {
                    try
                    {
                        var listed = await client.ListOffsetsAsync(Topic, partition, KafkaClient.LatestTimestamp, cancellationToken: cancellationToken).ConfigureAwait(false);
                        if (listed.ErrorCode == 0)
                        {
                            end = listed.Offset;
                        }
                    }
                    catch (KafkaClientException)
                    {
                        client.InvalidateMetadata();
                    }
                }

                if (end is long e && position >= e)
                {
                    break;
                }

                var (next, _) = await PollAsync(client, process, [partition], new Dictionary<int, long> { [partition] = position }, cancellationToken).ConfigureAwait(false);
                position = next[partition];
                if (end is null)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
                }
            }

            if (end is not long last || position < last)
            {
                undrained.Add(partition);
                await log.WriteLineAsync($"final read of partition {partition} stopped at {position} of {end?.ToString(CultureInfo.InvariantCulture) ?? "?"}").ConfigureAwait(false);
            }
        }

        return undrained;
    }

    private KafkaClient NewClient(int rotation, string clientId)
    {
        // Rotating the bootstrap list lets a worker that failed move on: a paused node accepts connections but never
        // answers, and the client asks its first bootstrap server for metadata.
        var servers = cluster.BootstrapServers;
        int shift = ((rotation % servers.Count) + servers.Count) % servers.Count;
        return new KafkaClient(new KafkaClientOptions
        {
            BootstrapServers = servers.Skip(shift).Concat(servers.Take(shift)).ToList(),
            RequestTimeout = RequestTimeout,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ClientId = clientId,
        });
    }

    private async Task ProduceLoopAsync(int worker, CancellationToken stop)
    {
        var random = new Random(options.Seed + (worker * 7919));
        long process = worker;
        int rotation = worker;
        var client = NewClient(rotation, $"jepsen-producer-{worker}");
        double meanDelayMs = 1000.0 * options.Producers / options.Rate;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(random.NextDouble() * 2 * meanDelayMs), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                long key = random.Next(options.Partitions);
                long value = Interlocked.Increment(ref nextValue);
                byte[] batch = new RecordBatchBuilder()
                    .Add(null, Encoding.UTF8.GetBytes(value.ToString(CultureInfo.InvariantCulture)), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())
                    .Build();
                recorder.Invoke(process, "send", EdnWriter.Vector(key, value));
                string? error;
                bool definite = false;
                try
                {
                    // The workload's own stop token is not passed: an operation runs to its outcome (bounded by the
                    // request timeout) so that the history never holds an operation the harness abandoned.
                    var response = await client.ProduceAsync(Topic, (int)key, batch, options.Acks, ProduceTimeoutMs).ConfigureAwait(false);
                    if (response is { ErrorCode: 0 })
                    {
                        recorder.Complete(process, EventType.Ok, "send", EdnWriter.Vector(key, EdnWriter.Vector(response.BaseOffset, value)));
                        continue;
                    }

                    error = response is null ? "no-response" : ((ErrorCode)response.ErrorCode).ToString();
                    definite = response is not null && IsDefinitelyNotAppended((ErrorCode)response.ErrorCode);
                }
                catch (KafkaClientException e)
                {
                    error = e.Message;
                }

                if (definite)
                {
                    // Not appended: the process may go on (its next op cannot be confused with this one).
                    recorder.Complete(process, EventType.Fail, "send", EdnWriter.Vector(key, value), error);
                    client.InvalidateMetadata();
                    continue;
                }

                recorder.Complete(process, EventType.Info, "send", EdnWriter.Vector(key, value), error);
                process += ProcessStride;
                await client.DisposeAsync().ConfigureAwait(false);
                client = NewClient(++rotation, $"jepsen-producer-{worker}");
            }
        }
        finally
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ConsumeLoopAsync(int worker, List<int> partitions, CancellationToken stop)
    {
        if (partitions.Count == 0)
        {
            return;
        }

        long process = worker;
        int rotation = worker;
        var client = NewClient(rotation, $"jepsen-consumer-{worker}");
        var keys = EdnWriter.Vector(partitions.Select(p => (object?)(long)p).ToArray());
        recorder.Invoke(process, "assign", keys);
        recorder.Complete(process, EventType.Ok, "assign", keys);
        var positions = partitions.ToDictionary(p => p, _ => 0L);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var (next, failed) = await PollAsync(client, process, partitions, positions, CancellationToken.None).ConfigureAwait(false);
                positions = next;
                if (failed)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                    client = NewClient(++rotation, $"jepsen-consumer-{worker}");
                }

                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(50), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One <c>:poll</c> of the given partitions from the given positions. A partition whose fetch fails is left out
    /// of the result (and its position kept), so the op is still <c>:ok</c> for what it did read. Returns the new
    /// positions (moved past what the op returned) and whether some fetch failed with an exception (the caller then
    /// replaces its client).
    /// </summary>
    private async Task<(Dictionary<int, long> Next, bool Failed)> PollAsync(KafkaClient client, long process, IReadOnlyList<int> partitions, Dictionary<int, long> positions, CancellationToken cancellationToken)
    {
        recorder.Invoke(process, "poll", null);
        var result = new List<KeyValuePair<object?, object?>>();
        var next = new Dictionary<int, long>(positions);
        bool failed = false;
        foreach (int partition in partitions)
        {
            try
            {
                var data = await client.FetchAsync(Topic, partition, positions[partition], maxWaitMs: 100, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (data.ErrorCode == (short)ErrorCode.OFFSET_OUT_OF_RANGE)
                {
                    // The log was truncated below our position (possible only after data loss): start over from the
                    // beginning, as auto.offset.reset=earliest would; the checker sees what that reveals.
                    await log.WriteLineAsync($"p{process}: offset {positions[partition]} of partition {partition} is out of range; resetting to 0").ConfigureAwait(false);
                    next[partition] = 0;
                    continue;
                }

                if (data.ErrorCode != 0)
                {
                    client.InvalidateMetadata();
                    continue;
                }

                var records = Decode((data.Records ?? ReadOnlyMemory<byte>.Empty).ToArray(), positions[partition]);
                if (records.Count > 0)
                {
                    result.Add(new((long)partition, EdnWriter.Vector(records.Select(r => (object?)EdnWriter.Vector(r.Offset, r.Value)).ToArray())));
                    next[partition] = records[^1].Offset + 1;
                }
            }
            catch (KafkaClientException)
            {
                client.InvalidateMetadata();
                failed = true;
            }
        }

        recorder.Complete(process, EventType.Ok, "poll", new EdnMap(result));
        return (next, failed);
    }

    /// <summary>The (offset, value) pairs at or after <paramref name="from"/> in a fetched record set.</summary>
    private static List<(long Offset, object Value)> Decode(byte[] buffer, long from)
    {
        var result = new List<(long, object)>();
        var walker = new BatchWalker(buffer);
        while (walker.TryNext(out var header, out int at, out _))
        {
            if (header.Compression != CompressionType.None || header.IsControl)
            {
                continue;
            }

            var reader = new RecordReader(buffer.AsSpan(at + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize));
            while (reader.TryReadNext(out var record, out _))
            {
                long offset = header.BaseOffset + record.OffsetDelta;
                if (offset < from)
                {
                    continue;
                }

                string text = record.ValueIsNull ? "" : Encoding.UTF8.GetString(record.Value);
                result.Add((offset, long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : text));
            }
        }

        return result;
    }
}
