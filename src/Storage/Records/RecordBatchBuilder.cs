using System.Buffers.Binary;

namespace Kraft.Storage.Records;

/// <summary>A record to put into a batch: key and value may be null, headers optional.</summary>
public sealed record ProducerRecord(byte[]? Key, byte[]? Value, long TimestampMs = -1, IReadOnlyList<KeyValuePair<string, byte[]?>>? Headers = null);

/// <summary>
/// Builds uncompressed v2 record batches (for Kraft's own client, the Raft log and tests).
/// Offsets start at the given base offset; a leader rewrites them on append anyway.
/// Not thread-safe; one builder per batch.
/// </summary>
public sealed class RecordBatchBuilder
{
    private readonly List<ProducerRecord> _records = [];
    private long _estimatedSize = RecordBatch.HeaderSize;

    public long BaseOffset { get; init; }
    public int PartitionLeaderEpoch { get; init; } = -1;
    public long ProducerId { get; init; } = -1;
    public short ProducerEpoch { get; init; } = -1;
    public int BaseSequence { get; init; } = -1;
    public bool IsControl { get; init; }
    public bool TimestampIsLogAppendTime { get; init; }

    public int Count => _records.Count;

    /// <summary>An upper bound of the encoded size so far, for size-based batching.</summary>
    public long EstimatedSizeInBytes => _estimatedSize;

    public RecordBatchBuilder Add(ProducerRecord record)
    {
        _records.Add(record);
        _estimatedSize += 5 + 1 + 10 + 5 + 5 + (record.Key?.Length ?? 0) + 5 + (record.Value?.Length ?? 0) + 5;
        if (record.Headers is not null)
        {
            foreach (var h in record.Headers)
            {
                _estimatedSize += 10 + System.Text.Encoding.UTF8.GetByteCount(h.Key) + (h.Value?.Length ?? 0);
            }
        }
        return this;
    }

    public RecordBatchBuilder Add(byte[]? key, byte[]? value, long timestampMs = -1) => Add(new ProducerRecord(key, value, timestampMs));

    /// <summary>Encodes the batch; a batch with no records is not allowed.</summary>
    public byte[] Build(long defaultTimestampMs = 0)
    {
        Invariant.Check(_records.Count > 0, "a record batch needs at least one record");
        long baseTimestamp = long.MaxValue;
        long maxTimestamp = long.MinValue;
        foreach (var r in _records)
        {
            long ts = r.TimestampMs >= 0 ? r.TimestampMs : defaultTimestampMs;
            baseTimestamp = Math.Min(baseTimestamp, ts);
            maxTimestamp = Math.Max(maxTimestamp, ts);
        }

        var buffer = new byte[checked((int)_estimatedSize)];
        int position = RecordBatch.HeaderSize;
        for (int i = 0; i < _records.Count; i++)
        {
            var r = _records[i];
            long ts = r.TimestampMs >= 0 ? r.TimestampMs : defaultTimestampMs;
            position += WriteRecord(buffer.AsSpan(position), i, ts - baseTimestamp, r);
        }

        Span<byte> b = buffer.AsSpan(0, position);
        short attributes = (short)((IsControl ? RecordBatch.ControlFlag : 0) | (TimestampIsLogAppendTime ? RecordBatch.TimestampTypeFlag : 0));
        BinaryPrimitives.WriteInt64BigEndian(b[RecordBatch.BaseOffsetOffset..], BaseOffset);
        BinaryPrimitives.WriteInt32BigEndian(b[RecordBatch.BatchLengthOffset..], position - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(b[RecordBatch.PartitionLeaderEpochOffset..], PartitionLeaderEpoch);
        b[RecordBatch.MagicOffset] = RecordBatch.CurrentMagic;
        BinaryPrimitives.WriteInt16BigEndian(b[RecordBatch.AttributesOffset..], attributes);
        BinaryPrimitives.WriteInt32BigEndian(b[RecordBatch.LastOffsetDeltaOffset..], _records.Count - 1);
        BinaryPrimitives.WriteInt64BigEndian(b[RecordBatch.BaseTimestampOffset..], baseTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(b[RecordBatch.MaxTimestampOffset..], maxTimestamp);
        BinaryPrimitives.WriteInt64BigEndian(b[RecordBatch.ProducerIdOffset..], ProducerId);
        BinaryPrimitives.WriteInt16BigEndian(b[RecordBatch.ProducerEpochOffset..], ProducerEpoch);
        BinaryPrimitives.WriteInt32BigEndian(b[RecordBatch.BaseSequenceOffset..], BaseSequence);
        BinaryPrimitives.WriteInt32BigEndian(b[RecordBatch.RecordsCountOffset..], _records.Count);
        RecordBatch.UpdateCrc(b);
        return b.ToArray();
    }

    /// <summary>Convenience: one batch holding the given values (null keys).</summary>
    public static byte[] FromValues(long baseOffset, long timestampMs, params byte[][] values)
    {
        var builder = new RecordBatchBuilder { BaseOffset = baseOffset };
        foreach (var v in values)
        {
            builder.Add(null, v, timestampMs);
        }
        return builder.Build(timestampMs);
    }

    private static int WriteRecord(Span<byte> destination, int offsetDelta, long timestampDelta, ProducerRecord r)
    {
        int bodySize = 1 + Varint.SizeOfLong(timestampDelta) + Varint.SizeOfInt(offsetDelta)
            + SizeOfBytes(r.Key) + SizeOfBytes(r.Value);
        int headerCount = r.Headers?.Count ?? 0;
        bodySize += Varint.SizeOfInt(headerCount);
        if (r.Headers is not null)
        {
            foreach (var h in r.Headers)
            {
                int keyBytes = System.Text.Encoding.UTF8.GetByteCount(h.Key);
                bodySize += Varint.SizeOfInt(keyBytes) + keyBytes + SizeOfBytes(h.Value);
            }
        }

        int p = Varint.WriteInt(destination, bodySize);
        destination[p++] = 0;
        p += Varint.WriteLong(destination[p..], timestampDelta);
        p += Varint.WriteInt(destination[p..], offsetDelta);
        p += WriteBytes(destination[p..], r.Key);
        p += WriteBytes(destination[p..], r.Value);
        p += Varint.WriteInt(destination[p..], headerCount);
        if (r.Headers is not null)
        {
            foreach (var h in r.Headers)
            {
                p += WriteBytes(destination[p..], System.Text.Encoding.UTF8.GetBytes(h.Key));
                p += WriteBytes(destination[p..], h.Value);
            }
        }
        return p;
    }

    private static int SizeOfBytes(byte[]? bytes) => bytes is null ? 1 : Varint.SizeOfInt(bytes.Length) + bytes.Length;

    private static int WriteBytes(Span<byte> destination, byte[]? bytes)
    {
        if (bytes is null)
        {
            return Varint.WriteInt(destination, -1);
        }
        int p = Varint.WriteInt(destination, bytes.Length);
        bytes.CopyTo(destination[p..]);
        return p + bytes.Length;
    }
}
