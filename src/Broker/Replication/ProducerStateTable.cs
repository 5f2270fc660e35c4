using System.Buffers.Binary;
using Kraft.Storage.Records;

namespace Kraft.Broker.Replication;

/// <summary>
/// Idempotent-producer state of one partition replica (KIP-98): for each producer id its epoch and the metadata of
/// its last <see cref="RetainedBatches"/> batches (first/last sequence, first/last offset). The leader asks
/// <see cref="Check"/> before appending a batch: a batch equal to a retained one is a retry of something already in
/// the log (answer with the original offsets, append nothing), a batch that does not follow the last sequence is
/// OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch is INVALID_PRODUCER_EPOCH. Every replica records every appended
/// batch (<see cref="OnAppended"/>), so a new leader knows what its predecessor accepted; after a restart or a
/// truncation the table is rebuilt by reading the batch headers of the log (<see cref="Rebuild"/>).
/// <para>Pure: no I/O, no clock. Not thread-safe: the owning <see cref="Partition"/> calls it under its lock.</para>
/// <para>Differences from Kafka: no producer-state snapshots (the rebuild reads the whole log) and no expiry of idle
/// producers (transactional.id.expiration does not apply; producer.id.expiration.ms is not enforced).</para>
/// </summary>
public sealed class ProducerStateTable
{
    /// <summary>Kafka keeps the last five batches per producer: a producer has at most five requests in flight.</summary>
    public const int RetainedBatches = 5;

    /// <summary>RecordBatch.NO_PRODUCER_ID / NO_SEQUENCE: a batch from a producer that is not idempotent.</summary>
    public const long NoProducerId = -1;

    private readonly Dictionary<long, ProducerEntry> _producers = [];

    /// <summary>Producers with state.</summary>
    public int Count => _producers.Count;

    /// <summary>Decides what to do with a batch from <paramref name="batch"/>'s producer before it is appended.</summary>
    public ProducerCheck Check(in BatchIdentity batch)
    {
        if (!batch.IsIdempotent || !_producers.TryGetValue(batch.ProducerId, out var entry))
        {
            // An unknown producer (new, or whose state was lost with old segments) may start at any sequence, as in
            // Kafka since KIP-360: refusing it would fail a producer that did nothing wrong.
            return ProducerCheck.Append;
        }
        if (batch.ProducerEpoch < entry.Epoch)
        {
            return ProducerCheck.Refuse(ReplicationError.InvalidProducerEpoch);
        }
        if (batch.ProducerEpoch > entry.Epoch)
        {
            // A bumped epoch restarts the sequence at 0.
            return batch.FirstSequence == 0 ? ProducerCheck.Append : ProducerCheck.Refuse(ReplicationError.OutOfOrderSequenceNumber);
        }
        foreach (var retained in entry.Batches)
        {
            if (retained.FirstSequence == batch.FirstSequence && retained.LastSequence == batch.LastSequence)
            {
                return ProducerCheck.Duplicate(retained.FirstOffset, retained.LastOffset);
            }
        }
        if (entry.Batches.Count == 0)
        {
            return ProducerCheck.Append;
        }
        int last = entry.Batches.Last!.Value.LastSequence;
        bool inSequence = batch.FirstSequence == (last == int.MaxValue ? 0 : last + 1);
        return inSequence ? ProducerCheck.Append : ProducerCheck.Refuse(ReplicationError.OutOfOrderSequenceNumber);
    }

    /// <summary>Records a batch that is now in the log at [<paramref name="firstOffset"/>, <paramref name="lastOffset"/>].</summary>
    public void OnAppended(in BatchIdentity batch, long firstOffset, long lastOffset)
    {
        if (!batch.IsIdempotent)
        {
            return;
        }
        if (!_producers.TryGetValue(batch.ProducerId, out var entry) || batch.ProducerEpoch > entry.Epoch)
        {
            entry = new ProducerEntry(batch.ProducerEpoch);
            _producers[batch.ProducerId] = entry;
        }
        else if (batch.ProducerEpoch < entry.Epoch)
        {
            return; // a follower copies its leader's log verbatim; an old epoch's batch cannot change newer state
        }
        entry.Batches.AddLast(new RetainedBatch(batch.FirstSequence, batch.LastSequence, firstOffset, lastOffset));
        while (entry.Batches.Count > RetainedBatches)
        {
            entry.Batches.RemoveFirst();
        }
    }

    /// <summary>Forgets everything and replays <paramref name="batches"/> (whole stored batches, in offset order).</summary>
    public void Rebuild(IEnumerable<ReadOnlyMemory<byte>> batches)
    {
        _producers.Clear();
        foreach (var batch in batches)
        {
            var identity = BatchIdentity.Read(batch.Span);
            long first = BinaryPrimitives.ReadInt64BigEndian(batch.Span[RecordBatch.BaseOffsetOffset..]);
            long last = first + BinaryPrimitives.ReadInt32BigEndian(batch.Span[RecordBatch.LastOffsetDeltaOffset..]);
            OnAppended(identity, first, last);
        }
    }

    private sealed class ProducerEntry(short epoch)
    {
        public short Epoch { get; } = epoch;
        public LinkedList<RetainedBatch> Batches { get; } = new();
    }

    private readonly record struct RetainedBatch(int FirstSequence, int LastSequence, long FirstOffset, long LastOffset);
}

/// <summary>The producer fields of a batch header: producer id, epoch, first and last sequence.</summary>
public readonly record struct BatchIdentity(long ProducerId, short ProducerEpoch, int FirstSequence, int LastSequence)
{
    /// <summary>True for a batch from an idempotent producer (producer id and base sequence set).</summary>
    public bool IsIdempotent => ProducerId >= 0 && FirstSequence >= 0;

    /// <summary>Reads the fields from a batch header (at least <see cref="RecordBatch.RecordsCountOffset"/> bytes).</summary>
    public static BatchIdentity Read(ReadOnlySpan<byte> batch)
    {
        long producerId = BinaryPrimitives.ReadInt64BigEndian(batch[RecordBatch.ProducerIdOffset..]);
        short epoch = BinaryPrimitives.ReadInt16BigEndian(batch[RecordBatch.ProducerEpochOffset..]);
        int baseSequence = BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatch.BaseSequenceOffset..]);
        int lastOffsetDelta = BinaryPrimitives.ReadInt32BigEndian(batch[RecordBatch.LastOffsetDeltaOffset..]);
        // Sequences wrap at int.MaxValue like Kafka's DefaultRecordBatch.incrementSequence.
        int lastSequence = baseSequence < 0 ? -1 : (int)(((long)baseSequence + lastOffsetDelta) % ((long)int.MaxValue + 1));
        return new BatchIdentity(producerId, epoch, baseSequence, lastSequence);
    }
}

/// <summary>What the leader does with a batch: append it, answer it as a duplicate of stored offsets, or refuse it.</summary>
public readonly record struct ProducerCheck(ProducerCheckKind Kind, ReplicationError Error, long FirstOffset, long LastOffset)
{
    public static ProducerCheck Append => new(ProducerCheckKind.Append, ReplicationError.None, -1, -1);

    public static ProducerCheck Duplicate(long firstOffset, long lastOffset) => new(ProducerCheckKind.Duplicate, ReplicationError.None, firstOffset, lastOffset);

    public static ProducerCheck Refuse(ReplicationError error) => new(ProducerCheckKind.Refuse, error, -1, -1);
}

public enum ProducerCheckKind
{
    Append,
    Duplicate,
    Refuse,
}
