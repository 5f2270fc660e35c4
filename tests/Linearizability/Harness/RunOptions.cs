using System.Globalization;

namespace Kraft.Linearizability.Harness;

/// <summary>The fault kinds the nemesis can inject; names as on the command line.</summary>
public enum NemesisKind
{
    /// <summary>SIGKILL one node (a random one, or the leader of a random partition), restart it at the heal.</summary>
    Kill,

    /// <summary>SIGSTOP one node (random or a partition leader), SIGCONT it at the heal.</summary>
    Pause,

    /// <summary>
    /// The unsafe schedule: SIGSTOP every follower of one partition leader, let the leader take writes alone,
    /// then SIGKILL the leader and SIGCONT the followers, so that a follower that never saw those writes is
    /// elected; the old leader restarts at the heal. With acks=all nothing acknowledged may be lost; with
    /// acks=1 acknowledged writes are lost.
    /// </summary>
    LoseLeader,

    /// <summary>
    /// The unclean-election schedule (needs 5 nodes so that the controller quorum survives): SIGKILL one follower
    /// of a partition so it drops out of the ISR, let acks=all writes be acknowledged by the other two replicas,
    /// then SIGKILL both and restart the stale follower. With unclean.leader.election.enable (--unclean) it becomes
    /// leader and the acknowledged writes are lost; without it the partition stays offline until the heal.
    /// </summary>
    UncleanLoss,

    /// <summary>
    /// Network partition: cut the leader of a random partition (the active controller in the metadata workload) off
    /// from every other node, both ways, with nftables rules; clients still reach it. Healed by removing the rules.
    /// </summary>
    IsolateLeader,

    /// <summary>Network partition: cut the active controller (the Raft leader of the metadata quorum) off from every other node.</summary>
    IsolateController,

    /// <summary>Network partition: split the nodes at random into a minority and a majority that cannot reach each other.</summary>
    PartitionHalves,

    /// <summary>
    /// One-way partition: packets from every other node to one node (the leader of a random partition half the time,
    /// else a random node) are dropped; its own packets still reach them.
    /// </summary>
    PartitionOneWay,

    /// <summary>
    /// Bridge (Jepsen's majorities ring for 3 and 5 nodes): two halves that cannot reach each other, and one node in
    /// both that reaches everybody.
    /// </summary>
    PartitionBridge,
}

/// <summary>
/// Options of one harness run (<c>run</c> subcommand). Role: plain data parsed from the command line or
/// built by tests. Invariant after <see cref="Parse"/>: positive durations and counts. Not shared between threads
/// while being built; read-only afterwards.
/// </summary>
public sealed class RunOptions
{
    public string Workload { get; set; } = "queue";

    public int Nodes { get; set; } = 3;

    public TimeSpan TimeLimit { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Target sends per second over all producers (polls run at their own pace).</summary>
    public double Rate { get; set; } = 50;

    public List<NemesisKind> Nemesis { get; } = [];

    /// <summary>Seconds between nemesis transitions: a fault lasts one interval, then the cluster heals for one.</summary>
    public TimeSpan NemesisInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Kafka acks: -1 (all) or 1.</summary>
    public short Acks { get; set; } = -1;

    /// <summary>Creates the topic with unclean.leader.election.enable=true (may lose data by design).</summary>
    public bool Unclean { get; set; }

    /// <summary>
    /// Metadata workload only: read topics from a broker's metadata image (Metadata request) instead of through the
    /// controller. Broker images lag the controller, so this is expected to be reported non-linearizable; it proves
    /// the metadata checker can fail.
    /// </summary>
    public bool BrokerReads { get; set; }

    public int Seed { get; set; } = Environment.TickCount & 0x7fffffff;

    public string Dir { get; set; } = Path.Combine(Path.GetTempPath(), "kraft-jepsen-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));

    public int Partitions { get; set; } = 4;

    public int Producers { get; set; } = 4;

    public int Consumers { get; set; } = 2;

    /// <summary>The kraft.dll to run; default: the one built next to this assembly (project reference).</summary>
    public string? KraftDll { get; set; }

    /// <summary>Keep the node directories (data and logs) after a clean run; failing runs always keep them.</summary>
    public bool KeepData { get; set; }

    /// <summary>
    /// Put node N on its own loopback address 127.0.0.(N+1) (<c>kraft cluster up --hosts per-node</c>); implied by
    /// any partition nemesis, whose rules match node pairs by address.
    /// </summary>
    public bool PerNodeHosts { get; set; }

    /// <summary>True when a nemesis kind needs nftables rules (and so a private network namespace and root).</summary>
    public bool UsesPartitions => Nemesis.Any(IsPartition);

    /// <summary>Partition kinds drop packets with nftables; the others send signals.</summary>
    public static bool IsPartition(NemesisKind kind) => kind is NemesisKind.IsolateLeader or NemesisKind.IsolateController
        or NemesisKind.PartitionHalves or NemesisKind.PartitionOneWay or NemesisKind.PartitionBridge;

    /// <summary>How long the final phase may wait for ISRs to recover and final polls to drain.</summary>
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromSeconds(90);

    public const string Usage =
        "usage: run [--workload queue|metadata] [--nodes 3] [--time-limit SECONDS] [--rate OPS_PER_S]\n" +
        "           [--nemesis kill,pause,lose-leader,unclean-loss,isolate-leader,isolate-controller,partition-halves,partition-one-way,partition-bridge|partitions|none]\n" +
        "           [--nemesis-interval SECONDS] [--acks all|1] [--unclean] [--broker-reads] [--seed N] [--dir OUT] [--partitions 4]\n" +
        "           [--producers 4] [--consumers 2] [--kraft PATH/kraft.dll] [--keep-data] [--recovery-timeout SECONDS] [--per-node-hosts]\n" +
        "partition kinds (root, `ip` and `nft` needed) run the whole test inside a private network namespace; `partitions` = all five";

    /// <summary>Every partition kind, in the order <c>--nemesis partitions</c> enables them.</summary>
    public static readonly IReadOnlyList<NemesisKind> PartitionKinds =
        [NemesisKind.IsolateLeader, NemesisKind.IsolateController, NemesisKind.PartitionHalves, NemesisKind.PartitionOneWay, NemesisKind.PartitionBridge];

    public static NemesisKind ParseKind(string name) => name.Trim().ToLowerInvariant() switch
    {
        "kill" => NemesisKind.Kill,
        "pause" => NemesisKind.Pause,
        "lose-leader" => NemesisKind.LoseLeader,
        "unclean-loss" => NemesisKind.UncleanLoss,
        "isolate-leader" => NemesisKind.IsolateLeader,
        "isolate-controller" => NemesisKind.IsolateController,
        "partition-halves" => NemesisKind.PartitionHalves,
        "partition-one-way" => NemesisKind.PartitionOneWay,
        "partition-bridge" => NemesisKind.PartitionBridge,
        _ => throw new ArgumentException($"unknown nemesis '{name}' (kill, pause, lose-leader, unclean-loss, isolate-leader, isolate-controller, partition-halves, partition-one-way, partition-bridge, partitions, none)"),
    };

    public static string KindName(NemesisKind kind) => kind switch
    {
        NemesisKind.Kill => "kill",
        NemesisKind.Pause => "pause",
        NemesisKind.UncleanLoss => "unclean-loss",
        NemesisKind.IsolateLeader => "isolate-leader",
        NemesisKind.IsolateController => "isolate-controller",
        NemesisKind.PartitionHalves => "partition-halves",
        NemesisKind.PartitionOneWay => "partition-one-way",
        NemesisKind.PartitionBridge => "partition-bridge",
        _ => "lose-leader",
    };

    /// <summary>Parses the command line; returns an error message or null.</summary>
    public static string? Parse(IReadOnlyList<string> args, RunOptions options)
    {
        try
        {
            for (var i = 0; i < args.Count; i++)
            {
                var a = args[i];
                string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{a} needs a value");
                double Seconds() => double.Parse(Value(), CultureInfo.InvariantCulture);
                switch (a)
                {
                    case "--workload":
                        options.Workload = Value();
                        if (options.Workload is not ("queue" or "metadata"))
                        {
                            return $"unknown workload '{options.Workload}' (queue or metadata)";
                        }

                        break;
                    case "--nodes":
                        options.Nodes = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--time-limit":
                        options.TimeLimit = TimeSpan.FromSeconds(Seconds());
                        break;
                    case "--rate":
                        options.Rate = double.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--nemesis":
                        options.Nemesis.Clear();
                        foreach (var name in Value().Split(',', StringSplitOptions.RemoveEmptyEntries))
                        {
                            if (name.Trim() == "partitions")
                            {
                                options.Nemesis.AddRange(PartitionKinds);
                            }
                            else if (name.Trim() != "none")
                            {
                                options.Nemesis.Add(ParseKind(name));
                            }
                        }

                        break;
                    case "--nemesis-interval":
                        options.NemesisInterval = TimeSpan.FromSeconds(Seconds());
                        break;
                    case "--acks":
                        options.Acks = Value() switch
                        {
                            "all" or "-1" => -1,
                            "1" => 1,
                            var v => throw new ArgumentException($"--acks is all or 1, not {v}"),
                        };
                        break;
                    case "--broker-reads":
                        options.BrokerReads = true;
                        break;
                    case "--unclean":
                        options.Unclean = true;
                        break;
                    case "--seed":
                        options.Seed = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--dir":
                        options.Dir = Value();
                        break;
                    case "--partitions":
                        options.Partitions = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--producers":
                        options.Producers = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--consumers":
                        options.Consumers = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--kraft":
                        options.KraftDll = Value();
                        break;
                    case "--keep-data":
                        options.KeepData = true;
                        break;
                    case "--per-node-hosts":
                        options.PerNodeHosts = true;
                        break;
                    case "--recovery-timeout":
                        options.RecoveryTimeout = TimeSpan.FromSeconds(Seconds());
                        break;
                    default:
                        return $"unknown option '{a}'";
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            return e.Message;
        }

        if (options.Nodes is < 1 or > 9 || options.Partitions < 1 || options.Producers < 1 || options.Consumers < 1
            || options.TimeLimit <= TimeSpan.Zero || options.Rate <= 0 || options.NemesisInterval <= TimeSpan.Zero)
        {
            return "--nodes 1..9; partitions, producers, consumers, time limit, rate and nemesis interval must be positive";
        }

        return null;
    }

    /// <summary>
    /// The command line that parses back into these options (the harness re-runs itself with it inside a network
    /// namespace). Only the run's own settings; defaults are written out too, so nothing depends on them.
    /// </summary>
    public IReadOnlyList<string> ToArgs()
    {
        string S(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            "--workload", Workload, "--nodes", I(Nodes), "--time-limit", S(TimeLimit.TotalSeconds), "--rate", S(Rate),
            "--nemesis", Nemesis.Count == 0 ? "none" : string.Join(',', Nemesis.Select(KindName)),
            "--nemesis-interval", S(NemesisInterval.TotalSeconds), "--acks", Acks == -1 ? "all" : "1", "--seed", I(Seed),
            "--dir", Dir, "--partitions", I(Partitions), "--producers", I(Producers), "--consumers", I(Consumers),
            "--recovery-timeout", S(RecoveryTimeout.TotalSeconds),
        };
        if (Unclean)
        {
            args.Add("--unclean");
        }

        if (BrokerReads)
        {
            args.Add("--broker-reads");
        }

        if (KeepData)
        {
            args.Add("--keep-data");
        }

        if (PerNodeHosts)
        {
            args.Add("--per-node-hosts");
        }

        if (KraftDll is not null)
        {
            args.AddRange(["--kraft", KraftDll]);
        }

        return args;
    }
}
