using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Kraft.Quorum.Metadata;

/// <summary>Base of the errors raised while decoding metadata records. A decode error means the log or a snapshot
/// holds bytes this node cannot interpret; the node must stop rather than skip them and build a wrong image.</summary>
public class MetadataRecordException : Exception
{
    public MetadataRecordException(string message) : base(message) { }
}

/// <summary>The record's type id, or its version for a known type, is not one this build can read (a newer
/// node wrote it, or the bytes are corrupt). Names the type and version so the operator can tell which.</summary>
public sealed class UnknownMetadataRecordException : MetadataRecordException
{
    public UnknownMetadataRecordException(short recordType, short version)
        : base(Enum.IsDefined(typeof(MetadataRecordType), recordType)
            ? $"metadata record type {(MetadataRecordType)recordType} ({recordType}) has unsupported version {version}"
            : $"unknown metadata record type {recordType} (version {version})")
    {
        RecordType = recordType;
        Version = version;
    }

    public short RecordType { get; }

    public short Version { get; }
}

/// <summary>The bytes of a known record type and version are malformed (truncated, trailing bytes, bad lengths).</summary>
public sealed class MetadataRecordFormatException : MetadataRecordException
{
    public MetadataRecordFormatException(string message) : base(message) { }
}

/// <summary>
/// The binary codec of metadata records. Role: the only place that turns records into bytes and back.
/// Each record is <c>[type:int16][version:int16][body]</c>, big-endian, with the body laid out field by field in
/// declaration order (docs/controller.md has the diagrams). Primitive encodings: strings are int16 length
/// (-1 = null) plus UTF-8; lists are int32 count plus elements; UUIDs are 16 bytes, big-endian as Kafka writes
/// them; booleans are one byte 0/1. A batch (one controller operation, appended atomically as one Raft entry)
/// is <c>[count:int32]</c> followed by <c>[length:int32][record]</c> per record.
/// Stateless; any thread.
/// </summary>
public static class MetadataRecordCodec
{
    /// <summary>The highest version of each type this build writes and reads (all types start at 0).</summary>
    public static short MaxSupportedVersion(MetadataRecordType type) => type switch
    {
        >= MetadataRecordType.RegisterBroker and <= MetadataRecordType.LeaderChange => 0,
        _ => -1,
    };

    public static byte[] Encode(MetadataRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        Write(record, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static void Write(MetadataRecord record, IBufferWriter<byte> output)
    {
        var w = new Writer(output);
        w.Int16((short)record.Type);
        w.Int16(record.Version);
        switch (record)
        {
            case RegisterBrokerRecord r:
                w.Int32(r.BrokerId.Value);
                w.Uuid(r.IncarnationId);
                w.Int64(r.BrokerEpoch);
                w.Int32(r.Endpoints.Count);
                foreach (BrokerEndpoint e in r.Endpoints)
                {
                    w.String(e.Name);
                    w.String(e.Host);
                    w.Int32(e.Port);
                    w.Int16((short)e.SecurityProtocol);
                }

                w.NullableString(r.Rack);
                w.Bool(r.Fenced);
                break;
            case UnregisterBrokerRecord r:
                w.Int32(r.BrokerId.Value);
                w.Int64(r.BrokerEpoch);
                break;
            case FenceBrokerRecord r:
                w.Int32(r.BrokerId.Value);
                w.Int64(r.BrokerEpoch);
                break;
            case UnfenceBrokerRecord r:
                w.Int32(r.BrokerId.Value);
                w.Int64(r.BrokerEpoch);
                break;
            case TopicRecord r:
                w.String(r.Name);
                w.Uuid(r.TopicId.Value);
                break;
            case RemoveTopicRecord r:
                w.Uuid(r.TopicId.Value);
                break;
            case PartitionRecord r:
                w.Uuid(r.TopicId.Value);
                w.Int32(r.PartitionIndex);
                w.Brokers(r.Replicas);
                w.Brokers(r.Isr);
                w.Brokers(r.RemovingReplicas);
                w.Brokers(r.AddingReplicas);
                w.Int32(r.Leader.Value);
                w.Int32(r.LeaderEpoch);
                w.Int32(r.PartitionEpoch);
                break;
            case PartitionChangeRecord r:
                w.Uuid(r.TopicId.Value);
                w.Int32(r.PartitionIndex);
                byte mask = (byte)((r.Leader is null ? 0 : 1)
                    | (r.Isr is null ? 0 : 2)
                    | (r.Replicas is null ? 0 : 4)
                    | (r.RemovingReplicas is null ? 0 : 8)
                    | (r.AddingReplicas is null ? 0 : 16));
                w.Byte(mask);
                if (r.Leader is { } leader)
                {
                    w.Int32(leader.Value);
                }

                if (r.Isr is not null)
                {
                    w.Brokers(r.Isr);
                }

                if (r.Replicas is not null)
                {
                    w.Brokers(r.Replicas);
                }

                if (r.RemovingReplicas is not null)
                {
                    w.Brokers(r.RemovingReplicas);
                }

                if (r.AddingReplicas is not null)
                {
                    w.Brokers(r.AddingReplicas);
                }

                break;
            case ConfigRecord r:
                w.Byte((byte)r.ResourceType);
                w.String(r.ResourceName);
                w.String(r.Name);
                w.NullableString(r.Value);
                break;
            case ProducerIdsRecord r:
                w.Int32(r.BrokerId.Value);
                w.Int64(r.BrokerEpoch);
                w.Int64(r.NextProducerId);
                break;
            case LeaderChangeRecord r:
                w.Int32(r.LeaderId);
                w.Int32(r.Epoch);
                break;
            default:
                throw new ArgumentException($"no codec for record {record.GetType().Name}", nameof(record));
        }
    }

    /// <summary>Decodes exactly one record occupying all of <paramref name="bytes"/>.</summary>
    /// <exception cref="UnknownMetadataRecordException">unknown type id or unsupported version.</exception>
    /// <exception cref="MetadataRecordFormatException">malformed body.</exception>
    public static MetadataRecord Decode(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        short type = r.Int16();
        short version = r.Int16();
        if (!Enum.IsDefined(typeof(MetadataRecordType), type) || version < 0 || version > MaxSupportedVersion((MetadataRecordType)type))
        {
            throw new UnknownMetadataRecordException(type, version);
        }

        MetadataRecord record = (MetadataRecordType)type switch
        {
            MetadataRecordType.RegisterBroker => ReadRegisterBroker(ref r),
            MetadataRecordType.UnregisterBroker => new UnregisterBrokerRecord(new BrokerId(r.Int32()), r.Int64()),
            MetadataRecordType.FenceBroker => new FenceBrokerRecord(new BrokerId(r.Int32()), r.Int64()),
            MetadataRecordType.UnfenceBroker => new UnfenceBrokerRecord(new BrokerId(r.Int32()), r.Int64()),
            MetadataRecordType.Topic => new TopicRecord(r.String(), new TopicId(r.Uuid())),
            MetadataRecordType.RemoveTopic => new RemoveTopicRecord(new TopicId(r.Uuid())),
            MetadataRecordType.Partition => new PartitionRecord(
                new TopicId(r.Uuid()), r.Int32(), r.Brokers(), r.Brokers(), r.Brokers(), r.Brokers(),
                new BrokerId(r.Int32()), r.Int32(), r.Int32()),
            MetadataRecordType.PartitionChange => ReadPartitionChange(ref r),
            MetadataRecordType.Config => ReadConfig(ref r),
            MetadataRecordType.ProducerIds => new ProducerIdsRecord(new BrokerId(r.Int32()), r.Int64(), r.Int64()),
            MetadataRecordType.LeaderChange => new LeaderChangeRecord(r.Int32(), r.Int32()),
            _ => throw new UnknownMetadataRecordException(type, version),
        };
        if (r.Remaining != 0)
        {
            throw new MetadataRecordFormatException($"{(MetadataRecordType)type} v{version}: {r.Remaining} trailing bytes");
        }

        return record;
    }

    /// <summary>Encodes one operation's records as one payload, to be appended as a single Raft entry so that the
    /// operation commits (or is lost) as a whole.</summary>
    public static byte[] EncodeBatch(IReadOnlyList<MetadataRecord> records)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        var w = new Writer(buffer);
        w.Int32(records.Count);
        var one = new ArrayBufferWriter<byte>(64);
        foreach (MetadataRecord record in records)
        {
            one.Clear();
            Write(record, one);
            w.Int32(one.WrittenCount);
            buffer.Write(one.WrittenSpan);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static IReadOnlyList<MetadataRecord> DecodeBatch(ReadOnlySpan<byte> bytes)
    {
        var r = new Reader(bytes);
        int count = r.Int32();
        if (count < 0 || count > bytes.Length / 8)
        {
            throw new MetadataRecordFormatException($"batch: bad record count {count}");
        }

        var records = new List<MetadataRecord>(count);
        for (int i = 0; i < count; i++)
        {
            int length = r.Int32();
            records.Add(Decode(r.Take(length)));
        }

        if (r.Remaining != 0)
        {
            throw new MetadataRecordFormatException($"batch: {r.Remaining} trailing bytes");
        }

        return records;
    }

    private static RegisterBrokerRecord ReadRegisterBroker(ref Reader r)
    {
        var id = new BrokerId(r.Int32());
        Guid incarnation = r.Uuid();
        long epoch = r.Int64();
        int count = r.Count(minElementSize: 10);
        var endpoints = new BrokerEndpoint[count];
        for (int i = 0; i < count; i++)
        {
            endpoints[i] = new BrokerEndpoint(r.String(), r.String(), r.Int32(), (SecurityProtocol)r.Int16());
        }

        string? rack = r.NullableString();
        bool fenced = r.Bool();
        return new RegisterBrokerRecord(id, incarnation, epoch, ValueList.Of(endpoints), rack, fenced);
    }

    private static PartitionChangeRecord ReadPartitionChange(ref Reader r)
    {
        var topicId = new TopicId(r.Uuid());
        int partition = r.Int32();
        byte mask = r.Byte();
        if ((mask & ~0x1F) != 0)
        {
            throw new MetadataRecordFormatException($"PartitionChange v0: unknown field bits 0x{mask:X2}");
        }

        BrokerId? leader = (mask & 1) != 0 ? new BrokerId(r.Int32()) : null;
        ValueList<BrokerId>? isr = (mask & 2) != 0 ? r.Brokers() : null;
        ValueList<BrokerId>? replicas = (mask & 4) != 0 ? r.Brokers() : null;
        ValueList<BrokerId>? removing = (mask & 8) != 0 ? r.Brokers() : null;
        ValueList<BrokerId>? adding = (mask & 16) != 0 ? r.Brokers() : null;
        return new PartitionChangeRecord(topicId, partition, leader, isr, replicas, removing, adding);
    }

    private static ConfigRecord ReadConfig(ref Reader r)
    {
        byte type = r.Byte();
        if (!Enum.IsDefined(typeof(ConfigResourceType), type))
        {
            throw new MetadataRecordFormatException($"Config v0: unknown resource type {type}");
        }

        return new ConfigRecord((ConfigResourceType)type, r.String(), r.String(), r.NullableString());
    }

    /// <summary>Appends big-endian primitives to a buffer writer.</summary>
    private readonly struct Writer(IBufferWriter<byte> output)
    {
        public void Byte(byte value)
        {
            output.GetSpan(1)[0] = value;
            output.Advance(1);
        }

        public void Bool(bool value) => Byte(value ? (byte)1 : (byte)0);

        public void Int16(short value)
        {
            BinaryPrimitives.WriteInt16BigEndian(output.GetSpan(2), value);
            output.Advance(2);
        }

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32BigEndian(output.GetSpan(4), value);
            output.Advance(4);
        }

        public void Int64(long value)
        {
            BinaryPrimitives.WriteInt64BigEndian(output.GetSpan(8), value);
            output.Advance(8);
        }

        public void Uuid(Guid value)
        {
            bool ok = value.TryWriteBytes(output.GetSpan(16), bigEndian: true, out int written);
            if (!ok || written != 16)
            {
                throw new InvalidOperationException("UUID did not encode to 16 bytes");
            }

            output.Advance(16);
        }

        public void String(string value)
        {
            int length = Encoding.UTF8.GetByteCount(value);
            if (length > short.MaxValue)
            {
                throw new ArgumentException($"string of {length} UTF-8 bytes exceeds the int16 length prefix");
            }

            Int16((short)length);
            Encoding.UTF8.GetBytes(value, output.GetSpan(length));
            output.Advance(length);
        }

        public void NullableString(string? value)
        {
            if (value is null)
            {
                Int16(-1);
            }
            else
            {
                String(value);
            }
        }

        public void Brokers(ValueList<BrokerId> ids)
        {
            Int32(ids.Count);
            foreach (BrokerId id in ids)
            {
                Int32(id.Value);
            }
        }
    }

    /// <summary>Reads big-endian primitives from a span, failing with a format error on truncation.</summary>
    private ref struct Reader(ReadOnlySpan<byte> bytes)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _position;

        public readonly int Remaining => _bytes.Length - _position;

        public ReadOnlySpan<byte> Take(int length)
        {
            if (length < 0 || length > Remaining)
            {
                throw new MetadataRecordFormatException($"need {length} bytes at position {_position}, have {Remaining}");
            }

            ReadOnlySpan<byte> slice = _bytes.Slice(_position, length);
            _position += length;
            return slice;
        }

        public byte Byte() => Take(1)[0];

        public bool Bool() => Byte() switch
        {
            0 => false,
            1 => true,
            byte b => throw new MetadataRecordFormatException($"boolean byte {b} at position {_position - 1}"),
        };

        public short Int16() => BinaryPrimitives.ReadInt16BigEndian(Take(2));

        public int Int32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

        public Guid Uuid() => new(Take(16), bigEndian: true);

        public string String() =>
            NullableString() ?? throw new MetadataRecordFormatException($"null string at position {_position - 2}");

        public string? NullableString()
        {
            short length = Int16();
            if (length < -1)
            {
                throw new MetadataRecordFormatException($"string length {length} at position {_position - 2}");
            }

            return length == -1 ? null : Encoding.UTF8.GetString(Take(length));
        }

        public int Count(int minElementSize)
        {
            int count = Int32();
            if (count < 0 || (long)count * minElementSize > Remaining)
            {
                throw new MetadataRecordFormatException($"list count {count} at position {_position - 4} exceeds the {Remaining} bytes left");
            }

            return count;
        }

        public ValueList<BrokerId> Brokers()
        {
            int count = Count(minElementSize: 4);
            var ids = new BrokerId[count];
            for (int i = 0; i < count; i++)
            {
                ids[i] = new BrokerId(Int32());
            }

            return ValueList.Of(ids);
        }
    }
}
