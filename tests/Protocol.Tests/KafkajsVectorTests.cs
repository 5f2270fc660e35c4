using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Tests;

/// <summary>
/// Request bodies produced by another implementation of the protocol: kafkajs 2.2.4's request encoders
/// (npm package kafkajs, src/protocol/requests/*), captured once as hex. Our decoder must consume every
/// byte and our encoder must reproduce them exactly, which checks field order, widths and nullability
/// against an implementation we did not write. kafkajs only covers classic versions (and the two flexible
/// reassignment APIs), so the flexible encodings are checked by the hand-worked golden tests instead.
/// To refresh: run Vectors/kafkajs-vectors.js (instructions at its top) and paste the rows.
/// </summary>
public class KafkajsVectorTests
{
    public static TheoryData<string, short, string> Vectors => new()
    {
        { "ApiVersions", 0, "" },
        { "ApiVersions", 1, "" },
        { "ApiVersions", 2, "" },
        { "Metadata", 0, "0000000200016100026263" },
        { "Metadata", 1, "0000000200016100026263" },
        { "Metadata", 2, "0000000200016100026263" },
        { "Metadata", 3, "0000000200016100026263" },
        { "Metadata", 4, "0000000100017400" },
        { "Metadata", 5, "0000000100017400" },
        { "Metadata", 6, "0000000100017400" },
        { "Fetch", 4, "ffffffff000001f40000000103200000010000000100066f72646572730000000100000002000000000012d68700100000" },
        { "Fetch", 5, "ffffffff000001f40000000103200000010000000100066f72646572730000000100000002000000000012d687000000000000000500100000" },
        { "Fetch", 6, "ffffffff000001f40000000103200000010000000100066f72646572730000000100000002000000000012d687000000000000000500100000" },
        { "Fetch", 7, "ffffffff000001f400000001032000000100000000ffffffff0000000100066f72646572730000000100000002000000000012d68700000000000000050010000000000000" },
        { "Fetch", 8, "ffffffff000001f400000001032000000100000000ffffffff0000000100066f72646572730000000100000002000000000012d68700000000000000050010000000000000" },
        { "Fetch", 9, "ffffffff000001f400000001032000000100000000ffffffff0000000100066f7264657273000000010000000200000007000000000012d68700000000000000050010000000000000" },
        { "Fetch", 10, "ffffffff000001f400000001032000000100000000ffffffff0000000100066f7264657273000000010000000200000007000000000012d68700000000000000050010000000000000" },
        { "Fetch", 11, "ffffffff000001f400000001032000000100000000ffffffff0000000100066f7264657273000000010000000200000007000000000012d6870000000000000005001000000000000000027231" },
        { "ListOffsets", 1, "ffffffff000000010001740000000200000000ffffffffffffffff0000000100000174876e8000" },
        { "ListOffsets", 2, "ffffffff01000000010001740000000200000000ffffffffffffffff0000000100000174876e8000" },
        { "ListOffsets", 3, "ffffffff01000000010001740000000200000000ffffffffffffffff0000000100000174876e8000" },
        { "FindCoordinator", 0, "0003677270" },
        { "FindCoordinator", 1, "000367727001" },
        { "FindCoordinator", 2, "000367727001" },
        { "OffsetCommit", 2, "0001670000000300036d656dffffffffffffffff000000010001740000000200000000000000000000002affff00000001000000000000002b00016d" },
        { "OffsetCommit", 3, "0001670000000300036d656dffffffffffffffff000000010001740000000200000000000000000000002affff00000001000000000000002b00016d" },
        { "OffsetCommit", 4, "0001670000000300036d656dffffffffffffffff000000010001740000000200000000000000000000002affff00000001000000000000002b00016d" },
        { "OffsetCommit", 5, "0001670000000300036d656d000000010001740000000200000000000000000000002affff00000001000000000000002b00016d" },
        { "OffsetFetch", 1, "00016700000001000174000000020000000000000003" },
        { "OffsetFetch", 2, "00016700000001000174000000020000000000000003" },
        { "OffsetFetch", 3, "00016700000001000174000000020000000000000003" },
        { "OffsetFetch", 4, "00016700000001000174000000020000000000000003" },
        { "JoinGroup", 0, "0001670000753000000008636f6e73756d657200000001000572616e67650000000400010203" },
        { "JoinGroup", 1, "000167000075300000ea6000000008636f6e73756d657200000001000572616e67650000000400010203" },
        { "JoinGroup", 2, "000167000075300000ea6000000008636f6e73756d657200000001000572616e67650000000400010203" },
        { "JoinGroup", 3, "000167000075300000ea6000000008636f6e73756d657200000001000572616e67650000000400010203" },
        { "JoinGroup", 4, "000167000075300000ea6000000008636f6e73756d657200000001000572616e67650000000400010203" },
        { "JoinGroup", 5, "000167000075300000ea6000016d0004696e73740008636f6e73756d657200000001000572616e67650000000400010203" },
        { "SyncGroup", 0, "0001670000000400016d0000000100016d00000003090807" },
        { "SyncGroup", 1, "0001670000000400016d0000000100016d00000003090807" },
        { "SyncGroup", 2, "0001670000000400016d0000000100016d00000003090807" },
        { "SyncGroup", 3, "0001670000000400016dffff0000000100016d00000003090807" },
        { "Heartbeat", 0, "0001670000000400016d" },
        { "Heartbeat", 1, "0001670000000400016d" },
        { "Heartbeat", 2, "0001670000000400016d" },
        { "Heartbeat", 3, "0001670000000400016d000169" },
        { "LeaveGroup", 0, "00016700016d" },
        { "LeaveGroup", 1, "00016700016d" },
        { "LeaveGroup", 2, "00016700016d" },
        { "LeaveGroup", 3, "0001670000000200016dffff00016e000178" },
        { "ListGroups", 0, "" },
        { "ListGroups", 1, "" },
        { "ListGroups", 2, "" },
        { "DescribeGroups", 0, "000000020002673100026732" },
        { "DescribeGroups", 1, "000000020002673100026732" },
        { "DescribeGroups", 2, "000000020002673100026732" },
        { "CreateTopics", 0, "0000000100036e6577000000030002000000010000000000000002000000010000000200000001000e636c65616e75702e706f6c6963790007636f6d7061637400001388" },
        { "CreateTopics", 1, "0000000100036e6577000000030002000000010000000000000002000000010000000200000001000e636c65616e75702e706f6c6963790007636f6d706163740000138801" },
        { "CreateTopics", 2, "0000000100036e6577000000030002000000010000000000000002000000010000000200000001000e636c65616e75702e706f6c6963790007636f6d706163740000138801" },
        { "CreateTopics", 3, "0000000100036e6577000000030002000000010000000000000002000000010000000200000001000e636c65616e75702e706f6c6963790007636f6d706163740000138801" },
        { "DeleteTopics", 0, "0000000200016100016200001388" },
        { "DeleteTopics", 1, "0000000200016100016200001388" },
        { "InitProducerId", 0, "000274780000ea60" },
        { "InitProducerId", 1, "000274780000ea60" },
        { "DescribeConfigs", 0, "000000020200017400000001000c726574656e74696f6e2e6d7304000131ffffffff" },
        { "DescribeConfigs", 1, "000000020200017400000001000c726574656e74696f6e2e6d7304000131ffffffff01" },
        { "DescribeConfigs", 2, "000000020200017400000001000c726574656e74696f6e2e6d7304000131ffffffff01" },
        { "CreatePartitions", 0, "00000002000174000000050000000200000002000000010000000200000002000000020000000300017500000002ffffffff0000138800" },
        { "CreatePartitions", 1, "00000002000174000000050000000200000002000000010000000200000002000000020000000300017500000002ffffffff0000138800" },
        { "AlterPartitionReassignments", 0, "00001388020274020000000004000000030000000100000002000000" },
        { "ListPartitionReassignments", 0, "000013880202740300000000000000010000" },
        { "ListPartitionReassignments", 0, "000013880000" },
        { "Produce", 3, "ffffffff000075300000000100066f726465727300000001000000010000004600000000000000000000003a000000000265b7afd100000000000000000174876e800000000174876e8000ffffffffffffffff0000000000000000000110000000026b027600" },
        { "Produce", 4, "ffffffff000075300000000100066f726465727300000001000000010000004600000000000000000000003a000000000265b7afd100000000000000000174876e800000000174876e8000ffffffffffffffff0000000000000000000110000000026b027600" },
        { "Produce", 5, "ffffffff000075300000000100066f726465727300000001000000010000004600000000000000000000003a000000000265b7afd100000000000000000174876e800000000174876e8000ffffffffffffffff0000000000000000000110000000026b027600" },
        { "Produce", 6, "ffffffff000075300000000100066f726465727300000001000000010000004600000000000000000000003a000000000265b7afd100000000000000000174876e800000000174876e8000ffffffffffffffff0000000000000000000110000000026b027600" },
        { "Produce", 7, "ffffffff000075300000000100066f726465727300000001000000010000004600000000000000000000003a000000000265b7afd100000000000000000174876e800000000174876e8000ffffffffffffffff0000000000000000000110000000026b027600" },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Kafkajs_request_bytes_decode_fully_and_encode_back_identically(string api, short version, string hex)
    {
        var bytes = Convert.FromHexString(hex);
        var message = MessageFactory.CreateRequest(Enum.Parse<ApiKey>(api))!;
        var reader = new KafkaReader(bytes);
        message.Read(ref reader, version);
        Assert.Equal(0, reader.Remaining);

        using var writer = new KafkaWriter();
        message.Write(writer, version);
        Assert.Equal(hex, Convert.ToHexString(writer.WrittenSpan), ignoreCase: true);
    }

    [Fact]
    public void Kafkajs_fetch_v11_fields_land_where_kafka_puts_them()
    {
        var hex = (string)Vectors.Single(row => (string)row[0] == "Fetch" && (short)row[1] == 11)[2];
        var request = new FetchRequest();
        var reader = new KafkaReader(Convert.FromHexString(hex));
        request.Read(ref reader, 11);

        Assert.Equal(500, request.MaxWaitMs);
        Assert.Equal(52428800, request.MaxBytes);
        Assert.Equal("r1", request.RackId);
        var partition = Assert.Single(Assert.Single(request.Topics).Partitions);
        Assert.Equal(1234567, partition.FetchOffset);
        Assert.Equal(7, partition.CurrentLeaderEpoch);
        Assert.Equal(1048576, partition.PartitionMaxBytes);
    }

    [Fact]
    public void Kafkajs_produce_v7_records_come_out_as_the_exact_batch_bytes()
    {
        var hex = (string)Vectors.Single(row => (string)row[0] == "Produce" && (short)row[1] == 7)[2];
        var bytes = Convert.FromHexString(hex);
        var request = new ProduceRequest();
        var reader = new KafkaReader(bytes);
        request.Read(ref reader, 7);

        var records = request.TopicData[0].PartitionData[0].Records!.Value;
        Assert.Equal(-1, request.Acks);
        Assert.Equal("orders", request.TopicData[0].Name);
        // The batch is the tail of the request; its own length field (bytes 8-11) counts the rest of the batch.
        Assert.True(bytes.AsSpan(bytes.Length - records.Length).SequenceEqual(records.Span));
        int batchLength = (records.Span[8] << 24) | (records.Span[9] << 16) | (records.Span[10] << 8) | records.Span[11];
        Assert.Equal(records.Length - 12, batchLength);
        Assert.Equal(2, records.Span[16]); // magic
    }
}
