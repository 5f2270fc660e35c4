namespace Kraft.Protocol.Primitives;

/// <summary>
/// Raised inside the codecs when the bytes on the wire cannot be a valid message (truncated input,
/// a negative or oversized length, a varint longer than five bytes).
/// </summary>
/// <remarks>
/// This exception never leaves the library's public decode entry points: <see cref="Framing.RequestDecoder"/>
/// and <see cref="Framing.ResponseDecoder"/> catch it and return a <see cref="Framing.DecodeError"/>, so
/// malformed input from a peer is an expected outcome for the server, not a crash. It exists because the
/// generated readers are deep and straight-line; threading an error result through every field read would
/// make them much harder to read for no benefit on the valid-input hot path.
/// </remarks>
public sealed class KafkaProtocolException : Exception
{
    public KafkaProtocolException(string message) : base(message) { }
}
