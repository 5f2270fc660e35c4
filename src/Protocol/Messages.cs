using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Messages;

/// <summary>
/// A Kafka message body or one of its nested structures, with a codec for every version it supports.
/// </summary>
/// <remarks>
/// Implemented by the generated classes in src/Protocol/Generated. <see cref="Read"/> fills the object from
/// the reader (fields absent in <c>version</c> keep their defaults); <see cref="Write"/> is its inverse. Both
/// take the version explicitly because one object may be written at whatever version the peer negotiated.
/// Objects are plain mutable data: one owner at a time, no internal locking.
/// </remarks>
public interface IKafkaMessage
{
    void Read(ref KafkaReader reader, short version);

    void Write(KafkaWriter writer, short version);
}

/// <summary>The body of a request (what follows the request header).</summary>
public interface IRequestMessage : IKafkaMessage
{
    ApiKey ApiKey { get; }
}

/// <summary>The body of a response (what follows the response header).</summary>
public interface IResponseMessage : IKafkaMessage
{
    ApiKey ApiKey { get; }
}
