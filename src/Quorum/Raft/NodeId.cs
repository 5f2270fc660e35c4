using System.Globalization;

namespace Kraft.Quorum.Raft;

/// <summary>
/// A node's <c>node.id</c>. A strong type so that node ids are never confused with epochs or
/// offsets (both of which are plain numbers in the Kafka RPCs). Kafka encodes "no node" as -1 on
/// the wire; in C# the core uses <c>NodeId?</c> and the wire mapping turns null into -1.
/// </summary>
public readonly record struct NodeId(int Value) : IComparable<NodeId>
{
    /// <inheritdoc />
    public int CompareTo(NodeId other) => Value.CompareTo(other.Value);

    /// <inheritdoc />
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// A position in the replicated log together with the epoch of the entry just before it. Used as
/// Kafka's SnapshotId (EndOffset, Epoch) and as the FetchResponse DivergingEpoch (Epoch, EndOffset):
/// in both cases <see cref="Offset"/> is an exclusive end offset and <see cref="Epoch"/> the epoch
/// of the entry at <c>Offset - 1</c>.
/// </summary>
public readonly record struct OffsetAndEpoch(long Offset, int Epoch)
{
    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"(offset {Offset}, epoch {Epoch})");
}
