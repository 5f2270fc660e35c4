using Kraft.Broker.Groups;

namespace Kraft.Broker.Tests.Groups;

public class GroupPartitionerTests
{
    // Expected values computed with a real JVM: s.hashCode() and Utils.abs(h) % n.
    [Theory]
    [InlineData("", 0, 0, 0)]
    [InlineData("hello", 99162322, 22, 0)]
    [InlineData("my-group", -1906497762, 12, 1)]
    [InlineData("console-consumer-12345", 158455506, 6, 6)]
    [InlineData("polygenelubricants", int.MinValue, 0, 0)]
    [InlineData("ünïcødé-group", 1068572585, 35, 3)]
    [InlineData("group-with-a-much-longer-name-0123456789", -1103828354, 4, 6)]
    public void PartitionFor_matches_Kafka(string groupId, int javaHash, int partitionOf50, int partitionOf7)
    {
        Assert.Equal(javaHash, GroupPartitioner.JavaStringHashCode(groupId));
        Assert.Equal(partitionOf50, GroupPartitioner.PartitionFor(groupId, 50));
        Assert.Equal(partitionOf7, GroupPartitioner.PartitionFor(groupId, 7));
    }

    [Fact]
    public void Int32_MinValue_hash_maps_to_partition_zero_like_Kafka_Utils_abs()
    {
        Assert.Equal(0, GroupPartitioner.KafkaAbs(int.MinValue));
        Assert.Equal(5, GroupPartitioner.KafkaAbs(-5));
    }

    [Fact]
    public void Non_positive_partition_count_is_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GroupPartitioner.PartitionFor("g", 0));
    }
}
