using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Queue;

/// <summary>
/// One event of a Kafka queue history, with its value decoded into sends and polls.
/// Accepts Jepsen's simple forms (<c>:send [k v]</c> completing as <c>[k [offset v]]</c>; <c>:poll</c>
/// completing as <c>{k [[offset v] ...]}</c>) and the transaction form (<c>[[:send k v] [:poll {...}]]</c>).
/// Invariant: nil message values are stored as <see cref="EdnEquality.NilKey"/>. Immutable.
/// </summary>
public sealed class QueueOp
{
    private QueueOp(HistoryEvent e, int invokeIndex)
    {
        Index = e.Index;
        Process = e.Process ?? -1;
        Type = e.Type;
        F = e.F;
        Line = e.Line;
        InvokeIndex = invokeIndex;
    }

    public int Index { get; }

    public long Process { get; }

    public EventType Type { get; }

    public string F { get; }

    public int Line { get; }

    /// <summary>The index of the invocation this event completes (its own index for an invoke).</summary>
    public int InvokeIndex { get; }

    public List<(object Key, long? Offset, object Value)> Sends { get; } = [];

    public List<(object Key, List<(long? Offset, object Value)> Pairs)> Polls { get; } = [];

    /// <summary>The keys of an <c>:assign</c> or <c>:subscribe</c>.</summary>
    public IReadOnlyList<object?> AssignedKeys { get; private set; } = [];

    public static List<QueueOp> FromHistory(History.History history)
    {
        var openInvoke = new Dictionary<long, int>();
        var result = new List<QueueOp>();
        foreach (var e in history.Events)
        {
            if (e.Process is not long p)
            {
                continue;
            }

            int invokeIndex;
            if (e.Type == EventType.Invoke)
            {
                openInvoke[p] = e.Index;
                invokeIndex = e.Index;
            }
            else
            {
                invokeIndex = openInvoke.Remove(p, out var i) ? i : e.Index;
            }

            var op = new QueueOp(e, invokeIndex);
            op.Decode(e.Value);
            result.Add(op);
        }

        return result;
    }

    /// <summary>Every (key, value) this op polled, in order.</summary>
    public IEnumerable<(object Key, object Value)> Reads() =>
        Polls.SelectMany(p => p.Pairs.Select(pair => (p.Key, pair.Value)));

    /// <summary>Every (key, value) this op sent.</summary>
    public IEnumerable<(object Key, object Value)> Writes() => Sends.Select(s => (s.Key, s.Value));

    /// <summary>Values polled per key, in order; keys with no values are left out.</summary>
    public List<(object Key, List<object> Values)> ReadsByKey() => Group(Reads());

    public List<(object Key, List<object> Values)> WritesByKey() => Group(Writes());

    /// <summary>(key, offset, value) facts about the log that this op reports.</summary>
    public IEnumerable<(object Key, long? Offset, object Value)> Observations(bool includeSends)
    {
        foreach (var poll in Polls)
        {
            foreach (var (offset, value) in poll.Pairs)
            {
                yield return (poll.Key, offset, value);
            }
        }

        if (includeSends)
        {
            foreach (var s in Sends)
            {
                yield return s;
            }
        }
    }

    public override string ToString() => $"p{Process} :{Type.ToString().ToLowerInvariant()} :{F} (line {Line})";

    private static List<(object Key, List<object> Values)> Group(IEnumerable<(object Key, object Value)> pairs)
    {
        var result = new List<(object, List<object>)>();
        var index = new Dictionary<object, List<object>>(EdnEquality.Comparer);
        foreach (var (k, v) in pairs)
        {
            if (!index.TryGetValue(k, out var list))
            {
                list = [];
                index[k] = list;
                result.Add((k, list));
            }

            list.Add(v);
        }

        return result;
    }

    private static bool IsTxnForm(object? value) =>
        value is EdnSeq { Count: > 0 } seq && seq[0] is EdnSeq { Count: > 0 } first && first[0] is Keyword { Name: "send" or "poll" };

    private void Decode(object? value)
    {
        switch (F)
        {
            case "assign" or "subscribe":
                AssignedKeys = value is EdnSeq keys ? keys.Items : [];
                return;
            case "send" or "poll" or "txn":
                if (IsTxnForm(value))
                {
                    foreach (var item in ((EdnSeq)value!).Items)
                    {
                        DecodeMop((EdnSeq)item!);
                    }
                }
                else if (F == "send" && value is EdnSeq { Count: 2 } send)
                {
                    AddSend(send[0], send[1]);
                }
                else if (F == "poll" && value is EdnMap polled)
                {
                    AddPoll(polled);
                }
                else if (value is not null && !(value is EdnSeq { Count: 0 }) && Type != EventType.Invoke && F != "txn")
                {
                    throw new HistoryFormatException($"cannot read the value of a :{F}: {EdnWriter.Write(value)}", Line);
                }

                return;
            default:
                return;
        }
    }

    private void DecodeMop(EdnSeq mop)
    {
        if (mop[0] is Keyword { Name: "send" } && mop.Count == 3)
        {
            AddSend(mop[1], mop[2]);
        }
        else if (mop[0] is Keyword { Name: "poll" } && mop.Count <= 2)
        {
            if (mop.Count == 2 && mop[1] is EdnMap polled)
            {
                AddPoll(polled);
            }
        }
        else
        {
            throw new HistoryFormatException("a micro-op is [:send k v] or [:poll {k [[offset v] ...]}]", Line);
        }
    }

    private void AddSend(object? key, object? sent)
    {
        // A completed send carries [offset value]; an invoke (or an :info with no offset) carries the value.
        if (sent is EdnSeq { Count: 2 } pair && pair[0] is long or null)
        {
            Sends.Add((NonNil(key), pair[0] as long?, NonNil(pair[1])));
        }
        else
        {
            Sends.Add((NonNil(key), null, NonNil(sent)));
        }
    }

    private void AddPoll(EdnMap polled)
    {
        foreach (var (key, pairs) in polled.Pairs)
        {
            if (pairs is not EdnSeq list)
            {
                throw new HistoryFormatException("a poll result is {k [[offset v] ...]}", Line);
            }

            var decoded = new List<(long?, object)>();
            foreach (var item in list.Items)
            {
                if (item is not EdnSeq { Count: 2 } pair || pair[0] is not (long or null))
                {
                    throw new HistoryFormatException("a polled record is [offset value]", Line);
                }

                decoded.Add((pair[0] as long?, NonNil(pair[1])));
            }

            Polls.Add((NonNil(key), decoded));
        }
    }

    private static object NonNil(object? value) => value ?? EdnEquality.NilKey;
}
