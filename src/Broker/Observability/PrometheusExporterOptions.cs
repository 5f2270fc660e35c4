using System.Diagnostics.Metrics;

namespace Kraft.Broker.Observability;

/// <summary>
/// Settings of a <see cref="PrometheusExporter"/>: which meters it listens to, histogram bucket
/// boundaries, and the cardinality cap. Immutable once handed to the exporter.
/// </summary>
public sealed record PrometheusExporterOptions
{
    /// <summary>The meters of the Kraft projects (one per project, see STYLE.md).</summary>
    public static readonly IReadOnlyList<string> KraftMeterNames = ["Kraft.Storage", "Kraft.Quorum", "Kraft.Broker"];

    /// <summary>Latency buckets in milliseconds: 0.1 ms (an fsync on a fast disk) to 10 s (a stuck election).</summary>
    public static readonly IReadOnlyList<double> DefaultMillisecondBoundaries =
        [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    /// <summary>Size buckets in bytes: 64 B to 64 MiB in powers of four.</summary>
    public static readonly IReadOnlyList<double> DefaultByteBoundaries =
        [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    /// <summary>Exact names of the meters whose instruments are exported. Ignored when <see cref="MeterFilter"/> is set.</summary>
    public IReadOnlyCollection<string> MeterNames { get; init; } = KraftMeterNames;

    /// <summary>
    /// Optional predicate choosing meters, for example by a meter tag such as kraft.node.id when several
    /// nodes run in one process (each node's exporter then sees only its own meters).
    /// </summary>
    public Func<Meter, bool>? MeterFilter { get; init; }

    /// <summary>
    /// At most this many distinct label sets per instrument. Measurements with a further label set are
    /// folded into one series labelled kraft_overflow="true", so memory stays bounded whatever tags
    /// callers pass (a topic name per tag value, say, on a broker with a million topics).
    /// </summary>
    public int MaxSeriesPerInstrument { get; init; } = 1000;

    /// <summary>
    /// Bucket upper bounds per instrument name, in the instrument's own unit (milliseconds for "ms").
    /// Instruments not listed use the boundaries advised at creation (InstrumentAdvice), else the
    /// defaults for their unit: <see cref="DefaultMillisecondBoundaries"/> for time units (scaled),
    /// <see cref="DefaultByteBoundaries"/> for bytes, and the millisecond list for anything else.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<double>> HistogramBoundaries { get; init; } =
        new Dictionary<string, IReadOnlyList<double>>();

    /// <summary>Checks the settings; throws <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (MaxSeriesPerInstrument < 1)
        {
            throw new ArgumentException($"MaxSeriesPerInstrument must be at least 1, got {MaxSeriesPerInstrument}");
        }

        foreach (var (name, bounds) in HistogramBoundaries)
        {
            CheckBoundaries(name, bounds);
        }
    }

    internal static void CheckBoundaries(string instrument, IReadOnlyList<double> bounds)
    {
        if (bounds.Count == 0)
        {
            throw new ArgumentException($"histogram boundaries for {instrument} are empty");
        }

        for (var i = 0; i < bounds.Count; i++)
        {
            if (!double.IsFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            {
                throw new ArgumentException($"histogram boundaries for {instrument} must be finite and strictly increasing");
            }
        }
    }
}
