using System.Buffers.Binary;

namespace Kraft.Storage.Records;

/// <summary>
/// One record inside an uncompressed v2 batch. Layout (varints are zig-zag):
/// length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
/// keyLength varint (-1 = null) | key | valueLength varint (-1 = null) | value |
/// headerCount varint | (headerKeyLength varint | headerKey | headerValueLength varint | headerValue)*
/// Key, value and headers are slices of the batch (no copies).
/// </summary>
public readonly ref struct Record
{
    public Record(long timestampDelta, int offsetDelta, ReadOnlySpan<byte> key, bool keyIsNull, ReadOnlySpan<byte> value, bool valueIsNull, ReadOnlySpan<byte> headers, int headerCount)
    {
        TimestampDelta = timestampDelta;
        OffsetDelta = offsetDelta;
        Key = key;
        KeyIsNull = keyIsNull;
        Value = value;
        ValueIsNull = valueIsNull;
        HeadersRaw = headers;
        HeaderCount = headerCount;
    }

    public long TimestampDelta { get; }
    public int OffsetDelta { get; }
    public ReadOnlySpan<byte> Key { get; }
    public bool KeyIsNull { get; }
    public ReadOnlySpan<byte> Value { get; }
    public bool ValueIsNull { get; }
    public ReadOnlySpan<byte> HeadersRaw { get; }
    public int HeaderCount { get; }

    /// <summary>Decodes the headers (key as UTF-8, value as bytes or null).</summary>
    public List<KeyValuePair<string, byte[]?>> ReadHeaders()
    {
        var list = new List<KeyValuePair<string, byte[]?>>(HeaderCount);
        ReadOnlySpan<byte> s = HeadersRaw;
        for (int i = 0; i < HeaderCount; i++)
        {
            Varint.TryReadInt(s, out int keyLength, out int n);
            s = s[n..];
            string key = System.Text.Encoding.UTF8.GetString(s[..keyLength]);
            s = s[keyLength..];
            Varint.TryReadInt(s, out int valueLength, out n);
            s = s[n..];
            byte[]? value = valueLength < 0 ? null : s[..valueLength].ToArray();
            s = s[Math.Max(0, valueLength)..];
            list.Add(new(key, value));
        }
        return list;
    }
}

/// <summary>
/// Iterates the records of an uncompressed batch body (the bytes after the 61-byte header).
/// Stops and sets <see cref="Malformed"/> on any inconsistency instead of throwing.
/// </summary>
public ref struct RecordReader
{
    private ReadOnlySpan<byte> _remaining;

    public RecordReader(ReadOnlySpan<byte> body)
    {
        _remaining = body;
        Malformed = false;
    }

    public bool Malformed { get; private set; }

    public bool TryReadNext(out Record record, out bool malformed)
    {
        record = default;
        malformed = false;
        if (_remaining.IsEmpty || Malformed)
        {
            return false;
        }
        if (!TryParse(_remaining, out record, out int consumed))
        {
            Malformed = malformed = true;
            return false;
        }
        _remaining = _remaining[consumed..];
        return true;
    }

    private static bool TryParse(ReadOnlySpan<byte> s, out Record record, out int consumed)
    {
        record = default;
        consumed = 0;
        if (!Varint.TryReadInt(s, out int length, out int n) || length < 0 || length > s.Length - n)
        {
            return false;
        }
        consumed = n + length;
        ReadOnlySpan<byte> r = s.Slice(n, length);
        if (r.Length < 1)
        {
            return false;
        }
        r = r[1..]; // attributes: unused in v2
        if (!Varint.TryReadLong(r, out long timestampDelta, out n)) return false;
        r = r[n..];
        if (!Varint.TryReadInt(r, out int offsetDelta, out n)) return false;
        r = r[n..];
        if (!TryReadBytes(r, out int keyStart, out int keyLength, out bool keyNull)) return false;
        ReadOnlySpan<byte> key = r.Slice(keyStart, keyLength);
        r = r[(keyStart + keyLength)..];
        if (!TryReadBytes(r, out int valueStart, out int valueLength, out bool valueNull)) return false;
        ReadOnlySpan<byte> value = r.Slice(valueStart, valueLength);
        r = r[(valueStart + valueLength)..];
        if (!Varint.TryReadInt(r, out int headerCount, out n) || headerCount < 0) return false;
        r = r[n..];
        ReadOnlySpan<byte> headers = r;
        for (int i = 0; i < headerCount; i++)
        {
            if (!TryReadBytes(r, out int hkStart, out int hkLength, out bool headerKeyNull) || headerKeyNull) return false;
            r = r[(hkStart + hkLength)..];
            if (!TryReadBytes(r, out int hvStart, out int hvLength, out _)) return false;
            r = r[(hvStart + hvLength)..];
        }
        if (!r.IsEmpty)
        {
            return false; // declared length disagrees with the fields
        }
        record = new Record(timestampDelta, offsetDelta, key, keyNull, value, valueNull, headers, headerCount);
        return true;
    }

    /// <summary>Reads a varint length then that many bytes; reports where the bytes start and how many (0 when null).</summary>
    private static bool TryReadBytes(ReadOnlySpan<byte> r, out int start, out int length, out bool isNull)
    {
        start = 0;
        isNull = false;
        if (!Varint.TryReadInt(r, out length, out int n) || length < -1 || length > r.Length - n)
        {
            length = 0;
            return false;
        }
        start = n;
        if (length == -1)
        {
            isNull = true;
            length = 0;
        }
        return true;
    }
}

/// <summary>Walks the batches laid end to end in a buffer (a produce request's records or a log read).</summary>
public ref struct BatchWalker
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _position;

    public BatchWalker(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
    }

    public int Position => _position;

    /// <summary>Validates and returns the next batch; stops on the first invalid one, reporting why in <paramref name="result"/>.</summary>
    public bool TryNext(out RecordBatchHeader header, out int position, out BatchValidation result)
    {
        position = _position;
        header = default;
        result = BatchValidation.Ok;
        if (_position >= _buffer.Length)
        {
            return false;
        }
        result = RecordBatch.Validate(_buffer[_position..], out header);
        if (result != BatchValidation.Ok)
        {
            return false;
        }
        _position += header.SizeInBytes;
        return true;
    }
}

/// <summary>Helpers to read a few header fields without validating the whole batch.</summary>
public static class RecordBatchFields
{
    public static long BaseOffset(ReadOnlySpan<byte> batch) => BinaryPrimitives.ReadInt64BigEndian(batch);

    public static int PartitionLeaderEpoch(ReadOnlySpan<byte> batch) =>
        BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatch.PartitionLeaderEpochOffset..]);
}
