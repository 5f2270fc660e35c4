using System.Buffers.Binary;
using System.Text;

namespace Kraft.Broker.Groups;

/// <summary>
/// A record of the internal topic __consumer_offsets as the coordinator sees it: a key plus a value,
/// where a null value is a tombstone (the key's state is deleted; log compaction keeps only the latest
/// record per key). Encoded with <see cref="GroupRecordCodec"/>; the driver appends the bytes to the
/// group's offsets partition.
/// </summary>
public abstract record GroupRecord(string GroupId);

/// <summary>OffsetCommitKey (group, topic, partition) -> OffsetCommitValue, or a tombstone when the offset expired or was deleted.</summary>
public sealed record OffsetCommitRecord(string GroupId, string Topic, int Partition, OffsetCommitValue? Value) : GroupRecord(GroupId);

/// <summary>OffsetCommitValue: the committed position. LeaderEpoch -1 = unknown.</summary>
public sealed record OffsetCommitValue(long Offset, int LeaderEpoch, string Metadata, long CommitTimestampMs);

/// <summary>GroupMetadataKey (group) -> GroupMetadataValue: the group after a completed rebalance, or a tombstone when the group is removed.</summary>
public sealed record GroupMetadataRecord(string GroupId, GroupMetadataValue? Value) : GroupRecord(GroupId);

/// <summary>The group as of its current generation. Protocol and Leader are null for an Empty group.</summary>
public sealed record GroupMetadataValue(
    string ProtocolType,
    int Generation,
    string? Protocol,
    string? Leader,
    long CurrentStateTimestampMs,
    IReadOnlyList<GroupMemberValue> Members);

/// <summary>One member in a GroupMetadataValue: identity, timeouts, subscription (its protocol metadata) and assignment.</summary>
public sealed record GroupMemberValue(
    string MemberId,
    string? GroupInstanceId,
    string ClientId,
    string ClientHost,
    int RebalanceTimeoutMs,
    int SessionTimeoutMs,
    byte[] Subscription,
    byte[] Assignment);

/// <summary>
/// Explicit big-endian codec of the __consumer_offsets key and value layouts, following Kafka's
/// (OffsetCommitKey v1, GroupMetadataKey v2, OffsetCommitValue v0-3, GroupMetadataValue v0-3; the
/// flexible v4 values are not read). Strings are int16 length + UTF-8 (length -1 = null), bytes are
/// int32 length + data. We write OffsetCommitValue v3 and GroupMetadataValue v3, which Kafka's own
/// coordinator reads too. Stateless; any thread.
/// </summary>
public static class GroupRecordCodec
{
    public const short OffsetCommitKeyVersion = 1;
    public const short GroupMetadataKeyVersion = 2;
    public const short OffsetCommitValueVersion = 3;
    public const short GroupMetadataValueVersion = 3;

    public static (byte[] Key, byte[]? Value) Encode(GroupRecord record)
    {
        switch (record)
        {
            case OffsetCommitRecord o:
                {
                    var key = new Writer();
                    key.Int16(OffsetCommitKeyVersion);
                    key.String(o.GroupId);
                    key.String(o.Topic);
                    key.Int32(o.Partition);
                    return (key.ToArray(), o.Value is null ? null : EncodeOffsetValue(o.Value));
                }
            case GroupMetadataRecord g:
                {
                    var key = new Writer();
                    key.Int16(GroupMetadataKeyVersion);
                    key.String(g.GroupId);
                    return (key.ToArray(), g.Value is null ? null : EncodeGroupValue(g.Value));
                }
            default:
                throw new ArgumentException($"unknown record type {record.GetType().Name}", nameof(record));
        }
    }

    public static byte[] EncodeOffsetValue(OffsetCommitValue value)
    {
        var w = new Writer();
        w.Int16(OffsetCommitValueVersion);
        w.Int64(value.Offset);
        w.Int32(value.LeaderEpoch);
        w.String(value.Metadata);
        w.Int64(value.CommitTimestampMs);
        return w.ToArray();
    }

    public static byte[] EncodeGroupValue(GroupMetadataValue value)
    {
        var w = new Writer();
        w.Int16(GroupMetadataValueVersion);
        w.String(value.ProtocolType);
        w.Int32(value.Generation);
        w.String(value.Protocol);
        w.String(value.Leader);
        w.Int64(value.CurrentStateTimestampMs);
        w.Int32(value.Members.Count);
        foreach (var m in value.Members)
        {
            w.String(m.MemberId);
            w.String(m.GroupInstanceId);
            w.String(m.ClientId);
            w.String(m.ClientHost);
            w.Int32(m.RebalanceTimeoutMs);
            w.Int32(m.SessionTimeoutMs);
            w.Bytes(m.Subscription);
            w.Bytes(m.Assignment);
        }
        return w.ToArray();
    }

    /// <summary>Decodes one record. Throws <see cref="FormatException"/> on a malformed or unknown-version record.</summary>
    public static GroupRecord Decode(ReadOnlySpan<byte> key, byte[]? value)
    {
        var r = new Reader(key);
        short keyVersion = r.Int16();
        GroupRecord result;
        switch (keyVersion)
        {
            case 0:
            case 1:
                {
                    string group = r.String() ?? throw new FormatException("null group in OffsetCommitKey");
                    string topic = r.String() ?? throw new FormatException("null topic in OffsetCommitKey");
                    int partition = r.Int32();
                    r.End();
                    result = new OffsetCommitRecord(group, topic, partition, value is null ? null : DecodeOffsetValue(value));
                    break;
                }
            case 2:
                {
                    string group = r.String() ?? throw new FormatException("null group in GroupMetadataKey");
                    r.End();
                    result = new GroupMetadataRecord(group, value is null ? null : DecodeGroupValue(value));
                    break;
                }
            default:
                throw new FormatException($"unknown __consumer_offsets key version {keyVersion}");
        }
        return result;
    }

    public static OffsetCommitValue DecodeOffsetValue(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        short version = r.Int16();
        if (version is < 0 or > 3) throw new FormatException($"unsupported OffsetCommitValue version {version}");
        long offset = r.Int64();
        int leaderEpoch = version >= 3 ? r.Int32() : -1;
        string metadata = r.String() ?? throw new FormatException("null metadata in OffsetCommitValue");
        long commitTimestamp = r.Int64();
        if (version == 1) r.Int64(); // expireTimestamp: retention is decided by the broker since KIP-211.
        r.End();
        return new OffsetCommitValue(offset, leaderEpoch, metadata, commitTimestamp);
    }

    public static GroupMetadataValue DecodeGroupValue(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        short version = r.Int16();
        if (version is < 0 or > 3) throw new FormatException($"unsupported GroupMetadataValue version {version}");
        string protocolType = r.String() ?? throw new FormatException("null protocolType in GroupMetadataValue");
        int generation = r.Int32();
        string? protocol = r.String();
        string? leader = r.String();
        long stateTimestamp = version >= 2 ? r.Int64() : -1;
        int count = r.Int32();
        if (count < 0 || count > bytes.Length) throw new FormatException($"bad member count {count}");
        var members = new List<GroupMemberValue>(count);
        for (int i = 0; i < count; i++)
        {
            string memberId = r.String() ?? throw new FormatException("null memberId");
            string? instanceId = version >= 3 ? r.String() : null;
            string clientId = r.String() ?? throw new FormatException("null clientId");
            string clientHost = r.String() ?? throw new FormatException("null clientHost");
            int sessionTimeout;
            int rebalanceTimeout;
            if (version >= 1)
            {
                rebalanceTimeout = r.Int32();
                sessionTimeout = r.Int32();
            }
            else
            {
                sessionTimeout = r.Int32();
                rebalanceTimeout = sessionTimeout; // v0 predates the separate rebalance timeout (KIP-62).
            }
            byte[] subscription = r.Bytes();
            byte[] assignment = r.Bytes();
            members.Add(new GroupMemberValue(memberId, instanceId, clientId, clientHost, rebalanceTimeout, sessionTimeout, subscription, assignment));
        }
        r.End();
        return new GroupMetadataValue(protocolType, generation, protocol, leader, stateTimestamp, members);
    }

    private sealed class Writer
    {
        private readonly List<byte> _bytes = new(64);

        public void Int16(short v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteInt16BigEndian(b, v); Add(b); }
        public void Int32(int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32BigEndian(b, v); Add(b); }
        public void Int64(long v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteInt64BigEndian(b, v); Add(b); }

        public void String(string? s)
        {
            if (s is null) { Int16(-1); return; }
            byte[] utf8 = Encoding.UTF8.GetBytes(s);
            if (utf8.Length > short.MaxValue) throw new ArgumentException("string longer than 32767 UTF-8 bytes");
            Int16((short)utf8.Length);
            Add(utf8);
        }

        public void Bytes(byte[] b) { Int32(b.Length); Add(b); }
        private void Add(ReadOnlySpan<byte> b) { foreach (byte x in b) _bytes.Add(x); }
        public byte[] ToArray() => _bytes.ToArray();
    }

    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _bytes;
        private int _position;

        public Reader(ReadOnlySpan<byte> bytes) { _bytes = bytes; _position = 0; }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || _position + n > _bytes.Length) throw new FormatException("record truncated");
            var s = _bytes.Slice(_position, n);
            _position += n;
            return s;
        }

        public short Int16() => BinaryPrimitives.ReadInt16BigEndian(Take(2));
        public int Int32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
        public long Int64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

        public string? String()
        {
            short len = Int16();
            if (len == -1) return null;
            if (len < 0) throw new FormatException($"bad string length {len}");
            return Encoding.UTF8.GetString(Take(len));
        }

        public byte[] Bytes()
        {
            int len = Int32();
            if (len == -1) return []; // Kafka writes non-null bytes here; treat a null as empty.
            return Take(len).ToArray();
        }

        public readonly void End()
        {
            if (_position != _bytes.Length) throw new FormatException($"{_bytes.Length - _position} trailing bytes");
        }
    }
}
