using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Messages;

namespace Kraft.Cli.Commands;

/// <summary>
/// <c>kraft partitions reassign</c> (AlterPartitionReassignments, then progress until the partition's replicas are
/// the target and no reassignment is pending) and <c>kraft partitions reassignments</c> (ListPartitionReassignments).
/// Brokers forward both requests to the active controller, so any bootstrap broker will do.
/// </summary>
public static class PartitionsCommand
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    public static Command Build()
    {
        var topic = new Option<string>("--topic", "-t") { Description = "Topic of the partition", Required = true };
        var partition = new Option<int>("--partition", "-p") { Description = "Partition index", Required = true };
        var replicas = new Option<string>("--replicas") { Description = "Target replica broker ids in preference order, e.g. 2,3 (the first is the preferred leader)", Required = true };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the controller accepted the reassignment" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the reassignment to finish", DefaultValueFactory = _ => 300 };
        var reassign = new Command("reassign", "Move a partition to a new set of replicas and follow its progress") { topic, partition, replicas, noWait, timeout };
        reassign.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            // Checked here rather than in a parse validator: validators see unset options as zero, not their defaults.
            string? problem = p.GetValue(partition) < 0 ? "--partition must not be negative"
                : p.GetValue(timeout) < 1 ? "--timeout must be at least 1 second"
                : ParseReplicas(p.GetValue(replicas)!, out _);
            if (problem is not null)
            {
                output.Fail(problem);
                return ExitCodes.UsageError;
            }
            ParseReplicas(p.GetValue(replicas)!, out var target);
            return await ReassignAsync(client, output, p.GetValue(topic)!, p.GetValue(partition), target, p.GetValue(noWait), TimeSpan.FromSeconds(p.GetValue(timeout)), token).ConfigureAwait(false);
        }));

        var listTopic = new Option<string?>("--topic", "-t") { Description = "Only this topic" };
        var list = new Command("reassignments", "List the reassignments in progress") { listTopic };
        list.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            string? only = p.GetValue(listTopic);
            var response = await ListAsync(client, only is null ? null : (only, null), token).ConfigureAwait(false);
            if (response.ErrorCode != 0)
            {
                output.Fail($"cannot list reassignments: {(ErrorCode)response.ErrorCode}{(string.IsNullOrEmpty(response.ErrorMessage) ? "" : ": " + response.ErrorMessage)}");
                return ExitCodes.Failure;
            }
            var rows = response.Topics.OrderBy(t => t.Name, StringComparer.Ordinal)
                .SelectMany(t => t.Partitions.OrderBy(x => x.PartitionIndex).Select(x => new
                {
                    topic = t.Name,
                    partition = x.PartitionIndex,
                    replicas = x.Replicas,
                    adding = x.AddingReplicas,
                    removing = x.RemovingReplicas,
                })).ToList();
            if (output.Json)
            {
                output.WriteJson(rows);
                return ExitCodes.Ok;
            }
            if (rows.Count == 0)
            {
                output.Out.WriteLine("No reassignment in progress.");
                return ExitCodes.Ok;
            }
            output.WriteTable(["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"], rows.Select(r => (IReadOnlyList<string>)
            [
                r.topic, r.partition.ToString(CultureInfo.InvariantCulture), string.Join(',', r.replicas), string.Join(',', r.adding), string.Join(',', r.removing),
            ]));
            return ExitCodes.Ok;
        }));

        return new Command("partitions", "Reassign partitions to other brokers and list reassignments in progress") { reassign, list };
    }

    /// <summary>Parses "1,2,3" into distinct non-negative broker ids; returns the problem, or null when the list is valid.</summary>
    public static string? ParseReplicas(string text, out IReadOnlyList<int> replicas)
    {
        var ids = new List<int>();
        replicas = ids;
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            {
                return $"--replicas expects broker ids separated by commas (e.g. 1,2,3), got '{text}'";
            }
            if (ids.Contains(id))
            {
                return $"--replicas lists broker {id} twice";
            }
            ids.Add(id);
        }
        return ids.Count == 0 ? "--replicas needs at least one broker id" : null;
    }

    private static async Task<ListPartitionReassignmentsResponse> ListAsync(KafkaClient client, (string Topic, int? Partition)? filter, CancellationToken token)
    {
        var connection = await client.GetBootstrapConnectionAsync(token).ConfigureAwait(false);
        var request = new ListPartitionReassignmentsRequest { TimeoutMs = 30000 };
        if (filter is { } f)
        {
            IEnumerable<int> partitions = f.Partition is { } one ? [one] : [];
            if (f.Partition is null)
            {
                var metadata = await client.MetadataAsync([f.Topic], token).ConfigureAwait(false);
                partitions = metadata.Topics.SelectMany(t => t.Partitions).Select(x => x.PartitionIndex);
            }
            request.Topics = [new ListPartitionReassignmentsRequest.ListPartitionReassignmentsTopics { Name = f.Topic, PartitionIndexes = partitions.ToList() }];
        }
        return await connection.SendAsync<ListPartitionReassignmentsResponse>(request, cancellationToken: token).ConfigureAwait(false);
    }

    private static async Task<int> ReassignAsync(
        KafkaClient client, Output output, string topic, int partition, IReadOnlyList<int> target, bool noWait, TimeSpan timeout, CancellationToken token)
    {
        var metadata = await client.MetadataAsync([topic], token).ConfigureAwait(false);
        var info = metadata.Topics.Single();
        if (info.ErrorCode != 0)
        {
            output.Fail($"unknown topic: {topic}");
            return ExitCodes.Failure;
        }
        var current = info.Partitions.FirstOrDefault(x => x.PartitionIndex == partition);
        if (current is null)
        {
            output.Fail($"topic {topic} has no partition {partition} (it has {info.Partitions.Count})");
            return ExitCodes.Failure;
        }

        var request = new AlterPartitionReassignmentsRequest
        {
            TimeoutMs = 30000,
            Topics = [new AlterPartitionReassignmentsRequest.ReassignableTopic { Name = topic, Partitions = [new() { PartitionIndex = partition, Replicas = target.ToList() }] }],
        };
        var connection = await client.GetBootstrapConnectionAsync(token).ConfigureAwait(false);
        var response = await connection.SendAsync<AlterPartitionReassignmentsResponse>(request, cancellationToken: token).ConfigureAwait(false);
        var result = response.Responses.SelectMany(t => t.Partitions).FirstOrDefault(x => x.PartitionIndex == partition);
        short code = response.ErrorCode != 0 ? response.ErrorCode : result?.ErrorCode ?? (short)ErrorCode.UNKNOWN_SERVER_ERROR;
        string? message = response.ErrorCode != 0 ? response.ErrorMessage : result?.ErrorMessage;
        if (code != 0)
        {
            output.Fail($"cannot reassign {topic}-{partition} to [{string.Join(',', target)}]: {(ErrorCode)code}{(string.IsNullOrEmpty(message) ? "" : ": " + message)}");
            return ExitCodes.Failure;
        }

        if (!output.Json)
        {
            output.Err.WriteLine($"Reassignment of {topic}-{partition} from [{string.Join(',', current.ReplicaNodes)}] to [{string.Join(',', target)}] accepted.");
        }
        if (noWait)
        {
            if (output.Json) output.WriteJson(new { topic, partition, from = current.ReplicaNodes, target, done = false });
            return ExitCodes.Ok;
        }

        var started = Stopwatch.GetTimestamp();
        string? lastState = null;
        while (true)
        {
            var ongoing = await ListAsync(client, (topic, partition), token).ConfigureAwait(false);
            var pending = ongoing.ErrorCode == 0
                ? ongoing.Topics.Where(t => t.Name == topic).SelectMany(t => t.Partitions).FirstOrDefault(x => x.PartitionIndex == partition)
                : null;
            client.InvalidateMetadata();
            var now = (await client.MetadataAsync([topic], token).ConfigureAwait(false)).Topics.Single().Partitions.FirstOrDefault(x => x.PartitionIndex == partition);
            if (now is null)
            {
                output.Fail($"{topic}-{partition} disappeared during the reassignment (topic deleted?)");
                return ExitCodes.Failure;
            }

            string state = pending is null
                ? $"replicas [{string.Join(',', now.ReplicaNodes)}], ISR [{string.Join(',', now.IsrNodes)}], leader {now.LeaderId}"
                : $"replicas [{string.Join(',', pending.Replicas)}], adding [{string.Join(',', pending.AddingReplicas)}], removing [{string.Join(',', pending.RemovingReplicas)}], ISR [{string.Join(',', now.IsrNodes)}], leader {now.LeaderId}";
            double elapsedSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (state != lastState && !output.Json)
            {
                output.Err.WriteLine($"  {elapsedSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s: {state}");
                lastState = state;
            }

            bool done = ongoing.ErrorCode == 0 && pending is null
                && now.ReplicaNodes.Order().SequenceEqual(target.Order())
                && now.IsrNodes.All(target.Contains) && now.LeaderId >= 0;
            if (done)
            {
                if (output.Json)
                {
                    output.WriteJson(new { topic, partition, from = current.ReplicaNodes, target, replicas = now.ReplicaNodes, isr = now.IsrNodes, leader = now.LeaderId, done = true, elapsedSeconds = Math.Round(elapsedSeconds, 2) });
                }
                else
                {
                    output.Out.WriteLine($"Reassignment of {topic}-{partition} done in {elapsedSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s: replicas [{string.Join(',', now.ReplicaNodes)}], ISR [{string.Join(',', now.IsrNodes)}], leader {now.LeaderId}.");
                }
                return ExitCodes.Ok;
            }

            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                output.Fail($"the reassignment of {topic}-{partition} is still in progress after {timeout.TotalSeconds} s ({state}); follow it with `kraft partitions reassignments`");
                return ExitCodes.Failure;
            }
            await Task.Delay(PollInterval, token).ConfigureAwait(false);
        }
    }
}
