using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Controller;

/// <summary>
/// The Kafka error codes the controller returns, with Kafka's numeric values so that the broker can map them
/// 1:1 onto the wire (Kraft.Quorum does not reference Kraft.Protocol). Append-only; values are Kafka's.
/// </summary>
public enum ControllerErrorCode : short
{
    UnknownServerError = -1,
    None = 0,
    UnknownTopicOrPartition = 3,
    NotLeaderOrFollower = 6,
    InvalidTopicException = 17,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    NotController = 41,
    InvalidRequest = 42,
    FencedLeaderEpoch = 74,
    StaleBrokerEpoch = 77,
    PreferredLeaderNotAvailable = 80,
    EligibleLeadersNotAvailable = 83,
    ElectionNotNeeded = 84,
    NoReassignmentInProgress = 85,
    InvalidUpdateVersion = 95,
    UnknownTopicId = 100,
    DuplicateBrokerRegistration = 101,
    BrokerIdNotRegistered = 102,
    IneligibleReplica = 107,
}

/// <summary>An error code with the message that explains it (Kafka's ApiError). <see cref="None"/> is success.</summary>
public readonly record struct ApiError(ControllerErrorCode Code, string? Message)
{
    public static ApiError None => new(ControllerErrorCode.None, null);

    public bool IsSuccess => Code == ControllerErrorCode.None;

    public static ApiError Of(ControllerErrorCode code, string message) => new(code, message);

    public override string ToString() => IsSuccess ? "NONE" : $"{Code}({(short)Code}): {Message}";
}

/// <summary>
/// What a controller operation decided: the records to append (as ONE atomic batch, see docs/controller.md) and
/// the response to send once they have committed. An empty record list means nothing to write (a refused or
/// no-op request); the response may then be sent once everything proposed before it has committed.
/// Immutable.
/// </summary>
public sealed record ControllerResult<TResponse>(IReadOnlyList<MetadataRecord> Records, TResponse Response)
{
    public static ControllerResult<TResponse> Of(TResponse response) => new([], response);
}
