using Kraft.Linearizability.Edn;
using Kraft.Protocol.Client;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// One planned fault: what to do and to whom (a node number, or the leader of a partition); <paramref name="Shuffle"/>
/// seeds the node order of a random split (<see cref="Grudge"/>).
/// </summary>
public sealed record PlannedFault(NemesisKind Kind, int? Node, int? LeaderOfPartition, int Shuffle = 0)
{
    public string Describe() => RunOptions.KindName(Kind) + (Node is int n ? $" node {n}" : $" leader of partition {LeaderOfPartition}");
}

/// <summary>
/// The nemesis schedule as a pure function of a seeded random source: a fault every other interval, the cluster
/// healed in between, one faulty node at a time (so a majority of the quorum and of every ISR stays up and a
/// clean run is expected to stay available). Role: deterministic planning, no I/O, so that a seed reproduces
/// the plan. Not thread-safe (one owner: the nemesis task).
/// </summary>
public sealed class NemesisPlanner(Random random, IReadOnlyList<NemesisKind> kinds, int nodes, int partitions)
{
    /// <summary>The next fault, or null when no kind is enabled.</summary>
    public PlannedFault? Next()
    {
        if (kinds.Count == 0)
        {
            return null;
        }

        var kind = kinds[random.Next(kinds.Count)];
        int partition = random.Next(partitions);
        int node = random.Next(1, nodes + 1);

        switch (kind)
        {
            case NemesisKind.PartitionHalves or NemesisKind.PartitionBridge:
                return new PlannedFault(kind, null, null, random.Next());
            case NemesisKind.IsolateController:
                // The target is whoever is the active controller when the fault starts.
                return new PlannedFault(kind, null, null);
        }

        // Losing or isolating a leader is only interesting for a partition leader; kills, pauses and one-way
        // partitions hit a leader half the time (leaders are where acknowledged writes live) and any node otherwise
        // (controllers, followers).
        bool leader = kind is NemesisKind.LoseLeader or NemesisKind.UncleanLoss or NemesisKind.IsolateLeader || random.Next(2) == 0;
        return leader ? new PlannedFault(kind, null, partition) : new PlannedFault(kind, node, null);
    }
}

/// <summary>
/// Runs the nemesis schedule against a <see cref="ProcessCluster"/>: every interval it either injects the next
/// planned fault or heals the current one, and records both as <c>:nemesis</c> events. Role: the only task that
/// sends signals during the workload phase. Invariant: at most one fault is active; <see cref="HealAsync"/> leaves
/// every node running. Owned by one task.
/// </summary>
/// <remarks>Partition kinds need <paramref name="firewall"/> (null when the run has none).</remarks>
public sealed class NemesisRunner(ProcessCluster cluster, HistoryRecorder recorder, NemesisPlanner planner, string topic, TimeSpan interval, TextWriter log, NftFirewall? firewall = null)
{
    private bool partitioned;

    private readonly List<(long StartNanos, long EndNanos, string What)> intervals = [];
    private readonly Random fallback = new(cluster.BasePort);
    private (long StartNanos, string What)? active;

    /// <summary>Fault intervals in recorder nanoseconds, for the report (an open one ends at the heal).</summary>
    public IReadOnlyList<(long StartNanos, long EndNanos, string What)> Intervals => intervals;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
                if (active is null)
                {
                    var fault = planner.Next();
                    if (fault is null)
                    {
                        return;
                    }

                    await InjectAsync(fault, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    Heal();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The time limit: the final phase heals.
        }
    }

    /// <summary>Ends the active fault (if any) and makes sure every node runs.</summary>
    public void Heal()
    {
        var faulted = cluster.FaultedNodes;
        if (active is null && faulted.Count == 0 && !partitioned)
        {
            return;
        }

        string network = "";
        if (partitioned)
        {
            firewall?.Heal();
            partitioned = false;
            network = " (network)";
        }

        cluster.HealAll();
        recorder.Nemesis("heal", EdnWriter.Vector(faulted.Select(n => (object?)(long)n).ToArray()));
        log.WriteLine($"[{Seconds(recorder.NowNanos)}] nemesis: heal{(faulted.Count > 0 ? " " + string.Join(',', faulted) : "")}{network}");
        if (active is { } a)
        {
            intervals.Add((a.StartNanos, recorder.NowNanos, a.What));
            active = null;
        }
    }

    private async Task InjectAsync(PlannedFault fault, CancellationToken cancellationToken)
    {
        if (RunOptions.IsPartition(fault.Kind))
        {
            await PartitionAsync(fault, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (fault.Kind == NemesisKind.UncleanLoss)
        {
            long at = recorder.NowNanos;
            string done = await UncleanLossAsync(fault.LeaderOfPartition ?? 0, cancellationToken).ConfigureAwait(false);
            recorder.Nemesis("unclean-loss", done);
            await log.WriteLineAsync($"[{Seconds(at)}] nemesis: {done}").ConfigureAwait(false);
            active = (at, done);
            return;
        }

        int? leader = null;
        if (fault.LeaderOfPartition is int p)
        {
            leader = (await FindReplicasAsync(p, cancellationToken).ConfigureAwait(false))?.Leader;
        }

        int target = fault.Node ?? leader ?? fallback.Next(1, cluster.Nodes + 1);
        long start = recorder.NowNanos;
        string what;
        switch (fault.Kind)
        {
            case NemesisKind.Kill:
                cluster.Kill(target);
                what = $"kill {target}";
                break;
            case NemesisKind.Pause:
                cluster.Pause(target);
                what = $"pause {target}";
                break;
            default:
                what = await LoseLeaderAsync(target).ConfigureAwait(false);
                break;
        }

        string role = fault.LeaderOfPartition is not int q ? "" : topic.Length == 0 ? " (the active controller)" : $" (leader of partition {q})";
        recorder.Nemesis(RunOptions.KindName(fault.Kind), what + role);
        await log.WriteLineAsync($"[{Seconds(start)}] nemesis: {what}{role}").ConfigureAwait(false);
        active = (start, what);
    }

    /// <summary>
    /// Pauses every other node, lets the leader accept writes alone for half the interval (acks=1 writes are
    /// acknowledged there and nowhere else), then kills it and resumes the others, which elect a leader that never
    /// saw those writes. The killed node restarts at the heal.
    /// </summary>
    private async Task<string> LoseLeaderAsync(int leader)
    {
        var others = Enumerable.Range(1, cluster.Nodes).Where(n => n != leader).ToList();
        foreach (int n in others)
        {
            cluster.Pause(n);
        }

        recorder.Nemesis("pause", $"followers {string.Join(',', others)} of {leader}");

        // Not cancelled by the time limit: the schedule completes (half an interval at most) so that the history and
        // the report always show the whole fault.
        await Task.Delay(interval / 2, CancellationToken.None).ConfigureAwait(false);
        cluster.Kill(leader);
        foreach (int n in others)
        {
            cluster.Resume(n);
        }

        return $"lose-leader {leader} (paused {string.Join(',', others)}, then killed {leader})";
    }

    /// <summary>
    /// Kills one follower of the partition, waits half an interval (it leaves the ISR; acks=all writes are then
    /// acknowledged by the two others), kills those two and restarts the stale follower. Everything restarts at
    /// the heal.
    /// </summary>
    private async Task<string> UncleanLossAsync(int partition, CancellationToken cancellationToken)
    {
        if (await FindReplicasAsync(partition, cancellationToken).ConfigureAwait(false) is not { } found || found.Replicas.Count < 3)
        {
            return $"unclean-loss skipped (no leader or fewer than 3 replicas for partition {partition})";
        }

        int stale = found.Replicas.First(r => r != found.Leader);
        var others = found.Replicas.Where(r => r != stale).ToList();
        cluster.Kill(stale);
        recorder.Nemesis("kill", $"kill {stale} (follower of partition {partition})");
        await Task.Delay(interval / 2, CancellationToken.None).ConfigureAwait(false);
        foreach (int n in others)
        {
            cluster.Kill(n);
        }

        cluster.Restart(stale);
        return $"unclean-loss on partition {partition}: killed {stale}, then {string.Join(',', others)}; restarted {stale}";
    }

    /// <summary>
    /// Drops packets between node addresses as the fault's grudge says (nodes stay reachable from clients), and
    /// records which directions were cut. The target of the isolate and one-way kinds is looked up when the fault
    /// starts: the leader of the planned partition, or the active controller.
    /// </summary>
    private async Task PartitionAsync(PlannedFault fault, CancellationToken cancellationToken)
    {
        if (firewall is null)
        {
            throw new InvalidOperationException("a partition nemesis needs the firewall (the run was not started inside a network namespace)");
        }

        int? found = fault.Kind == NemesisKind.IsolateController
            ? (await FindReplicasAsync(-1, cancellationToken, controller: true).ConfigureAwait(false))?.Leader
            : fault.LeaderOfPartition is int p ? (await FindReplicasAsync(p, cancellationToken).ConfigureAwait(false))?.Leader : null;
        int target = fault.Node ?? found ?? fallback.Next(1, cluster.Nodes + 1);
        var drops = Grudge.For(fault.Kind, cluster.Nodes, target, fault.Shuffle);
        long start = recorder.NowNanos;
        firewall.Partition(drops);
        partitioned = true;
        string role = fault.Kind switch
        {
            NemesisKind.IsolateController => $" (node {target}, the active controller)",
            NemesisKind.IsolateLeader or NemesisKind.PartitionOneWay when fault.LeaderOfPartition is int q =>
                topic.Length == 0 ? $" (node {target}, the active controller)" : $" (node {target}, leader of partition {q})",
            NemesisKind.IsolateLeader or NemesisKind.PartitionOneWay => $" (node {target})",
            _ => "",
        };
        string what = $"{RunOptions.KindName(fault.Kind)}{role}: drop {Grudge.Describe(drops)}";
        recorder.Nemesis(RunOptions.KindName(fault.Kind), what);
        await log.WriteLineAsync($"[{Seconds(start)}] nemesis: {what}").ConfigureAwait(false);
        active = (start, what);
    }

    private async Task<(int Leader, List<int> Replicas)?> FindReplicasAsync(int partition, CancellationToken cancellationToken, bool controller = false)
    {
        // A fresh client that bootstraps from healthy nodes only: a paused node accepts connections but never answers.
        var healthy = cluster.HealthyNodes;
        if (healthy.Count == 0)
        {
            return null;
        }

        await using var client = new KafkaClient(new KafkaClientOptions
        {
            BootstrapServers = healthy.Select(cluster.BrokerAddress).ToList(),
            RequestTimeout = TimeSpan.FromSeconds(2),
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ClientId = "jepsen-nemesis",
        });
        try
        {
            // With no topic (the metadata workload) the interesting leader is the active controller's node.
            var metadata = await client.MetadataAsync(topic.Length == 0 || controller ? [] : [topic], cancellationToken).ConfigureAwait(false);
            if (topic.Length == 0 || controller)
            {
                return metadata.ControllerId > 0 ? (metadata.ControllerId, []) : null;
            }

            var found = metadata.Topics.SelectMany(t => t.Partitions).FirstOrDefault(x => x.PartitionIndex == partition);
            return found is { LeaderId: > 0 } ? (found.LeaderId, found.ReplicaNodes.ToList()) : null;
        }
        catch (KafkaClientException)
        {
            return null;
        }
    }

    private static string Seconds(long nanos) => (nanos / 1e9).ToString("F1", System.Globalization.CultureInfo.InvariantCulture) + "s";
}
