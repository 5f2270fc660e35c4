using System.Text;
using System.Text.Json;

namespace Kraft.Broker.Observability;

/// <summary>
/// What GET /health says about a node. <see cref="Serving"/> decides the status code: 200 when the node
/// serves its roles, 503 otherwise (starting up, fenced broker, controller without a known leader, shutting
/// down). The node builds a fresh report per request; the record is immutable.
/// </summary>
/// <param name="NodeId">The node.id of this node.</param>
/// <param name="Roles">The process.roles, e.g. "broker,controller".</param>
/// <param name="Serving">True when the node serves clients (and its controller role has a quorum leader).</param>
/// <param name="Status">A short word for humans and scripts: "starting", "serving", "fenced", "stopping"...</param>
public sealed record HealthReport(int NodeId, string Roles, bool Serving, string Status)
{
    /// <summary>The Raft role of this node in the metadata quorum: "leader", "follower", "candidate", "observer", "unattached".</summary>
    public string? QuorumRole { get; init; }

    /// <summary>The quorum leader this node knows of, if any.</summary>
    public int? QuorumLeaderId { get; init; }

    /// <summary>The quorum epoch this node is in.</summary>
    public long? QuorumEpoch { get; init; }

    /// <summary>The metadata log high watermark this node knows.</summary>
    public long? MetadataHighWatermark { get; init; }

    /// <summary>The metadata offset applied to this node's image.</summary>
    public long? MetadataAppliedOffset { get; init; }

    /// <summary>Whether the controller has fenced this broker (null on a controller-only node).</summary>
    public bool? Fenced { get; init; }

    /// <summary>Partitions this broker leads.</summary>
    public int? LeaderCount { get; init; }

    /// <summary>Partitions this broker leads whose ISR is smaller than the replica set.</summary>
    public int? UnderReplicatedPartitions { get; init; }

    /// <summary>Anything else worth showing, rendered as JSON strings in key order.</summary>
    public IReadOnlyDictionary<string, string>? Details { get; init; }

    /// <summary>The JSON body of /health: snake_case keys, absent values left out, deterministic order.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("node_id", NodeId);
            w.WriteString("roles", Roles);
            w.WriteBoolean("serving", Serving);
            w.WriteString("status", Status);
            if (QuorumRole is not null) w.WriteString("quorum_role", QuorumRole);
            if (QuorumLeaderId is { } leader) w.WriteNumber("quorum_leader_id", leader);
            if (QuorumEpoch is { } epoch) w.WriteNumber("quorum_epoch", epoch);
            if (MetadataHighWatermark is { } hw) w.WriteNumber("metadata_high_watermark", hw);
            if (MetadataAppliedOffset is { } applied) w.WriteNumber("metadata_applied_offset", applied);
            if (Fenced is { } fenced) w.WriteBoolean("fenced", fenced);
            if (LeaderCount is { } leaders) w.WriteNumber("leader_count", leaders);
            if (UnderReplicatedPartitions is { } urp) w.WriteNumber("under_replicated_partitions", urp);
            if (Details is { Count: > 0 })
            {
                w.WriteStartObject("details");
                foreach (var (key, value) in Details.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.WriteString(key, value);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
