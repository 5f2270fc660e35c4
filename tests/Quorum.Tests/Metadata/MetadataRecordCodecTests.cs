using FsCheck;
using FsCheck.Fluent;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Metadata;

public class MetadataRecordCodecTests
{
    private static readonly Guid G = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
    private const string GHex = "00112233445566778899aabbccddeeff";

    /// <summary>Each record type with its exact bytes, written out by hand from the layout in docs/controller.md.</summary>
    public static TheoryData<string, MetadataRecord, string> Golden => new()
    {
        {
            "RegisterBroker",
            new RegisterBrokerRecord(new BrokerId(1), G, 5, ValueList.Of(new BrokerEndpoint("PLAINTEXT", "h", 9092, SecurityProtocol.Plaintext)), "r1", true),
            "0001" + "0000" + "00000001" + GHex + "0000000000000005" + "00000001" + "0009" + "504c41494e54455854" + "0001" + "68" + "00002384" + "0000" + "0002" + "7231" + "01"
        },
        {
            "RegisterBroker without rack",
            new RegisterBrokerRecord(new BrokerId(1), G, 5, ValueList<BrokerEndpoint>.Empty, null, false),
            "0001" + "0000" + "00000001" + GHex + "0000000000000005" + "00000000" + "ffff" + "00"
        },
        { "UnregisterBroker", new UnregisterBrokerRecord(new BrokerId(2), 7), "0002" + "0000" + "00000002" + "0000000000000007" },
        { "FenceBroker", new FenceBrokerRecord(new BrokerId(3), 8), "0003" + "0000" + "00000003" + "0000000000000008" },
        { "UnfenceBroker", new UnfenceBrokerRecord(new BrokerId(3), 9), "0004" + "0000" + "00000003" + "0000000000000009" },
        { "Topic", new TopicRecord("t", new TopicId(G)), "0005" + "0000" + "0001" + "74" + GHex },
        { "RemoveTopic", new RemoveTopicRecord(new TopicId(G)), "0006" + "0000" + GHex },
        {
            "Partition",
            new PartitionRecord(new TopicId(G), 0, ValueList.Brokers(1, 2), ValueList.Brokers(1), ValueList.Brokers(), ValueList.Brokers(2), new BrokerId(1), 3, 4),
            "0007" + "0000" + GHex + "00000000" + "00000002" + "00000001" + "00000002" + "00000001" + "00000001" + "00000000" + "00000001" + "00000002"
                + "00000001" + "00000003" + "00000004"
        },
        {
            "PartitionChange leader and ISR",
            new PartitionChangeRecord(new TopicId(G), 1, Leader: new BrokerId(2), Isr: ValueList.Brokers(2)),
            "0008" + "0000" + GHex + "00000001" + "03" + "00000002" + "00000001" + "00000002"
        },
        {
            "PartitionChange replica sets",
            new PartitionChangeRecord(new TopicId(G), 1, Replicas: ValueList.Brokers(4), RemovingReplicas: ValueList.Brokers(), AddingReplicas: ValueList.Brokers()),
            "0008" + "0000" + GHex + "00000001" + "1c" + "00000001" + "00000004" + "00000000" + "00000000"
        },
        {
            "Config delete",
            new ConfigRecord(ConfigResourceType.Topic, "t", "retention.ms", null),
            "0009" + "0000" + "02" + "0001" + "74" + "000c" + "726574656e74696f6e2e6d73" + "ffff"
        },
        {
            "Config set on cluster default",
            new ConfigRecord(ConfigResourceType.Broker, "", "a", "1"),
            "0009" + "0000" + "04" + "0000" + "0001" + "61" + "0001" + "31"
        },
        { "ProducerIds", new ProducerIdsRecord(new BrokerId(1), 5, 2000), "000a" + "0000" + "00000001" + "0000000000000005" + "00000000000007d0" },
        { "LeaderChange", new LeaderChangeRecord(1, 7), "000b" + "0000" + "00000001" + "00000007" },
    };

    [Theory]
    [MemberData(nameof(Golden))]
    public void Each_record_type_encodes_to_its_golden_bytes_and_back(string name, MetadataRecord record, string hex)
    {
        byte[] bytes = MetadataRecordCodec.Encode(record);
        Assert.True(Convert.ToHexStringLower(bytes) == hex, $"{name}: {Convert.ToHexStringLower(bytes)} != {hex}");
        Assert.Equal(record, MetadataRecordCodec.Decode(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Golden_data_covers_every_record_type()
    {
        var covered = Golden.Select(row => ((MetadataRecord)row[1]).Type).ToHashSet();
        Assert.Equal(Enum.GetValues<MetadataRecordType>().ToHashSet(), covered);
    }

    [Fact]
    public void Record_type_ids_are_append_only()
    {
        // These numbers are on disk. Adding a type appends a line; changing or removing one breaks old logs.
        var expected = new (string Name, short Id)[]
        {
            ("RegisterBroker", 1), ("UnregisterBroker", 2), ("FenceBroker", 3), ("UnfenceBroker", 4), ("Topic", 5),
            ("RemoveTopic", 6), ("Partition", 7), ("PartitionChange", 8), ("Config", 9), ("ProducerIds", 10), ("LeaderChange", 11),
        };
        var actual = Enum.GetValues<MetadataRecordType>().Select(t => (t.ToString(), (short)t)).ToArray();
        Assert.Equal(expected, actual);
        Assert.Equal(2, (byte)ConfigResourceType.Topic);
        Assert.Equal(4, (byte)ConfigResourceType.Broker);
    }

    [Fact]
    public void Unknown_record_type_is_an_error_naming_the_type()
    {
        var ex = Assert.Throws<UnknownMetadataRecordException>(() => MetadataRecordCodec.Decode(Convert.FromHexString("00630000")));
        Assert.Equal(99, ex.RecordType);
        Assert.Contains("99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unsupported_version_of_a_known_type_is_an_error_naming_type_and_version()
    {
        var ex = Assert.Throws<UnknownMetadataRecordException>(() => MetadataRecordCodec.Decode(Convert.FromHexString("000b0001" + "00000001" + "00000007")));
        Assert.Equal((short)MetadataRecordType.LeaderChange, ex.RecordType);
        Assert.Equal(1, ex.Version);
        Assert.Contains("LeaderChange", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("000b0000000000010000", "truncated body")]
    [InlineData("000b00000000000100000007ff", "trailing byte")]
    [InlineData("00030000000000030000000000000008ff", "trailing byte after fence")]
    [InlineData("0001", "truncated header")]
    [InlineData("00080000" + GHex + "00000001" + "40", "unknown PartitionChange field bit")]
    [InlineData("00090000" + "03" + "0001" + "74" + "0001" + "61" + "ffff", "unknown config resource type")]
    public void Malformed_bytes_are_a_format_error(string hex, string why)
    {
        Assert.True(Record.Exception(() => MetadataRecordCodec.Decode(Convert.FromHexString(hex))) is MetadataRecordFormatException, why);
    }

    [Fact]
    public void A_bad_boolean_byte_is_a_format_error()
    {
        string hex = "0001" + "0000" + "00000001" + GHex + "0000000000000005" + "00000000" + "ffff" + "02";
        Assert.Throws<MetadataRecordFormatException>(() => MetadataRecordCodec.Decode(Convert.FromHexString(hex)));
    }

    [Fact]
    public void A_batch_round_trips_and_keeps_order()
    {
        MetadataRecord[] batch = Golden.Select(row => (MetadataRecord)row[1]).ToArray();
        byte[] bytes = MetadataRecordCodec.EncodeBatch(batch);
        Assert.Equal(batch, MetadataRecordCodec.DecodeBatch(bytes));
        Assert.Throws<MetadataRecordFormatException>(() => MetadataRecordCodec.DecodeBatch(bytes.AsSpan(0, bytes.Length - 1)));
    }

    [Fact]
    public void Random_records_round_trip()
    {
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(500),
            Prop.ForAll(Arb.From(MetadataGenerators.Record()), record =>
            {
                byte[] bytes = MetadataRecordCodec.Encode(record);
                return MetadataRecordCodec.Decode(bytes).Equals(record) && MetadataRecordCodec.Encode(MetadataRecordCodec.Decode(bytes)).AsSpan().SequenceEqual(bytes);
            }));
    }
}

/// <summary>FsCheck generators of metadata records with every field varied.</summary>
internal static class MetadataGenerators
{
    public static Gen<BrokerId> Broker() => Gen.Choose(-1, 20).Select(i => new BrokerId(i));

    public static Gen<Guid> Uuid() => Gen.Choose(int.MinValue, int.MaxValue).Two().Select(t => new Guid(t.Item1, (short)t.Item2, (short)(t.Item2 >> 16), [1, 2, 3, 4, 5, 6, 7, (byte)t.Item1]));

    public static Gen<string> Text() => Gen.Elements("", "a", "topic-1", "ünïcødé", "x.y_z", new string('q', 300));

    public static Gen<string?> NullableText() => Gen.Elements<string?>(null, "", "rack-a", "ünï");

    public static Gen<long> Long() => Gen.Choose(int.MinValue, int.MaxValue).Two().Select(t => ((long)t.Item1 << 32) ^ (uint)t.Item2);

    public static Gen<ValueList<BrokerId>> Brokers() => Gen.ListOf(Broker()).Select(l => l.ToValueList());

    public static Gen<ValueList<BrokerId>?> MaybeBrokers() => Gen.OneOf(Gen.Constant<ValueList<BrokerId>?>(null), Brokers().Select(b => (ValueList<BrokerId>?)b));

    public static Gen<MetadataRecord> Record() => Gen.OneOf(
        from id in Broker()
        from inc in Uuid()
        from epoch in Long()
        from endpoints in Gen.ListOf(from name in Text() from host in Text() from port in Gen.Choose(0, 65535) from sp in Gen.Elements(Enum.GetValues<SecurityProtocol>())
                                     select new BrokerEndpoint(name, host, port, sp))
        from rack in NullableText()
        from fenced in Gen.Elements(true, false)
        select (MetadataRecord)new RegisterBrokerRecord(id, inc, epoch, endpoints.ToValueList(), rack, fenced),
        from id in Broker() from epoch in Long() select (MetadataRecord)new UnregisterBrokerRecord(id, epoch),
        from id in Broker() from epoch in Long() select (MetadataRecord)new FenceBrokerRecord(id, epoch),
        from id in Broker() from epoch in Long() select (MetadataRecord)new UnfenceBrokerRecord(id, epoch),
        from name in Text() from id in Uuid() select (MetadataRecord)new TopicRecord(name, new TopicId(id)),
        Uuid().Select(id => (MetadataRecord)new RemoveTopicRecord(new TopicId(id))),
        from id in Uuid()
        from index in Gen.Choose(0, 1000)
        from replicas in Brokers()
        from isr in Brokers()
        from removing in Brokers()
        from adding in Brokers()
        from leader in Broker()
        from epochs in Gen.Choose(0, int.MaxValue).Two()
        select (MetadataRecord)new PartitionRecord(new TopicId(id), index, replicas, isr, removing, adding, leader, epochs.Item1, epochs.Item2),
        from id in Uuid()
        from index in Gen.Choose(0, 1000)
        from leader in Gen.OneOf(Gen.Constant<BrokerId?>(null), Broker().Select(b => (BrokerId?)b))
        from isr in MaybeBrokers()
        from replicas in MaybeBrokers()
        from removing in MaybeBrokers()
        from adding in MaybeBrokers()
        select (MetadataRecord)new PartitionChangeRecord(new TopicId(id), index, leader, isr, replicas, removing, adding),
        from type in Gen.Elements(ConfigResourceType.Topic, ConfigResourceType.Broker)
        from resource in Text()
        from name in Text()
        from value in NullableText()
        select (MetadataRecord)new ConfigRecord(type, resource, name, value),
        from id in Broker() from epoch in Long() from next in Long() select (MetadataRecord)new ProducerIdsRecord(id, epoch, next),
        from leader in Gen.Choose(-1, 10) from epoch in Gen.Choose(0, int.MaxValue) select (MetadataRecord)new LeaderChangeRecord(leader, epoch));
}
