using Kraft.Linearizability.Edn;

namespace Kraft.Linearizability.History;

/// <summary>The four Jepsen event types.</summary>
public enum EventType
{
    Invoke,
    Ok,
    Fail,
    Info,
}

/// <summary>
/// One line of a Jepsen history: a process invoking or completing an operation.
/// Role: the unit the parsers produce and the writer saves. Invariant: <see cref="Index"/> is the
/// position in the history (real-time order); <see cref="Process"/> is null for non-client processes
/// such as <c>:nemesis</c>. Immutable.
/// </summary>
public sealed record HistoryEvent(
    int Index,
    long? Process,
    EventType Type,
    string F,
    object? Value,
    int Line = 0,
    object? Key = null,
    object? Error = null,
    EdnMap? Raw = null)
{
    /// <summary>The raw process value (for example the keyword <c>:nemesis</c>) when it is not an integer.</summary>
    public object? ProcessName { get; init; }

    /// <summary>Nanoseconds, informational only (not monotonic in real histories).</summary>
    public long? Time { get; init; }
}

/// <summary>
/// A recorded history in real-time order, plus where it came from. Immutable.
/// </summary>
public sealed class History(IReadOnlyList<HistoryEvent> events, string source = "")
{
    public IReadOnlyList<HistoryEvent> Events { get; } = events;

    /// <summary>A file name or description, used in messages.</summary>
    public string Source { get; } = source;

    /// <summary>Client events only (those with an integer process).</summary>
    public IEnumerable<HistoryEvent> ClientEvents => Events.Where(e => e.Process is not null);
}

/// <summary>How an operation ended.</summary>
public enum OpStatus
{
    /// <summary>Completed <c>:ok</c>: it took effect and <see cref="Operation.Output"/> is its result.</summary>
    Ok,

    /// <summary>Completed <c>:fail</c>: a definite outcome whose meaning the model decides.</summary>
    Fail,

    /// <summary><c>:info</c> or never completed: it may take effect at any time after its call, or never.</summary>
    Unknown,
}

/// <summary>
/// An invocation paired with its completion. Role: the unit the linearizability checker orders.
/// Invariant: <see cref="Call"/> &lt; <see cref="Return"/>; <see cref="Return"/> is
/// <see cref="int.MaxValue"/> for unknown outcomes (their response is treated as +infinity). Immutable.
/// </summary>
public sealed record Operation(
    int Id,
    long Process,
    string F,
    object? Key,
    object? Input,
    object? Output,
    OpStatus Status,
    int Call,
    int Return,
    int CallLine,
    object? Error = null)
{
    public const int Infinity = int.MaxValue;

    public override string ToString()
    {
        var key = Key is null ? "" : " " + EdnWriter.Write(Key);
        var value = Status switch
        {
            OpStatus.Ok => $"{EdnWriter.Write(Input)} -> {EdnWriter.Write(Output)}",
            OpStatus.Fail => $"{EdnWriter.Write(Input)} -> fail{(Error is null ? "" : " " + EdnWriter.Write(Error))}",
            _ => $"{EdnWriter.Write(Input)} -> ?",
        };
        return $"#{Id} p{Process} {F}{key} {value} (line {CallLine})";
    }
}

/// <summary>Thrown when a history is well-formed EDN (or text) but not a valid Jepsen history.</summary>
public sealed class HistoryFormatException(string message, int line) : Exception(message)
{
    public int Line { get; } = line;
}

/// <summary>
/// Pairs invocations with completions. A process has at most one operation in flight; the next event
/// of the same process completes it. An <c>:info</c> with nothing open (a nemesis-style event) is skipped.
/// Stateless.
/// </summary>
public static class OperationPairing
{
    public static List<Operation> Pair(History history)
    {
        var open = new Dictionary<long, HistoryEvent>();
        var ops = new List<(HistoryEvent Invoke, HistoryEvent? Completion)>();
        var openSlot = new Dictionary<long, int>();
        foreach (var e in history.Events)
        {
            if (e.Process is not long p)
            {
                continue;
            }

            if (e.Type == EventType.Invoke)
            {
                if (open.TryGetValue(p, out var previous))
                {
                    throw new HistoryFormatException(
                        $"process {p} invokes again while its operation from line {previous.Line} is still open", e.Line);
                }

                open[p] = e;
                openSlot[p] = ops.Count;
                ops.Add((e, null));
                continue;
            }

            if (!open.Remove(p, out var invoke))
            {
                if (e.Type == EventType.Info)
                {
                    continue;
                }

                throw new HistoryFormatException($"process {p} completes :{e.F} without an open invoke", e.Line);
            }

            if (invoke.F != e.F)
            {
                throw new HistoryFormatException(
                    $"process {p} completes :{e.F} but invoked :{invoke.F} on line {invoke.Line}", e.Line);
            }

            ops[openSlot[p]] = (invoke, e);
        }

        var result = new List<Operation>(ops.Count);
        foreach (var (invoke, completion) in ops)
        {
            var status = completion?.Type switch
            {
                EventType.Ok => OpStatus.Ok,
                EventType.Fail => OpStatus.Fail,
                _ => OpStatus.Unknown,
            };
            var ret = status == OpStatus.Unknown ? Operation.Infinity : completion!.Index;
            result.Add(new Operation(
                result.Count,
                invoke.Process!.Value,
                invoke.F,
                invoke.Key ?? completion?.Key,
                invoke.Value,
                status == OpStatus.Unknown ? null : completion!.Value,
                status,
                invoke.Index,
                ret,
                invoke.Line,
                completion?.Error));
        }

        return result;
    }
}
