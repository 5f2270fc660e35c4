using Kraft.Linearizability.Checking;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.Harness;
using Kraft.Linearizability.History;
using static Kraft.Linearizability.Tests.TestSupport;

namespace Kraft.Linearizability.Tests.Harness;

/// <summary>
/// The metadata workload's <c>:set-config</c> operations as the harness records them (IncrementalAlterConfigs of
/// <c>retention.ms</c>, DescribeConfigs reads through the controller), checked by the kraft-metadata model: clean
/// histories pass, and each kind of wrong answer a broken controller could give is caught.
/// </summary>
public sealed class MetadataConfigHistoryTests
{
    private const string Created = """
        {:type :invoke, :f :create, :key "jepsen-meta-0", :value nil, :process 0}
        {:type :ok, :f :create, :key "jepsen-meta-0", :value nil, :process 0}
        {:type :invoke, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60001"], :process 0}
        {:type :ok, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60001"], :process 0}
        """;

    [Fact]
    public void A_read_concurrent_with_a_set_config_may_see_the_old_or_the_new_value_and_a_later_read_the_new_one()
    {
        Assert.Equal(Verdict.Linearizable, Check("kraft-metadata", Created + """
            {:type :invoke, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60002"], :process 1}
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 2}
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {"retention.ms" "60001"}}, :process 2}
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 3}
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {"retention.ms" "60002"}}, :process 3}
            {:type :ok, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60002"], :process 1}
            {:type :invoke, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" nil], :process 1}
            {:type :ok, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" nil], :process 1}
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 2}
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {}}, :process 2}
            """));
    }

    [Fact]
    public void A_stale_read_after_a_completed_set_config_is_not_linearizable()
    {
        Assert.Equal(Verdict.NotLinearizable, Check("kraft-metadata", Created + """
            {:type :invoke, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60002"], :process 1}
            {:type :ok, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60002"], :process 1}
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 2}
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {"retention.ms" "60001"}}, :process 2}
            """));
    }

    [Fact]
    public void A_config_that_survives_deleting_and_recreating_its_topic_is_not_linearizable()
    {
        const string recreated = Created + """
            {:type :invoke, :f :delete, :key "jepsen-meta-0", :value nil, :process 1}
            {:type :ok, :f :delete, :key "jepsen-meta-0", :value nil, :process 1}
            {:type :invoke, :f :create, :key "jepsen-meta-0", :value nil, :process 1}
            {:type :ok, :f :create, :key "jepsen-meta-0", :value nil, :process 1}
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 2}
            """;
        Assert.Equal(Verdict.Linearizable, Check("kraft-metadata", recreated + """
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {}}, :process 2}
            """));
        Assert.Equal(Verdict.NotLinearizable, Check("kraft-metadata", recreated + """
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {"retention.ms" "60001"}}, :process 2}
            """));
    }

    [Fact]
    public void An_unknown_set_config_may_apply_late_but_not_be_undone()
    {
        const string unknown = Created + """
            {:type :invoke, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60002"], :process 1}
            {:type :info, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60002"], :process 1, :error "NOT_CONTROLLER"}
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 2}
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {"retention.ms" "60001"}}, :process 2}
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 2}
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {"retention.ms" "60002"}}, :process 2}
            """;
        Assert.Equal(Verdict.Linearizable, Check("kraft-metadata", unknown));
        Assert.Equal(Verdict.NotLinearizable, Check("kraft-metadata", unknown + """
            {:type :invoke, :f :read, :key "jepsen-meta-0", :value nil, :process 2}
            {:type :ok, :f :read, :key "jepsen-meta-0", :value {:exists true, :configs {"retention.ms" "60001"}}, :process 2}
            """));
    }

    [Fact]
    public void A_set_config_refused_as_unknown_topic_while_the_topic_exists_is_not_linearizable()
    {
        Assert.Equal(Verdict.NotLinearizable, Check("kraft-metadata", Created + """
            {:type :invoke, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60003"], :process 1}
            {:type :fail, :f :set-config, :key "jepsen-meta-0", :value ["retention.ms" "60003"], :process 1, :error :unknown-topic}
            """));
    }

    [Fact]
    public void Set_config_ops_recorded_by_the_harness_round_trip_through_history_edn()
    {
        var recorder = new HistoryRecorder();
        recorder.Append(0, EventType.Invoke, "create", "t", null, null);
        recorder.Append(0, EventType.Ok, "create", "t", null, null);
        var set = EdnWriter.Vector("retention.ms", "60001");
        recorder.Append(0, EventType.Invoke, "set-config", "t", set, null);
        recorder.Append(0, EventType.Ok, "set-config", "t", set, null);
        recorder.Append(1, EventType.Invoke, "read", "t", null, null);
        recorder.Append(1, EventType.Ok, "read", "t", new EdnMap([new(new Keyword("exists"), true), new(new Keyword("configs"), new EdnMap([new("retention.ms", "60001")]))]), null);
        var history = HistoryParser.Parse(HistoryWriter.ToEdn(recorder.Snapshot()));
        var result = LinearizabilityChecker.Check(history, LinearizabilityChecker.Models["kraft-metadata"], TimeSpan.FromSeconds(10));
        Assert.Equal(Verdict.Linearizable, result.Verdict);
    }
}
