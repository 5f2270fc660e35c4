namespace Kraft.Broker.Groups;

/// <summary>
/// The Kafka error codes that the group coordinator answers with. The numeric values are Kafka's
/// (org.apache.kafka.common.protocol.Errors) so that the network layer can put them on the wire
/// unchanged. Values are append-only: they reach the wire.
/// </summary>
public enum GroupErrorCode : short
{
    NONE = 0,
    UNKNOWN_SERVER_ERROR = -1,
    UNKNOWN_TOPIC_OR_PARTITION = 3,
    OFFSET_METADATA_TOO_LARGE = 12,
    /// <summary>Decided by the caller: the offsets partition is still being loaded.</summary>
    COORDINATOR_LOAD_IN_PROGRESS = 14,
    /// <summary>Answered for a Dead group: it is being unloaded or deleted, the client should look the coordinator up again.</summary>
    COORDINATOR_NOT_AVAILABLE = 15,
    /// <summary>Decided by the caller: this broker does not lead the group's offsets partition.</summary>
    NOT_COORDINATOR = 16,
    ILLEGAL_GENERATION = 22,
    INCONSISTENT_GROUP_PROTOCOL = 23,
    INVALID_GROUP_ID = 24,
    UNKNOWN_MEMBER_ID = 25,
    INVALID_SESSION_TIMEOUT = 26,
    REBALANCE_IN_PROGRESS = 27,
    INVALID_COMMIT_OFFSET_SIZE = 28,
    GROUP_AUTHORIZATION_FAILED = 30,
    INVALID_REQUEST = 42,
    NON_EMPTY_GROUP = 68,
    GROUP_ID_NOT_FOUND = 69,
    /// <summary>KIP-394: a dynamic member joining with an empty member id must rejoin with the id it is given.</summary>
    MEMBER_ID_REQUIRED = 79,
    GROUP_MAX_SIZE_REACHED = 81,
    /// <summary>KIP-345: a static member with this group.instance.id has been replaced by a newer member id.</summary>
    FENCED_INSTANCE_ID = 82,
    /// <summary>KIP-447: OffsetFetch with require_stable finds a commit for this partition still pending.</summary>
    UNSTABLE_OFFSET_COMMIT = 88,
}
