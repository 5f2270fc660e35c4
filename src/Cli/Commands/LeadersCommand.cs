using System.CommandLine;
using System.Globalization;
using Kraft.Protocol;
using Kraft.Protocol.Client;

namespace Kraft.Cli.Commands;

/// <summary><c>kraft leaders rebalance|elect</c> and <c>kraft quorum describe</c>.</summary>
public static class LeadersCommand
{
    public static Command Build()
    {
        var topic = new Option<string?>("--topic", "-t") { Description = "Only this topic" };
        var rebalance = new Command("rebalance", "Preferred-leader election: move each partition's leadership to its first replica") { topic };
        rebalance.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            string? only = p.GetValue(topic);
            var before = await LeaderCountsAsync(client, only, token).ConfigureAwait(false);
            var metadata = await client.MetadataAsync(only is null ? null : [only], token).ConfigureAwait(false);
            var partitions = metadata.Topics.SelectMany(t => t.Partitions.Select(x => (t.Name ?? "", x.PartitionIndex))).ToList();
            var response = await client.ElectLeadersAsync(partitions, 0, cancellationToken: token).ConfigureAwait(false);
            if (response.ErrorCode != 0)
            {
                output.Fail($"leader election refused: {(ErrorCode)response.ErrorCode}");
                return ExitCodes.Failure;
            }
            var results = response.ReplicaElectionResults.SelectMany(t => t.PartitionResult.Select(r => (Topic: t.Topic, r.PartitionId, Error: (ErrorCode)r.ErrorCode))).ToList();
            client.InvalidateMetadata();
            await Task.Delay(300, token).ConfigureAwait(false);
            var after = await LeaderCountsAsync(client, only, token).ConfigureAwait(false);
            int moved = results.Count(r => r.Error == ErrorCode.NONE);
            if (output.Json)
            {
                output.WriteJson(new { moved, before, after, results = results.Select(r => new { topic = r.Topic, partition = r.PartitionId, error = r.Error.ToString() }) });
                return ExitCodes.Ok;
            }
            output.Out.WriteLine($"Moved leadership of {moved} partition(s); {results.Count(r => r.Error == ErrorCode.ELECTION_NOT_NEEDED)} already on their preferred leader.");
            foreach (var r in results.Where(r => r.Error is not (ErrorCode.NONE or ErrorCode.ELECTION_NOT_NEEDED)))
                output.Out.WriteLine($"  {r.Topic}-{r.PartitionId}: {r.Error}");
            output.WriteTable(["BROKER", "LEADERS BEFORE", "LEADERS AFTER"], before.Keys.Union(after.Keys).Order().Select(b => (IReadOnlyList<string>)
                [b.ToString(CultureInfo.InvariantCulture), before.GetValueOrDefault(b).ToString(CultureInfo.InvariantCulture), after.GetValueOrDefault(b).ToString(CultureInfo.InvariantCulture)]));
            return ExitCodes.Ok;
        }));

        var electTopic = new Option<string>("--topic", "-t") { Required = true };
        var electPartition = new Option<int>("--partition", "-p") { Required = true };
        var unclean = new Option<bool>("--unclean") { Description = "Allow an out-of-sync replica to lead (may lose acknowledged data)" };
        var elect = new Command("elect", "Elect a leader for one partition (preferred, or unclean)") { electTopic, electPartition, unclean };
        elect.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            var response = await client.ElectLeadersAsync([(p.GetValue(electTopic)!, p.GetValue(electPartition))], (sbyte)(p.GetValue(unclean) ? 1 : 0), cancellationToken: token).ConfigureAwait(false);
            var result = response.ReplicaElectionResults.SelectMany(t => t.PartitionResult).FirstOrDefault();
            var error = (ErrorCode)(response.ErrorCode != 0 ? response.ErrorCode : result?.ErrorCode ?? 0);
            if (error is not (ErrorCode.NONE or ErrorCode.ELECTION_NOT_NEEDED))
            {
                output.Fail($"election for {p.GetValue(electTopic)}-{p.GetValue(electPartition)} failed: {error}{(result?.ErrorMessage is { } m ? ": " + m : "")}");
                return ExitCodes.Failure;
            }
            output.Out.WriteLine(error == ErrorCode.ELECTION_NOT_NEEDED ? "The partition already has its preferred leader." : "Leader elected.");
            return ExitCodes.Ok;
        }));
        return new Command("leaders", "Move partition leadership") { rebalance, elect };
    }

    private static async Task<Dictionary<int, int>> LeaderCountsAsync(KafkaClient client, string? topic, CancellationToken token)
    {
        var metadata = await client.MetadataAsync(topic is null ? null : [topic], token).ConfigureAwait(false);
        var counts = metadata.Brokers.ToDictionary(b => b.NodeId, _ => 0);
        foreach (var partition in metadata.Topics.SelectMany(t => t.Partitions).Where(x => x.LeaderId >= 0))
        {
            counts[partition.LeaderId] = counts.GetValueOrDefault(partition.LeaderId) + 1;
        }
        return counts;
    }

    public static Command Quorum()
    {
        var describe = new Command("describe", "Leader, epoch, high watermark and each voter's and observer's log end offset and lag");
        describe.SetAction((p, ct) => ClientCommand.RunAsync(p, ct, async (client, output, token) =>
        {
            var response = await client.DescribeQuorumAsync(token).ConfigureAwait(false);
            var q = response.Topics.FirstOrDefault()?.Partitions.FirstOrDefault();
            if (response.ErrorCode != 0 || q is null || q.ErrorCode != 0)
            {
                output.Fail($"the quorum could not be described: {(ErrorCode)(response.ErrorCode != 0 ? response.ErrorCode : q?.ErrorCode ?? -1)}");
                return ExitCodes.Failure;
            }
            var replicas = q.CurrentVoters.Select(v => (Kind: "voter", v)).Concat(q.Observers.Select(o => (Kind: "observer", v: o))).ToList();
            if (output.Json)
            {
                output.WriteJson(new { leader = q.LeaderId, epoch = q.LeaderEpoch, highWatermark = q.HighWatermark,
                    replicas = replicas.Select(r => new { id = r.v.ReplicaId, kind = r.Kind, logEndOffset = r.v.LogEndOffset, lag = Math.Max(0, q.HighWatermark - r.v.LogEndOffset), lastFetchTimestamp = r.v.LastFetchTimestamp, lastCaughtUpTimestamp = r.v.LastCaughtUpTimestamp }) });
                return ExitCodes.Ok;
            }
            output.Out.WriteLine($"Leader: {q.LeaderId}  Epoch: {q.LeaderEpoch}  High watermark: {q.HighWatermark}");
            output.WriteTable(["ID", "KIND", "LOG END", "LAG", "LAST FETCH (ms ago)"], replicas.Select(r => (IReadOnlyList<string>)
            [
                r.v.ReplicaId.ToString(CultureInfo.InvariantCulture), r.Kind, r.v.LogEndOffset.ToString(CultureInfo.InvariantCulture),
                Math.Max(0, q.HighWatermark - r.v.LogEndOffset).ToString(CultureInfo.InvariantCulture),
                r.v.ReplicaId == q.LeaderId ? "-" : r.v.LastFetchTimestamp < 0 ? "never"
                    : Math.Max(0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - r.v.LastFetchTimestamp).ToString(CultureInfo.InvariantCulture),
            ]));
            return ExitCodes.Ok;
        }));
        return new Command("quorum", "Inspect the metadata quorum") { describe };
    }
}
