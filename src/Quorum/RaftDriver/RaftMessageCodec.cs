using System.Buffers;
using System.Buffers.Binary;
using Kraft.Quorum.Raft;

namespace Kraft.Quorum.RaftDriver;

/// <summary>
/// The binary form of a <see cref="RaftMessage"/> between Kraft controllers: explicit big-endian
/// fields, no reflection, no schema evolution beyond the version byte. Pure (no I/O), stateless and
/// thread-safe.
/// <code>
/// [type int8][version int8 = 0][from int32][to int32][correlationId int64][fields of the type ...]
/// NodeId?          int32, -1 = none
/// bool             int8, exactly 0 or 1
/// RaftError        int16 (Kafka's code; only codes listed in RaftError are accepted)
/// OffsetAndEpoch?  int8 present (0/1) then [offset int64][epoch int32] when present
/// byte[]           [length int32][bytes]
/// list             [count int32][elements]
/// LogEntry         [offset int64][epoch int32][kind int8][payload byte[]]
/// </code>
/// Type bytes are append-only because they reach the wire: 1 VoteRequest, 2 VoteResponse,
/// 3 BeginQuorumEpochRequest, 4 BeginQuorumEpochResponse, 5 EndQuorumEpochRequest,
/// 6 EndQuorumEpochResponse, 7 FetchRequest, 8 FetchResponse, 9 FetchSnapshotRequest,
/// 10 FetchSnapshotResponse. Decoding never throws on bad input: a short, over-long or out-of-range
/// message is reported as an error string and yields nothing.
/// </summary>
public static class RaftMessageCodec
{
    /// <summary>The only version this code writes and reads.</summary>
    public const byte Version = 0;

    private const byte VoteRequestType = 1;
    private const byte VoteResponseType = 2;
    private const byte BeginQuorumEpochRequestType = 3;
    private const byte BeginQuorumEpochResponseType = 4;
    private const byte EndQuorumEpochRequestType = 5;
    private const byte EndQuorumEpochResponseType = 6;
    private const byte FetchRequestType = 7;
    private const byte FetchResponseType = 8;
    private const byte FetchSnapshotRequestType = 9;
    private const byte FetchSnapshotResponseType = 10;

    /// <summary>Encodes <paramref name="message"/>; throws only for a message type this codec does not know (a bug).</summary>
    public static byte[] Encode(RaftMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var w = new Writer(64);
        byte type = message switch
        {
            VoteRequest => VoteRequestType,
            VoteResponse => VoteResponseType,
            BeginQuorumEpochRequest => BeginQuorumEpochRequestType,
            BeginQuorumEpochResponse => BeginQuorumEpochResponseType,
            EndQuorumEpochRequest => EndQuorumEpochRequestType,
            EndQuorumEpochResponse => EndQuorumEpochResponseType,
            FetchRequest => FetchRequestType,
            FetchResponse => FetchResponseType,
            FetchSnapshotRequest => FetchSnapshotRequestType,
            FetchSnapshotResponse => FetchSnapshotResponseType,
            _ => throw new ArgumentException($"unknown message type {message.GetType().Name}", nameof(message)),
        };
        w.Int8(type);
        w.Int8(Version);
        w.Int32(message.From.Value);
        w.Int32(message.To.Value);
        w.Int64(message.CorrelationId);
        switch (message)
        {
            case VoteRequest m:
                w.Int32(m.CandidateEpoch); w.Int32(m.LastOffsetEpoch); w.Int64(m.LastOffset); w.Bool(m.PreVote);
                break;
            case VoteResponse m:
                w.Error(m.ErrorCode); w.Int32(m.LeaderEpoch); w.Node(m.LeaderId); w.Bool(m.VoteGranted); w.Bool(m.PreVote);
                break;
            case BeginQuorumEpochRequest m:
                w.Int32(m.LeaderEpoch); w.Int32(m.LeaderId.Value);
                break;
            case BeginQuorumEpochResponse m:
                w.Error(m.ErrorCode); w.Int32(m.LeaderEpoch); w.Node(m.LeaderId);
                break;
            case EndQuorumEpochRequest m:
                w.Int32(m.LeaderEpoch); w.Int32(m.LeaderId.Value);
                w.Int32(m.PreferredSuccessors.Count);
                foreach (var s in m.PreferredSuccessors) w.Int32(s.Value);
                break;
            case EndQuorumEpochResponse m:
                w.Error(m.ErrorCode); w.Int32(m.LeaderEpoch); w.Node(m.LeaderId);
                break;
            case FetchRequest m:
                w.Int32(m.CurrentLeaderEpoch); w.Int64(m.FetchOffset); w.Int32(m.LastFetchedEpoch);
                break;
            case FetchResponse m:
                w.Error(m.ErrorCode); w.Int32(m.LeaderEpoch); w.Node(m.LeaderId); w.Int64(m.HighWatermark); w.Int64(m.LogStartOffset);
                w.OffsetEpoch(m.DivergingEpoch); w.OffsetEpoch(m.SnapshotId);
                w.Int32(m.Records.Count);
                foreach (var e in m.Records)
                {
                    w.Int64(e.Offset); w.Int32(e.Epoch); w.Int8((byte)e.Kind); w.Bytes(e.Payload);
                }
                break;
            case FetchSnapshotRequest m:
                w.Int32(m.CurrentLeaderEpoch); w.Int64(m.SnapshotId.Offset); w.Int32(m.SnapshotId.Epoch); w.Int64(m.Position); w.Int32(m.MaxBytes);
                break;
            case FetchSnapshotResponse m:
                w.Error(m.ErrorCode); w.Int32(m.LeaderEpoch); w.Node(m.LeaderId); w.Int64(m.SnapshotId.Offset); w.Int32(m.SnapshotId.Epoch);
                w.Int64(m.Size); w.Int64(m.Position); w.Bytes(m.UnalignedRecords);
                break;
        }
        return w.ToArray();
    }

    /// <summary>
    /// Decodes one whole message. Returns false with <paramref name="error"/> set (and never throws)
    /// when the bytes are short, have trailing garbage, an unknown type or version, or a value out of range.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, out RaftMessage? message, out string? error)
    {
        message = null;
        error = null;
        var r = new Reader(bytes);
        byte type = r.Int8();
        byte version = r.Int8();
        if (r.Failed)
        {
            error = "message shorter than its header";
            return false;
        }
        if (version != Version)
        {
            error = $"unsupported message version {version} (type {type})";
            return false;
        }
        var from = new NodeId(r.Int32());
        var to = new NodeId(r.Int32());
        long correlationId = r.Int64();
        RaftMessage? m = type switch
        {
            VoteRequestType => new VoteRequest(from, to, correlationId, r.Int32(), r.Int32(), r.Int64(), r.Bool()),
            VoteResponseType => new VoteResponse(from, to, correlationId, r.Error(), r.Int32(), r.Node(), r.Bool(), r.Bool()),
            BeginQuorumEpochRequestType => new BeginQuorumEpochRequest(from, to, correlationId, r.Int32(), new NodeId(r.Int32())),
            BeginQuorumEpochResponseType => new BeginQuorumEpochResponse(from, to, correlationId, r.Error(), r.Int32(), r.Node()),
            EndQuorumEpochRequestType => new EndQuorumEpochRequest(from, to, correlationId, r.Int32(), new NodeId(r.Int32()), r.NodeList()),
            EndQuorumEpochResponseType => new EndQuorumEpochResponse(from, to, correlationId, r.Error(), r.Int32(), r.Node()),
            FetchRequestType => new FetchRequest(from, to, correlationId, r.Int32(), r.Int64(), r.Int32()),
            FetchResponseType => new FetchResponse(from, to, correlationId, r.Error(), r.Int32(), r.Node(), r.Int64(), r.Int64(),
                r.OffsetEpoch(), r.OffsetEpoch(), r.Entries()),
            FetchSnapshotRequestType => new FetchSnapshotRequest(from, to, correlationId, r.Int32(), new OffsetAndEpoch(r.Int64(), r.Int32()), r.Int64(), r.Int32()),
            FetchSnapshotResponseType => new FetchSnapshotResponse(from, to, correlationId, r.Error(), r.Int32(), r.Node(),
                new OffsetAndEpoch(r.Int64(), r.Int32()), r.Int64(), r.Int64(), r.Bytes()),
            _ => null,
        };
        if (m is null)
        {
            error = $"unknown message type {type}";
            return false;
        }
        if (r.Failed)
        {
            error = $"malformed {m.GetType().Name}: {r.Problem}";
            return false;
        }
        if (r.Remaining != 0)
        {
            error = $"{r.Remaining} trailing bytes after {m.GetType().Name}";
            return false;
        }
        message = m;
        return true;
    }

    /// <summary>Appends big-endian fields to a growing pooled-free buffer (messages are small except fetch responses).</summary>
    private sealed class Writer(int initialCapacity)
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(initialCapacity);

        public void Int8(byte value) { _buffer.GetSpan(1)[0] = value; _buffer.Advance(1); }

        public void Bool(bool value) => Int8(value ? (byte)1 : (byte)0);

        public void Int16(short value) { BinaryPrimitives.WriteInt16BigEndian(_buffer.GetSpan(2), value); _buffer.Advance(2); }

        public void Int32(int value) { BinaryPrimitives.WriteInt32BigEndian(_buffer.GetSpan(4), value); _buffer.Advance(4); }

        public void Int64(long value) { BinaryPrimitives.WriteInt64BigEndian(_buffer.GetSpan(8), value); _buffer.Advance(8); }

        public void Error(RaftError error) => Int16((short)error);

        public void Node(NodeId? node) => Int32(node?.Value ?? -1);

        public void OffsetEpoch(OffsetAndEpoch? value)
        {
            Bool(value.HasValue);
            if (value is { } v) { Int64(v.Offset); Int32(v.Epoch); }
        }

        public void Bytes(byte[] bytes)
        {
            Int32(bytes.Length);
            _buffer.Write(bytes);
        }

        public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads big-endian fields; the first failure latches <see cref="Failed"/> and every later read
    /// returns a default, so a decoder can read a whole message and check once at the end.
    /// </summary>
    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private ReadOnlySpan<byte> _rest = bytes;

        public bool Failed { get; private set; }

        public string? Problem { get; private set; }

        public readonly int Remaining => _rest.Length;

        private bool Take(int size, out ReadOnlySpan<byte> span)
        {
            if (Failed || _rest.Length < size)
            {
                Fail("truncated");
                span = default;
                return false;
            }
            span = _rest[..size];
            _rest = _rest[size..];
            return true;
        }

        private void Fail(string problem)
        {
            if (!Failed) Problem = problem;
            Failed = true;
        }

        public byte Int8() => Take(1, out var s) ? s[0] : (byte)0;

        public int Int32() => Take(4, out var s) ? BinaryPrimitives.ReadInt32BigEndian(s) : 0;

        public long Int64() => Take(8, out var s) ? BinaryPrimitives.ReadInt64BigEndian(s) : 0;

        public bool Bool()
        {
            byte b = Int8();
            if (b > 1) Fail($"boolean byte {b}");
            return b == 1;
        }

        public RaftError Error()
        {
            short code = Take(2, out var s) ? BinaryPrimitives.ReadInt16BigEndian(s) : (short)0;
            if (!Enum.IsDefined((RaftError)code)) Fail($"unknown error code {code}");
            return (RaftError)code;
        }

        public NodeId? Node()
        {
            int id = Int32();
            if (id < -1) Fail($"node id {id}");
            return id == -1 ? null : new NodeId(id);
        }

        public OffsetAndEpoch? OffsetEpoch()
        {
            if (!Bool()) return null;
            return new OffsetAndEpoch(Int64(), Int32());
        }

        private int Count(int minimumElementBytes)
        {
            int count = Int32();
            // Bounding the count by the bytes left stops a forged count from allocating gigabytes.
            if (count < 0 || (long)count * minimumElementBytes > _rest.Length)
            {
                Fail($"count {count} does not fit the {_rest.Length} bytes left");
                return 0;
            }
            return count;
        }

        public byte[] Bytes()
        {
            int length = Count(1);
            return Take(length, out var s) ? s.ToArray() : [];
        }

        public IReadOnlyList<NodeId> NodeList()
        {
            int count = Count(4);
            var list = new NodeId[count];
            for (int i = 0; i < count; i++) list[i] = new NodeId(Int32());
            return list;
        }

        public IReadOnlyList<LogEntry> Entries()
        {
            int count = Count(8 + 4 + 1 + 4);
            var list = new LogEntry[count];
            for (int i = 0; i < count && !Failed; i++)
            {
                long offset = Int64();
                int epoch = Int32();
                byte kind = Int8();
                if (!Enum.IsDefined((LogEntryKind)kind)) Fail($"unknown entry kind {kind}");
                list[i] = new LogEntry(offset, epoch, (LogEntryKind)kind, Bytes());
            }
            return Failed ? [] : list;
        }
    }
}
