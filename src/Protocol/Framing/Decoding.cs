using System.Buffers.Binary;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Framing;

/// <summary>Why a frame could not be turned into a message.</summary>
public enum DecodeErrorKind
{
    /// <summary>The bytes are not a valid encoding (truncated, bad lengths). The connection should close.</summary>
    Malformed,

    /// <summary>The api key is not one Kraft serves.</summary>
    UnsupportedApiKey,

    /// <summary>The api key is served but not at this version; answer UNSUPPORTED_VERSION.</summary>
    UnsupportedVersion,
}

/// <summary>
/// A decode failure. <see cref="Header"/> is set whenever the request header itself was readable, so the
/// caller can still answer with the right correlation id.
/// </summary>
public sealed record DecodeError(DecodeErrorKind Kind, string Detail, RequestHeader? Header);

/// <summary>
/// A decoded request. <see cref="Frame"/> is the frame the message was read from: bytes and records fields are
/// slices of it, so it stays alive as long as the message does (no copy of record batches is made).
/// </summary>
public sealed record DecodedRequest(RequestHeader Header, IRequestMessage Message, ReadOnlyMemory<byte> Frame);

/// <summary>Either a decoded request or the reason there is none; never an exception.</summary>
public readonly record struct RequestDecodeResult(DecodedRequest? Request, DecodeError? Error)
{
    public bool IsSuccess => Request is not null;
}

/// <summary>A decoded response: its correlation id and body.</summary>
public sealed record DecodedResponse(ResponseHeader Header, IResponseMessage Message, ReadOnlyMemory<byte> Frame);

/// <summary>Either a decoded response or the reason there is none; never an exception.</summary>
public readonly record struct ResponseDecodeResult(DecodedResponse? Response, DecodeError? Error)
{
    public bool IsSuccess => Response is not null;
}

/// <summary>
/// Turns a request frame (as cut by <see cref="FrameReader"/>) into a header and a typed message.
/// </summary>
/// <remarks>
/// The broker's entry point for parsing. It checks the api key and version against the
/// <see cref="ApiVersionsTable"/> before parsing the body, and converts every parse failure into a
/// <see cref="DecodeError"/>: nothing a peer sends can throw out of here. Trailing bytes after the body are
/// ignored, as Kafka does. Stateless and thread-safe.
/// </remarks>
public static class RequestDecoder
{
    /// <summary>Smallest possible request header: api key, api version, correlation id, client id length.</summary>
    private const int MinimumHeaderBytes = 10;

    public static RequestDecodeResult Decode(ReadOnlyMemory<byte> frame, ApiVersionsTable table)
    {
        if (frame.Length < MinimumHeaderBytes)
        {
            return Fail(DecodeErrorKind.Malformed, $"a request of {frame.Length} bytes cannot hold a header", null);
        }

        RequestHeader header;
        var reader = new KafkaReader(frame);
        try
        {
            header = RequestHeader.Read(ref reader);
        }
        catch (KafkaProtocolException e)
        {
            // Keep what we can: the fixed part of the header tells the caller whom to answer.
            var span = frame.Span;
            var partial = new RequestHeader(
                (ApiKey)BinaryPrimitives.ReadInt16BigEndian(span),
                BinaryPrimitives.ReadInt16BigEndian(span[2..]),
                BinaryPrimitives.ReadInt32BigEndian(span[4..]),
                null);
            return Fail(DecodeErrorKind.Malformed, "request header: " + e.Message, partial);
        }

        if (!table.TryGetRange(header.ApiKey, out var range))
        {
            return Fail(DecodeErrorKind.UnsupportedApiKey, $"api key {(short)header.ApiKey} is not served", header);
        }

        if (header.ApiVersion < range.MinVersion || header.ApiVersion > range.MaxVersion)
        {
            return Fail(
                DecodeErrorKind.UnsupportedVersion,
                $"{header.ApiKey} v{header.ApiVersion} is outside the served range {range.MinVersion}-{range.MaxVersion}",
                header);
        }

        var message = MessageFactory.CreateRequest(header.ApiKey);
        if (message is null)
        {
            return Fail(DecodeErrorKind.UnsupportedApiKey, $"no codec for api key {(short)header.ApiKey}", header);
        }

        try
        {
            message.Read(ref reader, header.ApiVersion);
        }
        catch (KafkaProtocolException e)
        {
            return Fail(DecodeErrorKind.Malformed, $"{header.ApiKey} v{header.ApiVersion} body: {e.Message}", header);
        }

        return new RequestDecodeResult(new DecodedRequest(header, message, frame), null);
    }

    /// <summary>
    /// False for the one request Kafka never answers: Produce with acks=0 (the client does not read a reply,
    /// so sending one would desynchronise nothing but waste bandwidth; Kafka sends none).
    /// </summary>
    public static bool ExpectsResponse(IRequestMessage request) => request is not ProduceRequest { Acks: 0 };

    private static RequestDecodeResult Fail(DecodeErrorKind kind, string detail, RequestHeader? header) =>
        new(null, new DecodeError(kind, detail, header));
}

/// <summary>
/// Turns a response frame into a header and a typed message; the client's counterpart of <see cref="RequestDecoder"/>.
/// A response does not say which API it answers, so the caller supplies the api key and version it asked with.
/// </summary>
public static class ResponseDecoder
{
    /// <summary>The correlation id at the front of any response frame, or null if the frame is too short.</summary>
    public static int? PeekCorrelationId(ReadOnlySpan<byte> frame) =>
        frame.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(frame) : null;

    public static ResponseDecodeResult Decode(ReadOnlyMemory<byte> frame, ApiKey apiKey, short apiVersion)
    {
        var message = MessageFactory.CreateResponse(apiKey);
        if (message is null)
        {
            return new(null, new DecodeError(DecodeErrorKind.UnsupportedApiKey, $"no codec for api key {(short)apiKey}", null));
        }

        var reader = new KafkaReader(frame);
        try
        {
            var header = ResponseHeader.Read(ref reader, HeaderVersions.ResponseHeaderVersion(apiKey, apiVersion));
            message.Read(ref reader, apiVersion);
            return new(new DecodedResponse(header, message, frame), null);
        }
        catch (KafkaProtocolException e)
        {
            return new(null, new DecodeError(DecodeErrorKind.Malformed, $"{apiKey} v{apiVersion} response: {e.Message}", null));
        }
    }
}

/// <summary>
/// Writes whole frames: the int32 size prefix, the header and the body.
/// </summary>
/// <remarks>
/// The size is patched in after the body is written (the writer is one contiguous buffer), so a message is
/// encoded once. Bodies are written as they are; a field whose value the chosen version cannot carry is
/// left out, as Kafka does for ignorable fields.
/// </remarks>
public static class FrameEncoder
{
    public static void WriteRequest(KafkaWriter writer, RequestHeader header, IRequestMessage body)
    {
        if (header.ApiKey != body.ApiKey)
        {
            throw new ArgumentException($"header says {header.ApiKey} but the body is {body.ApiKey}");
        }

        int start = writer.Length;
        writer.WriteInt32(0);
        header.Write(writer);
        body.Write(writer, header.ApiVersion);
        writer.PatchInt32(start, writer.Length - start - 4);
    }

    public static void WriteResponse(KafkaWriter writer, short apiVersion, int correlationId, IResponseMessage body)
    {
        int start = writer.Length;
        writer.WriteInt32(0);
        new ResponseHeader(correlationId).Write(writer, HeaderVersions.ResponseHeaderVersion(body.ApiKey, apiVersion));
        body.Write(writer, apiVersion);
        writer.PatchInt32(start, writer.Length - start - 4);
    }

    /// <summary>A request frame as a new array (tests, tools).</summary>
    public static byte[] EncodeRequest(RequestHeader header, IRequestMessage body)
    {
        using var writer = new KafkaWriter();
        WriteRequest(writer, header, body);
        return writer.ToArray();
    }

    /// <summary>A response frame as a new array (tests, tools).</summary>
    public static byte[] EncodeResponse(short apiVersion, int correlationId, IResponseMessage body)
    {
        using var writer = new KafkaWriter();
        WriteResponse(writer, apiVersion, correlationId, body);
        return writer.ToArray();
    }
}
