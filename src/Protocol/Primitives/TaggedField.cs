namespace Kraft.Protocol.Primitives;

/// <summary>
/// A tagged field (KIP-482) whose tag this version of Kraft does not know. Readers keep its raw bytes so a
/// message that is decoded and encoded again carries it unchanged.
/// </summary>
/// <remarks>
/// Lists of unknown tagged fields are kept in ascending tag order (the order the wire requires); the
/// readers produce them in that order and writers rely on it when they merge them with known tags.
/// </remarks>
public readonly record struct TaggedField(int Tag, ReadOnlyMemory<byte> Data);
