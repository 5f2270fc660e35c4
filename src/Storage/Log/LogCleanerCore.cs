using System.Buffers.Binary;
using Kraft.Storage.Records;

namespace Kraft.Storage.Log;

/// <summary>
/// The pure part of log compaction (Kafka's LogCleaner semantics, no I/O): building the key -> latest offset
/// map of a dirty section and filtering batches against it.
/// <para>Rules: a keyed record is kept unless the map names a later offset for its key; a record that is the
/// latest for its key but has a null value (a tombstone) is dropped once it is older than the delete horizon.
/// Records without a key, control batches and compressed batches are kept untouched (this cleaner does not
/// decompress; keeping more than necessary is always safe, since the latest record per key still wins on
/// read). A batch that keeps some records is re-built with its original base offset, last offset delta
/// (so offsets do not move and the next batch's base offset still follows), base timestamp, partition leader
/// epoch and producer fields; only its length, record count, max timestamp and CRC change. A batch that
/// keeps nothing disappears, leaving a gap in the offsets.</para>
/// <para>Stateless and thread-safe.</para>
/// </summary>
public static class LogCleanerCore
{
    /// <summary>True when the batch's records can be read without decompression and may be compacted.</summary>
    public static bool IsCompactable(in RecordBatchHeader header) =>
        header.Compression == CompressionType.None && !header.IsControl;

    /// <summary>
    /// Adds every keyed record of the valid batches in <paramref name="batches"/> to <paramref name="map"/>
    /// (later offsets win). Returns false if a batch's records are malformed (the map then holds what came before).
    /// </summary>
    public static bool AddToMap(ReadOnlySpan<byte> batches, OffsetMap map)
    {
        var walker = new BatchWalker(batches);
        while (walker.TryNext(out var header, out int at, out _))
        {
            if (!IsCompactable(header))
            {
                continue;
            }
            var reader = new RecordReader(batches.Slice(at + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize));
            while (reader.TryReadNext(out Record record, out _))
            {
                if (!record.KeyIsNull)
                {
                    map.Put(record.Key, header.BaseOffset + record.OffsetDelta);
                }
            }
            if (reader.Malformed)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The retention decision for one record. <paramref name="latestOffset"/> is the map's offset for the key
    /// (or -1 when the key is not in the map); <paramref name="deleteHorizonMs"/> is now - delete.retention.ms.
    /// </summary>
    public static bool ShouldRetain(bool hasKey, long offset, long latestOffset, bool isTombstone, long timestampMs, long deleteHorizonMs)
    {
        if (!hasKey)
        {
            return true;
        }
        if (latestOffset > offset)
        {
            return false; // a later record of the same key supersedes this one
        }
        return !isTombstone || timestampMs >= deleteHorizonMs;
    }

    /// <summary>
    /// Filters one valid batch. Returns <paramref name="batch"/> itself when every record stays, an empty span
    /// when none does, otherwise a re-built batch written into a new array.
    /// </summary>
    public static FilterResult FilterBatch(ReadOnlySpan<byte> batch, OffsetMap map, long deleteHorizonMs)
    {
        var header = RecordBatchHeader.Read(batch);
        if (!IsCompactable(header))
        {
            return new FilterResult(FilterOutcome.Unchanged, null, header.RecordsCount, 0);
        }
        bool logAppendTime = (header.Attributes & RecordBatch.TimestampTypeFlag) != 0;
        var body = batch.Slice(RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize);
        var kept = new List<(int Start, int Length)>();
        int position = 0;
        int total = 0;
        long maxTimestamp = -1;
        while (position < body.Length)
        {
            if (!Varint.TryReadInt(body[position..], out int length, out int n) || length < 0 || length > body.Length - position - n)
            {
                return new FilterResult(FilterOutcome.Unchanged, null, header.RecordsCount, 0); // malformed: keep as is
            }
            int size = n + length;
            var reader = new RecordReader(body.Slice(position, size));
            if (!reader.TryReadNext(out Record record, out _))
            {
                return new FilterResult(FilterOutcome.Unchanged, null, header.RecordsCount, 0);
            }
            total++;
            long offset = header.BaseOffset + record.OffsetDelta;
            long timestamp = logAppendTime ? header.MaxTimestamp : header.BaseTimestamp + record.TimestampDelta;
            long latest = record.KeyIsNull ? -1 : map.Get(record.Key);
            if (ShouldRetain(!record.KeyIsNull, offset, latest, record.ValueIsNull, timestamp, deleteHorizonMs))
            {
                kept.Add((position, size));
                maxTimestamp = Math.Max(maxTimestamp, timestamp);
            }
            position += size;
        }
        if (kept.Count == total)
        {
            return new FilterResult(FilterOutcome.Unchanged, null, total, 0);
        }
        if (kept.Count == 0)
        {
            return new FilterResult(FilterOutcome.Dropped, null, 0, total);
        }
        int keptBytes = kept.Sum(k => k.Length);
        var rebuilt = new byte[RecordBatch.HeaderSize + keptBytes];
        batch[..RecordBatch.HeaderSize].CopyTo(rebuilt);
        int at = RecordBatch.HeaderSize;
        foreach (var (start, length) in kept)
        {
            body.Slice(start, length).CopyTo(rebuilt.AsSpan(at));
            at += length;
        }
        BinaryPrimitives.WriteInt32BigEndian(rebuilt.AsSpan(RecordBatch.BatchLengthOffset), rebuilt.Length - RecordBatch.LogOverhead);
        BinaryPrimitives.WriteInt32BigEndian(rebuilt.AsSpan(RecordBatch.RecordsCountOffset), kept.Count);
        if (!logAppendTime)
        {
            BinaryPrimitives.WriteInt64BigEndian(rebuilt.AsSpan(RecordBatch.MaxTimestampOffset), maxTimestamp);
        }
        RecordBatch.UpdateCrc(rebuilt);
        return new FilterResult(FilterOutcome.Rebuilt, rebuilt, kept.Count, total - kept.Count);
    }
}

public enum FilterOutcome
{
    /// <summary>Every record stays: copy the original bytes.</summary>
    Unchanged = 0,
    /// <summary>Some records stay: use <see cref="FilterResult.Rebuilt"/>.</summary>
    Rebuilt = 1,
    /// <summary>No record stays: the batch disappears.</summary>
    Dropped = 2,
}

/// <summary>What <see cref="LogCleanerCore.FilterBatch"/> decided for one batch.</summary>
public readonly record struct FilterResult(FilterOutcome Outcome, byte[]? Rebuilt, int RecordsKept, int RecordsRemoved);

/// <summary>
/// Key -> latest offset for one cleaning pass (Kafka's SkimpyOffsetMap, here exact: keys are compared by
/// content, so a hash collision can never drop a record). Capacity bounds the dirty section a pass covers.
/// Not thread-safe; owned by one cleaning pass.
/// </summary>
public sealed class OffsetMap
{
    private readonly Dictionary<byte[], long> _latest = new(ByteArrayComparer.Instance);

    public OffsetMap(int capacity)
    {
        Invariant.Check(capacity > 0, "offset map capacity must be positive");
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int Count => _latest.Count;

    public bool IsFull => _latest.Count >= Capacity;

    /// <summary>Records <paramref name="offset"/> for <paramref name="key"/> if it is later than what the map holds.</summary>
    public void Put(ReadOnlySpan<byte> key, long offset)
    {
        var lookup = _latest.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (lookup.TryGetValue(key, out long existing))
        {
            if (offset > existing)
            {
                lookup[key] = offset;
            }
            return;
        }
        lookup[key] = offset;
    }

    /// <summary>The latest offset recorded for <paramref name="key"/>, or -1.</summary>
    public long Get(ReadOnlySpan<byte> key) =>
        _latest.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(key, out long offset) ? offset : -1;

    /// <summary>Compares keys by content; also looks them up by span without allocating.</summary>
    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> bytes)
        {
            var hash = new HashCode();
            hash.AddBytes(bytes);
            return hash.ToHashCode();
        }
    }
}
