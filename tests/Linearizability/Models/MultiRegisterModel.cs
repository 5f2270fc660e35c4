using Kraft.Linearizability.Checking;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Models;

/// <summary>
/// Knossos' multi-register: registers (all starting at 0) changed by <c>:txn</c> ops whose value is a
/// vector of <c>[:read k v]</c> / <c>[:write k v]</c> micro-ops applied in order as one atomic step.
/// A nil read is unconstrained. Not partitioned, because a transaction spans keys. Stateless.
/// </summary>
public sealed class MultiRegisterModel : IModel
{
    public string Name => "multi-register";

    public string Description => "registers initially 0; :txn of [:read k v]/[:write k v] applied atomically; nil read unconstrained; :fail dropped";

    public IReadOnlyList<Partition> Partition(IReadOnlyList<Operation> operations)
    {
        var keyIndex = new Dictionary<object, int>(EdnEquality.Comparer);
        var kept = new List<Operation>();
        var txns = new List<(bool Write, int Key, long Value)[]>();
        foreach (var op in operations)
        {
            if (op.Status == OpStatus.Fail)
            {
                continue;
            }

            if (op.F != "txn")
            {
                throw ModelValues.UnknownF(op, Name, ":txn");
            }

            var value = op.Status == OpStatus.Ok ? op.Output : op.Input;
            if (value is not EdnSeq mops)
            {
                throw new HistoryFormatException("a :txn value is a vector of micro-ops", op.CallLine);
            }

            var compiled = new List<(bool, int, long)>();
            foreach (var item in mops.Items)
            {
                if (item is not EdnSeq { Count: 3 } mop || mop[0] is not Keyword f || mop[1] is null)
                {
                    throw new HistoryFormatException("a micro-op is [:read k v] or [:write k v]", op.CallLine);
                }

                if (!keyIndex.TryGetValue(mop[1]!, out var k))
                {
                    k = keyIndex.Count;
                    keyIndex[mop[1]!] = k;
                }

                if (f.Name == "read")
                {
                    if (mop[2] is not null)
                    {
                        compiled.Add((false, k, ModelValues.RegisterValue(mop[2], op)));
                    }
                }
                else if (f.Name == "write")
                {
                    compiled.Add((true, k, ModelValues.RegisterValue(mop[2], op)));
                }
                else
                {
                    throw new HistoryFormatException($"unknown micro-op :{f.Name}", op.CallLine);
                }
            }

            // A txn of unknown outcome with only reads constrains nothing.
            if (op.Status == OpStatus.Unknown && compiled.All(c => !c.Item1))
            {
                continue;
            }

            kept.Add(op);
            txns.Add([.. compiled]);
        }

        var table = txns.ToArray();
        var names = keyIndex.OrderBy(p => p.Value).Select(p => EdnWriter.Write(p.Key)).ToArray();
        var initial = new LongVector(new long[keyIndex.Count]);
        return
        [
            Checking.Partition.Create(
                null,
                kept,
                initial,
                (LongVector state, int i, out LongVector next) =>
                {
                    long[]? copy = null;
                    foreach (var (write, k, v) in table[i])
                    {
                        var current = copy is null ? state.Values[k] : copy[k];
                        if (write)
                        {
                            copy ??= (long[])state.Values.Clone();
                            copy[k] = v;
                        }
                        else if (current != v)
                        {
                            next = state;
                            return false;
                        }
                    }

                    next = copy is null ? state : new LongVector(copy);
                    return true;
                },
                s => "{" + string.Join(", ", s.Values.Select((v, i) => names[i] + " " + ModelValues.DescribeRegister(v))) + "}",
                readOnly: table.Select(t => t.All(m => !m.Write)).ToArray(),
                effectClass: RegisterSteps.EffectClasses(table.Select(t => string.Join(";", t)).ToArray())),
        ];
    }
}

/// <summary>An immutable vector of longs with value equality (a multi-register state).</summary>
public sealed class LongVector(long[] values) : IEquatable<LongVector>
{
    private readonly int hash = ComputeHash(values);

    public long[] Values { get; } = values;

    public bool Equals(LongVector? other) => other is not null && hash == other.hash && Values.AsSpan().SequenceEqual(other.Values);

    public override bool Equals(object? obj) => obj is LongVector v && Equals(v);

    public override int GetHashCode() => hash;

    private static int ComputeHash(long[] values)
    {
        var h = new HashCode();
        foreach (var v in values)
        {
            h.Add(v);
        }

        return h.ToHashCode();
    }
}
