using System.Collections;
using System.Collections.Immutable;

namespace Kraft.Quorum.Metadata;

/// <summary>
/// A broker's <c>node.id</c> as it appears in metadata records (Kafka's int32 broker id).
/// Role: keeps broker ids from being mixed up with partition indexes, epochs and counts.
/// Invariant: none beyond the int; -1 is used by Kafka for "no leader" and is spelled <see cref="None"/>.
/// Immutable value; any thread.
/// </summary>
public readonly record struct BrokerId(int Value) : IComparable<BrokerId>
{
    /// <summary>Kafka's "no broker" / "no leader" value (-1).</summary>
    public static readonly BrokerId None = new(-1);

    public int CompareTo(BrokerId other) => Value.CompareTo(other.Value);

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// A topic's id (Kafka's 128-bit topic UUID, KIP-516). Role: the stable identity of a topic; names can be
/// reused after deletion, ids never are. Invariant: <see cref="Guid.Empty"/> is never a real topic's id.
/// Immutable value; any thread.
/// </summary>
public readonly record struct TopicId(Guid Value)
{
    public override string ToString() => Value.ToString();
}

/// <summary>A partition of a topic, addressed by topic id and partition index. Immutable value; any thread.</summary>
public readonly record struct TopicIdPartition(TopicId TopicId, int Partition)
{
    public override string ToString() => $"{TopicId}:{Partition}";
}

/// <summary>
/// An immutable list with structural equality, so that records and images holding lists (replicas, ISR,
/// listeners) compare by content. Role: value semantics for the record types; it is what makes
/// "decode(encode(r)) == r" and "image -> records -> image" checkable with plain equality.
/// Immutable; any thread.
/// </summary>
public sealed class ValueList<T> : IReadOnlyList<T>, IEquatable<ValueList<T>>
{
    public static readonly ValueList<T> Empty = new(ImmutableArray<T>.Empty);

    private readonly ImmutableArray<T> _items;

    public ValueList(ImmutableArray<T> items) => _items = items.IsDefault ? ImmutableArray<T>.Empty : items;

    public ValueList(IEnumerable<T> items) : this(items.ToImmutableArray()) { }

    public ImmutableArray<T> Items => _items;

    public int Count => _items.Length;

    public T this[int index] => _items[index];

    public bool Contains(T item) => _items.Contains(item);

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public bool Equals(ValueList<T>? other) =>
        other is not null && _items.AsSpan().SequenceEqual(other._items.AsSpan(), EqualityComparer<T>.Default);

    public override bool Equals(object? obj) => Equals(obj as ValueList<T>);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (T item in _items)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    public override string ToString() => "[" + string.Join(",", _items) + "]";

    public static bool operator ==(ValueList<T>? left, ValueList<T>? right) => Equals(left, right);

    public static bool operator !=(ValueList<T>? left, ValueList<T>? right) => !Equals(left, right);
}

/// <summary>Short constructors for <see cref="ValueList{T}"/>.</summary>
public static class ValueList
{
    public static ValueList<T> Of<T>(params T[] items) => new(ImmutableArray.Create(items));

    public static ValueList<T> ToValueList<T>(this IEnumerable<T> items) => new(items);

    public static ValueList<BrokerId> Brokers(params int[] ids) => new(ids.Select(id => new BrokerId(id)));
}
