using FsCheck;
using FsCheck.Fluent;
using Kraft.Broker.Groups;

namespace Kraft.Broker.Tests.Groups;

public class GroupRecordCodecTests
{
    [Fact]
    public void OffsetCommit_key_and_value_layout_is_Kafkas_byte_for_byte()
    {
        var (key, value) = GroupRecordCodec.Encode(new OffsetCommitRecord("g", "t", 1, new OffsetCommitValue(5, 2, "m", 7)));
        Assert.Equal(Convert.FromHexString("0001" + "000167" + "000174" + "00000001"), key);
        Assert.Equal(Convert.FromHexString("0003" + "0000000000000005" + "00000002" + "00016D" + "0000000000000007"), value);
    }

    [Fact]
    public void GroupMetadata_layout_is_Kafkas_v3_byte_for_byte()
    {
        var record = new GroupMetadataRecord("g", new GroupMetadataValue("consumer", 3, "range", "m1", 9,
            [new GroupMemberValue("m1", null, "c", "h", 300, 100, [0xAA], [0xBB, 0xCC])]));
        var (key, value) = GroupRecordCodec.Encode(record);
        Assert.Equal(Convert.FromHexString("0002" + "000167"), key);
        string expected = "0003" + "0008" + Convert.ToHexString("consumer"u8) + "00000003" + "0005" + Convert.ToHexString("range"u8) + "0002" + Convert.ToHexString("m1"u8)
            + "0000000000000009" + "00000001"
            + "0002" + Convert.ToHexString("m1"u8) + "FFFF" + "000163" + "000168" + "0000012C" + "00000064" + "00000001AA" + "00000002BBCC";
        Assert.Equal(expected, Convert.ToHexString(value!));
    }

    [Fact]
    public void Older_value_versions_decode()
    {
        // OffsetCommitValue v1 carries an expire timestamp that we read past; v0 has no leader epoch.
        var v1 = GroupRecordCodec.DecodeOffsetValue(Convert.FromHexString("0001" + "000000000000000A" + "0000" + "0000000000000002" + "0000000000000003"));
        Assert.Equal(new OffsetCommitValue(10, -1, "", 2), v1);
        var v0 = GroupRecordCodec.DecodeOffsetValue(Convert.FromHexString("0000" + "000000000000000A" + "000178" + "0000000000000002"));
        Assert.Equal(new OffsetCommitValue(10, -1, "x", 2), v0);
        // GroupMetadataValue v0: no currentStateTimestamp, no rebalance timeout, no instance id.
        var g0 = GroupRecordCodec.DecodeGroupValue(Convert.FromHexString("0000" + "000171" + "00000001" + "FFFF" + "FFFF" + "00000000"));
        Assert.Equal(("q", 1, (string?)null, -1L, 0), (g0.ProtocolType, g0.Generation, g0.Leader, g0.CurrentStateTimestampMs, g0.Members.Count));
    }

    [Fact]
    public void Malformed_records_are_rejected()
    {
        Assert.Throws<FormatException>(() => GroupRecordCodec.Decode(Convert.FromHexString("0007000167"), null));
        Assert.Throws<FormatException>(() => GroupRecordCodec.Decode(Convert.FromHexString("000200"), null));
        Assert.Throws<FormatException>(() => GroupRecordCodec.Decode(Convert.FromHexString("000200016700"), null)); // trailing byte
        Assert.Throws<FormatException>(() => GroupRecordCodec.DecodeOffsetValue(Convert.FromHexString("0009")));
    }

    private static readonly Gen<string> Text = Gen.Elements("", "g", "topic-1", "ünïcødé", new string('q', 300));
    private static readonly Gen<string?> NullableText = Gen.Elements<string?>(null, "", "i-1", "ünï");
    private static readonly Gen<byte[]> Bytes = Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i));
    private static readonly Gen<long> Long = Gen.Choose(int.MinValue, int.MaxValue).Two().Select(t => ((long)t.Item1 << 32) ^ (uint)t.Item2);

    private static Gen<GroupRecord> RecordGen()
    {
        var offset =
            from g in Text
            from t in Text
            from p in Gen.Choose(-1, 1000)
            from tomb in Gen.Elements(true, false)
            from o in Long
            from e in Gen.Choose(-1, 50)
            from m in Text
            from ts in Long
            select (GroupRecord)new OffsetCommitRecord(g, t, p, tomb ? null : new OffsetCommitValue(o, e, m, ts));
        var member =
            from id in Text
            from inst in NullableText
            from c in Text
            from host in Text
            from rt in Gen.Choose(0, int.MaxValue)
            from st in Gen.Choose(0, int.MaxValue)
            from sub in Bytes
            from asg in Bytes
            select new GroupMemberValue(id, inst, c, host, rt, st, sub, asg);
        var group =
            from g in Text
            from tomb in Gen.Elements(true, false)
            from type in Text
            from gen in Gen.Choose(0, int.MaxValue)
            from proto in NullableText
            from leader in NullableText
            from ts in Long
            from members in Gen.ListOf(member)
            select (GroupRecord)new GroupMetadataRecord(g, tomb ? null : new GroupMetadataValue(type, gen, proto, leader, ts, members.ToList()));
        return Gen.OneOf(offset, group);
    }

    [Fact]
    public void Every_record_round_trips()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(Arb.From(RecordGen()), record =>
        {
            var (key, value) = GroupRecordCodec.Encode(record);
            var decoded = GroupRecordCodec.Decode(key, value);
            var (key2, value2) = GroupRecordCodec.Encode(decoded);
            Assert.Equal(key, key2);
            Assert.Equal(value, value2);
            Assert.Equal(record.GetType(), decoded.GetType());
            Assert.Equal(record.GroupId, decoded.GroupId);
        }));
    }
}
