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

    /// <summary>How long the final phase may wait for ISRs to recover and final polls to drain.</summary>
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromSeconds(90);

    public const string Usage =
        "usage: run [--workload queue|metadata] [--nodes 3] [--time-limit SECONDS] [--rate OPS_PER_S] [--nemesis kill,pause,lose-leader,unclean-loss|none]\n" +
        "           [--nemesis-interval SECONDS] [--acks all|1] [--unclean] [--broker-reads] [--seed N] [--dir OUT] [--partitions 4]\n" +
        "           [--producers 4] [--consumers 2] [--kraft PATH/kraft.dll] [--keep-data] [--recovery-timeout SECONDS]";

    public static NemesisKind ParseKind(string name) => name.Trim().ToLowerInvariant() switch
    {
        "kill" => NemesisKind.Kill,
        "pause" => NemesisKind.Pause,
        "lose-leader" => NemesisKind.LoseLeader,
        "unclean-loss" => NemesisKind.UncleanLoss,
        _ => throw new ArgumentException($"unknown nemesis '{name}' (kill, pause, lose-leader, unclean-loss, none)"),
    };

    public static string KindName(NemesisKind kind) => kind switch
    {
        NemesisKind.Kill => "kill",
        NemesisKind.Pause => "pause",
        NemesisKind.UncleanLoss => "unclean-loss",
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
                            if (name.Trim() != "none")
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
}
