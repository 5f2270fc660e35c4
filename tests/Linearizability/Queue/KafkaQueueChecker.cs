using System.Text;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Queue;

/// <summary>The result of the Kafka queue checker. Immutable.</summary>
public sealed record QueueResult(
    IReadOnlyDictionary<string, IReadOnlyList<string>> Anomalies,
    IReadOnlyDictionary<object, int> Unseen)
{
    /// <summary>True when no anomaly was found.</summary>
    public bool IsOk => Anomalies.Count == 0;

    /// <summary><c>ok</c> or the anomaly names, sorted and comma-separated.</summary>
    public string VerdictText => IsOk ? "ok" : string.Join(",", Anomalies.Keys.OrderBy(k => k, StringComparer.Ordinal));

    public string Describe()
    {
        var sb = new StringBuilder(VerdictText);
        foreach (var (name, cases) in Anomalies.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            sb.Append("\n  ").Append(name).Append(" (").Append(cases.Count).Append("):");
            foreach (var c in cases.Take(8))
            {
                sb.Append("\n    ").Append(c);
            }

            if (cases.Count > 8)
            {
                sb.Append("\n    ...");
            }
        }

        return sb.ToString();
    }
}

/// <summary>
/// Jepsen's Kafka queue analysis (jepsen.tests.kafka) over :send/:poll/:txn/:assign/:subscribe ops.
/// Role: find lost-write, duplicate, inconsistent-offsets, poll-skip, nonmonotonic-poll,
/// nonmonotonic-send, G1a, precommitted-read, the int-* (within one op) variants, and unseen.
/// Offsets are compared as dense indexes of the log as observed (holes, such as transaction markers, do
/// not count as skips). Definitions are in docs/jepsen.md. Stateless; thread-safe.
/// </summary>
public static class KafkaQueueChecker
{
    public static QueueResult Check(History.History history) => Check(QueueOp.FromHistory(history));

    public static QueueResult Check(IReadOnlyList<QueueOp> ops)
    {
        var anomalies = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        void Add(string name, string text)
        {
            if (!anomalies.TryGetValue(name, out var list))
            {
                list = [];
                anomalies[name] = list;
            }

            list.Add(text);
        }

        var completions = ops.Where(o => o.Type != EventType.Invoke).ToList();
        var readsOk = ValuesByKey(completions.Where(o => o.Type == EventType.Ok).SelectMany(o => o.Reads()));
        var writesFailed = ValuesByKey(completions.Where(o => o.Type == EventType.Fail).SelectMany(o => o.Writes()));

        bool MustHaveCommitted(QueueOp op) =>
            op.Type == EventType.Ok ||
            (op.Type == EventType.Info && op.Writes().Any(w => readsOk.TryGetValue(w.Key, out var vs) && vs.Contains(w.Value)));

        // The log of each key as observed: offset -> distinct values. Sends count only when their effect
        // is certain; polls count always (a Kafka consumer must never see unsafe data).
        var logs = new Dictionary<object, SortedDictionary<long, List<object>>>(EdnEquality.Comparer);
        foreach (var op in completions)
        {
            var committed = MustHaveCommitted(op);
            foreach (var (key, offset, value) in op.Observations(includeSends: committed))
            {
                if (offset is not long o)
                {
                    continue;
                }

                var log = GetOrAdd(logs, key, () => new SortedDictionary<long, List<object>>());
                var at = GetOrAdd(log, o, () => []);
                if (!at.Any(v => EdnEquality.AreEqual(v, value)))
                {
                    at.Add(value);
                }
            }
        }

        var orders = logs.ToDictionary(p => p.Key, p => new VersionOrder(p.Value), EdnEquality.Comparer);
        int? IndexOf(object key, object value) =>
            orders.TryGetValue(key, out var vo) && vo.ByValue.TryGetValue(value, out var i) ? i : null;

        foreach (var (key, log) in logs)
        {
            foreach (var (offset, values) in log)
            {
                if (values.Count > 1)
                {
                    Add("inconsistent-offsets", $"key {W(key)} offset {offset} holds {string.Join(" and ", values.Select(W))}");
                }
            }

            var offsetsOf = new Dictionary<object, List<long>>(EdnEquality.Comparer);
            foreach (var (offset, values) in log)
            {
                foreach (var v in values)
                {
                    GetOrAdd(offsetsOf, v, () => []).Add(offset);
                }
            }

            foreach (var (value, offsets) in offsetsOf.Where(p => p.Value.Count > 1))
            {
                Add("duplicate", $"key {W(key)} value {W(value)} appears at offsets {string.Join(", ", offsets)}");
            }
        }

        // Who wrote each (key, value), and when that send was invoked.
        var writerOf = new Dictionary<(object, object), QueueOp>(PairComparer.Instance);
        foreach (var op in completions)
        {
            foreach (var w in op.Writes())
            {
                writerOf[(w.Key, w.Value)] = op;
            }
        }

        foreach (var op in completions.Where(o => o.Type == EventType.Ok))
        {
            foreach (var r in op.Reads())
            {
                if (writesFailed.TryGetValue(r.Key, out var failed) && failed.Contains(r.Value))
                {
                    Add("G1a", $"{op} read {W(r.Value)} of key {W(r.Key)}, whose send failed");
                }

                if (writerOf.TryGetValue((r.Key, r.Value), out var writer) && writer != op && op.Index < writer.InvokeIndex)
                {
                    Add("precommitted-read", $"{op} read {W(r.Value)} of key {W(r.Key)} before its send was invoked ({writer})");
                }
            }
        }

        foreach (var op in completions)
        {
            var reads = op.Reads().ToList();
            foreach (var w in op.Writes())
            {
                if (reads.Any(r => EdnEquality.AreEqual(r.Key, w.Key) && EdnEquality.AreEqual(r.Value, w.Value)))
                {
                    Add("precommitted-read", $"{op} read its own send {W(w.Value)} of key {W(w.Key)}");
                }
            }
        }

        // Lost writes: for each key, everything at or below the highest index some ok poll observed must
        // have been observed by some ok poll, unless its writer may never have committed.
        foreach (var (key, readValues) in readsOk)
        {
            if (!logs.TryGetValue(key, out var log))
            {
                continue;
            }

            var firstIndex = new Dictionary<object, int>(EdnEquality.Comparer);
            var lastIndex = new Dictionary<object, int>(EdnEquality.Comparer);
            var index = 0;
            foreach (var values in log.Values)
            {
                foreach (var v in values)
                {
                    firstIndex.TryAdd(v, index);
                    lastIndex[v] = index;
                }

                index++;
            }

            var bound = readValues.Select(v => firstIndex.TryGetValue(v, out var i) ? i : -1).DefaultIfEmpty(-1).Max();
            foreach (var (value, last) in lastIndex.OrderBy(p => p.Value))
            {
                if (last <= bound && !readValues.Contains(value) &&
                    writerOf.TryGetValue((key, value), out var writer) && MustHaveCommitted(writer))
                {
                    Add("lost-write", $"key {W(key)} value {W(value)} (index {last}) was never polled, though index {bound} was; sent by {writer}");
                }
            }
        }

        foreach (var group in ops.GroupBy(o => o.Process))
        {
            CheckProcessPolls(group.ToList(), IndexOf, Add);
            CheckProcessSends(group.Where(o => o.Type is EventType.Ok or EventType.Info).ToList(), IndexOf, Add);
        }

        foreach (var op in ops)
        {
            foreach (var (key, values) in op.ReadsByKey())
            {
                for (var i = 1; i < values.Count; i++)
                {
                    var delta = Delta(IndexOf(key, values[i - 1]), IndexOf(key, values[i]));
                    if (delta > 1)
                    {
                        Add("int-poll-skip", $"{op} skipped {delta - 1} values of key {W(key)} between {W(values[i - 1])} and {W(values[i])}");
                    }
                    else if (delta < 1)
                    {
                        Add("int-nonmonotonic-poll", $"{op} read key {W(key)} out of log order: {W(values[i - 1])} then {W(values[i])}");
                    }
                }
            }

            if (op.Type != EventType.Invoke)
            {
                foreach (var (key, values) in op.WritesByKey())
                {
                    for (var i = 1; i < values.Count; i++)
                    {
                        if (Delta(IndexOf(key, values[i - 1]), IndexOf(key, values[i])) < 1)
                        {
                            Add("int-nonmonotonic-send", $"{op} sent {W(values[i - 1])} then {W(values[i])} to key {W(key)} but the log orders them the other way");
                        }
                    }
                }
            }
        }

        // Unseen: acknowledged sends that no ok poll ever returned.
        var sentOk = ValuesByKey(completions.Where(o => o.Type == EventType.Ok).SelectMany(o => o.Writes()));
        var unseen = new Dictionary<object, int>(EdnEquality.Comparer);
        foreach (var (key, sent) in sentOk)
        {
            readsOk.TryGetValue(key, out var seen);
            var missing = sent.Where(v => seen is null || !seen.Contains(v)).ToList();
            if (missing.Count > 0)
            {
                unseen[key] = missing.Count;
                Add("unseen", $"key {W(key)}: {missing.Count} acknowledged sends never polled, e.g. {string.Join(" ", missing.Take(5).Select(W))}");
            }
        }

        return new QueueResult(
            anomalies.ToDictionary(p => p.Key, p => (IReadOnlyList<string>)p.Value, StringComparer.Ordinal),
            unseen);
    }

    /// <summary>
    /// Per consumer: each poll must start right after where the previous ok poll of that key left off,
    /// unless an assign/subscribe in between dropped the key.
    /// </summary>
    private static void CheckProcessPolls(List<QueueOp> ops, Func<object, object, int?> indexOf, Action<string, string> add)
    {
        var lastReads = new Dictionary<object, (QueueOp Op, object Value)>(EdnEquality.Comparer);
        foreach (var op in ops)
        {
            if (op.F is "assign" or "subscribe")
            {
                if (op.Type is EventType.Ok or EventType.Info)
                {
                    KeepOnly(lastReads, op.AssignedKeys);
                }

                continue;
            }

            var reads = op.ReadsByKey();
            foreach (var (key, values) in reads)
            {
                if (lastReads.TryGetValue(key, out var last))
                {
                    var delta = Delta(indexOf(key, last.Value), indexOf(key, values[0]));
                    if (delta > 1)
                    {
                        add("poll-skip", $"process {op.Process} skipped {delta - 1} values of key {W(key)}: {last.Op} ended at {W(last.Value)}, {op} started at {W(values[0])}");
                    }
                    else if (delta < 1)
                    {
                        add("nonmonotonic-poll", $"process {op.Process} went back on key {W(key)}: {last.Op} ended at {W(last.Value)}, {op} started at {W(values[0])}");
                    }
                }
            }

            if (op.Type == EventType.Ok)
            {
                foreach (var (key, values) in reads)
                {
                    lastReads[key] = (op, values[^1]);
                }
            }
        }
    }

    /// <summary>Per producer: successive sends to a key must land at increasing positions of the log.</summary>
    private static void CheckProcessSends(List<QueueOp> ops, Func<object, object, int?> indexOf, Action<string, string> add)
    {
        var lastSends = new Dictionary<object, (QueueOp Op, object Value)>(EdnEquality.Comparer);
        foreach (var op in ops)
        {
            if (op.F is "assign" or "subscribe")
            {
                KeepOnly(lastSends, op.AssignedKeys);
                continue;
            }

            foreach (var (key, values) in op.WritesByKey())
            {
                if (lastSends.TryGetValue(key, out var last) && Delta(indexOf(key, last.Value), indexOf(key, values[0])) < 1)
                {
                    add("nonmonotonic-send", $"process {op.Process} sent {W(last.Value)} ({last.Op}) then {W(values[0])} ({op}) to key {W(key)}, but the log has them the other way round");
                }

                lastSends[key] = (op, values[^1]);
            }
        }
    }

    private static void KeepOnly<T>(Dictionary<object, T> map, IReadOnlyList<object?> keys)
    {
        foreach (var k in map.Keys.ToList())
        {
            if (!keys.Any(x => EdnEquality.AreEqual(x, k)))
            {
                map.Remove(k);
            }
        }
    }

    /// <summary>The distance in the log between two values; 1 (no evidence) when either position is unknown.</summary>
    private static int Delta(int? from, int? to) => from is int a && to is int b ? b - a : 1;

    private static Dictionary<object, HashSet<object>> ValuesByKey(IEnumerable<(object Key, object Value)> pairs)
    {
        var map = new Dictionary<object, HashSet<object>>(EdnEquality.Comparer);
        foreach (var (k, v) in pairs)
        {
            GetOrAdd(map, k, () => new HashSet<object>(EdnEquality.Comparer)).Add(v);
        }

        return map;
    }

    private static TValue GetOrAdd<TKey, TValue>(IDictionary<TKey, TValue> map, TKey key, Func<TValue> create)
    {
        if (!map.TryGetValue(key, out var value))
        {
            value = create();
            map[key] = value;
        }

        return value;
    }

    private static string W(object? value) => EdnWriter.Write(value);

    /// <summary>The dense version order of one key: the n-th distinct offset observed has index n.</summary>
    private sealed class VersionOrder
    {
        public VersionOrder(SortedDictionary<long, List<object>> log)
        {
            ByValue = new Dictionary<object, int>(EdnEquality.Comparer);
            var i = 0;
            foreach (var values in log.Values)
            {
                // As in Jepsen, one value stands for each offset; a conflicting offset is reported separately.
                ByValue[values[0]] = i++;
            }
        }

        public Dictionary<object, int> ByValue { get; }
    }

    private sealed class PairComparer : IEqualityComparer<(object, object)>
    {
        public static readonly PairComparer Instance = new();

        public bool Equals((object, object) x, (object, object) y) =>
            EdnEquality.AreEqual(x.Item1, y.Item1) && EdnEquality.AreEqual(x.Item2, y.Item2);

        public int GetHashCode((object, object) obj) => HashCode.Combine(EdnEquality.Hash(obj.Item1), EdnEquality.Hash(obj.Item2));
    }
}
