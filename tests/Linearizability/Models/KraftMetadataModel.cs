using System.Collections.Immutable;
using Kraft.Linearizability.Checking;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Models;

/// <summary>
/// Kraft's metadata model, one partition per topic name (<c>:key</c>). The state of a topic is whether it
/// exists plus its configs (name -> value). Operations (see docs/jepsen.md for the EDN format):
/// <list type="bullet">
/// <item><c>:create</c> (value nil or an initial config map): :ok iff absent; :fail with
/// <c>:error :topic-exists</c> iff present (so of concurrent creates of a name at most one wins);</item>
/// <item><c>:delete</c>: :ok iff present (drops configs); :fail <c>:unknown-topic</c> iff absent;</item>
/// <item><c>:set-config</c> (value <c>[name value]</c>, value nil removes): :ok iff present; :fail <c>:unknown-topic</c> iff absent;</item>
/// <item><c>:read</c>: completes with <c>{:exists false}</c> (or nil) or <c>{:exists true, :configs {...}}</c>.</item>
/// </list>
/// Any other <c>:fail</c> means the op did not happen and is dropped; <c>:info</c> ops may happen or not.
/// Stateless.
/// </summary>
public sealed class KraftMetadataModel : IModel
{
    private enum Kind : byte
    {
        Create,
        CreateRejected,
        Delete,
        DeleteRejected,
        SetConfig,
        SetConfigRejected,
        Read,
    }

    private readonly record struct MetadataOp(Kind Kind, TopicState? Expected, ImmutableSortedDictionary<string, string>? Configs, string? Name, string? Value);

    public string Name => "kraft-metadata";

    public string Description => "per topic: create (ok iff absent, :fail :topic-exists iff present), delete, set-config [name value], read {:exists :configs}; partitioned per topic";

    public IReadOnlyList<Partition> Partition(IReadOnlyList<Operation> operations)
    {
        var partitions = new List<Partition>();
        foreach (var (key, ops) in ModelValues.GroupByKey(operations, Name))
        {
            var kept = new List<Operation>();
            var compiled = new List<MetadataOp>();
            foreach (var op in ops)
            {
                var c = Compile(op);
                if (c is { } mop)
                {
                    kept.Add(op);
                    compiled.Add(mop);
                }
            }

            var table = compiled.ToArray();
            partitions.Add(Checking.Partition.Create(key, kept, TopicState.Absent, (TopicState s, int i, out TopicState next) => Step(s, table[i], out next), s => s.ToString(),
                readOnly: table.Select(o => o.Kind is Kind.Read or Kind.CreateRejected or Kind.DeleteRejected or Kind.SetConfigRejected).ToArray(),
                effectClass: RegisterSteps.EffectClasses(table)));
        }

        return partitions;
    }

    private static bool Step(TopicState s, MetadataOp op, out TopicState next)
    {
        next = s;
        switch (op.Kind)
        {
            case Kind.Create:
                if (s.Exists)
                {
                    return false;
                }

                next = new TopicState(true, op.Configs!);
                return true;
            case Kind.CreateRejected:
                return s.Exists;
            case Kind.Delete:
                if (!s.Exists)
                {
                    return false;
                }

                next = TopicState.Absent;
                return true;
            case Kind.DeleteRejected:
            case Kind.SetConfigRejected:
                return !s.Exists;
            case Kind.SetConfig:
                if (!s.Exists)
                {
                    return false;
                }

                next = new TopicState(true, op.Value is null ? s.Configs.Remove(op.Name!) : s.Configs.SetItem(op.Name!, op.Value));
                return true;
            default:
                return s.Equals(op.Expected);
        }
    }

    private MetadataOp? Compile(Operation op)
    {
        var f = op.F switch
        {
            "create" or "create-topic" => "create",
            "delete" or "delete-topic" => "delete",
            "set-config" or "alter-config" => "set-config",
            "read" or "describe" => "read",
            _ => throw ModelValues.UnknownF(op, Name, ":create, :delete, :set-config or :read"),
        };
        var error = op.Error switch
        {
            Keyword k => k.Name,
            string s => s,
            _ => null,
        };
        if (op.Status == OpStatus.Fail)
        {
            return (f, error) switch
            {
                ("create", "topic-exists" or "topic-already-exists" or "TOPIC_ALREADY_EXISTS") => new MetadataOp(Kind.CreateRejected, null, null, null, null),
                ("delete", "unknown-topic" or "unknown-topic-or-partition" or "UNKNOWN_TOPIC_OR_PARTITION") => new MetadataOp(Kind.DeleteRejected, null, null, null, null),
                ("set-config", "unknown-topic" or "unknown-topic-or-partition" or "UNKNOWN_TOPIC_OR_PARTITION") => new MetadataOp(Kind.SetConfigRejected, null, null, null, null),
                _ => null, // Any other failure did not happen.
            };
        }

        switch (f)
        {
            case "create":
                return new MetadataOp(Kind.Create, null, ConfigMap(op.Input, op), null, null);
            case "delete":
                return new MetadataOp(Kind.Delete, null, null, null, null);
            case "set-config":
                if (op.Input is EdnSeq { Count: 2 } pair && pair[0] is string name && pair[1] is null or string)
                {
                    return new MetadataOp(Kind.SetConfig, null, null, name, pair[1] as string);
                }

                throw new HistoryFormatException("a :set-config value is [\"name\" \"value\"] (value nil removes it)", op.CallLine);
            default:
                if (op.Status == OpStatus.Unknown)
                {
                    return null;
                }

                return new MetadataOp(Kind.Read, ReadState(op.Output, op), null, null, null);
        }
    }

    private static TopicState ReadState(object? value, Operation op)
    {
        if (value is null)
        {
            return TopicState.Absent;
        }

        if (value is EdnMap m && m.Get("exists") is bool exists)
        {
            return exists ? new TopicState(true, ConfigMap(m.Get("configs"), op)) : TopicState.Absent;
        }

        throw new HistoryFormatException("a :read result is {:exists false} or {:exists true, :configs {\"name\" \"value\"}}", op.CallLine);
    }

    private static ImmutableSortedDictionary<string, string> ConfigMap(object? value, Operation op)
    {
        var configs = ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);
        if (value is null)
        {
            return configs;
        }

        if (value is not EdnMap m)
        {
            throw new HistoryFormatException("configs are a map {\"name\" \"value\"}", op.CallLine);
        }

        foreach (var pair in m.Pairs)
        {
            if (pair.Key is not string k || pair.Value is not string v)
            {
                throw new HistoryFormatException("config names and values are strings", op.CallLine);
            }

            configs = configs.SetItem(k, v);
        }

        return configs;
    }
}

/// <summary>
/// The state of one topic in <see cref="KraftMetadataModel"/>. Invariant: an absent topic has no configs.
/// Immutable with value equality.
/// </summary>
public sealed class TopicState : IEquatable<TopicState>
{
    public static readonly TopicState Absent = new(false, ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    private readonly int hash;

    public TopicState(bool exists, ImmutableSortedDictionary<string, string> configs)
    {
        Exists = exists;
        Configs = exists ? configs : Absent?.Configs ?? configs;
        var h = new HashCode();
        h.Add(exists);
        foreach (var pair in Configs)
        {
            h.Add(pair.Key);
            h.Add(pair.Value);
        }

        hash = h.ToHashCode();
    }

    public bool Exists { get; }

    public ImmutableSortedDictionary<string, string> Configs { get; }

    public bool Equals(TopicState? other) =>
        other is not null && hash == other.hash && Exists == other.Exists && Configs.Count == other.Configs.Count &&
        Configs.All(p => other.Configs.TryGetValue(p.Key, out var v) && v == p.Value);

    public override bool Equals(object? obj) => obj is TopicState t && Equals(t);

    public override int GetHashCode() => hash;

    public override string ToString() => !Exists
        ? "{:exists false}"
        : "{:exists true, :configs {" + string.Join(", ", Configs.Select(p => EdnWriter.Write(p.Key) + " " + EdnWriter.Write(p.Value))) + "}}";
}
