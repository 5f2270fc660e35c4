using Kraft.Linearizability.Checking;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Models;

/// <summary>
/// Porcupine's key-value model: a map from string to string where a missing key reads as "".
/// get(k) -> v legal iff map[k] == v; put(k, v) sets; append(k, v) concatenates. Keys never interact, so
/// the history is split per key (P-compositionality). Unknown gets are dropped; :fail ops are dropped.
/// Stateless.
/// </summary>
public sealed class KvModel : IModel
{
    private enum Kind : byte
    {
        Get,
        Put,
        Append,
    }

    public string Name => "kv";

    public string Description => "string->string map, missing reads as \"\"; get/put/append per key; partitioned per key";

    public IReadOnlyList<Partition> Partition(IReadOnlyList<Operation> operations)
    {
        var partitions = new List<Partition>();
        foreach (var (key, ops) in ModelValues.GroupByKey(operations.Where(o => o.Status != OpStatus.Fail), Name))
        {
            var kept = new List<Operation>();
            var kinds = new List<Kind>();
            var values = new List<string>();
            foreach (var op in ops)
            {
                switch (op.F)
                {
                    case "get":
                        if (op.Status == OpStatus.Ok)
                        {
                            kept.Add(op);
                            kinds.Add(Kind.Get);
                            values.Add(Text(op.Output, op));
                        }

                        break;
                    case "put":
                    case "append":
                        kept.Add(op);
                        kinds.Add(op.F == "put" ? Kind.Put : Kind.Append);
                        values.Add(Text(op.Input, op));
                        break;
                    default:
                        throw ModelValues.UnknownF(op, Name, ":get, :put or :append");
                }
            }

            // States are interned: each distinct string gets an id, so the search hashes and compares
            // ints instead of ever-growing appended strings, and an append costs O(1), not O(length).
            var interned = new StringStates();
            var kindTable = kinds.ToArray();
            var idTable = values.Select(interned.Intern).ToArray();
            var appendMemo = new Dictionary<long, int>();
            partitions.Add(Checking.Partition.Create<int>(
                key,
                kept,
                interned.Intern(""),
                (int state, int i, out int next) =>
                {
                    switch (kindTable[i])
                    {
                        case Kind.Get:
                            next = state;
                            return state == idTable[i];
                        case Kind.Put:
                            next = idTable[i];
                            return true;
                        default:
                            var memoKey = ((long)state << 32) | (uint)i;
                            if (!appendMemo.TryGetValue(memoKey, out next))
                            {
                                next = interned.Append(state, idTable[i]);
                                appendMemo[memoKey] = next;
                            }

                            return true;
                    }
                },
                s => EdnWriter.Write(interned[s]),
                readOnly: kindTable.Select(k => k == Kind.Get).ToArray(),
                effectClass: RegisterSteps.EffectClasses(kindTable.Zip(idTable).ToArray())));
        }

        return partitions;
    }

    /// <summary>
    /// Interned strings of one partition. Role: give every distinct string value one id, without building
    /// the strings that appends produce. A string is stored as (parent id, suffix id) with its length and a
    /// polynomial hash, so appending is O(1); equal (length, hash) pairs are confirmed by comparing the
    /// actual text, so a hash collision can never merge two different strings.
    /// Invariant: two ids never denote equal strings. Used by one search thread at a time.
    /// </summary>
    private sealed class StringStates
    {
        private const ulong Base = 0x100000001B3UL;

        // (length, hash) -> the newest id with that pair; older ones are chained through sameHash.
        private readonly Dictionary<(int Length, ulong Hash), int> byHash = [];
        private readonly List<int> sameHash = [];
        private readonly List<int> parent = [];
        private readonly List<int> tail = []; // the appended value's id, or -1 for a literal (rootText)
        private readonly List<string?> rootText = [];
        private readonly List<int> length = [];
        private readonly List<ulong> hash = [];
        private readonly List<ulong> power = []; // Base^length, for appending after this string

        public string this[int id] => Materialize(id);

        public int Intern(string s)
        {
            ulong h = 0;
            ulong p = 1;
            foreach (var c in s)
            {
                h = (h * Base) + c + 1;
                p *= Base;
            }

            if (byHash.TryGetValue((s.Length, h), out var id))
            {
                for (; id >= 0; id = sameHash[id])
                {
                    if (Materialize(id) == s)
                    {
                        return id;
                    }
                }
            }

            return Add(-1, -1, s, s.Length, h, p);
        }

        public int Append(int state, int value)
        {
            var len = length[state] + length[value];
            var h = (hash[state] * power[value]) + hash[value];
            if (byHash.TryGetValue((len, h), out var id))
            {
                // Rare: a string of this length and hash exists already; compare the text to be exact.
                var text = Materialize(state) + Materialize(value);
                for (; id >= 0; id = sameHash[id])
                {
                    if (Materialize(id) == text)
                    {
                        return id;
                    }
                }
            }

            return Add(state, value, null, len, h, power[state] * power[value]);
        }

        private int Add(int parentId, int tailId, string? text, int len, ulong h, ulong p)
        {
            var id = parent.Count;
            parent.Add(parentId);
            tail.Add(tailId);
            rootText.Add(text);
            length.Add(len);
            hash.Add(h);
            power.Add(p);
            sameHash.Add(byHash.TryGetValue((len, h), out var older) ? older : -1);
            byHash[(len, h)] = id;
            return id;
        }

        private string Materialize(int id)
        {
            var sb = new System.Text.StringBuilder(length[id]);
            Write(sb, id);
            return sb.ToString();
        }

        private void Write(System.Text.StringBuilder sb, int id)
        {
            // Iterative over the parent chain (which can be long), recursive only into appended values,
            // which are literals.
            var chain = new List<int>();
            for (var i = id; i >= 0; i = parent[i])
            {
                chain.Add(i);
            }

            for (var k = chain.Count - 1; k >= 0; k--)
            {
                var i = chain[k];
                if (tail[i] < 0)
                {
                    sb.Append(rootText[i]);
                }
                else
                {
                    Write(sb, tail[i]);
                }
            }
        }
    }

    private static string Text(object? value, Operation op) => value switch
    {
        null => "",
        string s => s,
        _ => throw new HistoryFormatException($"kv values are strings, found {EdnWriter.Write(value)}", op.CallLine),
    };
}
