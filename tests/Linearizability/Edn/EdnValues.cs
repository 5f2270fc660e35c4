using System.Text;

namespace Kraft.Linearizability.Edn;

/// <summary>
/// An EDN keyword such as <c>:invoke</c>. Role: a value type for EDN keywords, stored without the colon.
/// Invariant: <see cref="Name"/> never starts with ':'. Immutable, so any thread may share it.
/// </summary>
public sealed record Keyword(string Name)
{
    public static Keyword Of(string name) => new(name.StartsWith(':') ? name[1..] : name);

    public override string ToString() => ":" + Name;
}

/// <summary>
/// An EDN symbol (a bare word that is not nil/true/false), kept only so that unusual files still parse.
/// Immutable.
/// </summary>
public sealed record Symbol(string Name)
{
    public override string ToString() => Name;
}

/// <summary>
/// An EDN vector or list. Role: an ordered sequence with structural equality, so that vectors can be used
/// as dictionary keys (Jepsen uses vectors such as <c>[k v]</c> as values). Lists and vectors compare
/// equal when their items do, as in Clojure. Immutable after construction by the reader.
/// </summary>
public sealed class EdnSeq : IEquatable<EdnSeq>
{
    public EdnSeq(IReadOnlyList<object?> items, bool isList = false)
    {
        Items = items;
        IsList = isList;
    }

    public IReadOnlyList<object?> Items { get; }

    /// <summary>True for <c>( ... )</c>, false for <c>[ ... ]</c>; only the writer cares.</summary>
    public bool IsList { get; }

    /// <summary>The line (1-based) where the collection opened, or 0 when built in code.</summary>
    public int Line { get; init; }

    public int Count => Items.Count;

    public object? this[int index] => Items[index];

    public bool Equals(EdnSeq? other)
    {
        if (other is null || other.Count != Count)
        {
            return false;
        }

        for (var i = 0; i < Count; i++)
        {
            if (!EdnEquality.AreEqual(Items[i], other.Items[i]))
            {
                return false;
            }
        }

        return true;
    }

    public override bool Equals(object? obj) => obj is EdnSeq s && Equals(s);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in Items)
        {
            hash.Add(EdnEquality.Hash(item));
        }

        return hash.ToHashCode();
    }

    public override string ToString() => EdnWriter.Write(this);
}

/// <summary>
/// An EDN map. Role: key/value pairs in file order (kept for faithful rewriting) plus a lookup table.
/// Invariant: keys are distinct under <see cref="EdnEquality"/>. Immutable after the reader builds it.
/// </summary>
public sealed class EdnMap : IEquatable<EdnMap>
{
    private readonly Dictionary<object, object?> lookup;
    private readonly List<KeyValuePair<object?, object?>> ordered;

    public EdnMap(IEnumerable<KeyValuePair<object?, object?>> pairs)
    {
        ordered = [];
        lookup = new Dictionary<object, object?>(EdnEquality.Comparer);
        foreach (var pair in pairs)
        {
            var key = pair.Key ?? EdnEquality.NilKey;
            if (lookup.ContainsKey(key))
            {
                throw new ArgumentException("duplicate map key " + EdnWriter.Write(pair.Key));
            }

            lookup[key] = pair.Value;
            ordered.Add(pair);
        }
    }

    public int Line { get; init; }

    public IReadOnlyList<KeyValuePair<object?, object?>> Pairs => ordered;

    public int Count => ordered.Count;

    public bool ContainsKey(object? key) => lookup.ContainsKey(key ?? EdnEquality.NilKey);

    public object? Get(object? key) => lookup.TryGetValue(key ?? EdnEquality.NilKey, out var v) ? v : null;

    /// <summary>Looks up a keyword key by name, for example <c>Get("process")</c> for <c>:process</c>.</summary>
    public object? Get(string keywordName) => Get(new Keyword(keywordName));

    public bool Has(string keywordName) => ContainsKey(new Keyword(keywordName));

    public bool Equals(EdnMap? other)
    {
        if (other is null || other.Count != Count)
        {
            return false;
        }

        foreach (var pair in ordered)
        {
            if (!other.ContainsKey(pair.Key) || !EdnEquality.AreEqual(pair.Value, other.Get(pair.Key)))
            {
                return false;
            }
        }

        return true;
    }

    public override bool Equals(object? obj) => obj is EdnMap m && Equals(m);

    public override int GetHashCode()
    {
        // Order-independent: the sum of the pair hashes.
        var sum = 0;
        foreach (var pair in ordered)
        {
            sum = unchecked(sum + HashCode.Combine(EdnEquality.Hash(pair.Key), EdnEquality.Hash(pair.Value)));
        }

        return sum;
    }

    public override string ToString() => EdnWriter.Write(this);
}

/// <summary>An EDN set <c>#{...}</c> with structural equality. Immutable after construction.</summary>
public sealed class EdnSet : IEquatable<EdnSet>
{
    private readonly HashSet<object> items;

    public EdnSet(IEnumerable<object?> values)
    {
        items = new HashSet<object>(EdnEquality.Comparer);
        Ordered = [];
        foreach (var v in values)
        {
            if (items.Add(v ?? EdnEquality.NilKey))
            {
                Ordered.Add(v);
            }
        }
    }

    public List<object?> Ordered { get; }

    public int Count => items.Count;

    public bool Contains(object? value) => items.Contains(value ?? EdnEquality.NilKey);

    public bool Equals(EdnSet? other) => other is not null && other.Count == Count && Ordered.All(other.Contains);

    public override bool Equals(object? obj) => obj is EdnSet s && Equals(s);

    public override int GetHashCode() => Ordered.Aggregate(0, (acc, v) => unchecked(acc + EdnEquality.Hash(v)));

    public override string ToString() => EdnWriter.Write(this);
}

/// <summary>
/// Structural equality over EDN values (null, bool, long, double, string, Keyword, Symbol, EdnSeq, EdnMap,
/// EdnSet). Integers compare by value whatever their boxed CLR width.
/// </summary>
public static class EdnEquality
{
    /// <summary>Stands in for nil where a dictionary needs a non-null key.</summary>
    public static readonly object NilKey = new Symbol("\u0000nil");

    public static readonly IEqualityComparer<object> Comparer = new ObjectComparer();

    public static bool AreEqual(object? a, object? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (IsInteger(a) && IsInteger(b))
        {
            return Convert.ToInt64(a, System.Globalization.CultureInfo.InvariantCulture) ==
                   Convert.ToInt64(b, System.Globalization.CultureInfo.InvariantCulture);
        }

        return a.Equals(b);
    }

    public static int Hash(object? value) => value switch
    {
        null => 0,
        int i => ((long)i).GetHashCode(),
        _ => value.GetHashCode(),
    };

    private static bool IsInteger(object o) => o is long or int or short or byte;

    private sealed class ObjectComparer : IEqualityComparer<object>
    {
        public new bool Equals(object? x, object? y) => AreEqual(x, y);

        public int GetHashCode(object obj) => Hash(obj);
    }
}
