using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>A broker that may receive new replicas (registered and unfenced), with its broker.rack.</summary>
public sealed record UsableBroker(BrokerId Id, string? Rack);

/// <summary>
/// Chooses replica lists for new partitions. Pure: same inputs, same output.
/// Rules:
/// <list type="number">
/// <item>Leaders (first replicas) are chosen first, for all partitions: each time the broker that leads the fewest
/// partitions of this topic so far (ties: fewest replicas, then position in Kafka's rack-alternating broker list
/// starting at <c>rotation</c>), so leader counts differ by at most one between brokers.</item>
/// <item>Then each follower is a broker not yet in the partition, preferring a rack the partition does not use yet
/// (so racks are all distinct whenever there are at least RF racks), then the fewest replicas counting the
/// leaderships already assigned, then the next position after the leader. Without racks this water-filling keeps
/// replica counts within one of each other (checked by property tests).</item>
/// </list>
/// Brokers without a rack count as one rack "" (Kafka refuses mixed rack/no-rack clusters; we place anyway).
/// Stateless; any thread.
/// </summary>
public static class ReplicaPlacer
{
    /// <summary>
    /// Places <paramref name="partitions"/> new partitions of <paramref name="replicationFactor"/> replicas.
    /// <paramref name="existing"/> are the topic's current replica lists (for CreatePartitions), counted so the
    /// topic as a whole stays balanced. <paramref name="rotation"/> varies the tie-break start between topics.
    /// </summary>
    public static IReadOnlyList<ValueList<BrokerId>> Place(
        IReadOnlyList<UsableBroker> brokers,
        int partitions,
        int replicationFactor,
        int rotation,
        IReadOnlyList<IReadOnlyList<BrokerId>>? existing = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(partitions);
        if (replicationFactor < 1 || replicationFactor > brokers.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(replicationFactor), $"replication factor {replicationFactor} with {brokers.Count} usable brokers");
        }

        UsableBroker[] ordered = RackAlternatingList(brokers);
        int n = ordered.Length;
        int start = (int)((uint)rotation % (uint)n);
        var index = new Dictionary<BrokerId, int>();
        for (int i = 0; i < n; i++)
        {
            index[ordered[i].Id] = i;
        }

        int[] leaders = new int[n];
        int[] replicas = new int[n];
        foreach (IReadOnlyList<BrokerId> list in existing ?? [])
        {
            for (int j = 0; j < list.Count; j++)
            {
                if (index.TryGetValue(list[j], out int k))
                {
                    replicas[k]++;
                    if (j == 0)
                    {
                        leaders[k]++;
                    }
                }
            }
        }

        // Leaders first: each partition's leader is the broker leading the fewest partitions so far (ties: fewest
        // replicas, then rotation order). Their counts go into the replica counts before any follower is chosen,
        // so that the followers fill up the brokers that lead less (water-filling over the final totals).
        int[] leaderOf = new int[partitions];
        for (int p = 0; p < partitions; p++)
        {
            int leader = -1;
            for (int k = 0; k < n; k++)
            {
                int candidate = (start + p + k) % n;
                if (leader < 0 || leaders[candidate] < leaders[leader]
                    || (leaders[candidate] == leaders[leader] && replicas[candidate] < replicas[leader]))
                {
                    leader = candidate;
                }
            }

            leaderOf[p] = leader;
            leaders[leader]++;
            replicas[leader]++;
        }

        var result = new List<ValueList<BrokerId>>(partitions);
        var chosen = new List<int>(replicationFactor);
        var racks = new HashSet<string>(StringComparer.Ordinal);
        for (int p = 0; p < partitions; p++)
        {
            chosen.Clear();
            racks.Clear();
            int leader = leaderOf[p];
            chosen.Add(leader);
            racks.Add(ordered[leader].Rack ?? "");
            for (int r = 1; r < replicationFactor; r++)
            {
                int best = -1;
                for (int k = 1; k < n; k++)
                {
                    int candidate = (leader + k) % n;
                    if (chosen.Contains(candidate))
                    {
                        continue;
                    }

                    if (best < 0 || Better(candidate, best))
                    {
                        best = candidate;
                    }
                }

                chosen.Add(best);
                racks.Add(ordered[best].Rack ?? "");
                replicas[best]++;
            }

            result.Add(new ValueList<BrokerId>(chosen.Select(k => ordered[k].Id)));
        }

        return result;

        bool Better(int candidate, int best)
        {
            bool candidateNewRack = !racks.Contains(ordered[candidate].Rack ?? "");
            bool bestNewRack = !racks.Contains(ordered[best].Rack ?? "");
            if (candidateNewRack != bestNewRack)
            {
                return candidateNewRack;
            }

            return replicas[candidate] < replicas[best];
        }
    }

    /// <summary>
    /// Kafka's rack-alternating broker list: brokers grouped by rack (racks and brokers sorted), then taken one
    /// rack at a time in turn, e.g. racks a:{1,2}, b:{3}, c:{4,5} give 1,3,4,2,5.
    /// </summary>
    public static UsableBroker[] RackAlternatingList(IReadOnlyList<UsableBroker> brokers)
    {
        var byRack = brokers
            .GroupBy(b => b.Rack ?? "", StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new Queue<UsableBroker>(g.OrderBy(b => b.Id)))
            .ToList();
        var list = new List<UsableBroker>(brokers.Count);
        while (list.Count < brokers.Count)
        {
            foreach (Queue<UsableBroker> rack in byRack)
            {
                if (rack.Count > 0)
                {
                    list.Add(rack.Dequeue());
                }
            }
        }

        return [.. list];
    }
}
