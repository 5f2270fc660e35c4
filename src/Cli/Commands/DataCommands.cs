using System.CommandLine;
using System.Globalization;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Storage.Records;

namespace Kraft.Cli.Commands;

/// <summary><c>kraft produce TOPIC</c> (lines from stdin) and <c>kraft consume TOPIC</c>.</summary>
public static class DataCommands
{
    public static Command Produce()
    {
        var topic = new Argument<string>("TOPIC");
        var acks = new Option<string>("--acks") { Description = "0, 1 or all", DefaultValueFactory = _ => "all" };
        var key = new Option<string?>("--key", "-k") { Description = "Key for every record (records with a key stay on one partition)" };
        var partition = new Option<int>("--partition") { Description = "Partition (default: by key hash, else round robin)", DefaultValueFactory = _ => -1 };
        var command = new Command("produce", "Send each line of stdin as a record") { topic, acks, key, partition };
        command.AcceptOnlyFromAmongAcks(acks);
        command.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            short ackValue = p.GetValue(acks) switch { "0" => 0, "1" => 1, _ => -1 };
            string name = p.GetValue(topic)!;
            var metadata = await client.MetadataAsync([name], token).ConfigureAwait(false);
            var info = metadata.Topics.Single();
            if (info.ErrorCode != 0 || info.Partitions.Count == 0)
            {
                output.Fail($"unknown topic: {name}");
                return ExitCodes.Failure;
            }
            int count = info.Partitions.Count;
            string? keyText = p.GetValue(key);
            int fixedPartition = p.GetValue(partition);
            int next = 0, sent = 0;
            string? line;
            while ((line = await Console.In.ReadLineAsync(token).ConfigureAwait(false)) is not null)
            {
                byte[]? keyBytes = keyText is null ? null : System.Text.Encoding.UTF8.GetBytes(keyText);
                int target = fixedPartition >= 0 ? fixedPartition
                    : keyBytes is not null ? (int)((uint)Murmur2(keyBytes) & 0x7fffffff) % count
                    : next++ % count;
                var batch = new RecordBatchBuilder().Add(keyBytes, System.Text.Encoding.UTF8.GetBytes(line), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).Build();
                // As a Kafka producer does (retries, delivery.timeout.ms): retriable errors, such as a leader that has not
                // yet applied a just-created topic or a leader that moved, are retried after a metadata refresh for a
                // bounded time. Without idempotence a retry after an ambiguous error can store the record twice.
                var deliveryDeadline = DateTime.UtcNow + DeliveryTimeout;
                while (true)
                {
                    string? problem;
                    try
                    {
                        var result = await client.ProduceAsync(name, target, batch, ackValue, cancellationToken: token).ConfigureAwait(false);
                        if (result is null || result.ErrorCode == 0)
                        {
                            break;
                        }
                        problem = ((ErrorCode)result.ErrorCode).ToString();
                        if (!ProduceBench.Retriable((ErrorCode)result.ErrorCode))
                        {
                            output.Fail($"produce to {name}-{target} failed: {problem}");
                            return ExitCodes.Failure;
                        }
                    }
                    catch (KafkaClientException e)
                    {
                        problem = e.Message;
                    }
                    if (DateTime.UtcNow > deliveryDeadline)
                    {
                        output.Fail($"produce to {name}-{target} failed: {problem} (still failing after {DeliveryTimeout.TotalSeconds:0} s of retries)");
                        return ExitCodes.Failure;
                    }
                    client.InvalidateMetadata();
                    await Task.Delay(RetryBackoff, token).ConfigureAwait(false);
                }
                sent++;
            }
            output.Err.WriteLine($"Produced {sent} record(s) to {name}.");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>How long `kraft produce` keeps retrying one record (Kafka's delivery.timeout.ms is 120 s; a CLI gives up sooner).</summary>
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Kafka's retry.backoff.ms.</summary>
    private static readonly TimeSpan RetryBackoff = TimeSpan.FromMilliseconds(100);

    private static void AcceptOnlyFromAmongAcks(this Command _, Option<string> acks) => acks.AcceptOnlyFromAmong("0", "1", "all", "-1");

    /// <summary>Kafka's default partitioner hash (murmur2), so keys land where Java clients put them.</summary>
    public static int Murmur2(byte[] data)
    {
        const uint m = 0x5bd1e995;
        const int r = 24;
        int length = data.Length;
        uint h = 0x9747b28c ^ (uint)length;
        int i = 0;
        for (; i + 4 <= length; i += 4)
        {
            uint k = (uint)(data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
            k *= m; k ^= k >> r; k *= m;
            h *= m; h ^= k;
        }
        switch (length - i)
        {
            case 3: h ^= (uint)data[i + 2] << 16; goto case 2;
            case 2: h ^= (uint)data[i + 1] << 8; goto case 1;
            case 1: h ^= data[i]; h *= m; break;
        }
        h ^= h >> 13; h *= m; h ^= h >> 15;
        return (int)h;
    }

    public static Command Consume()
    {
        var topic = new Argument<string>("TOPIC");
        var fromBeginning = new Option<bool>("--from-beginning") { Description = "Start at the earliest offset (default: only new records)" };
        var max = new Option<int>("--max") { Description = "Stop after this many records", DefaultValueFactory = _ => int.MaxValue };
        var idle = new Option<int>("--idle-timeout-ms") { Description = "Stop after this long without new records (default: wait forever)", DefaultValueFactory = _ => -1 };
        var group = new Option<string?>("--group", "-g") { Description = "Consume as a member of this group: resume from its committed offsets, commit what was printed" };
        var command = new Command("consume", "Print records of a topic (value per line; --output json for offsets and keys)") { topic, fromBeginning, max, idle, group };
        command.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            string name = p.GetValue(topic)!;
            if (p.GetValue(group) is { } groupId)
            {
                return await GroupsCommand.ConsumeAsync(client, output, name, groupId, p.GetValue(fromBeginning), p.GetValue(max), p.GetValue(idle), token).ConfigureAwait(false);
            }
            var metadata = await client.MetadataAsync([name], token).ConfigureAwait(false);
            var info = metadata.Topics.Single();
            if (info.ErrorCode != 0)
            {
                output.Fail($"unknown topic: {name}");
                return ExitCodes.Failure;
            }
            var positions = new Dictionary<int, long>();
            foreach (var part in info.Partitions)
            {
                var offset = await client.ListOffsetsAsync(name, part.PartitionIndex, p.GetValue(fromBeginning) ? KafkaClient.EarliestTimestamp : KafkaClient.LatestTimestamp, cancellationToken: token).ConfigureAwait(false);
                positions[part.PartitionIndex] = offset.Offset;
            }
            int limit = p.GetValue(max), seen = 0, idleMs = p.GetValue(idle);
            var lastData = DateTime.UtcNow;
            while (seen < limit && !token.IsCancellationRequested)
            {
                bool any = false;
                foreach (var partitionIndex in positions.Keys.ToList())
                {
                    var data = await client.FetchAsync(name, partitionIndex, positions[partitionIndex], maxWaitMs: 200, cancellationToken: token).ConfigureAwait(false);
                    if (data.ErrorCode != 0)
                    {
                        client.InvalidateMetadata();
                        continue;
                    }
                    var bytes = data.Records ?? ReadOnlyMemory<byte>.Empty;
                    foreach (var (offset, k, v) in Records(bytes.ToArray(), positions[partitionIndex]))
                    {
                        if (seen >= limit) break;
                        if (output.Json) output.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(new { partition = partitionIndex, offset, key = k, value = v }));
                        else output.Out.WriteLine(v);
                        positions[partitionIndex] = offset + 1;
                        seen++;
                        any = true;
                    }
                }
                if (any) lastData = DateTime.UtcNow;
                else if (idleMs >= 0 && (DateTime.UtcNow - lastData).TotalMilliseconds > idleMs) break;
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    internal static IEnumerable<(long Offset, string? Key, string? Value)> Records(byte[] buffer, long from)
    {
        var result = new List<(long, string?, string?)>();
        var walker = new BatchWalker(buffer);
        while (walker.TryNext(out var header, out int at, out _))
        {
            if (header.Compression != CompressionType.None) continue;
            var reader = new RecordReader(buffer.AsSpan(at + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize));
            while (reader.TryReadNext(out var record, out _))
            {
                long offset = header.BaseOffset + record.OffsetDelta;
                if (offset < from) continue;
                result.Add((offset, record.KeyIsNull ? null : System.Text.Encoding.UTF8.GetString(record.Key), record.ValueIsNull ? null : System.Text.Encoding.UTF8.GetString(record.Value)));
            }
        }
        return result;
    }
}
