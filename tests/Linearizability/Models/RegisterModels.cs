using Kraft.Linearizability.Checking;
using Kraft.Linearizability.History;
using static Kraft.Linearizability.Checking.ModelValues;

namespace Kraft.Linearizability.Models;

/// <summary>The three register operations, compiled for fast stepping.</summary>
internal enum RegisterOpKind : byte
{
    Read,
    Write,
    Cas,
    CasFailed,
}

internal readonly record struct RegisterOp(RegisterOpKind Kind, long A, long B);

/// <summary>
/// Porcupine's etcd model: one register, initially nil. A read of nil is legal only when the register is
/// nil. A failed CAS is an observation (the compare saw a different value). Unknown reads are dropped
/// (they constrain nothing); unknown writes and CASes may take effect once or never. Stateless.
/// </summary>
public sealed class EtcdRegisterModel : IModel
{
    public string Name => "etcd-register";

    public string Description =>
        "single register, initially nil; read v legal iff state==v (nil strict); write v; cas [a b] ok iff state==a, :fail iff state!=a";

    public IReadOnlyList<Partition> Partition(IReadOnlyList<Operation> operations)
    {
        var kept = new List<Operation>();
        var compiled = new List<RegisterOp>();
        foreach (var op in operations)
        {
            switch (op.F)
            {
                case "read":
                    if (op.Status == OpStatus.Ok)
                    {
                        kept.Add(op);
                        compiled.Add(new RegisterOp(RegisterOpKind.Read, RegisterValue(op.Output, op), 0));
                    }

                    break;
                case "write":
                    if (op.Status != OpStatus.Fail)
                    {
                        kept.Add(op);
                        compiled.Add(new RegisterOp(RegisterOpKind.Write, RegisterValue(op.Input, op), 0));
                    }

                    break;
                case "cas":
                    var (a, b) = CasPair(op.Input, op);
                    kept.Add(op);
                    compiled.Add(new RegisterOp(op.Status == OpStatus.Fail ? RegisterOpKind.CasFailed : RegisterOpKind.Cas, a, b));
                    break;
                default:
                    throw UnknownF(op, Name, ":read, :write or :cas");
            }
        }

        return [RegisterSteps.Build(null, kept, compiled, Nil)];
    }
}

/// <summary>
/// Knossos' cas-register: one register, initially nil. A read uses the completion's value; a nil read is
/// unconstrained (so it is dropped). <c>:fail</c> ops did not happen and are dropped. Stateless.
/// </summary>
public sealed class CasRegisterModel : IModel
{
    public string Name => "cas-register";

    public string Description =>
        "single register, initially nil; read v legal iff state==v (nil read unconstrained); write v; cas [a b] legal iff state==a; :fail ops dropped";

    public IReadOnlyList<Partition> Partition(IReadOnlyList<Operation> operations)
    {
        var kept = new List<Operation>();
        var compiled = new List<RegisterOp>();
        foreach (var op in operations)
        {
            if (op.Status == OpStatus.Fail)
            {
                continue;
            }

            switch (op.F)
            {
                case "read":
                    if (op.Status == OpStatus.Ok && op.Output is not null)
                    {
                        kept.Add(op);
                        compiled.Add(new RegisterOp(RegisterOpKind.Read, RegisterValue(op.Output, op), 0));
                    }

                    break;
                case "write":
                    kept.Add(op);
                    compiled.Add(new RegisterOp(RegisterOpKind.Write, RegisterValue(op.Status == OpStatus.Ok ? op.Output ?? op.Input : op.Input, op), 0));
                    break;
                case "cas":
                    var (a, b) = CasPair(op.Status == OpStatus.Ok ? op.Output ?? op.Input : op.Input, op);
                    kept.Add(op);
                    compiled.Add(new RegisterOp(RegisterOpKind.Cas, a, b));
                    break;
                default:
                    throw UnknownF(op, Name, ":read, :write or :cas");
            }
        }

        return [RegisterSteps.Build(null, kept, compiled, Nil)];
    }
}

internal static class RegisterSteps
{
    /// <summary>Equal compiled ops get equal class numbers.</summary>
    public static int[] EffectClasses<T>(T[] table)
        where T : notnull
    {
        var ids = new Dictionary<T, int>();
        return table.Select(o => ids.TryGetValue(o, out var id) ? id : ids[o] = ids.Count).ToArray();
    }

    public static Partition Build(object? key, List<Operation> ops, List<RegisterOp> compiled, long initial)
    {
        var table = compiled.ToArray();
        return Checking.Partition.Create<long>(
            key,
            ops,
            initial,
            (long state, int i, out long next) =>
            {
                var op = table[i];
                switch (op.Kind)
                {
                    case RegisterOpKind.Read:
                        next = state;
                        return state == op.A;
                    case RegisterOpKind.Write:
                        next = op.A;
                        return true;
                    case RegisterOpKind.Cas:
                        next = op.B;
                        return state == op.A;
                    default:
                        next = state;
                        return state != op.A;
                }
            },
            DescribeRegister,
            readOnly: table.Select(o => o.Kind is RegisterOpKind.Read or RegisterOpKind.CasFailed).ToArray(),
            effectClass: EffectClasses(table));
    }
}

/// <summary>
/// Knossos' mutex: a single lock, initially free. Acquire is legal only when free, release only when
/// held. <c>:fail</c> ops are dropped. Stateless.
/// </summary>
public sealed class MutexModel : IModel
{
    public string Name => "mutex";

    public string Description => "single lock, initially free; acquire legal iff free; release legal iff held; :fail dropped";

    public IReadOnlyList<Partition> Partition(IReadOnlyList<Operation> operations)
    {
        var kept = new List<Operation>();
        var acquire = new List<bool>();
        foreach (var op in operations)
        {
            if (op.Status == OpStatus.Fail)
            {
                continue;
            }

            if (op.F is not ("acquire" or "release"))
            {
                throw UnknownF(op, Name, ":acquire or :release");
            }

            kept.Add(op);
            acquire.Add(op.F == "acquire");
        }

        var table = acquire.ToArray();
        return
        [
            Checking.Partition.Create<bool>(
                null,
                kept,
                false,
                (bool held, int i, out bool next) =>
                {
                    next = table[i];
                    return held != table[i];
                },
                held => held ? "held" : "free",
                effectClass: RegisterSteps.EffectClasses(table)),
        ];
    }
}
