using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Kraft.Broker.Observability;

/// <summary>
/// Listens to Kraft's meters (System.Diagnostics.Metrics) and renders their current values in the
/// Prometheus text exposition format 0.0.4, because no Prometheus exporter package restores here
/// (DEPENDENCIES.md).
/// </summary>
/// <remarks>
/// Mapping: Counter and ObservableCounter become "counter" (name + "_total"); UpDownCounter,
/// ObservableUpDownCounter, Gauge and ObservableGauge become "gauge"; Histogram becomes "histogram"
/// with fixed explicit buckets per instrument, cumulative "_bucket{le=...}" lines ending at +Inf,
/// then "_sum" and "_count". Tags of the meter, of the instrument and of each measurement become labels.
/// Names follow <see cref="PrometheusNaming"/> (time in seconds).
///
/// Invariants: output is deterministic (families by name, series by their label text, both ordinal);
/// every family name appears once (instruments that mangle to the same name share a family when their
/// kind and buckets agree, otherwise the later one is left out and counted in
/// <see cref="ConflictingInstruments"/>); at most <see cref="PrometheusExporterOptions.MaxSeriesPerInstrument"/>
/// series per instrument plus one overflow series; counters never go down (negative and NaN
/// increments are dropped, and so are NaN histogram values; a gauge may be set to NaN).
///
/// Threads: measurements arrive on any thread and are recorded under a per-series lock, so totals are
/// exact (up to 2^53 for integer sums held as doubles). Scrapes (<see cref="Render"/>) may run on any
/// thread and are serialized with each other; observable instruments are read during the scrape,
/// on the scraping thread, and report only the series their callbacks return this time.
/// </remarks>
public sealed class PrometheusExporter : IDisposable
{
    private const string OverflowLabelText = "kraft_overflow=\"true\"";

    private readonly PrometheusExporterOptions _options;
    private readonly MeterListener _listener;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _instruments = new();
    private readonly ConcurrentDictionary<string, string> _labelNames = new(StringComparer.Ordinal);
    private readonly Lock _scrapeGate = new();
    private long _nextSequence;
    private int _conflicting;
    private bool _disposed;

    /// <summary>Starts listening at once; instruments created earlier and later are both picked up.</summary>
    public PrometheusExporter(PrometheusExporterOptions? options = null)
    {
        _options = options ?? new PrometheusExporterOptions();
        _options.Validate();
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = (instrument, _) => _instruments.TryRemove(instrument, out InstrumentState? _),
        };
        _listener.SetMeasurementEventCallback<byte>(static (i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<short>(static (i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<int>(static (i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<long>(static (i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<float>(static (i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<double>(static (i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<decimal>(static (i, v, t, s) => Record(s, (double)v, t));
        _listener.Start();
    }

    /// <summary>The content type of <see cref="Render"/>'s output for an HTTP response.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Instruments left out because their name collides with an instrument of another kind or buckets.</summary>
    public int ConflictingInstruments => Volatile.Read(ref _conflicting);

    /// <summary>Reads the observable instruments and renders every family in text format 0.0.4.</summary>
    public string Render()
    {
        var sb = new StringBuilder(4096);
        WriteTo(sb);
        return sb.ToString();
    }

    /// <summary>As <see cref="Render"/>, appending to <paramref name="sb"/>.</summary>
    public void WriteTo(StringBuilder sb)
    {
        ArgumentNullException.ThrowIfNull(sb);
        lock (_scrapeGate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var states = _instruments.Values.OrderBy(s => s.FamilyName, StringComparer.Ordinal).ThenBy(s => s.Sequence).ToList();

            // Observable instruments report whole current values, so each scrape starts them empty
            // and keeps only what their callbacks return now (a removed partition disappears).
            foreach (var state in states.Where(s => s.Observable))
            {
                state.ResetSeries();
            }

            _listener.RecordObservableInstruments();

            var conflicting = 0;
            for (var i = 0; i < states.Count;)
            {
                var first = states[i];
                var family = new List<InstrumentState> { first };
                var j = i + 1;
                for (; j < states.Count && states[j].FamilyName == first.FamilyName; j++)
                {
                    if (states[j].CompatibleWith(first))
                    {
                        family.Add(states[j]);
                    }
                    else
                    {
                        conflicting++;
                    }
                }

                WriteFamily(sb, family);
                i = j;
            }

            Volatile.Write(ref _conflicting, conflicting);
        }
    }

    /// <summary>Stops listening; later <see cref="Render"/> calls throw.</summary>
    public void Dispose()
    {
        lock (_scrapeGate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _listener.Dispose();
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        var wanted = _options.MeterFilter is { } filter
            ? filter(instrument.Meter)
            : _options.MeterNames.Contains(instrument.Meter.Name);
        if (!wanted)
        {
            return;
        }

        var kind = Classify(instrument);
        if (kind is null)
        {
            return;
        }

        var (name, scale) = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, kind.Value.Type == MetricType.Counter);
        var boundaries = kind.Value.Type == MetricType.Histogram ? BoundariesFor(instrument) : [];
        var constantTags = new List<KeyValuePair<string, object?>>();
        if (instrument.Meter.Tags is { } meterTags)
        {
            constantTags.AddRange(meterTags);
        }

        if (instrument.Tags is { } instrumentTags)
        {
            constantTags.AddRange(instrumentTags);
        }

        var state = new InstrumentState(
            this,
            Interlocked.Increment(ref _nextSequence),
            name,
            HelpFor(instrument),
            kind.Value.Type,
            kind.Value.Observable,
            kind.Value.Accumulate,
            scale,
            boundaries,
            [.. constantTags]);
        _instruments[instrument] = state;
        listener.EnableMeasurementEvents(instrument, state);
    }

    private static string HelpFor(Instrument instrument)
    {
        if (!string.IsNullOrWhiteSpace(instrument.Description))
        {
            return instrument.Description;
        }

        return string.IsNullOrEmpty(instrument.Unit) ? instrument.Name : $"{instrument.Name} ({instrument.Unit})";
    }

    private double[] BoundariesFor(Instrument instrument)
    {
        IReadOnlyList<double>? bounds = null;
        if (_options.HistogramBoundaries.TryGetValue(instrument.Name, out var configured))
        {
            bounds = configured;
        }
        else
        {
            bounds = instrument switch
            {
                Histogram<double> h => h.Advice?.HistogramBucketBoundaries,
                Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                Histogram<short> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                Histogram<byte> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                Histogram<decimal> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToList(),
                _ => null,
            };
        }

        if (bounds is null || bounds.Count == 0)
        {
            bounds = instrument.Unit switch
            {
                "By" or "bytes" or "byte" or "B" => PrometheusExporterOptions.DefaultByteBoundaries,
                "s" or "sec" or "seconds" => [.. PrometheusExporterOptions.DefaultMillisecondBoundaries.Select(b => b / 1000)],
                "us" or "μs" or "microseconds" => [.. PrometheusExporterOptions.DefaultMillisecondBoundaries.Select(b => b * 1000)],
                "ns" or "nanoseconds" => [.. PrometheusExporterOptions.DefaultMillisecondBoundaries.Select(b => b * 1_000_000)],
                _ => PrometheusExporterOptions.DefaultMillisecondBoundaries,
            };
        }

        PrometheusExporterOptions.CheckBoundaries(instrument.Name, bounds);
        return [.. bounds];
    }

    private static (MetricType Type, bool Observable, bool Accumulate)? Classify(Instrument instrument)
    {
        var definition = instrument.GetType().IsGenericType ? instrument.GetType().GetGenericTypeDefinition() : null;
        if (definition == typeof(Counter<>))
        {
            return (MetricType.Counter, false, true);
        }

        if (definition == typeof(UpDownCounter<>))
        {
            return (MetricType.Gauge, false, true);
        }

        if (definition == typeof(Histogram<>))
        {
            return (MetricType.Histogram, false, true);
        }

        if (definition == typeof(Gauge<>))
        {
            return (MetricType.Gauge, false, false);
        }

        if (definition == typeof(ObservableCounter<>))
        {
            return (MetricType.Counter, true, false);
        }

        if (definition == typeof(ObservableUpDownCounter<>) || definition == typeof(ObservableGauge<>))
        {
            return (MetricType.Gauge, true, false);
        }

        return null;
    }

    private static void Record<T>(object? state, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        if (state is InstrumentState s)
        {
            s.Record(ToDouble(value), tags);
        }
    }

    private static double ToDouble<T>(T value)
        where T : struct
    {
        if (typeof(T) == typeof(long)) return Unsafe.As<T, long>(ref value);
        if (typeof(T) == typeof(int)) return Unsafe.As<T, int>(ref value);
        if (typeof(T) == typeof(double)) return Unsafe.As<T, double>(ref value);
        if (typeof(T) == typeof(float)) return Unsafe.As<T, float>(ref value);
        if (typeof(T) == typeof(short)) return Unsafe.As<T, short>(ref value);
        if (typeof(T) == typeof(byte)) return Unsafe.As<T, byte>(ref value);
        return Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private string LabelName(string tag) => _labelNames.GetOrAdd(tag, static t =>
    {
        var name = PrometheusNaming.LabelName(t);

        // "le" is the bucket label of histograms; a tag of that name would make the line ambiguous.
        return name == "le" ? "tag_le" : name;
    });

    private static void WriteFamily(StringBuilder sb, List<InstrumentState> family)
    {
        var first = family[0];
        sb.Append("# HELP ").Append(first.FamilyName).Append(' ').Append(PrometheusNaming.EscapeHelp(first.Help)).Append('\n');
        sb.Append("# TYPE ").Append(first.FamilyName).Append(' ').Append(first.Type switch
        {
            MetricType.Counter => "counter",
            MetricType.Gauge => "gauge",
            _ => "histogram",
        }).Append('\n');

        // Merge series of instruments sharing this family; on an identical label set the earliest wins.
        var series = new SortedDictionary<string, (InstrumentState Owner, Series Series)>(StringComparer.Ordinal);
        foreach (var state in family)
        {
            foreach (var s in state.SnapshotSeries())
            {
                series.TryAdd(s.LabelText, (state, s));
            }
        }

        foreach (var (labels, (owner, s)) in series)
        {
            if (first.Type == MetricType.Histogram)
            {
                WriteHistogram(sb, owner, labels, s);
            }
            else
            {
                double value;
                lock (s.Gate)
                {
                    value = s.Value;
                }

                WriteSample(sb, owner.FamilyName, labels, null, Scaled(value, owner.Scale));
            }
        }
    }

    private static void WriteHistogram(StringBuilder sb, InstrumentState owner, string labels, Series s)
    {
        long[] buckets;
        double sum;
        long count;
        lock (s.Gate)
        {
            buckets = (long[])s.Buckets!.Clone();
            sum = s.Sum;
            count = s.Count;
        }

        long cumulative = 0;
        for (var i = 0; i < owner.Boundaries.Length; i++)
        {
            cumulative += buckets[i];
            var le = PrometheusNaming.FormatValue(Scaled(owner.Boundaries[i], owner.Scale));
            WriteSample(sb, owner.FamilyName + "_bucket", labels, le, cumulative);
        }

        cumulative += buckets[^1];
        WriteSample(sb, owner.FamilyName + "_bucket", labels, "+Inf", cumulative);
        WriteSample(sb, owner.FamilyName + "_sum", labels, null, Scaled(sum, owner.Scale));
        WriteSample(sb, owner.FamilyName + "_count", labels, null, count);
    }

    /// <summary>
    /// Applies a unit scale. Dividing by the exact power of ten (rather than multiplying by its inexact
    /// reciprocal) keeps boundaries such as 0.35 ms printing as 0.00035 s instead of 0.00035000000000000005.
    /// </summary>
    private static double Scaled(double value, double scale) => scale < 1 ? value / Math.Round(1 / scale) : value * scale;

    private static void WriteSample(StringBuilder sb, string name, string labels, string? le, double value)
    {
        sb.Append(name);
        if (labels.Length > 0 || le is not null)
        {
            sb.Append('{').Append(labels);
            if (le is not null)
            {
                if (labels.Length > 0)
                {
                    sb.Append(',');
                }

                sb.Append("le=\"").Append(le).Append('"');
            }

            sb.Append('}');
        }

        sb.Append(' ').Append(PrometheusNaming.FormatValue(value)).Append('\n');
    }

    private enum MetricType
    {
        Counter,
        Gauge,
        Histogram,
    }

    /// <summary>
    /// The raw tags of a measurement (names compared ordinally, values with Equals), as a cache key.
    /// Holds no more than <see cref="Capacity"/> tags; order matters (a different order is another key
    /// for the same series).
    /// </summary>
    private readonly struct TagKey : IEquatable<TagKey>
    {
        public const int Capacity = 3;
        private readonly int _count;
        private readonly string? _k0, _k1, _k2;
        private readonly object? _v0, _v1, _v2;

        public TagKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            _count = tags.Length;
            if (tags.Length > 0) (_k0, _v0) = (tags[0].Key, tags[0].Value);
            if (tags.Length > 1) (_k1, _v1) = (tags[1].Key, tags[1].Value);
            if (tags.Length > 2) (_k2, _v2) = (tags[2].Key, tags[2].Value);
        }

        public bool Equals(TagKey other) =>
            _count == other._count
            && string.Equals(_k0, other._k0, StringComparison.Ordinal) && Equals(_v0, other._v0)
            && string.Equals(_k1, other._k1, StringComparison.Ordinal) && Equals(_v1, other._v1)
            && string.Equals(_k2, other._k2, StringComparison.Ordinal) && Equals(_v2, other._v2);

        public override bool Equals(object? obj) => obj is TagKey other && Equals(other);

        public override int GetHashCode() => HashCode.Combine(_count, _k0, _v0, _k1, _v1, _k2, _v2);
    }

    /// <summary>One label set's current value. Guarded by <see cref="Gate"/>; any thread.</summary>
    private sealed class Series(string labelText, int bucketCount)
    {
        public readonly Lock Gate = new();
        public readonly string LabelText = labelText;
        public readonly long[]? Buckets = bucketCount > 0 ? new long[bucketCount] : null;
        public double Value;
        public double Sum;
        public long Count;
    }

    /// <summary>
    /// What the exporter knows about one instrument: its family, kind, buckets and series. The series
    /// map is bounded by the cardinality cap; adding to it is serialized by <see cref="_addGate"/>.
    /// </summary>
    private sealed class InstrumentState(
        PrometheusExporter owner,
        long sequence,
        string familyName,
        string help,
        MetricType type,
        bool observable,
        bool accumulate,
        double scale,
        double[] boundaries,
        KeyValuePair<string, object?>[] constantTags)
    {
        private readonly Lock _addGate = new();
        private ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

        // Hot-path cache from the raw tags of a measurement (up to three, in the caller's order) to its
        // series, so recording with the same tags again allocates nothing. Bounded like the series map;
        // when full, measurements take the slower path that renders the label text first.
        private ConcurrentDictionary<TagKey, Series> _fast = new();
        private int _fastCount;
        private Series? _overflow;

        public long Sequence { get; } = sequence;
        public string FamilyName { get; } = familyName;
        public string Help { get; } = help;
        public MetricType Type { get; } = type;
        public bool Observable { get; } = observable;
        public double Scale { get; } = scale;
        public double[] Boundaries { get; } = boundaries;

        public bool CompatibleWith(InstrumentState other) =>
            Type == other.Type && Scale == other.Scale && Boundaries.AsSpan().SequenceEqual(other.Boundaries);

        public void ResetSeries()
        {
            lock (_addGate)
            {
                _series = new ConcurrentDictionary<string, Series>(StringComparer.Ordinal);
                _overflow = null;
                _fast = new ConcurrentDictionary<TagKey, Series>();
                _fastCount = 0;
            }
        }

        public IEnumerable<Series> SnapshotSeries()
        {
            lock (_addGate)
            {
                var all = _series.Values.ToList();
                if (_overflow is not null)
                {
                    all.Add(_overflow);
                }

                return all;
            }
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if ((double.IsNaN(value) && (accumulate || Type == MetricType.Histogram)) || (Type == MetricType.Counter && accumulate && value < 0))
            {
                return;
            }

            var series = Resolve(tags);
            lock (series.Gate)
            {
                if (Type == MetricType.Histogram)
                {
                    var index = Array.BinarySearch(Boundaries, value);

                    // "le" is an inclusive upper bound: an exact hit belongs to that bucket; otherwise
                    // the complement of the result is the first boundary above the value.
                    series.Buckets![index >= 0 ? index : ~index]++;
                    series.Sum += value;
                    series.Count++;
                }
                else if (accumulate)
                {
                    series.Value += value;
                }
                else
                {
                    series.Value = value;
                }
            }
        }

        private Series Resolve(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length > TagKey.Capacity)
            {
                return Lookup(LabelText(tags));
            }

            var key = new TagKey(tags);
            var fast = _fast;
            if (fast.TryGetValue(key, out var series))
            {
                return series;
            }

            series = Lookup(LabelText(tags));
            if (Volatile.Read(ref _fastCount) < 4 * owner._options.MaxSeriesPerInstrument && fast.TryAdd(key, series))
            {
                Interlocked.Increment(ref _fastCount);
            }

            return series;
        }

        private Series Lookup(string labelText)
        {
            var map = _series;
            if (map.TryGetValue(labelText, out var found))
            {
                return found;
            }

            lock (_addGate)
            {
                if (_series.TryGetValue(labelText, out found))
                {
                    return found;
                }

                var bucketCount = Type == MetricType.Histogram ? Boundaries.Length + 1 : 0;
                if (_series.Count >= owner._options.MaxSeriesPerInstrument)
                {
                    return _overflow ??= new Series(OverflowLabelText, bucketCount);
                }

                var created = new Series(labelText, bucketCount);
                _series[labelText] = created;
                return created;
            }
        }

        private string LabelText(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0 && constantTags.Length == 0)
            {
                return "";
            }

            // Sorted by label name so the same set always gives the same text (and key); on a
            // duplicate name the measurement's tag wins over the instrument's and the meter's.
            var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var tag in constantTags)
            {
                labels[owner.LabelName(tag.Key)] = PrometheusNaming.TagValueToString(tag.Value);
            }

            foreach (var tag in tags)
            {
                labels[owner.LabelName(tag.Key)] = PrometheusNaming.TagValueToString(tag.Value);
            }

            var sb = new StringBuilder();
            foreach (var (name, value) in labels)
            {
                if (sb.Length > 0)
                {
                    sb.Append(',');
                }

                sb.Append(name).Append("=\"");
                PrometheusNaming.AppendEscapedLabelValue(sb, value);
                sb.Append('"');
            }

            return sb.ToString();
        }
    }
}
