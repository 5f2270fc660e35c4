using System.Diagnostics.Metrics;
using Kraft.Quorum.RaftDriver;

namespace Kraft.Quorum.Controller;

/// <summary>
/// The controller's instruments, in a meter "Kraft.Quorum" tagged kraft.node.id (label kraft_node_id), like
/// <see cref="RaftMetrics"/>. Recorded by whoever hosts the controller (the broker's ControllerService) from what
/// the pure <see cref="QuorumController"/> reports. Thread-safe; dispose with the node.
/// </summary>
public sealed class ControllerMetrics : IDisposable
{
    private readonly Meter _meter;
    private long _uncleanElections;

    public ControllerMetrics(int nodeId)
    {
        _meter = new Meter("Kraft.Quorum", null, [new KeyValuePair<string, object?>(RaftMetrics.NodeIdTag, nodeId)]);
        // Observable, so that the total since the node started is reported (at 0 before the first one) whenever an
        // exporter starts listening; a plain counter's increments before that would be lost.
        _meter.CreateObservableCounter("kraft.controller.unclean_elections", () => Interlocked.Read(ref _uncleanElections), "{election}",
            "Leaders elected from outside the ISR (possible data loss), counted on the active controller when the change commits");
    }

    /// <summary>Kafka: kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec.</summary>
    public void RecordUncleanElections(long count)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _uncleanElections, count);
        }
    }

    public void Dispose() => _meter.Dispose();
}
