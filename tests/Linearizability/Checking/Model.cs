using System.Diagnostics;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Checking;

/// <summary>
/// A sequential specification the checker can test a history against.
/// Role: turn client operations into independent partitions (one per key when the model is
/// P-compositional, else one), each with its own state machine. Implementations are stateless and may
/// be shared between threads.
/// </summary>
public interface IModel
{
    /// <summary>The name used on the command line, for example <c>etcd-register</c>.</summary>
    string Name { get; }

    /// <summary>One line describing the sequential specification.</summary>
    string Description { get; }

    /// <summary>
    /// Splits the operations into partitions. Operations that impose no constraint (for example
    /// Knossos' <c>:fail</c> ops, or reads with an unknown result) may be left out.
    /// Throws <see cref="HistoryFormatException"/> for an operation the model cannot interpret.
    /// </summary>
    IReadOnlyList<Partition> Partition(IReadOnlyList<Operation> operations);
}

/// <summary>
/// One independent sub-history and the state machine for it. Immutable once built.
/// </summary>
public abstract class Partition
{
    protected Partition(object? key, IReadOnlyList<Operation> operations)
    {
        Key = key;
        Operations = operations;
    }

    /// <summary>The partition key (for example a kv key or topic name), null for unpartitioned models.</summary>
    public object? Key { get; }

    /// <summary>The operations that take part in the search, in call order.</summary>
    public IReadOnlyList<Operation> Operations { get; }

    /// <summary>Runs the WGL search.</summary>
    public abstract SearchResult Search(Stopwatch clock, TimeSpan deadline, CancellationToken cancellation);

    /// <summary>Replays a sequence of op indexes from the initial state and describes the state reached.</summary>
    public abstract string DescribeStateAfter(IReadOnlyList<int> prefix);

    /// <summary>True when op <paramref name="op"/> is legal right after <paramref name="prefix"/>.</summary>
    public abstract bool IsLegalAfter(IReadOnlyList<int> prefix, int op);

    public static Partition Create<TState>(
        object? key,
        IReadOnlyList<Operation> operations,
        TState initial,
        StepFunction<TState> step,
        Func<TState, string> describe,
        IEqualityComparer<TState>? comparer = null,
        IReadOnlyList<bool>? readOnly = null,
        IReadOnlyList<int>? effectClass = null)
        where TState : notnull => new Partition<TState>(key, operations, initial, step, describe, comparer, readOnly, effectClass);
}

/// <summary>A partition with a typed state. Immutable.</summary>
public sealed class Partition<TState> : Partition
    where TState : notnull
{
    private readonly TState initial;
    private readonly StepFunction<TState> step;
    private readonly Func<TState, string> describe;
    private readonly IEqualityComparer<TState>? comparer;
    private readonly IReadOnlyList<bool>? readOnly;
    private readonly IReadOnlyList<int>? effectClass;

    /// <param name="readOnly">Per op: true when the op never changes the state in which it is legal
    /// (a read). The search may then place it greedily. Null means no op is known to be read-only.</param>
    /// <param name="effectClass">Per op: ops with equal numbers have exactly the same effect and legality in
    /// every state (for example two unknown writes of 3). Null means every op is distinct.</param>
    public Partition(
        object? key,
        IReadOnlyList<Operation> operations,
        TState initial,
        StepFunction<TState> step,
        Func<TState, string> describe,
        IEqualityComparer<TState>? comparer,
        IReadOnlyList<bool>? readOnly = null,
        IReadOnlyList<int>? effectClass = null)
        : base(key, operations)
    {
        if (effectClass is not null && effectClass.Count != operations.Count)
        {
            throw new ArgumentException("effectClass needs one number per operation", nameof(effectClass));
        }

        this.effectClass = effectClass;
        if (readOnly is not null && readOnly.Count != operations.Count)
        {
            throw new ArgumentException("readOnly needs one flag per operation", nameof(readOnly));
        }

        this.readOnly = readOnly;
        this.initial = initial;
        this.step = step;
        this.describe = describe;
        this.comparer = comparer;
    }

    public override SearchResult Search(Stopwatch clock, TimeSpan deadline, CancellationToken cancellation) =>
        Wgl.Search(Operations, initial, step, comparer, readOnly, effectClass, clock, deadline, cancellation);

    public override string DescribeStateAfter(IReadOnlyList<int> prefix) => describe(Replay(prefix));

    public override bool IsLegalAfter(IReadOnlyList<int> prefix, int op) => step(Replay(prefix), op, out _);

    private TState Replay(IReadOnlyList<int> prefix)
    {
        var s = initial;
        foreach (var op in prefix)
        {
            if (!step(s, op, out s))
            {
                throw new InvalidOperationException("the recorded prefix is not legal; this is a checker bug");
            }
        }

        return s;
    }
}

/// <summary>Helpers the models share for reading op values. Stateless.</summary>
public static class ModelValues
{
    /// <summary>Register values: integers; nil is mapped to <see cref="Nil"/>.</summary>
    public const long Nil = long.MinValue;

    public static long RegisterValue(object? value, Operation op) => value switch
    {
        null => Nil,
        long l => l,
        int i => i,
        _ => throw new HistoryFormatException($"expected an integer or nil, found {EdnWriter.Write(value)}", op.CallLine),
    };

    public static (long A, long B) CasPair(object? value, Operation op)
    {
        if (value is EdnSeq { Count: 2 } pair)
        {
            return (RegisterValue(pair[0], op), RegisterValue(pair[1], op));
        }

        throw new HistoryFormatException($"expected a cas value [old new], found {EdnWriter.Write(value)}", op.CallLine);
    }

    public static string DescribeRegister(long v) => v == Nil ? "nil" : v.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static HistoryFormatException UnknownF(Operation op, string model, string expected) =>
        new($"model {model} has no operation :{op.F} (expected {expected})", op.CallLine);

    /// <summary>Groups operations by <see cref="Operation.Key"/> with EDN equality, in first-seen order.</summary>
    public static List<(object Key, List<Operation> Ops)> GroupByKey(IEnumerable<Operation> ops, string model)
    {
        var groups = new Dictionary<object, List<Operation>>(EdnEquality.Comparer);
        var order = new List<(object, List<Operation>)>();
        foreach (var op in ops)
        {
            if (op.Key is null)
            {
                throw new HistoryFormatException($"model {model} needs a :key on every operation", op.CallLine);
            }

            if (!groups.TryGetValue(op.Key, out var list))
            {
                list = [];
                groups[op.Key] = list;
                order.Add((op.Key, list));
            }

            list.Add(op);
        }

        return order;
    }
}
