using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Kraft.Protocol.Primitives;

/// <summary>
/// Reads Kafka's primitive types, big-endian, from one contiguous buffer.
/// </summary>
/// <remarks>
/// Role: the only way generated codecs read bytes. Invariant: <c>0 &lt;= position &lt;= length</c>; every
/// read checks the remaining length first and throws <see cref="KafkaProtocolException"/> instead of
/// reading past the end, and every length prefix is checked against the bytes left, so a hostile
/// length can never make us allocate more than the frame's own size.
/// The reader keeps the <see cref="ReadOnlyMemory{T}"/> it was built from so that <c>bytes</c> and
/// <c>records</c> fields come back as slices of the input, never copies (record batches are the bulk of
/// Produce and Fetch and must travel from the wire to the log untouched).
/// Thread: a ref struct, so it lives on one thread's stack.
/// </remarks>
public ref struct KafkaReader
{
    private readonly ReadOnlyMemory<byte> _memory;
    private readonly ReadOnlySpan<byte> _span;
    private int _position;

    public KafkaReader(ReadOnlyMemory<byte> memory)
    {
        _memory = memory;
        _span = memory.Span;
        _position = 0;
    }

    /// <summary>
    /// Reads from a sequence (for example a pipe's buffer). A single-segment sequence is read in place; a
    /// multi-segment one is first copied into one array, since slices handed out for bytes and records fields
    /// must be contiguous. Either way the caller must keep the memory alive while decoded messages are used.
    /// </summary>
    public KafkaReader(ReadOnlySequence<byte> sequence)
        : this(sequence.IsSingleSegment ? sequence.First : sequence.ToArray())
    {
    }

    public readonly int Position => _position;
    public readonly int Remaining => _span.Length - _position;
    public readonly int Length => _span.Length;

    /// <summary>The bytes not yet read, as a slice of the input.</summary>
    public readonly ReadOnlyMemory<byte> RemainingMemory => _memory[_position..];

    private ReadOnlySpan<byte> Take(int count)
    {
        if ((uint)count > (uint)(_span.Length - _position))
        {
            throw new KafkaProtocolException($"need {count} bytes at offset {_position}, only {_span.Length - _position} left");
        }

        var slice = _span.Slice(_position, count);
        _position += count;
        return slice;
    }

    public sbyte ReadInt8() => (sbyte)Take(1)[0];
    public bool ReadBool() => Take(1)[0] != 0;
    public short ReadInt16() => BinaryPrimitives.ReadInt16BigEndian(Take(2));
    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16BigEndian(Take(2));
    public int ReadInt32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
    public long ReadInt64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));
    public double ReadFloat64() => BinaryPrimitives.ReadDoubleBigEndian(Take(8));

    /// <summary>A 16-byte UUID; Kafka writes it as two big-endian longs, which is Guid's big-endian layout.</summary>
    public Guid ReadUuid() => new(Take(16), bigEndian: true);

    /// <summary>Unsigned LEB128 varint of at most 5 bytes (32 bits).</summary>
    public int ReadUnsignedVarInt()
    {
        uint value = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            byte b = Take(1)[0];
            value |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return (int)value;
            }
        }

        throw new KafkaProtocolException("unsigned varint longer than 5 bytes");
    }

    /// <summary>Unsigned LEB128 varlong of at most 10 bytes (64 bits).</summary>
    public long ReadUnsignedVarLong()
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            byte b = Take(1)[0];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return (long)value;
            }
        }

        throw new KafkaProtocolException("unsigned varlong longer than 10 bytes");
    }

    /// <summary>Signed varint, zigzag encoded (as in record headers).</summary>
    public int ReadVarInt()
    {
        uint raw = (uint)ReadUnsignedVarInt();
        return (int)(raw >> 1) ^ -(int)(raw & 1);
    }

    /// <summary>Signed varlong, zigzag encoded.</summary>
    public long ReadVarLong()
    {
        ulong raw = (ulong)ReadUnsignedVarLong();
        return (long)(raw >> 1) ^ -(long)(raw & 1);
    }

    /// <summary>
    /// Reads a length prefix: int16 (strings) or int32 (bytes, arrays) in classic versions, unsigned varint
    /// of length+1 in flexible ones. Returns -1 for null. Anything below -1, or a length that cannot fit in
    /// the bytes left (each element needs at least <paramref name="minElementBytes"/>), is malformed.
    /// </summary>
    private int ReadLength(bool flexible, bool shortLength, int minElementBytes)
    {
        int length;
        if (flexible)
        {
            length = ReadUnsignedVarInt() - 1;
        }
        else
        {
            length = shortLength ? ReadInt16() : ReadInt32();
        }

        if (length < -1)
        {
            throw new KafkaProtocolException($"negative length {length}");
        }

        if (length > 0 && (long)length * minElementBytes > Remaining)
        {
            throw new KafkaProtocolException($"length {length} exceeds the {Remaining} bytes left");
        }

        return length;
    }

    public string ReadString(bool flexible) =>
        ReadNullableString(flexible) ?? throw new KafkaProtocolException("null in a non-nullable string");

    public string? ReadNullableString(bool flexible)
    {
        int length = ReadLength(flexible, shortLength: true, minElementBytes: 1);
        return length < 0 ? null : Encoding.UTF8.GetString(Take(length));
    }

    /// <summary>Reads a string whose nullability depends on the version being read.</summary>
    public string? ReadString(bool flexible, bool nullable) =>
        nullable ? ReadNullableString(flexible) : ReadString(flexible);

    public ReadOnlyMemory<byte> ReadBytes(bool flexible) =>
        ReadNullableBytes(flexible) ?? throw new KafkaProtocolException("null in non-nullable bytes");

    /// <summary>Reads bytes (or records) as a slice of the input: no copy.</summary>
    public ReadOnlyMemory<byte>? ReadNullableBytes(bool flexible)
    {
        int length = ReadLength(flexible, shortLength: false, minElementBytes: 1);
        if (length < 0)
        {
            return null;
        }

        var slice = _memory.Slice(_position, length);
        _position += length;
        return slice;
    }

    public ReadOnlyMemory<byte>? ReadBytes(bool flexible, bool nullable) =>
        nullable ? ReadNullableBytes(flexible) : ReadBytes(flexible);

    /// <summary>
    /// Reads an array's element count (-1 for a null array, allowed only when <paramref name="nullable"/>).
    /// Every element of every Kafka array occupies at least one byte, which bounds the count by the bytes left.
    /// </summary>
    public int ReadArrayLength(bool flexible, bool nullable)
    {
        int length = ReadLength(flexible, shortLength: false, minElementBytes: 1);
        if (length < 0 && !nullable)
        {
            throw new KafkaProtocolException("null in a non-nullable array");
        }

        return length;
    }

    /// <summary>Takes the next <paramref name="size"/> bytes as a reader of their own (a tagged field's value).</summary>
    public KafkaReader ReadSubReader(int size)
    {
        if (size < 0 || size > Remaining)
        {
            throw new KafkaProtocolException($"tagged field size {size} exceeds the {Remaining} bytes left");
        }

        var sub = new KafkaReader(_memory.Slice(_position, size));
        _position += size;
        return sub;
    }

    /// <summary>Reads the raw bytes of a known size as a slice of the input.</summary>
    public ReadOnlyMemory<byte> ReadRaw(int size)
    {
        Take(size);
        return _memory.Slice(_position - size, size);
    }

    /// <summary>
    /// Reads a whole tagged-field section in which no tag is known (the request and response headers).
    /// Returns the fields in wire order, or null when there are none.
    /// </summary>
    public List<TaggedField>? ReadUnknownTaggedFields()
    {
        int count = ReadUnsignedVarInt();
        if (count < 0 || count > Remaining)
        {
            throw new KafkaProtocolException($"{count} tagged fields cannot fit in {Remaining} bytes");
        }

        List<TaggedField>? fields = null;
        for (int i = 0; i < count; i++)
        {
            int tag = ReadUnsignedVarInt();
            int size = ReadUnsignedVarInt();
            (fields ??= new List<TaggedField>()).Add(new TaggedField(tag, ReadSubReader(size).RemainingMemory));
        }

        return fields;
    }
}
