using System.Diagnostics.Metrics;
using Kraft.Broker.Observability;

namespace Kraft.Broker.Tests.Observability;

/// <summary>
/// The exporter's output for every instrument kind, parsed with the strict parser. Each test uses a meter
/// with a unique name and an exporter listening only to it, so tests running in parallel do not see each
/// other's instruments.
/// </summary>
public sealed class PrometheusExporterTests : IDisposable
{
    private readonly Meter _meter = new("Kraft.Test." + Guid.NewGuid().ToString("N"));

    public void Dispose() => _meter.Dispose();

    private PrometheusExporter Exporter(int maxSeries = 1000, Dictionary<string, IReadOnlyList<double>>? buckets = null) =>
        new(new PrometheusExporterOptions
        {
            MeterNames = [_meter.Name],
            MaxSeriesPerInstrument = maxSeries,
            HistogramBoundaries = buckets ?? [],
        });

    private static IReadOnlyDictionary<string, PromFamily> Scrape(PrometheusExporter exporter) =>
        PrometheusTextParser.Parse(exporter.Render());

    private static double Value(PromFamily family, string sampleName, params (string Name, string Value)[] labels)
    {
        var matches = family.Samples.Where(s => s.Name == sampleName && s.Labels.Count == labels.Length
            && labels.All(l => s.Labels.TryGetValue(l.Name, out var v) && v == l.Value)).ToList();
        Assert.Single(matches);
        return matches[0].Value;
    }

    [Fact]
    public void Counter_with_tags_is_a_total_per_label_set()
    {
        using var exporter = Exporter();
        var counter = _meter.CreateCounter<long>("kraft.broker.produce.requests", "{requests}", "Produce requests handled.");
        counter.Add(3, new KeyValuePair<string, object?>("topic", "a"));
        counter.Add(2, new KeyValuePair<string, object?>("topic", "b"));
        counter.Add(4, new KeyValuePair<string, object?>("topic", "a"));
        counter.Add(-5, new KeyValuePair<string, object?>("topic", "a")); // dropped: counters never go down

        var family = Scrape(exporter)["kraft_broker_produce_requests_total"];

        Assert.Equal("counter", family.Type);
        Assert.Equal("Produce requests handled.", family.Help);
        Assert.Equal(7, Value(family, family.Name, ("topic", "a")));
        Assert.Equal(2, Value(family, family.Name, ("topic", "b")));
    }

    [Fact]
    public void UpDownCounter_and_Gauge_become_gauges_with_add_and_set_semantics()
    {
        using var exporter = Exporter();
        var updown = _meter.CreateUpDownCounter<int>("kraft.broker.connections", "{connections}");
        var gauge = _meter.CreateGauge<double>("kraft.storage.disk.free", "By");
        updown.Add(5);
        updown.Add(-2);
        gauge.Record(100);
        gauge.Record(42.5);

        var families = Scrape(exporter);

        Assert.Equal("gauge", families["kraft_broker_connections"].Type);
        Assert.Equal(3, Value(families["kraft_broker_connections"], "kraft_broker_connections"));
        Assert.Equal("gauge", families["kraft_storage_disk_free_bytes"].Type);
        Assert.Equal(42.5, Value(families["kraft_storage_disk_free_bytes"], "kraft_storage_disk_free_bytes"));
    }

    [Fact]
    public void Observable_instruments_report_only_what_the_callback_returns_now()
    {
        using var exporter = Exporter();
        var partitions = new List<string> { "t-0", "t-1" };
        long fetched = 10;
        _meter.CreateObservableGauge("kraft.broker.partition.lag", () =>
            partitions.Select(p => new Measurement<long>(p.Length * 10, new KeyValuePair<string, object?>("partition", p))), "{records}");
        _meter.CreateObservableCounter("kraft.raft.fetch.records", () => fetched, "{records}");
        _meter.CreateObservableUpDownCounter("kraft.broker.leader.count", () => partitions.Count);

        var first = Scrape(exporter);
        Assert.Equal(30, Value(first["kraft_broker_partition_lag"], "kraft_broker_partition_lag", ("partition", "t-0")));
        Assert.Equal(2, first["kraft_broker_partition_lag"].Samples.Count);
        Assert.Equal("counter", first["kraft_raft_fetch_records_total"].Type);
        Assert.Equal(10, Value(first["kraft_raft_fetch_records_total"], "kraft_raft_fetch_records_total"));
        Assert.Equal(2, Value(first["kraft_broker_leader_count"], "kraft_broker_leader_count"));

        partitions.RemoveAt(1);
        fetched = 25;
        var second = Scrape(exporter);
        Assert.Single(second["kraft_broker_partition_lag"].Samples);
        Assert.Equal(25, Value(second["kraft_raft_fetch_records_total"], "kraft_raft_fetch_records_total"));
        Assert.Equal(1, Value(second["kraft_broker_leader_count"], "kraft_broker_leader_count"));
    }

    [Fact]
    public void Millisecond_histogram_is_exported_in_seconds_with_cumulative_buckets()
    {
        using var exporter = Exporter(buckets: new() { ["kraft.raft.commit.latency"] = [1, 5, 10] });
        var histogram = _meter.CreateHistogram<double>("kraft.raft.commit.latency", "ms", "Time from append to commit.");
        foreach (var v in new[] { 0.5, 1, 3, 10, 20 })
        {
            histogram.Record(v);
        }

        var text = exporter.Render();
        var family = PrometheusTextParser.Parse(text)["kraft_raft_commit_latency_seconds"];

        Assert.Equal("histogram", family.Type);
        var name = family.Name;
        Assert.Equal(2, Value(family, name + "_bucket", ("le", "0.001")));
        Assert.Equal(3, Value(family, name + "_bucket", ("le", "0.005")));
        Assert.Equal(4, Value(family, name + "_bucket", ("le", "0.01")));
        Assert.Equal(5, Value(family, name + "_bucket", ("le", "+Inf")));
        Assert.Equal(0.0345, Value(family, name + "_sum"), 12);
        Assert.Equal(5, Value(family, name + "_count"));
        Assert.Contains("kraft_raft_commit_latency_seconds_bucket{le=\"+Inf\"} 5\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Histogram_uses_advised_boundaries_and_otherwise_defaults_for_its_unit()
    {
        using var exporter = Exporter();
        var advised = _meter.CreateHistogram<long>("kraft.storage.append.size", "By", null, null,
            new InstrumentAdvice<long> { HistogramBucketBoundaries = [100, 1000] });
        var latency = _meter.CreateHistogram<double>("kraft.broker.request.latency", "ms");
        advised.Record(150, new KeyValuePair<string, object?>("le", "user tag"));
        latency.Record(3);

        var families = Scrape(exporter);

        var sizes = families["kraft_storage_append_size_bytes"].Samples.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal)).ToList();
        Assert.Equal(["100", "1000", "+Inf"], sizes.Select(s => s.Label("le")));
        Assert.Equal("user tag", sizes[0].Label("tag_le"));
        var latencies = families["kraft_broker_request_latency_seconds"].Samples.Count(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal));
        Assert.Equal(PrometheusExporterOptions.DefaultMillisecondBoundaries.Count + 1, latencies);
    }

    [Fact]
    public void Gauges_may_be_NaN_and_scaled_boundaries_print_as_written()
    {
        using var exporter = Exporter(buckets: new() { ["kraft.test.wait"] = [0.35, 7, 1100] });
        _meter.CreateGauge<double>("kraft.test.ratio").Record(double.NaN);
        var wait = _meter.CreateHistogram<double>("kraft.test.wait", "ms");
        wait.Record(double.NaN); // dropped: a histogram has no place for NaN
        wait.Record(0.35);

        var text = exporter.Render();
        var families = PrometheusTextParser.Parse(text);

        Assert.Contains("kraft_test_ratio NaN\n", text, StringComparison.Ordinal);
        Assert.True(double.IsNaN(families["kraft_test_ratio"].Samples.Single().Value));
        var les = families["kraft_test_wait_seconds"].Samples.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal)).Select(s => s.Label("le"));
        Assert.Equal(["0.00035", "0.007", "1.1", "+Inf"], les);
        Assert.Equal(1, Value(families["kraft_test_wait_seconds"], "kraft_test_wait_seconds_count"));
    }

    [Fact]
    public void Tricky_label_values_and_help_text_are_escaped_and_round_trip()
    {
        using var exporter = Exporter();
        const string tricky = "a\\b\"c\nd{e}=f,g ü";
        var counter = _meter.CreateCounter<int>("kraft.broker.errors", null, "Errors by code.\nSee \\docs \"quoted\".");
        counter.Add(1, new KeyValuePair<string, object?>("topic.name", tricky), new KeyValuePair<string, object?>("__code", 7));

        var text = exporter.Render();
        var family = PrometheusTextParser.Parse(text)["kraft_broker_errors_total"];

        Assert.Contains("topic_name=\"a\\\\b\\\"c\\nd{e}=f,g ü\"", text, StringComparison.Ordinal);
        Assert.Equal(tricky, family.Samples[0].Label("topic_name"));
        Assert.Equal("7", family.Samples[0].Label("tag__code"));
        Assert.Equal("Errors by code.\nSee \\docs \"quoted\".", family.Help);
    }

    [Fact]
    public void Label_sets_beyond_the_cap_fold_into_one_overflow_series()
    {
        using var exporter = Exporter(maxSeries: 3);
        var counter = _meter.CreateCounter<long>("kraft.broker.bytes.in", "By");
        for (var i = 0; i < 10; i++)
        {
            counter.Add(i + 1, new KeyValuePair<string, object?>("topic", $"t{i}"));
        }

        var family = Scrape(exporter)["kraft_broker_bytes_in_bytes_total"];

        Assert.Equal(4, family.Samples.Count);
        Assert.Equal(4 + 5 + 6 + 7 + 8 + 9 + 10, Value(family, family.Name, ("kraft_overflow", "true")));
        Assert.Equal(1 + 2 + 3 + 49, family.Samples.Sum(s => s.Value));
    }

    [Fact]
    public async Task Many_threads_recording_give_exact_totals()
    {
        using var exporter = Exporter();
        var counter = _meter.CreateCounter<long>("kraft.test.hits");
        var histogram = _meter.CreateHistogram<int>("kraft.test.size", "By");
        const int threads = 8, perThread = 20_000;
        using var start = new Barrier(threads);
        var tasks = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < perThread; i++)
            {
                var tag = new KeyValuePair<string, object?>("shard", (i % 4).ToString(System.Globalization.CultureInfo.InvariantCulture));
                counter.Add(1, tag);
                histogram.Record(i % 2 == 0 ? 10 : 100_000, tag);
                if (i % 5000 == 0)
                {
                    _ = PrometheusTextParser.Parse(exporter.Render()); // scrapes racing with recording stay well-formed
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(tasks);

        var families = Scrape(exporter);

        var hits = families["kraft_test_hits_total"];
        Assert.Equal(4, hits.Samples.Count);
        Assert.All(hits.Samples, s => Assert.Equal(threads * perThread / 4, s.Value));
        var size = families["kraft_test_size_bytes"];
        Assert.Equal(threads * perThread, size.Samples.Where(s => s.Name.EndsWith("_count", StringComparison.Ordinal)).Sum(s => s.Value));
        Assert.Equal(threads * perThread / 2, size.Samples.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal) && s.Label("le") == "64").Sum(s => s.Value));
        Assert.Equal(threads * perThread / 2 * 100_010.0, size.Samples.Where(s => s.Name.EndsWith("_sum", StringComparison.Ordinal)).Sum(s => s.Value));
    }

    [Fact]
    public void Output_is_deterministic_and_sorted_and_ignores_other_meters()
    {
        using var other = new Meter("Kraft.Other." + Guid.NewGuid().ToString("N"));
        using var exporter = Exporter();
        other.CreateCounter<int>("kraft.zzz.not.mine").Add(1);
        var b = _meter.CreateCounter<int>("kraft.b");
        var a = _meter.CreateGauge<int>("kraft.a");
        b.Add(1, new KeyValuePair<string, object?>("y", "2"), new KeyValuePair<string, object?>("x", "1"));
        b.Add(1, new KeyValuePair<string, object?>("x", "0"));
        a.Record(1);

        var first = exporter.Render();

        Assert.Equal(first, exporter.Render());
        Assert.Equal(["kraft_a", "kraft_b_total"], PrometheusTextParser.Parse(first).Keys);
        Assert.Contains("kraft_b_total{x=\"0\"} 1\nkraft_b_total{x=\"1\",y=\"2\"} 1\n", first, StringComparison.Ordinal);
        Assert.DoesNotContain("not_mine", first, StringComparison.Ordinal);
    }

    [Fact]
    public void Tag_order_does_not_split_a_series_and_many_tags_still_work()
    {
        using var exporter = Exporter();
        var counter = _meter.CreateCounter<int>("kraft.test.order");
        counter.Add(1, new("a", 1), new("b", "x"));
        counter.Add(2, new("b", "x"), new("a", 1));
        counter.Add(4, new("a", "1"), new("b", "x")); // the string "1" renders like the int 1: same series
        counter.Add(8, new("a", 1), new("b", "x"), new("c", true), new("d", 2.5));

        var family = Scrape(exporter)["kraft_test_order_total"];

        Assert.Equal(7, Value(family, family.Name, ("a", "1"), ("b", "x")));
        Assert.Equal(8, Value(family, family.Name, ("a", "1"), ("b", "x"), ("c", "true"), ("d", "2.5")));
    }

    [Fact]
    public void Recording_again_with_the_same_tags_allocates_nothing()
    {
        using var exporter = Exporter();
        var histogram = _meter.CreateHistogram<double>("kraft.test.alloc", "ms");
        var counter = _meter.CreateCounter<long>("kraft.test.alloc.count");
        var api = new KeyValuePair<string, object?>("api", "Produce");
        var partition = new KeyValuePair<string, object?>("partition", 3);
        for (var i = 0; i < 2000; i++)
        {
            histogram.Record(i, api, partition);
            counter.Add(1, api);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            histogram.Record(i, api, partition);
            counter.Add(1, api);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(12_000, Value(Scrape(exporter)["kraft_test_alloc_count_total"], "kraft_test_alloc_count_total", ("api", "Produce")));
    }

    [Fact]
    public void Meter_tags_become_labels_and_a_disposed_meter_disappears()
    {
        using var tagged = new Meter(new MeterOptions(_meter.Name) { Tags = [new("kraft.node.id", 3)] });
        using var exporter = Exporter();
        tagged.CreateCounter<int>("kraft.tagged").Add(2);

        Assert.Equal(2, Value(Scrape(exporter)["kraft_tagged_total"], "kraft_tagged_total", ("kraft_node_id", "3")));

        tagged.Dispose();
        Assert.False(Scrape(exporter).ContainsKey("kraft_tagged_total"));
    }

    [Fact]
    public void Same_family_name_with_another_kind_is_left_out_and_counted()
    {
        using var exporter = Exporter();
        _meter.CreateCounter<int>("kraft.clash").Add(1);
        _meter.CreateGauge<int>("kraft.clash.total").Record(5); // mangles to kraft_clash_total too

        var families = Scrape(exporter);

        Assert.Equal("counter", families["kraft_clash_total"].Type);
        Assert.Equal(1, exporter.ConflictingInstruments);
    }

    [Theory]
    [InlineData("kraft.raft.commit.latency", "ms", false, "kraft_raft_commit_latency_seconds", 1e-3)]
    [InlineData("kraft.raft.commit.latency", "s", false, "kraft_raft_commit_latency_seconds", 1)]
    [InlineData("kraft.broker.bytes.in", "By", true, "kraft_broker_bytes_in_bytes_total", 1)]
    [InlineData("kraft.broker.bytes_total", "By", true, "kraft_broker_bytes_total_bytes_total", 1)]
    [InlineData("kraft.broker.requests", "{requests}", true, "kraft_broker_requests_total", 1)]
    [InlineData("kraft.broker.requests.total", "1", true, "kraft_broker_requests_total", 1)]
    [InlineData("kraft.broker.io.time_seconds", "s", false, "kraft_broker_io_time_seconds", 1)]
    [InlineData("kraft.cpu-usage", "%", false, "kraft_cpu_usage_percent", 1)]
    [InlineData("9lives", "records", true, "_9lives_records_total", 1)]
    public void Names_follow_the_documented_rule(string instrument, string unit, bool counter, string expected, double scale)
    {
        var (name, factor) = PrometheusNaming.MetricName(instrument, unit, counter);

        Assert.Equal(expected, name);
        Assert.Equal(scale, factor);
    }

    [Theory]
    [InlineData("x_total 1", "before any HELP")]
    [InlineData("# HELP x h\n# TYPE x gauge\nx 1\nx 2", "duplicate series")]
    [InlineData("# HELP x h\n# TYPE x gauge\nx{a=\"\\t\"} 1", "invalid escape")]
    [InlineData("# HELP x h\n# TYPE x gauge\nx{a=\"1\",} 1", "empty label name")]
    [InlineData("# HELP x h\n# TYPE x gauge\nx  1", "extra field")]
    [InlineData("# HELP x h\n# TYPE x gauge\nx 1 1700000000", "timestamps")]
    [InlineData("# HELP x h\n# TYPE x counter\nx 1", "does not end in _total")]
    [InlineData("# HELP x_total h\n# TYPE x_total counter\nx_total -1", "has value")]
    [InlineData("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1", "last bucket is not +Inf")]
    [InlineData("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1", "not a cumulative count")]
    [InlineData("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1", "!= _count")]
    [InlineData("# HELP h h\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1", "not above")]
    [InlineData("# HELP x h\n# TYPE x gauge\ny 1", "does not belong")]
    [InlineData("# HELP x h\n# TYPE x gauge\nx 1\n# HELP y h\n# TYPE y gauge\ny 1\n# HELP x h\n# TYPE x gauge\nx{a=\"b\"} 1", "appears twice")]
    [InlineData("# HELP x h\\t\n# TYPE x gauge\nx 1", "invalid escape")]
    [InlineData("# HELP x h\n# TYPE x gauge\nx{__name__=\"x\"} 1", "reserved")]
    [InlineData("# HELP x h\n\n# TYPE x gauge\nx 1", "blank line")]
    public void The_strict_parser_rejects_deviations(string body, string expectedMessage)
    {
        var e = Assert.Throws<PromFormatException>(() => PrometheusTextParser.Parse(body + "\n"));

        Assert.Contains(expectedMessage, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_strict_parser_requires_a_final_newline()
    {
        Assert.Throws<PromFormatException>(() => PrometheusTextParser.Parse("# HELP x h\n# TYPE x gauge\nx 1"));
    }
}
