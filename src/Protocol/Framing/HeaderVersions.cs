using Kraft.Protocol.Messages;

namespace Kraft.Protocol.Framing;

/// <summary>
/// Which request and response header version goes with each API version (KIP-482).
/// </summary>
/// <remarks>
/// The rule: a flexible API version uses request header v2 (adds a tagged-field section) and response header
/// v1 (likewise); older versions use request header v1 and response header v0. The one exception is
/// ApiVersions, whose response always uses header v0: a client sends ApiVersions before it knows what the
/// broker supports, so it must be able to read the reply without knowing its flexibility.
/// Request header v0 (no client id) is only used by ControlledShutdown v0, which Kraft does not serve.
/// Versions above what Kraft serves are treated as flexible when the API is flexible from some version on,
/// which is how Kafka has evolved every flexible API; this lets us parse the header of a too-new request and
/// answer it with UNSUPPORTED_VERSION.
/// </remarks>
public static class HeaderVersions
{
    private static readonly short[] FirstFlexibleVersion = BuildTable();

    private static short[] BuildTable()
    {
        var table = new short[128];
        Array.Fill(table, short.MaxValue);
        foreach (var codec in MessageFactory.Codecs)
        {
            table[(int)codec.ApiKey] = codec.FlexibleVersion;
        }

        return table;
    }

    /// <summary>True when this API version uses compact encodings and tagged fields.</summary>
    public static bool IsFlexible(ApiKey apiKey, short apiVersion)
    {
        int index = (int)apiKey;
        return index >= 0 && index < FirstFlexibleVersion.Length && apiVersion >= FirstFlexibleVersion[index];
    }

    public static short RequestHeaderVersion(ApiKey apiKey, short apiVersion) =>
        IsFlexible(apiKey, apiVersion) ? (short)2 : (short)1;

    public static short ResponseHeaderVersion(ApiKey apiKey, short apiVersion) =>
        apiKey != ApiKey.ApiVersions && IsFlexible(apiKey, apiVersion) ? (short)1 : (short)0;
}
