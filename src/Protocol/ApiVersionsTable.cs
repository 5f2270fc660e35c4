using Kraft.Protocol.Messages;

namespace Kraft.Protocol;

/// <summary>One API's served version range.</summary>
public readonly record struct ApiVersionRange(ApiKey ApiKey, short MinVersion, short MaxVersion);

/// <summary>
/// The API versions a Kraft listener serves: the content of its ApiVersions responses and the gate that
/// refuses other versions with UNSUPPORTED_VERSION.
/// </summary>
/// <remarks>
/// Invariant: every range lies within what the codecs support (<see cref="MessageFactory.Codecs"/>), so
/// anything the table admits can be parsed. Immutable after construction; safe to share between threads.
/// </remarks>
public sealed class ApiVersionsTable
{
    private readonly ApiVersionRange?[] _byKey = new ApiVersionRange?[128];

    public ApiVersionsTable(IEnumerable<ApiVersionRange> ranges)
    {
        var list = new List<ApiVersionRange>();
        foreach (var range in ranges)
        {
            var codec = MessageFactory.Codecs.FirstOrDefault(c => c.ApiKey == range.ApiKey);
            if (codec.ApiKey != range.ApiKey || range.MinVersion < codec.LowestVersion || range.MaxVersion > codec.HighestVersion
                || range.MinVersion > range.MaxVersion)
            {
                throw new ArgumentException($"{range.ApiKey} {range.MinVersion}-{range.MaxVersion} is not within the codec's versions");
            }

            _byKey[(int)range.ApiKey] = range;
            list.Add(range);
        }

        Ranges = list.OrderBy(r => r.ApiKey).ToArray();
    }

    /// <summary>Every API with a codec, at every version the codec supports.</summary>
    public static ApiVersionsTable All { get; } =
        new(MessageFactory.Codecs.Select(c => new ApiVersionRange(c.ApiKey, c.LowestVersion, c.HighestVersion)));

    /// <summary>The raft and controller RPCs, which belong on the controller listener only.</summary>
    public static IReadOnlySet<ApiKey> ControllerOnlyApis { get; } = new HashSet<ApiKey>
    {
        ApiKey.Vote, ApiKey.BeginQuorumEpoch, ApiKey.EndQuorumEpoch, ApiKey.FetchSnapshot,
        ApiKey.BrokerRegistration, ApiKey.BrokerHeartbeat, ApiKey.AlterPartition, ApiKey.AllocateProducerIds,
    };

    /// <summary>What a broker's client listener serves: everything except the controller-only RPCs.</summary>
    public static ApiVersionsTable BrokerListener { get; } =
        new(All.Ranges.Where(r => !ControllerOnlyApis.Contains(r.ApiKey)));

    public IReadOnlyList<ApiVersionRange> Ranges { get; }

    public bool TryGetRange(ApiKey apiKey, out ApiVersionRange range)
    {
        int index = (int)apiKey;
        if (index >= 0 && index < _byKey.Length && _byKey[index] is { } found)
        {
            range = found;
            return true;
        }

        range = default;
        return false;
    }

    public bool IsSupported(ApiKey apiKey, short version) =>
        TryGetRange(apiKey, out var range) && version >= range.MinVersion && version <= range.MaxVersion;

    /// <summary>The ApiVersions response body listing this table (error NONE).</summary>
    public ApiVersionsResponse CreateResponse(ErrorCode error = ErrorCode.NONE)
    {
        var response = new ApiVersionsResponse { ErrorCode = (short)error };
        foreach (var range in Ranges)
        {
            response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion
            {
                ApiKey = (short)range.ApiKey,
                MinVersion = range.MinVersion,
                MaxVersion = range.MaxVersion,
            });
        }

        return response;
    }

    /// <summary>
    /// The answer to an ApiVersions request at a version we do not serve: UNSUPPORTED_VERSION (35) plus our
    /// table, to be encoded at version 0 so that any client can read it and retry at a version we list.
    /// </summary>
    public ApiVersionsResponse CreateUnsupportedVersionResponse() => CreateResponse(ErrorCode.UNSUPPORTED_VERSION);

    /// <summary>
    /// Writes the whole response frame for an ApiVersions request whose version we do not serve: version 0,
    /// error UNSUPPORTED_VERSION, our table, and response header v0.
    /// </summary>
    public void WriteUnsupportedVersionResponse(Primitives.KafkaWriter writer, int correlationId) =>
        Framing.FrameEncoder.WriteResponse(writer, 0, correlationId, CreateUnsupportedVersionResponse());

    /// <summary>
    /// The highest version both sides support, or null when the ranges do not overlap. Used by the client
    /// with the broker's ApiVersions response.
    /// </summary>
    public static short? Negotiate(short ourMin, short ourMax, short theirMin, short theirMax)
    {
        short high = Math.Min(ourMax, theirMax);
        short low = Math.Max(ourMin, theirMin);
        return high >= low ? high : null;
    }
}
