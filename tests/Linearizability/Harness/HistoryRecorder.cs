using System.Diagnostics;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// Records a Jepsen history as it happens: every invoke and completion of the client processes and every nemesis
/// action, stamped with a monotonic clock (nanoseconds since the recorder was created).
/// Role: the single source of real-time order for the checker. Invariant: events are numbered in the order they
/// were appended, under one lock, so an operation's completion always follows its invoke, and an event appended
/// after another returned is ordered after it (which is what real-time order means to the checker).
/// Thread-safe: every worker task appends concurrently.
/// </summary>
public sealed class HistoryRecorder
{
    private static readonly Keyword NemesisProcess = new("nemesis");
    private readonly object gate = new();
    private readonly List<HistoryEvent> events = [];
    private readonly long startTimestamp = Stopwatch.GetTimestamp();

    /// <summary>Nanoseconds since the recorder was created (monotonic).</summary>
    public long NowNanos => (long)Stopwatch.GetElapsedTime(startTimestamp).TotalNanoseconds;

    public HistoryEvent Invoke(long process, string f, object? value) => Append(process, EventType.Invoke, f, null, value, null);

    public HistoryEvent Complete(long process, EventType type, string f, object? value, object? error = null) => Append(process, type, f, null, value, error);

    /// <summary>Any client event, with a <c>:key</c> (the metadata workload's topic name) when not null.</summary>
    public HistoryEvent Append(long process, EventType type, string f, object? key, object? value, object? error)
    {
        lock (gate)
        {
            var e = new HistoryEvent(events.Count, process, type, f, value, Key: key, Error: error) { Time = NowNanos };
            events.Add(e);
            return e;
        }
    }

    /// <summary>A nemesis event (<c>:process :nemesis</c>, <c>:type :info</c>), ignored by the checkers, kept for the report.</summary>
    public HistoryEvent Nemesis(string f, object? value)
    {
        lock (gate)
        {
            var e = new HistoryEvent(events.Count, null, EventType.Info, f, value)
            {
                ProcessName = NemesisProcess,
                Time = NowNanos,
            };
            events.Add(e);
            return e;
        }
    }

    public IReadOnlyList<HistoryEvent> Snapshot()
    {
        lock (gate)
        {
            return events.ToList();
        }
    }

    public History.History ToHistory(string source) => new(Snapshot(), source);
}
