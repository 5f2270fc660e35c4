using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Framing;

/// <summary>
/// The request header: api key, api version, correlation id, client id (v1+) and tagged fields (v2).
/// </summary>
/// <remarks>
/// The client id is a classic (int16-length) nullable string even in header v2: KIP-482 kept it that way so a
/// broker can read it before it knows whether the request is flexible.
/// </remarks>
public sealed record RequestHeader(ApiKey ApiKey, short ApiVersion, int CorrelationId, string? ClientId)
{
    public List<TaggedField>? UnknownTaggedFields { get; init; }

    /// <summary>The header version this request uses (see <see cref="HeaderVersions"/>).</summary>
    public short HeaderVersion => HeaderVersions.RequestHeaderVersion(ApiKey, ApiVersion);

    public void Write(KafkaWriter writer)
    {
        short headerVersion = HeaderVersion;
        writer.WriteInt16((short)ApiKey);
        writer.WriteInt16(ApiVersion);
        writer.WriteInt32(CorrelationId);
        if (headerVersion >= 1)
        {
            writer.WriteString(ClientId, flexible: false, nullable: true);
        }

        if (headerVersion >= 2)
        {
            writer.WriteTaggedFieldSection(UnknownTaggedFields);
        }
    }

    /// <summary>Reads a header; the header version follows from the api key and version it starts with.</summary>
    public static RequestHeader Read(ref KafkaReader reader)
    {
        var apiKey = (ApiKey)reader.ReadInt16();
        short apiVersion = reader.ReadInt16();
        int correlationId = reader.ReadInt32();
        short headerVersion = HeaderVersions.RequestHeaderVersion(apiKey, apiVersion);
        string? clientId = reader.ReadNullableString(flexible: false);
        List<TaggedField>? tagged = headerVersion >= 2 ? reader.ReadUnknownTaggedFields() : null;
        return new RequestHeader(apiKey, apiVersion, correlationId, clientId) { UnknownTaggedFields = tagged };
    }
}

/// <summary>The response header: the correlation id (v0) and a tagged-field section (v1).</summary>
public sealed record ResponseHeader(int CorrelationId)
{
    public List<TaggedField>? UnknownTaggedFields { get; init; }

    public void Write(KafkaWriter writer, short headerVersion)
    {
        writer.WriteInt32(CorrelationId);
        if (headerVersion >= 1)
        {
            writer.WriteTaggedFieldSection(UnknownTaggedFields);
        }
    }

    public static ResponseHeader Read(ref KafkaReader reader, short headerVersion)
    {
        int correlationId = reader.ReadInt32();
        List<TaggedField>? tagged = headerVersion >= 1 ? reader.ReadUnknownTaggedFields() : null;
        return new ResponseHeader(correlationId) { UnknownTaggedFields = tagged };
    }
}
