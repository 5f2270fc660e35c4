using Kraft.Linearizability.Checking;
using static Kraft.Linearizability.Tests.TestSupport;

namespace Kraft.Linearizability.Tests;

/// <summary>Small hand-written histories per model, linearizable and not, each pinning one rule.</summary>
public class ModelHistoryTests
{
    private const Verdict Yes = Verdict.Linearizable;
    private const Verdict No = Verdict.NotLinearizable;

    // ---- etcd-register (Porcupine semantics) ----

    [Fact]
    public void Etcd_a_read_concurrent_with_a_write_may_see_either_value()
    {
        const string h = """
            {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
            {:process 0 :type :invoke :f :write :value 2}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1}
            {:process 2 :type :invoke :f :read :value nil} {:process 2 :type :ok :f :read :value 2}
            {:process 0 :type :ok :f :write :value 2}
            """;
        Assert.Equal(Yes, Check("etcd-register", h));
    }

    [Fact]
    public void Etcd_a_stale_read_after_a_completed_write_is_not_linearizable()
    {
        const string h = """
            {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
            {:process 0 :type :invoke :f :write :value 2} {:process 0 :type :ok :f :write :value 2}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1}
            """;
        Assert.Equal(No, Check("etcd-register", h));
    }

    [Fact]
    public void Etcd_a_nil_read_means_empty_and_a_failed_cas_is_an_observation()
    {
        Assert.Equal(No, Check("etcd-register", """
            {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}
            """));
        Assert.Equal(No, Check("etcd-register", """
            {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
            {:process 1 :type :invoke :f :cas :value [1 2]} {:process 1 :type :fail :f :cas :value [1 2]}
            """));
        Assert.Equal(Yes, Check("etcd-register", """
            {:process 0 :type :invoke :f :write :value 3} {:process 0 :type :ok :f :write :value 3}
            {:process 1 :type :invoke :f :cas :value [1 2]} {:process 1 :type :fail :f :cas :value [1 2]}
            """));
    }

    [Fact]
    public void Etcd_an_unknown_write_may_take_effect_late_or_never()
    {
        const string late = """
            {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :info :f :write :value :timed-out}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1}
            """;
        Assert.Equal(Yes, Check("etcd-register", late));
        const string flipBack = """
            {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :info :f :write :value :timed-out}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}
            """;
        Assert.Equal(No, Check("etcd-register", flipBack));
    }

    // ---- cas-register (Knossos semantics) ----

    [Fact]
    public void Cas_register_nil_reads_are_unconstrained_and_failed_ops_did_not_happen()
    {
        Assert.Equal(Yes, Check("cas-register", """
            [{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
             {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}
             {:process 1 :type :invoke :f :cas :value [1 2]} {:process 1 :type :fail :f :cas :value [1 2]}
             {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1}]
            """));
    }

    [Fact]
    public void Cas_register_a_cas_needs_the_expected_value()
    {
        Assert.Equal(No, Check("cas-register", """
            [{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
             {:process 1 :type :invoke :f :cas :value [0 2]} {:process 1 :type :ok :f :cas :value [0 2]}]
            """));
        Assert.Equal(Yes, Check("cas-register", """
            [{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
             {:process 1 :type :invoke :f :cas :value [1 2]} {:process 1 :type :ok :f :cas :value [1 2]}
             {:process 2 :type :invoke :f :read :value nil} {:process 2 :type :ok :f :read :value 2}]
            """));
    }

    [Fact]
    public void Cas_register_reads_use_the_completion_value()
    {
        // bad-analysis style: the invoke carries a value but the ok completion is what was read.
        Assert.Equal(No, Check("cas-register", """
            [{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
             {:process 1 :type :invoke :f :read :value 1} {:process 1 :type :ok :f :read :value 0}]
            """));
    }

    // ---- kv (Porcupine semantics) ----

    [Fact]
    public void Kv_appends_concatenate_and_keys_are_independent()
    {
        Assert.Equal(Yes, Check("kv", """
            {:process 0, :type :invoke, :f :append, :key "a", :value "x"}
            {:process 1, :type :invoke, :f :append, :key "a", :value "y"}
            {:process 0, :type :ok, :f :append, :key "a", :value "x"}
            {:process 1, :type :ok, :f :append, :key "a", :value "y"}
            {:process 2, :type :invoke, :f :get, :key "a", :value nil}
            {:process 2, :type :ok, :f :get, :key "a", :value "yx"}
            {:process 2, :type :invoke, :f :get, :key "b", :value nil}
            {:process 2, :type :ok, :f :get, :key "b", :value ""}
            """));
    }

    [Fact]
    public void Kv_a_get_that_misses_a_completed_put_is_not_linearizable_and_names_the_key()
    {
        var result = CheckResult("kv", """
            {:process 0, :type :invoke, :f :put, :key "a", :value "x"}
            {:process 0, :type :ok, :f :put, :key "a", :value "x"}
            {:process 1, :type :invoke, :f :put, :key "b", :value "y"}
            {:process 1, :type :ok, :f :put, :key "b", :value "y"}
            {:process 2, :type :invoke, :f :get, :key "b", :value nil}
            {:process 2, :type :ok, :f :get, :key "b", :value ""}
            """);
        Assert.Equal(No, result.Verdict);
        Assert.Equal(2, result.Partitions.Count);
        var explanation = Assert.Single(result.Explanations);
        Assert.Equal("b", explanation.PartitionKey);
        Assert.Contains(explanation.Unplaceable, o => o.F == "get");
    }

    // ---- kraft-metadata ----

    [Fact]
    public void Metadata_of_two_concurrent_creates_one_wins_and_the_other_sees_topic_exists()
    {
        Assert.Equal(Yes, Check("kraft-metadata", """
            {:type :invoke, :f :create, :key "t1", :value nil, :process 1}
            {:type :invoke, :f :create, :key "t1", :value nil, :process 2}
            {:type :ok, :f :create, :key "t1", :value nil, :process 1}
            {:type :fail, :f :create, :key "t1", :value nil, :process 2, :error :topic-exists}
            {:type :invoke, :f :read, :key "t1", :value nil, :process 3}
            {:type :ok, :f :read, :key "t1", :value {:exists true, :configs {}}, :process 3}
            """));
    }

    [Fact]
    public void Metadata_two_successful_creates_of_one_name_are_not_linearizable()
    {
        Assert.Equal(No, Check("kraft-metadata", """
            {:type :invoke, :f :create, :key "t1", :value nil, :process 1}
            {:type :invoke, :f :create, :key "t1", :value nil, :process 2}
            {:type :ok, :f :create, :key "t1", :value nil, :process 1}
            {:type :ok, :f :create, :key "t1", :value nil, :process 2}
            """));
    }

    [Fact]
    public void Metadata_reads_see_configs_and_deletes()
    {
        const string prefix = """
            {:type :invoke, :f :create, :key "t1", :value {"cleanup.policy" "compact"}, :process 1}
            {:type :ok, :f :create, :key "t1", :value {"cleanup.policy" "compact"}, :process 1}
            {:type :invoke, :f :set-config, :key "t1", :value ["retention.ms" "1000"], :process 1}
            {:type :ok, :f :set-config, :key "t1", :value ["retention.ms" "1000"], :process 1}
            """;
        Assert.Equal(Yes, Check("kraft-metadata", prefix + """
            {:type :invoke, :f :read, :key "t1", :value nil, :process 2}
            {:type :ok, :f :read, :key "t1", :value {:exists true, :configs {"retention.ms" "1000", "cleanup.policy" "compact"}}, :process 2}
            {:type :invoke, :f :delete, :key "t1", :value nil, :process 2}
            {:type :ok, :f :delete, :key "t1", :value nil, :process 2}
            {:type :invoke, :f :set-config, :key "t1", :value ["retention.ms" "5"], :process 2}
            {:type :fail, :f :set-config, :key "t1", :value ["retention.ms" "5"], :process 2, :error :unknown-topic}
            {:type :invoke, :f :read, :key "t1", :value nil, :process 2}
            {:type :ok, :f :read, :key "t1", :value {:exists false}, :process 2}
            """));
        Assert.Equal(No, Check("kraft-metadata", prefix + """
            {:type :invoke, :f :read, :key "t1", :value nil, :process 2}
            {:type :ok, :f :read, :key "t1", :value {:exists true, :configs {"cleanup.policy" "compact"}}, :process 2}
            """));
    }

    [Fact]
    public void Metadata_an_unknown_delete_may_or_may_not_have_happened()
    {
        const string h = """
            {:type :invoke, :f :create, :key "t1", :value nil, :process 1}
            {:type :ok, :f :create, :key "t1", :value nil, :process 1}
            {:type :invoke, :f :delete, :key "t1", :value nil, :process 1}
            {:type :info, :f :delete, :key "t1", :value nil, :process 1}
            {:type :invoke, :f :read, :key "t1", :value nil, :process 2}
            {:type :ok, :f :read, :key "t1", :value {:exists true, :configs {}}, :process 2}
            {:type :invoke, :f :read, :key "t1", :value nil, :process 2}
            {:type :ok, :f :read, :key "t1", :value {:exists false}, :process 2}
            """;
        Assert.Equal(Yes, Check("kraft-metadata", h));
        const string resurrected = h + """
            {:type :invoke, :f :read, :key "t1", :value nil, :process 2}
            {:type :ok, :f :read, :key "t1", :value {:exists true, :configs {}}, :process 2}
            """;
        Assert.Equal(No, Check("kraft-metadata", resurrected));
    }

    // ---- mutex and multi-register ----

    [Fact]
    public void Mutex_two_holders_at_once_are_not_linearizable()
    {
        const string twoHolders = """
            [{:process 0 :type :invoke :f :acquire} {:process 0 :type :ok :f :acquire}
             {:process 1 :type :invoke :f :acquire} {:process 1 :type :ok :f :acquire}]
            """;
        Assert.Equal(No, Check("mutex", twoHolders));
        Assert.Equal(Yes, Check("mutex", """
            [{:process 0 :type :invoke :f :acquire} {:process 0 :type :ok :f :acquire}
             {:process 1 :type :invoke :f :acquire} {:process 0 :type :invoke :f :release}
             {:process 0 :type :ok :f :release} {:process 1 :type :ok :f :acquire}]
            """));
    }

    [Fact]
    public void Multi_register_transactions_are_atomic()
    {
        Assert.Equal(Yes, Check("multi-register", """
            [{:process 0 :type :invoke :f :txn :value [[:write :x 1] [:write :y 1]]}
             {:process 0 :type :ok :f :txn :value [[:write :x 1] [:write :y 1]]}
             {:process 1 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]]}
             {:process 1 :type :ok :f :txn :value [[:read :x 1] [:read :y 1]]}]
            """));
        Assert.Equal(No, Check("multi-register", """
            [{:process 0 :type :invoke :f :txn :value [[:write :x 1] [:write :y 1]]}
             {:process 1 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]]}
             {:process 1 :type :ok :f :txn :value [[:read :x 1] [:read :y 0]]}
             {:process 0 :type :ok :f :txn :value [[:write :x 1] [:write :y 1]]}]
            """));
    }

    // ---- checker behaviour ----

    [Fact]
    public void An_exhausted_time_budget_gives_unknown_not_a_guess()
    {
        // 40 concurrent unknown writes and a read nobody can explain: the search space is huge.
        var lines = new List<string>();
        for (var p = 0; p < 40; p++)
        {
            lines.Add($"{{:process {p} :type :invoke :f :write :value {p}}}");
        }

        for (var p = 0; p < 40; p++)
        {
            lines.Add($"{{:process {p} :type :info :f :write :value {p}}}");
        }

        for (var i = 0; i < 30; i++)
        {
            lines.Add($"{{:process {100 + i} :type :invoke :f :read :value nil}} {{:process {100 + i} :type :ok :f :read :value {i % 40}}}");
        }

        lines.Add("{:process 200 :type :invoke :f :read :value nil} {:process 200 :type :ok :f :read :value 99}");
        // (With a 20 s budget this history still does not finish: 2^40 subsets of unknown writes.)
        var result = LinearizabilityChecker.Check(TestSupport.Edn(string.Join("\n", lines)), LinearizabilityChecker.Models["cas-register"], TimeSpan.FromMilliseconds(50));
        Assert.Equal(Verdict.Unknown, result.Verdict);
        Assert.Equal("unknown", result.VerdictText);
    }

    [Fact]
    public void The_explanation_gives_the_longest_prefix_and_the_stuck_operations()
    {
        var result = CheckResult("cas-register", """
            [{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
             {:process 0 :type :invoke :f :write :value 2} {:process 0 :type :ok :f :write :value 2}
             {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1}]
            """);
        var explanation = Assert.Single(result.Explanations);
        Assert.Equal(2, explanation.LongestPrefix.Count);
        Assert.Equal("2", explanation.StateAfterPrefix);
        Assert.Equal("read", Assert.Single(explanation.Unplaceable).F);
        Assert.Contains("longest linearizable prefix has 2 ops", explanation.ToString(), StringComparison.Ordinal);
    }
}
