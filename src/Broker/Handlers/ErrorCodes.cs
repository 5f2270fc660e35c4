using Kraft.Broker.Replication;
using Kraft.Protocol;
using Kraft.Storage.Log;

namespace Kraft.Broker.Handlers;

/// <summary>Maps the storage and replication layers' outcomes onto Kafka error codes.</summary>
public static class ErrorCodes
{
    public static short Of(ReplicationError error) => (short)error; // same numeric values as Kafka

    public static short Of(AppendError error) => error switch
    {
        AppendError.None => (short)ErrorCode.NONE,
        AppendError.CorruptMessage => (short)ErrorCode.CORRUPT_MESSAGE,
        AppendError.MessageTooLarge => (short)ErrorCode.MESSAGE_TOO_LARGE,
        AppendError.InvalidRecord => (short)ErrorCode.INVALID_RECORD,
        _ => (short)ErrorCode.UNKNOWN_SERVER_ERROR,
    };
}
