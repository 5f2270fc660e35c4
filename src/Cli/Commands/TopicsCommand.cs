using System.CommandLine;
using System.Globalization;
using Kraft.Protocol;
using Kraft.Protocol.Client;

namespace Kraft.Cli.Commands;

/// <summary><c>kraft topics create|list|describe|delete|alter</c>.</summary>
public static class TopicsCommand
{
    public static Command Build()
    {
        var name = new Argument<string>("NAME") { Description = "Topic name" };
        var partitions = new Option<int>("--partitions", "-p") { Description = "Number of partitions (default: num.partitions)", DefaultValueFactory = _ => -1 };
        var replication = new Option<short>("--replication-factor", "-r") { Description = "Replicas per partition (default: default.replication.factor)", DefaultValueFactory = _ => -1 };
        var configs = new Option<string[]>("--config") { Description = "Topic config key=value (repeatable)" };
        var create = new Command("create", "Create a topic") { name, partitions, replication, configs };
        create.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            var pairs = new Dictionary<string, string?>();
            foreach (var item in p.GetValue(configs) ?? [])
            {
                int eq = item.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    output.Fail($"--config expects key=value, got '{item}'");
                    return ExitCodes.UsageError;
                }
                pairs[item[..eq]] = item[(eq + 1)..];
            }
            var response = await client.CreateTopicsAsync([(p.GetValue(name)!, p.GetValue(partitions), p.GetValue(replication))], pairs, cancellationToken: token).ConfigureAwait(false);
            var result = response.Topics.Single();
            if (result.ErrorCode != 0)
            {
                output.Fail($"cannot create topic {result.Name}: {(ErrorCode)result.ErrorCode}{(result.ErrorMessage is { } m ? ": " + m : "")}");
                return ExitCodes.Failure;
            }
            if (output.Json) output.WriteJson(new { name = result.Name, topicId = result.TopicId, partitions = result.NumPartitions, replicationFactor = result.ReplicationFactor });
            else output.Out.WriteLine($"Created topic {result.Name} with {result.NumPartitions} partition(s), replication factor {result.ReplicationFactor}.");
            return ExitCodes.Ok;
        }));

        var list = new Command("list", "List topics");
        list.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            var metadata = await client.MetadataAsync(null, token).ConfigureAwait(false);
            var names = metadata.Topics.Select(t => t.Name ?? "").Order(StringComparer.Ordinal).ToList();
            if (output.Json) output.WriteJson(names);
            else foreach (var n in names) output.Out.WriteLine(n);
            return ExitCodes.Ok;
        }));

        var describeName = new Argument<string?>("NAME") { Description = "Topic (default: all)", Arity = ArgumentArity.ZeroOrOne };
        var describe = new Command("describe", "Per partition: leader, leader epoch, replicas, ISR, offline or under-replicated") { describeName };
        describe.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            string? topic = p.GetValue(describeName);
            var metadata = await client.MetadataAsync(topic is null ? null : [topic], token).ConfigureAwait(false);
            var missing = metadata.Topics.FirstOrDefault(t => t.ErrorCode == (short)ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
            if (missing is not null)
            {
                output.Fail($"unknown topic: {missing.Name}");
                return ExitCodes.Failure;
            }
            var rows = metadata.Topics.OrderBy(t => t.Name, StringComparer.Ordinal).SelectMany(t => t.Partitions.OrderBy(x => x.PartitionIndex).Select(x => new
            {
                topic = t.Name,
                partition = x.PartitionIndex,
                leader = x.LeaderId,
                leaderEpoch = x.LeaderEpoch,
                replicas = x.ReplicaNodes,
                isr = x.IsrNodes,
                state = x.LeaderId < 0 ? "offline" : x.IsrNodes.Count < x.ReplicaNodes.Count ? "under-replicated" : "ok",
            })).ToList();
            if (output.Json)
            {
                output.WriteJson(rows);
                return ExitCodes.Ok;
            }
            output.WriteTable(["TOPIC", "PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "STATE"], rows.Select(r => (IReadOnlyList<string>)
            [
                r.topic ?? "", r.partition.ToString(CultureInfo.InvariantCulture), r.leader < 0 ? "none" : r.leader.ToString(CultureInfo.InvariantCulture),
                r.leaderEpoch.ToString(CultureInfo.InvariantCulture), string.Join(',', r.replicas), string.Join(',', r.isr), r.state,
            ]));
            return ExitCodes.Ok;
        }));

        var deleteName = new Argument<string>("NAME") { Description = "Topic to delete" };
        var delete = new Command("delete", "Delete a topic and its data") { deleteName };
        delete.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            var response = await client.DeleteTopicsAsync([p.GetValue(deleteName)!], cancellationToken: token).ConfigureAwait(false);
            var result = response.Responses.Single();
            if (result.ErrorCode != 0)
            {
                output.Fail($"cannot delete topic {p.GetValue(deleteName)}: {(ErrorCode)result.ErrorCode}{(result.ErrorMessage is { } m ? ": " + m : "")}");
                return ExitCodes.Failure;
            }
            output.Out.WriteLine($"Deleted topic {p.GetValue(deleteName)}.");
            return ExitCodes.Ok;
        }));

        var alterName = new Argument<string>("NAME") { Description = "Topic" };
        var alterPartitions = new Option<int>("--partitions", "-p") { Description = "New (larger) partition count", Required = true };
        var alter = new Command("alter", "Add partitions to a topic") { alterName, alterPartitions };
        alter.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            var connection = await client.GetBootstrapConnectionAsync(token).ConfigureAwait(false);
            var response = await connection.SendAsync<Kraft.Protocol.Messages.CreatePartitionsResponse>(new Kraft.Protocol.Messages.CreatePartitionsRequest
            {
                TimeoutMs = 30000,
                Topics = [new() { Name = p.GetValue(alterName)!, Count = p.GetValue(alterPartitions) }],
            }, cancellationToken: token).ConfigureAwait(false);
            var result = response.Results.Single();
            if (result.ErrorCode != 0)
            {
                output.Fail($"cannot alter topic {result.Name}: {(ErrorCode)result.ErrorCode}{(result.ErrorMessage is { } m ? ": " + m : "")}");
                return ExitCodes.Failure;
            }
            output.Out.WriteLine($"Topic {result.Name} now has {p.GetValue(alterPartitions)} partitions.");
            return ExitCodes.Ok;
        }));

        return new Command("topics", "Create, list, describe, alter and delete topics") { create, list, describe, delete, alter };
    }
}
