using Kraft.Linearizability.Checking;
using Kraft.Linearizability.History;
using static Kraft.Linearizability.Tests.TestSupport;

namespace Kraft.Linearizability.Tests;

/// <summary>How each model turns operations into partitions, and its single-step rules.</summary>
public class ModelUnitTests
{
    private static IReadOnlyList<Partition> Partitions(string model, string edn) =>
        LinearizabilityChecker.Models[model].Partition(OperationPairing.Pair(TestSupport.Edn(edn)));

    [Fact]
    public void Kv_splits_per_key_and_drops_unknown_gets()
    {
        var parts = Partitions("kv", """
            {:process 0, :type :invoke, :f :put, :key "a", :value "x"} {:process 0, :type :ok, :f :put, :key "a", :value "x"}
            {:process 1, :type :invoke, :f :get, :key "b", :value nil} {:process 1, :type :info, :f :get, :key "b", :value nil}
            {:process 2, :type :invoke, :f :append, :key "b", :value "y"} {:process 2, :type :ok, :f :append, :key "b", :value "y"}
            """);
        Assert.Equal(["a", "b"], parts.Select(p => p.Key));
        Assert.Single(parts[1].Operations); // the unknown get constrains nothing
        Assert.Equal("\"y\"", parts[1].DescribeStateAfter([0]));
    }

    [Fact]
    public void Kv_strings_built_by_appends_equal_the_same_literal()
    {
        // "x" + "y" must be the very state a later put or get of "xy" names (interning by hash is confirmed by text).
        Assert.Equal(Verdict.Linearizable, Check("kv", """
            {:process 0, :type :invoke, :f :append, :key "k", :value "x"} {:process 0, :type :ok, :f :append, :key "k", :value "x"}
            {:process 0, :type :invoke, :f :append, :key "k", :value "y"} {:process 0, :type :ok, :f :append, :key "k", :value "y"}
            {:process 0, :type :invoke, :f :get, :key "k", :value nil} {:process 0, :type :ok, :f :get, :key "k", :value "xy"}
            {:process 0, :type :invoke, :f :put, :key "k", :value "xy"} {:process 0, :type :ok, :f :put, :key "k", :value "xy"}
            {:process 0, :type :invoke, :f :append, :key "k", :value ""} {:process 0, :type :ok, :f :append, :key "k", :value ""}
            {:process 0, :type :invoke, :f :get, :key "k", :value nil} {:process 0, :type :ok, :f :get, :key "k", :value "xy"}
            """));
        Assert.Equal(Verdict.NotLinearizable, Check("kv", """
            {:process 0, :type :invoke, :f :append, :key "k", :value "x"} {:process 0, :type :ok, :f :append, :key "k", :value "x"}
            {:process 0, :type :invoke, :f :append, :key "k", :value "y"} {:process 0, :type :ok, :f :append, :key "k", :value "y"}
            {:process 0, :type :invoke, :f :get, :key "k", :value nil} {:process 0, :type :ok, :f :get, :key "k", :value "yx"}
            """));
    }

    [Fact]
    public void Etcd_register_keeps_failed_cas_and_drops_unknown_reads()
    {
        var part = Assert.Single(Partitions("etcd-register", """
            {:process 0 :type :invoke :f :cas :value [1 2]} {:process 0 :type :fail :f :cas :value [1 2]}
            {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :info :f :read :value nil}
            {:process 2 :type :invoke :f :write :value 1} {:process 2 :type :info :f :write :value 1}
            """));
        Assert.Equal(["cas", "write"], part.Operations.Select(o => o.F));
        Assert.True(part.IsLegalAfter([], 0));    // nil != 1: the compare of the failed cas may fail
        Assert.False(part.IsLegalAfter([1], 0));  // after write 1 the compare would have succeeded
    }

    [Fact]
    public void Cas_register_drops_fail_ops_and_nil_reads()
    {
        var part = Assert.Single(Partitions("cas-register", """
            [{:process 0 :type :invoke :f :cas :value [1 2]} {:process 0 :type :fail :f :cas :value [1 2]}
             {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}
             {:process 1 :type :invoke :f :write :value 4} {:process 1 :type :ok :f :write :value 4}]
            """));
        Assert.Equal(["write"], part.Operations.Select(o => o.F));
        Assert.Equal("4", part.DescribeStateAfter([0]));
    }

    [Fact]
    public void Metadata_splits_per_topic_and_describes_topic_state()
    {
        var parts = Partitions("kraft-metadata", """
            {:type :invoke, :f :create, :key "t1", :value {"a" "1"}, :process 1} {:type :ok, :f :create, :key "t1", :value {"a" "1"}, :process 1}
            {:type :invoke, :f :create, :key "t2", :value nil, :process 1} {:type :fail, :f :create, :key "t2", :value nil, :process 1, :error :not-controller}
            """);
        Assert.Equal(["t1", "t2"], parts.Select(p => p.Key));
        Assert.Equal("{:exists true, :configs {\"a\" \"1\"}}", parts[0].DescribeStateAfter([0]));
        Assert.Empty(parts[1].Operations); // a failure other than topic-exists did not happen
    }

    [Fact]
    public void Models_reject_values_they_cannot_read_naming_the_line()
    {
        var e = Assert.Throws<HistoryFormatException>(() => Partitions("kraft-metadata", """
            {:type :invoke, :f :set-config, :key "t1", :value 42, :process 1}
            {:type :ok, :f :set-config, :key "t1", :value 42, :process 1}
            """));
        Assert.Equal(1, e.Line);
        Assert.Throws<HistoryFormatException>(() => Partitions("etcd-register", "{:process 0 :type :invoke :f :cas :value 5} {:process 0 :type :ok :f :cas :value 5}"));
        Assert.Throws<HistoryFormatException>(() => Partitions("kv", "{:process 0 :type :invoke :f :get :value nil} {:process 0 :type :ok :f :get :value \"\"}"));
        Assert.Throws<HistoryFormatException>(() => Partitions("mutex", "{:process 0 :type :invoke :f :read} {:process 0 :type :ok :f :read}"));
    }
}
