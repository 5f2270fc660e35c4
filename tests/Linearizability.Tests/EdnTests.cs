using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Tests;

public class EdnTests
{
    [Fact]
    public void Reads_every_kind_of_value()
    {
        var v = (EdnMap)EdnReader.ReadOne("""
            ; a comment
            {:a 1, :b -2, "s" "x\"y\n", :v [1 nil true false], :l (:k sym), :set #{1 2}, :m {:n 3} :d 1.5 :tag #inst "2020" :c \a}
            """)!;
        Assert.Equal(1L, v.Get("a"));
        Assert.Equal(-2L, v.Get("b"));
        Assert.Equal("x\"y\n", v.Get((object)"s"));
        Assert.Equal(new EdnSeq([1L, null, true, false]), v.Get("v"));
        Assert.True(((EdnSeq)v.Get("l")!).IsList);
        Assert.Equal(new Symbol("sym"), ((EdnSeq)v.Get("l")!)[1]);
        Assert.True(((EdnSet)v.Get("set")!).Contains(2L));
        Assert.Equal(3L, ((EdnMap)v.Get("m")!).Get("n"));
        Assert.Equal(1.5, v.Get("d"));
        Assert.Equal("2020", v.Get("tag"));
        Assert.Equal("a", v.Get("c"));
    }

    [Fact]
    public void Discard_and_commas_are_skipped()
    {
        var forms = EdnReader.ReadAll("[1,,2 #_ 3 4] #_{:x 1} :end");
        Assert.Equal(2, forms.Count);
        Assert.Equal(new EdnSeq([1L, 2L, 4L]), forms[0]);
        Assert.Equal(new Keyword("end"), forms[1]);
    }

    [Fact]
    public void Syntax_errors_name_the_line()
    {
        var e = Assert.Throws<EdnParseException>(() => EdnReader.ReadAll("[{:a 1}\n {:b 2}\n {:c ]"));
        Assert.Equal(3, e.Line);
        var odd = Assert.Throws<EdnParseException>(() => EdnReader.ReadAll("\n\n{:a}"));
        Assert.Equal(3, odd.Line);
    }

    [Fact]
    public void Writer_output_reads_back_equal()
    {
        const string text = "[{:type :ok, :f :poll, :value {0 [[1 \"a\\\"b\"] [2 nil]]}, :s #{:x}} (1 -2 3.5)]";
        var value = EdnReader.ReadOne(text);
        Assert.Equal(value, EdnReader.ReadOne(EdnWriter.Write(value)));
    }

    [Fact]
    public void History_writer_round_trips_a_history()
    {
        var history = TestSupport.Edn("""
            {:process 0, :type :invoke, :f :create, :key "t1", :value nil}
            {:process :nemesis, :type :info, :f :kill, :value nil}
            {:process 0, :type :fail, :f :create, :key "t1", :value nil, :error :topic-exists}
            """);
        var again = HistoryParser.Parse(HistoryWriter.ToEdn(history.Events));
        Assert.Equal(history.Events.Count, again.Events.Count);
        for (var i = 0; i < history.Events.Count; i++)
        {
            var (a, b) = (history.Events[i], again.Events[i]);
            Assert.Equal((a.Process, a.Type, a.F, a.Key, a.Error), (b.Process, b.Type, b.F, b.Key, b.Error));
            Assert.True(EdnEquality.AreEqual(a.ProcessName, b.ProcessName));
        }
    }

    [Fact]
    public void A_written_history_checks_the_same_as_the_original()
    {
        var original = HistoryParser.ParseFile(Path.Combine(TestSupport.SharedHistories(), "porcupine", "jepsen", "etcd_000.log"));
        var copy = HistoryParser.Parse(HistoryWriter.ToEdn(original.Events));
        var model = Checking.LinearizabilityChecker.Models["etcd-register"];
        var a = Checking.LinearizabilityChecker.Check(original, model, TimeSpan.FromSeconds(10));
        var b = Checking.LinearizabilityChecker.Check(copy, model, TimeSpan.FromSeconds(10));
        Assert.Equal(Checking.Verdict.NotLinearizable, a.Verdict);
        Assert.Equal(a.Verdict, b.Verdict);
        Assert.Equal(a.Operations.Count, b.Operations.Count);
    }

    [Fact]
    public void Etcd_log_lines_split_on_any_whitespace_and_timed_out_reads_become_unknown()
    {
        var history = HistoryParser.Parse("INFO  jepsen.util - 4\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 4   :ok :cas    [1 2]\nINFO  jepsen.util - 1 :invoke :read nil\nINFO  jepsen.util - 1 :fail :read :timed-out\n");
        var ops = OperationPairing.Pair(history);
        Assert.Equal(new EdnSeq([1L, 2L]), ops[0].Input);
        Assert.Equal(OpStatus.Ok, ops[0].Status);
        Assert.Equal(OpStatus.Unknown, ops[1].Status);
    }

    [Fact]
    public void Pairing_rejects_a_completion_without_an_invoke_and_skips_nemesis_info()
    {
        var e = Assert.Throws<HistoryFormatException>(() => OperationPairing.Pair(TestSupport.Edn("[{:process :nemesis :type :info :f :start}\n{:process 1 :type :ok :f :read :value 1}]")));
        Assert.Equal(2, e.Line);
        var ops = OperationPairing.Pair(TestSupport.Edn("[{:process 1 :type :invoke :f :read} {:process 1 :type :info :f :read} {:process 1 :type :info :f :read}]"));
        Assert.Single(ops);
        Assert.Equal(Operation.Infinity, ops[0].Return);
    }
}
