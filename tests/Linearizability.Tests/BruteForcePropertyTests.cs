using FsCheck;
using FsCheck.Fluent;
using Kraft.Linearizability.Checking;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Tests;

/// <summary>
/// The WGL checker must agree with a deliberately naive checker on small random histories: try every
/// subset of the unknown-outcome ops and every order that respects real time, replaying a reference
/// specification written here independently of the models.
/// </summary>
public class BruteForcePropertyTests
{
    private delegate bool Spec(object? state, Operation op, out object? next);

    [Fact]
    public void Wgl_agrees_with_brute_force_for_etcd_register() => Compare("etcd-register", RandomRegisterHistory, EtcdSpec, null);

    [Fact]
    public void Wgl_agrees_with_brute_force_for_cas_register() => Compare("cas-register", RandomRegisterHistory, CasSpec, null);

    [Fact]
    public void Wgl_agrees_with_brute_force_for_kv() =>
        Compare("kv", RandomKvHistory, KvMapSpec, new Dictionary<string, string>()); // the whole map: also tests per-key splitting

    [Fact]
    public void Wgl_agrees_with_brute_force_for_kraft_metadata() => Compare("kraft-metadata", RandomMetadataHistory, MetadataSpec, new Dictionary<string, Dictionary<string, string>>());

    private static void Compare(string model, Func<Random, List<HistoryEvent>> generate, Spec spec, object? initial)
    {
        var seen = new int[2];
        // Seeds span the whole int range: FsCheck's default ints are small and would repeat a few hundred histories.
        var property = Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var history = new History.History(generate(new Random(seed)));
            var ops = OperationPairing.Pair(history);
            var wgl = LinearizabilityChecker.Check(ops, LinearizabilityChecker.Models[model], TimeSpan.FromSeconds(10)).Verdict;
            // The specs never mutate a state they are given, so one initial state serves every run.
            var brute = BruteForce(ops, spec, initial);
            seen[brute ? 1 : 0]++;
            return wgl == (brute ? Verdict.Linearizable : Verdict.NotLinearizable);
        });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), property);

        // Both outcomes must actually occur, or the comparison proves little.
        Assert.True(seen[0] > 20 && seen[1] > 20, $"generator is lopsided: {seen[0]} not, {seen[1]} linearizable");
    }

    /// <summary>Exhaustive: any order of a subset (all definite ops, any unknown ones) that respects real time.</summary>
    private static bool BruteForce(IReadOnlyList<Operation> ops, Spec spec, object? initial)
    {
        var used = new bool[ops.Count];
        // Definite :fail ops are placed too; the Knossos-style specs treat them as always legal no-ops.
        bool Extend(object? state, int placed)
        {
            if (ops.Where((o, i) => !used[i]).All(o => o.Status == OpStatus.Unknown))
            {
                return true;
            }

            for (var i = 0; i < ops.Count; i++)
            {
                if (used[i])
                {
                    continue;
                }

                // i can go next only if every unplaced definite op returned after i was called.
                var blocked = false;
                for (var j = 0; j < ops.Count; j++)
                {
                    if (!used[j] && j != i && ops[j].Status != OpStatus.Unknown && ops[j].Return < ops[i].Call)
                    {
                        blocked = true;
                    }
                }

                if (blocked || !spec(state, ops[i], out var next))
                {
                    continue;
                }

                used[i] = true;
                var ok = Extend(next, placed + 1);
                used[i] = false;
                if (ok)
                {
                    return true;
                }
            }

            return false;
        }

        return Extend(initial, 0);
    }

    private static long? Num(object? v) => v is long l ? l : null;

    private static bool EtcdSpec(object? state, Operation op, out object? next)
    {
        var s = (long?)state;
        next = state;
        switch (op.F)
        {
            case "read":
                return op.Status != OpStatus.Ok || Num(op.Output) == s;
            case "write":
                if (op.Status == OpStatus.Fail)
                {
                    return true;
                }

                next = Num(op.Input);
                return true;
            default:
                var pair = (EdnSeq)op.Input!;
                if (op.Status == OpStatus.Fail)
                {
                    return s != Num(pair[0]);
                }

                next = Num(pair[1]);
                return s == Num(pair[0]);
        }
    }

    private static bool CasSpec(object? state, Operation op, out object? next)
    {
        var s = (long?)state;
        next = state;
        if (op.Status == OpStatus.Fail)
        {
            return true; // did not happen
        }

        switch (op.F)
        {
            case "read":
                return op.Status != OpStatus.Ok || op.Output is null || Num(op.Output) == s;
            case "write":
                next = Num(op.Status == OpStatus.Ok ? op.Output : op.Input);
                return true;
            default:
                var pair = (EdnSeq)op.Input!;
                next = Num(pair[1]);
                return s == Num(pair[0]);
        }
    }

    private static bool KvMapSpec(object? state, Operation op, out object? next)
    {
        var map = (Dictionary<string, string>)state!;
        var key = (string)op.Key!;
        var current = map.GetValueOrDefault(key, "");
        next = map;
        switch (op.F)
        {
            case "get":
                return op.Status != OpStatus.Ok || (string)op.Output! == current;
            case "put":
                next = new Dictionary<string, string>(map) { [key] = (string)op.Input! };
                return true;
            default:
                next = new Dictionary<string, string>(map) { [key] = current + (string)op.Input! };
                return true;
        }
    }

    /// <summary>Whole-cluster reference for kraft-metadata: topic name -> configs (absent = no topic).</summary>
    private static bool MetadataSpec(object? state, Operation op, out object? next)
    {
        var topics = (Dictionary<string, Dictionary<string, string>>)state!;
        var name = (string)op.Key!;
        var exists = topics.TryGetValue(name, out var configs);
        next = topics;
        var error = (op.Error as Keyword)?.Name;
        if (op.Status == OpStatus.Fail)
        {
            return (op.F, error) switch
            {
                ("create", "topic-exists") => exists,
                ("delete" or "set-config", "unknown-topic") => !exists,
                _ => true, // any other failure did not happen
            };
        }

        switch (op.F)
        {
            case "create":
                next = new Dictionary<string, Dictionary<string, string>>(topics) { [name] = [] };
                return !exists;
            case "delete":
                var without = new Dictionary<string, Dictionary<string, string>>(topics);
                without.Remove(name);
                next = without;
                return exists;
            case "set-config":
                var pair = (EdnSeq)op.Input!;
                if (!exists)
                {
                    return false;
                }

                next = new Dictionary<string, Dictionary<string, string>>(topics) { [name] = new(configs!) { [(string)pair[0]!] = (string)pair[1]! } };
                return true;
            default:
                if (op.Status != OpStatus.Ok)
                {
                    return true;
                }

                var read = (EdnMap)op.Output!;
                if (read.Get("exists") is false)
                {
                    return !exists;
                }

                var seen = (EdnMap)read.Get("configs")!;
                return exists && seen.Count == configs!.Count && configs.All(c => seen.Get((object)c.Key) as string == c.Value);
        }
    }

    private static List<HistoryEvent> RandomMetadataHistory(Random rng)
    {
        var events = RandomHistory(
            rng,
            (f, _) => (f == "set-config" ? new EdnSeq(["retention.ms", rng.Next(2) == 0 ? "1" : "2"]) : null, rng.Next(4) == 0 ? "t2" : "t1"),
            ["create", "create", "delete", "set-config", "read"],
            f => rng.Next(3) switch
            {
                0 => EdnWriter.Map(("exists", false)),
                1 => EdnWriter.Map(("exists", true), ("configs", new EdnMap([]))),
                _ => EdnWriter.Map(("exists", true), ("configs", new EdnMap([new KeyValuePair<object?, object?>("retention.ms", rng.Next(2) == 0 ? "1" : "2")]))),
            });

        // Turn some ok completions of writes into the rejections Kafka would give.
        return events.Select(e => e.Type == EventType.Ok && e.F != "read" && rng.Next(3) == 0
            ? e with { Type = EventType.Fail, Error = new Keyword(e.F == "create" ? "topic-exists" : rng.Next(4) == 0 ? "not-controller" : "unknown-topic") }
            : e).ToList();
    }

    /// <summary>Up to 7 register ops from up to 3 processes; outputs are random, so some histories are bad.</summary>
    private static List<HistoryEvent> RandomRegisterHistory(Random rng) =>
        RandomHistory(rng, (f, _) => f switch
        {
            "read" => (null, null),
            "write" => ((long)rng.Next(2), null),
            _ => (new EdnSeq([(long)rng.Next(2), (long)rng.Next(2)]), null),
        }, ["read", "write", "cas"], f => f == "read" ? (rng.Next(4) == 0 ? null : (long)rng.Next(2)) : null);

    private static List<HistoryEvent> RandomKvHistory(Random rng) =>
        RandomHistory(rng, (f, _) => (f == "get" ? null : rng.Next(2) == 0 ? "x" : "y", rng.Next(3) == 0 ? "b" : "a"), ["get", "put", "append"],
            f => f == "get" ? new[] { "", "x", "y", "xy", "yx", "xx" }[rng.Next(6)] : null);

    private static List<HistoryEvent> RandomHistory(
        Random rng,
        Func<string, int, (object? Input, string? Key)> input,
        string[] fs,
        Func<string, object?> readResult)
    {
        var events = new List<HistoryEvent>();
        var opCount = rng.Next(1, 8);
        var processes = new List<long> { 0, 1, 2 };
        var nextProcess = 3L;
        var open = new Dictionary<long, HistoryEvent>();
        var invoked = 0;
        while (invoked < opCount || open.Count > 0)
        {
            var p = processes[rng.Next(processes.Count)];
            if (open.TryGetValue(p, out var inv))
            {
                open.Remove(p);
                var roll = rng.Next(8);
                if (roll == 0 && invoked >= opCount)
                {
                    continue; // leave it open to the end
                }

                var type = roll switch
                {
                    1 or 2 => EventType.Info,
                    3 when inv.F is "cas" => EventType.Fail,
                    _ => EventType.Ok,
                };
                var value = inv.F is "read" or "get" && type == EventType.Ok ? readResult(inv.F) : inv.Value;
                events.Add(new HistoryEvent(events.Count, p, type, inv.F, value, 0, inv.Key));
                if (type == EventType.Info)
                {
                    processes.Remove(p);
                    processes.Add(nextProcess++);
                }
            }
            else if (invoked < opCount)
            {
                var f = fs[rng.Next(fs.Length)];
                var (value, key) = input(f, invoked);
                var e = new HistoryEvent(events.Count, p, EventType.Invoke, f, value, 0, key);
                events.Add(e);
                open[p] = e;
                invoked++;
            }
        }

        return events;
    }
}
