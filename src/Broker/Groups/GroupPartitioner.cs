namespace Kraft.Broker.Groups;

/// <summary>
/// Which __consumer_offsets partition (and so which coordinator) owns a group: exactly Kafka's
/// Utils.abs(groupId.hashCode) % offsets.topic.num.partitions, so that clients and tools that compute
/// it themselves agree with us. Java's String.hashCode runs over UTF-16 code units with int overflow,
/// which is what .NET strings hold; Kafka's Utils.abs maps Int32.MinValue to 0 (not to itself).
/// </summary>
public static class GroupPartitioner
{
    public static int PartitionFor(string groupId, int offsetsTopicPartitionCount)
    {
        ArgumentNullException.ThrowIfNull(groupId);
        if (offsetsTopicPartitionCount <= 0) throw new ArgumentOutOfRangeException(nameof(offsetsTopicPartitionCount));
        return KafkaAbs(JavaStringHashCode(groupId)) % offsetsTopicPartitionCount;
    }

    public static int JavaStringHashCode(string s)
    {
        int h = 0;
        foreach (char c in s) h = unchecked((31 * h) + c);
        return h;
    }

    /// <summary>org.apache.kafka.common.utils.Utils.abs: Int32.MinValue has no positive counterpart and maps to 0.</summary>
    public static int KafkaAbs(int n) => n == int.MinValue ? 0 : Math.Abs(n);
}
