using System.Buffers.Binary;

namespace Kraft.Storage.Records;

/// <summary>
/// Kafka's record batch, magic v2 (KIP-98). Layout, all integers big-endian:
/// <code>
///  0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32 | 16 magic int8 (=2)
/// 17 crc uint32 (CRC-32C of bytes 21..end) | 21 attributes int16 | 23 lastOffsetDelta int32
/// 27 baseTimestamp int64 | 35 maxTimestamp int64 | 43 producerId int64 | 51 producerEpoch int16
/// 53 baseSequence int32 | 57 recordsCount int32 | 61 records...
/// </code>
/// batchLength counts the bytes after itself, so a batch occupies 12 + batchLength bytes.
/// baseOffset and partitionLeaderEpoch sit before the CRC-covered range, which is why a leader can
/// assign offsets and stamp its epoch without recomputing the checksum.
/// </summary>
public static class RecordBatch
{
    public const int BaseOffsetOffset = 0;
    public const int BatchLengthOffset = 8;
    public const int PartitionLeaderEpochOffset = 12;
    public const int MagicOffset = 16;
    public const int CrcOffset = 17;
    public const int AttributesOffset = 21;
    public const int LastOffsetDeltaOffset = 23;
    public const int BaseTimestampOffset = 27;
    public const int MaxTimestampOffset = 35;
    public const int ProducerIdOffset = 43;
    public const int ProducerEpochOffset = 51;
    public const int BaseSequenceOffset = 53;
    public const int RecordsCountOffset = 57;
    public const int HeaderSize = 61;

    /// <summary>Bytes before batchLength's coverage starts: baseOffset and batchLength.</summary>
    public const int LogOverhead = 12;

    public const byte CurrentMagic = 2;
    public const int CompressionCodecMask = 0x07;
    public const int TimestampTypeFlag = 0x08;
    public const int TransactionalFlag = 0x10;
    public const int ControlFlag = 0x20;

    /// <summary>
    /// Reads and checks the batch at the start of <paramref name="buffer"/>: enough bytes for the header
    /// and the declared length, magic 2, a CRC-32C that matches, and sane counts. On success
    /// <paramref name="header"/> describes it; the batch occupies <c>header.SizeInBytes</c> bytes.
    /// </summary>
    public static BatchValidation Validate(ReadOnlySpan<byte> buffer, out RecordBatchHeader header)
    {
        header = default;
        if (buffer.Length < LogOverhead)
        {
            return BatchValidation.Truncated;
        }
        int batchLength = BinaryPrimitives.ReadInt32BigEndian(buffer[BatchLengthOffset..]);
        if (batchLength < HeaderSize - LogOverhead)
        {
            return BatchValidation.BadLength;
        }
        if (buffer.Length < HeaderSize)
        {
            return BatchValidation.Truncated;
        }
        if (buffer[MagicOffset] != CurrentMagic)
        {
            return BatchValidation.BadMagic;
        }
        if ((long)batchLength + LogOverhead > buffer.Length)
        {
            return BatchValidation.Truncated;
        }
        header = RecordBatchHeader.Read(buffer);
        ReadOnlySpan<byte> covered = buffer.Slice(AttributesOffset, batchLength + LogOverhead - AttributesOffset);
        if (Crc32C.Compute(covered) != header.Crc)
        {
            return BatchValidation.CrcMismatch;
        }
        if (header.LastOffsetDelta < 0 || header.RecordsCount < 0)
        {
            return BatchValidation.BadCounts;
        }
        return BatchValidation.Ok;
    }

    /// <summary>
    /// Deeper check for uncompressed batches a producer sends: record count, offset deltas 0..n-1 in
    /// order, lengths that add up exactly to the batch. Compressed batches are checked by CRC only.
    /// </summary>
    public static BatchValidation ValidateRecords(ReadOnlySpan<byte> batch, in RecordBatchHeader header)
    {
        if (header.Compression != CompressionType.None)
        {
            return BatchValidation.Ok;
        }
        var reader = new RecordReader(batch[HeaderSize..header.SizeInBytes]);
        int count = 0;
        while (reader.TryReadNext(out Record record, out bool malformed))
        {
            if (record.OffsetDelta != count)
            {
                return BatchValidation.BadRecords;
            }
            count++;
        }
        if (reader.Malformed || count != header.RecordsCount || (count > 0 && header.LastOffsetDelta != count - 1))
        {
            return BatchValidation.BadRecords;
        }
        return BatchValidation.Ok;
    }

    /// <summary>Overwrites base offset and partition leader epoch; neither is covered by the CRC.</summary>
    public static void Rewrite(Span<byte> batch, long baseOffset, int partitionLeaderEpoch)
    {
        BinaryPrimitives.WriteInt64BigEndian(batch[BaseOffsetOffset..], baseOffset);
        BinaryPrimitives.WriteInt32BigEndian(batch[PartitionLeaderEpochOffset..], partitionLeaderEpoch);
    }

    /// <summary>Reads the size (12 + batchLength) declared by the batch header at the start of <paramref name="buffer"/>, or -1.</summary>
    public static int DeclaredSize(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < LogOverhead)
        {
            return -1;
        }
        int batchLength = BinaryPrimitives.ReadInt32BigEndian(buffer[BatchLengthOffset..]);
        return batchLength < 0 || batchLength > int.MaxValue - LogOverhead ? -1 : batchLength + LogOverhead;
    }

    /// <summary>Recomputes and stores the CRC (used by the builder after writing a batch).</summary>
    public static void UpdateCrc(Span<byte> batch)
    {
        int size = DeclaredSize(batch);
        uint crc = Crc32C.Compute(batch[AttributesOffset..size]);
        BinaryPrimitives.WriteUInt32BigEndian(batch[CrcOffset..], crc);
    }
}

/// <summary>Outcome of checking one record batch. Values are stable (they appear in logs and tests).</summary>
public enum BatchValidation
{
    Ok = 0,
    Truncated = 1,
    BadLength = 2,
    BadMagic = 3,
    CrcMismatch = 4,
    BadCounts = 5,
    BadRecords = 6,
}

/// <summary>Compression codec in bits 0-2 of a batch's attributes (Kafka's ids).</summary>
public enum CompressionType : byte
{
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

/// <summary>The fixed 61-byte header of a v2 record batch, decoded.</summary>
public readonly record struct RecordBatchHeader(
    long BaseOffset,
    int BatchLength,
    int PartitionLeaderEpoch,
    byte Magic,
    uint Crc,
    short Attributes,
    int LastOffsetDelta,
    long BaseTimestamp,
    long MaxTimestamp,
    long ProducerId,
    short ProducerEpoch,
    int BaseSequence,
    int RecordsCount)
{
    public int SizeInBytes => BatchLength + RecordBatch.LogOverhead;

    public long LastOffset => BaseOffset + LastOffsetDelta;

    public long NextOffset => LastOffset + 1;

    public CompressionType Compression => (CompressionType)(Attributes & RecordBatch.CompressionCodecMask);

    public bool IsControl => (Attributes & RecordBatch.ControlFlag) != 0;

    public bool IsTransactional => (Attributes & RecordBatch.TransactionalFlag) != 0;

    /// <summary>Decodes the header fields; the caller has checked that 61 bytes are present.</summary>
    public static RecordBatchHeader Read(ReadOnlySpan<byte> b) => new(
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.BaseOffsetOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.BatchLengthOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.PartitionLeaderEpochOffset..]),
        b[RecordBatch.MagicOffset],
        BinaryPrimitives.ReadUInt32BigEndian(b[RecordBatch.CrcOffset..]),
        BinaryPrimitives.ReadInt16BigEndian(b[RecordBatch.AttributesOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.LastOffsetDeltaOffset..]),
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.BaseTimestampOffset..]),
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.MaxTimestampOffset..]),
        BinaryPrimitives.ReadInt64BigEndian(b[RecordBatch.ProducerIdOffset..]),
        BinaryPrimitives.ReadInt16BigEndian(b[RecordBatch.ProducerEpochOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.BaseSequenceOffset..]),
        BinaryPrimitives.ReadInt32BigEndian(b[RecordBatch.RecordsCountOffset..]));
}
