using Kraft.Linearizability.Edn;
using Kraft.Linearizability.Harness;
using Kraft.Linearizability.History;
using Kraft.Linearizability.Queue;

namespace Kraft.Linearizability.Tests.Harness;

/// <summary>The harness's pure parts: option parsing, the nemesis plan, the recorded op format and the report.</summary>
public sealed class HarnessUnitTests
{
    [Fact]
    public void The_documented_command_line_parses_into_the_expected_options()
    {
        var options = new RunOptions();
        var error = RunOptions.Parse(
            ["--workload", "queue", "--nodes", "3", "--time-limit", "60", "--rate", "50", "--nemesis", "kill,pause", "--nemesis-interval", "10", "--acks", "all", "--seed", "7", "--dir", "/tmp/x"],
            options);
        Assert.Null(error);
        Assert.Equal([NemesisKind.Kill, NemesisKind.Pause], options.Nemesis);
        Assert.Equal(TimeSpan.FromSeconds(60), options.TimeLimit);
        Assert.Equal(-1, options.Acks);
        Assert.Equal(7, options.Seed);
        Assert.Equal("/tmp/x", options.Dir);
    }

    [Fact]
    public void Every_nemesis_kind_name_round_trips()
    {
        foreach (var kind in Enum.GetValues<NemesisKind>())
        {
            Assert.Equal(kind, RunOptions.ParseKind(RunOptions.KindName(kind)));
        }
    }

    [Theory]
    [InlineData("--acks", "2")]
    [InlineData("--nemesis", "flood")]
    [InlineData("--workload", "bank")]
    [InlineData("--nodes", "0")]
    [InlineData("--bogus", "1")]
    public void Bad_options_are_rejected_with_a_message(string name, string value)
    {
        Assert.NotNull(RunOptions.Parse([name, value], new RunOptions()));
    }

    [Fact]
    public void The_same_seed_gives_the_same_nemesis_plan_and_only_enabled_kinds()
    {
        List<PlannedFault?> Plan(int seed)
        {
            var planner = new NemesisPlanner(new Random(seed), [NemesisKind.Kill, NemesisKind.LoseLeader], 3, 4);
            return Enumerable.Range(0, 50).Select(_ => planner.Next()).ToList();
        }

        var a = Plan(42);
        Assert.Equal(a, Plan(42));
        Assert.NotEqual(a, Plan(43));
        Assert.All(a, f => Assert.Contains(f!.Kind, new[] { NemesisKind.Kill, NemesisKind.LoseLeader }));
        Assert.All(a.Where(f => f!.Kind == NemesisKind.LoseLeader), f => Assert.NotNull(f!.LeaderOfPartition));
        Assert.All(a.Where(f => f!.Node is not null), f => Assert.InRange(f!.Node!.Value, 1, 3));
        Assert.Contains(a, f => f!.Kind == NemesisKind.Kill && f.Node is not null);
    }

    [Fact]
    public void No_nemesis_kind_plans_no_fault()
    {
        Assert.Null(new NemesisPlanner(new Random(1), [], 3, 4).Next());
    }

    /// <summary>Records ops the way the workload does and checks them after a round trip through history.edn.</summary>
    private static QueueResult RecordAndCheck(bool pollTheSecondValue)
    {
        var recorder = new HistoryRecorder();
        recorder.Invoke(0, "send", EdnWriter.Vector(0L, 1L));
        recorder.Complete(0, EventType.Ok, "send", EdnWriter.Vector(0L, EdnWriter.Vector(0L, 1L)));
        recorder.Invoke(0, "send", EdnWriter.Vector(0L, 2L));
        recorder.Complete(0, EventType.Ok, "send", EdnWriter.Vector(0L, EdnWriter.Vector(1L, 2L)));
        recorder.Invoke(1, "send", EdnWriter.Vector(0L, 3L));
        recorder.Complete(1, EventType.Info, "send", EdnWriter.Vector(0L, 3L), "timed out");
        recorder.Nemesis("kill", "kill 2");
        recorder.Invoke(5, "assign", EdnWriter.Vector(0L));
        recorder.Complete(5, EventType.Ok, "assign", EdnWriter.Vector(0L));
        recorder.Invoke(5, "poll", null);
        var polled = pollTheSecondValue
            ? EdnWriter.Vector(EdnWriter.Vector(0L, 1L), EdnWriter.Vector(1L, 2L))
            : EdnWriter.Vector(EdnWriter.Vector(0L, 1L));
        recorder.Complete(5, EventType.Ok, "poll", new EdnMap([new KeyValuePair<object?, object?>(0L, polled)]));
        var text = HistoryWriter.ToEdn(recorder.Snapshot());
        var history = HistoryParser.Parse(text);
        Assert.Equal(recorder.Snapshot().Count, history.Events.Count);
        return KafkaQueueChecker.Check(history);
    }

    [Fact]
    public void A_recorded_history_where_every_acknowledged_send_is_polled_is_ok()
    {
        var result = RecordAndCheck(pollTheSecondValue: true);
        Assert.True(result.IsOk, result.Describe());
    }

    [Fact]
    public void A_recorded_history_missing_an_acknowledged_send_is_reported_unseen()
    {
        var result = RecordAndCheck(pollTheSecondValue: false);
        Assert.Contains("unseen", result.Anomalies.Keys);
    }

    [Fact]
    public void Recorder_times_are_monotonic_and_indexes_dense()
    {
        var recorder = new HistoryRecorder();
        for (int i = 0; i < 100; i++)
        {
            recorder.Invoke(i, "poll", null);
        }

        var events = recorder.Snapshot();
        Assert.Equal(Enumerable.Range(0, 100), events.Select(e => e.Index));
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Time <= p.Second.Time));
    }

    [Fact]
    public void The_report_shades_nemesis_intervals_and_states_the_verdict()
    {
        var recorder = new HistoryRecorder();
        recorder.Invoke(0, "send", EdnWriter.Vector(0L, 1L));
        recorder.Complete(0, EventType.Ok, "send", EdnWriter.Vector(0L, EdnWriter.Vector(0L, 1L)));
        var html = RunReport.Render("t", "lost-write", ["lost-write (1): value 7"], recorder.Snapshot(), [(0L, 500_000_000L, "kill 2")]);
        Assert.Contains("Verdict: lost-write", html);
        Assert.Contains("<title>kill 2</title>", html);
        Assert.Contains("<circle", html);
        Assert.DoesNotContain("<script", html);
    }
}
