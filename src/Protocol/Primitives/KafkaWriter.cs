using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Kraft.Protocol.Primitives;

/// <summary>
/// Writes Kafka's primitive types, big-endian, into a growable buffer rented from <see cref="ArrayPool{T}"/>.
/// </summary>
/// <remarks>
/// Role: the only way generated codecs write bytes; also an <see cref="IBufferWriter{T}"/> so other
/// encoders can append to it. Invariant: bytes [0, Length) are the output so far; the buffer only grows.
/// Frames need their size before their body, so the framing code reserves four bytes and patches them
/// with <see cref="PatchInt32"/> once the body is written; that is why this is a contiguous buffer and
/// not a writer straight into a pipe. Dispose returns the buffer to the pool; the written memory must not
/// be used after that. Thread: one owner at a time; not thread-safe.
/// </remarks>
public sealed class KafkaWriter : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer;
    private int _length;

    public KafkaWriter(int initialCapacity = 256)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 16));
    }

    public int Length => _length;
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    /// <summary>A copy of the written bytes that outlives this writer.</summary>
    public byte[] ToArray() => WrittenSpan.ToArray();

    /// <summary>Copies the written bytes to another writer, for example a connection's PipeWriter.</summary>
    public void CopyTo(IBufferWriter<byte> destination)
    {
        var span = WrittenSpan;
        span.CopyTo(destination.GetSpan(span.Length));
        destination.Advance(span.Length);
    }

    /// <summary>Forgets the written bytes and keeps the buffer for reuse.</summary>
    public void Reset() => _length = 0;

    public void Dispose()
    {
        var buffer = _buffer;
        _buffer = [];
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private Span<byte> Grab(int count)
    {
        if (_buffer.Length - _length < count)
        {
            Grow(count);
        }

        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }

    private void Grow(int count)
    {
        long wanted = Math.Max((long)_buffer.Length * 2, (long)_length + count);
        if (wanted > Array.MaxLength)
        {
            wanted = (long)_length + count;
        }

        var bigger = ArrayPool<byte>.Shared.Rent((int)wanted);
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }

        _buffer = bigger;
    }

    public void Advance(int count)
    {
        if (count < 0 || _length + count > _buffer.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        if (_buffer.Length - _length < Math.Max(sizeHint, 1))
        {
            Grow(Math.Max(sizeHint, 1));
        }

        return _buffer.AsMemory(_length);
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public void WriteInt8(sbyte value) => Grab(1)[0] = (byte)value;
    public void WriteBool(bool value) => Grab(1)[0] = value ? (byte)1 : (byte)0;
    public void WriteInt16(short value) => BinaryPrimitives.WriteInt16BigEndian(Grab(2), value);
    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16BigEndian(Grab(2), value);
    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32BigEndian(Grab(4), value);
    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32BigEndian(Grab(4), value);
    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64BigEndian(Grab(8), value);
    public void WriteFloat64(double value) => BinaryPrimitives.WriteDoubleBigEndian(Grab(8), value);

    public void WriteUuid(Guid value)
    {
        if (!value.TryWriteBytes(Grab(16), bigEndian: true, out _))
        {
            throw new InvalidOperationException("a Guid is 16 bytes");
        }
    }

    public void WriteRaw(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Grab(bytes.Length));

    /// <summary>Overwrites four already-written bytes (a size prefix reserved earlier).</summary>
    public void PatchInt32(int position, int value)
    {
        if (position < 0 || position + 4 > _length)
        {
            throw new ArgumentOutOfRangeException(nameof(position));
        }

        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(position, 4), value);
    }

    public void WriteUnsignedVarInt(int value)
    {
        uint v = (uint)value;
        while (v >= 0x80)
        {
            Grab(1)[0] = (byte)(v | 0x80);
            v >>= 7;
        }

        Grab(1)[0] = (byte)v;
    }

    public void WriteUnsignedVarLong(long value)
    {
        ulong v = (ulong)value;
        while (v >= 0x80)
        {
            Grab(1)[0] = (byte)(v | 0x80);
            v >>= 7;
        }

        Grab(1)[0] = (byte)v;
    }

    public void WriteVarInt(int value) => WriteUnsignedVarInt((value << 1) ^ (value >> 31));
    public void WriteVarLong(long value) => WriteUnsignedVarLong((value << 1) ^ (value >> 63));

    /// <summary>Bytes an unsigned varint takes on the wire.</summary>
    public static int SizeOfUnsignedVarInt(int value)
    {
        uint v = (uint)value;
        int size = 1;
        while (v >= 0x80)
        {
            v >>= 7;
            size++;
        }

        return size;
    }

    private void WriteLength(int length, bool flexible, bool shortLength)
    {
        if (flexible)
        {
            WriteUnsignedVarInt(length + 1);
        }
        else if (shortLength)
        {
            WriteInt16(checked((short)length));
        }
        else
        {
            WriteInt32(length);
        }
    }

    /// <summary>
    /// Writes a string, or null when <paramref name="nullable"/> (the version allows null). A null value in a
    /// version that does not allow null is written as the empty string: Kafka's generated code would throw
    /// instead; we prefer the nearest legal encoding (documented in docs/protocol.md).
    /// </summary>
    public void WriteString(string? value, bool flexible, bool nullable = false)
    {
        if (value is null)
        {
            WriteLength(nullable ? -1 : 0, flexible, shortLength: true);
            return;
        }

        int byteCount = Encoding.UTF8.GetByteCount(value);
        if (!flexible && byteCount > short.MaxValue)
        {
            throw new ArgumentException($"a string of {byteCount} bytes does not fit an int16 length");
        }

        WriteLength(byteCount, flexible, shortLength: true);
        Encoding.UTF8.GetBytes(value, Grab(byteCount));
    }

    /// <summary>Writes bytes or records (null rules as for <see cref="WriteString"/>).</summary>
    public void WriteBytes(ReadOnlyMemory<byte>? value, bool flexible, bool nullable = false)
    {
        if (value is not { } bytes)
        {
            WriteLength(nullable ? -1 : 0, flexible, shortLength: false);
            return;
        }

        WriteLength(bytes.Length, flexible, shortLength: false);
        WriteRaw(bytes.Span);
    }

    /// <summary>Writes an array length; -1 (null) becomes 0 when the version does not allow null arrays.</summary>
    public void WriteArrayLength(int count, bool flexible, bool nullable = false)
    {
        if (count < 0 && !nullable)
        {
            count = 0;
        }

        WriteLength(count, flexible, shortLength: false);
    }

    /// <summary>
    /// Writes the unknown tagged fields whose tag is below <paramref name="belowTag"/>, starting at
    /// <paramref name="index"/>; generated writers call this between known tags to keep ascending order.
    /// </summary>
    public void WriteUnknownTaggedFields(List<TaggedField>? fields, ref int index, int belowTag)
    {
        if (fields is null)
        {
            return;
        }

        while (index < fields.Count && fields[index].Tag < belowTag)
        {
            var field = fields[index++];
            WriteUnsignedVarInt(field.Tag);
            WriteUnsignedVarInt(field.Data.Length);
            WriteRaw(field.Data.Span);
        }
    }

    /// <summary>Writes one known tagged field whose value was encoded into <paramref name="value"/>.</summary>
    public void WriteTaggedField(int tag, KafkaWriter value)
    {
        WriteUnsignedVarInt(tag);
        WriteUnsignedVarInt(value.Length);
        WriteRaw(value.WrittenSpan);
    }

    /// <summary>Writes a tagged-field section with no known tags (the headers).</summary>
    public void WriteTaggedFieldSection(List<TaggedField>? unknown)
    {
        WriteUnsignedVarInt(unknown?.Count ?? 0);
        int index = 0;
        WriteUnknownTaggedFields(unknown, ref index, int.MaxValue);
    }
}
