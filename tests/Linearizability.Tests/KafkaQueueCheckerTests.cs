using Kraft.Linearizability.Queue;

namespace Kraft.Linearizability.Tests;

/// <summary>Each Kafka queue anomaly on a small dirty history, next to a clean variant of the same history.</summary>
public class KafkaQueueCheckerTests
{
    private static string Send(int p, int k, int v, int offset) =>
        $"{{:type :invoke, :f :send, :value [{k} {v}], :process {p}}}\n{{:type :ok, :f :send, :value [{k} [{offset} {v}]], :process {p}}}\n";

    private static string Poll(int p, string result) =>
        $"{{:type :invoke, :f :poll, :value nil, :process {p}}}\n{{:type :ok, :f :poll, :value {result}, :process {p}}}\n";

    private static QueueResult Check(string edn) => KafkaQueueChecker.Check(TestSupport.Edn(edn));

    private static string Base => Send(0, 0, 1, 0) + Send(0, 0, 2, 1) + Send(0, 0, 3, 2);

    [Fact]
    public void A_clean_history_is_ok()
    {
        var result = Check(Base + Poll(1, "{0 [[0 1] [1 2]]}") + Poll(1, "{0 [[2 3]]}"));
        Assert.Equal("ok", result.VerdictText);
        Assert.True(result.IsOk);
    }

    [Fact]
    public void Lost_write_is_an_acknowledged_send_below_a_polled_offset_that_nobody_polled()
    {
        var dirty = Check(Base + Poll(1, "{0 [[0 1]]}") + Poll(2, "{0 [[2 3]]}"));
        Assert.Contains("lost-write", dirty.Anomalies.Keys);
        Assert.Contains("value 2", dirty.Anomalies["lost-write"][0], StringComparison.Ordinal);
        var clean = Check(Base + Poll(1, "{0 [[0 1]]}") + Poll(2, "{0 [[1 2] [2 3]]}"));
        Assert.DoesNotContain("lost-write", clean.Anomalies.Keys);
    }

    [Fact]
    public void Unseen_counts_acknowledged_sends_that_no_poll_returned()
    {
        var dirty = Check(Base + Poll(1, "{0 [[0 1] [1 2]]}"));
        Assert.Equal("unseen", dirty.VerdictText);
        Assert.Equal(1, dirty.Unseen[0L]);
    }

    [Fact]
    public void Duplicate_is_one_value_at_two_offsets()
    {
        var dirty = Check(Send(0, 0, 1, 0) + Poll(1, "{0 [[0 1] [1 1]]}"));
        Assert.Contains("duplicate", dirty.Anomalies.Keys);
        Assert.DoesNotContain("duplicate", Check(Send(0, 0, 1, 0) + Poll(1, "{0 [[0 1]]}")).Anomalies.Keys);
    }

    [Fact]
    public void Inconsistent_offsets_is_two_values_at_one_offset()
    {
        var dirty = Check(Send(0, 0, 1, 0) + Send(1, 0, 2, 0) + Poll(2, "{0 [[0 1]]}"));
        Assert.Contains("inconsistent-offsets", dirty.Anomalies.Keys);
        var clean = Check(Send(0, 0, 1, 0) + Send(1, 0, 2, 1) + Poll(2, "{0 [[0 1] [1 2]]}"));
        Assert.Equal("ok", clean.VerdictText);
    }

    [Fact]
    public void Poll_skip_is_a_consumer_jumping_over_offsets_that_exist()
    {
        var dirty = Check(Base + Poll(1, "{0 [[0 1]]}") + Poll(1, "{0 [[2 3]]}") + Poll(2, "{0 [[1 2]]}"));
        Assert.Equal("poll-skip", dirty.VerdictText);

        // Holes in the offsets (for example transaction markers) are not skips.
        var holes = Check(Send(0, 0, 1, 0) + Send(0, 0, 3, 5) + Poll(1, "{0 [[0 1]]}") + Poll(1, "{0 [[5 3]]}"));
        Assert.Equal("ok", holes.VerdictText);
    }

    [Fact]
    public void Nonmonotonic_poll_is_a_consumer_going_back_without_a_reassignment()
    {
        var dirty = Check(Base + Poll(1, "{0 [[0 1] [1 2] [2 3]]}") + Poll(1, "{0 [[1 2]]}"));
        Assert.Equal("nonmonotonic-poll", dirty.VerdictText);

        var assign = "{:type :invoke, :f :assign, :value [0], :process 1}\n{:type :ok, :f :assign, :value [1], :process 1}\n";
        var afterSeek = Check(Base + Poll(1, "{0 [[0 1] [1 2] [2 3]]}") + assign + Poll(1, "{0 [[1 2]]}"));
        Assert.Equal("ok", afterSeek.VerdictText);
    }

    [Fact]
    public void Nonmonotonic_send_is_a_producer_whose_later_send_lands_earlier()
    {
        var dirty = Check(Send(0, 0, 1, 1) + Send(0, 0, 2, 0) + Poll(1, "{0 [[0 2] [1 1]]}"));
        Assert.Equal("nonmonotonic-send", dirty.VerdictText);
        var clean = Check(Send(0, 0, 1, 0) + Send(0, 0, 2, 1) + Poll(1, "{0 [[0 1] [1 2]]}"));
        Assert.Equal("ok", clean.VerdictText);
    }

    [Fact]
    public void G1a_is_polling_a_value_whose_send_failed()
    {
        var failed = "{:type :invoke, :f :send, :value [0 9], :process 0}\n{:type :fail, :f :send, :value [0 9], :process 0}\n";
        var dirty = Check(failed + Poll(1, "{0 [[0 9]]}"));
        Assert.Equal("G1a", dirty.VerdictText);
        Assert.Equal("ok", Check(failed + Poll(1, "{0 []}")).VerdictText);
    }

    [Fact]
    public void Precommitted_read_is_polling_a_value_before_its_send_was_invoked_or_inside_its_own_txn()
    {
        var early = Check(Poll(1, "{0 [[0 7]]}") + Send(0, 0, 7, 0));
        Assert.Equal("precommitted-read", early.VerdictText);
        Assert.Equal("ok", Check(Send(0, 0, 7, 0) + Poll(1, "{0 [[0 7]]}")).VerdictText);

        var ownTxn = """
            {:type :invoke, :f :txn, :value [[:send 0 5] [:poll]], :process 0}
            {:type :ok, :f :txn, :value [[:send 0 [0 5]] [:poll {0 [[0 5]]}]], :process 0}
            """;
        Assert.Equal("precommitted-read", Check(ownTxn).VerdictText);
    }

    [Fact]
    public void The_transaction_form_is_read_like_the_simple_form()
    {
        const string txn = """
            {:type :invoke, :f :send, :value [[:send 0 1] [:send 0 2]], :process 0}
            {:type :ok, :f :send, :value [[:send 0 [0 1]] [:send 0 [1 2]]], :process 0}
            {:type :invoke, :f :poll, :value [[:poll]], :process 1}
            {:type :ok, :f :poll, :value [[:poll {0 [[0 1]]}]], :process 1}
            {:type :invoke, :f :poll, :value [[:poll]], :process 1}
            {:type :ok, :f :poll, :value [[:poll {0 [[1 2]]}]], :process 1}
            """;
        Assert.Equal("ok", Check(txn).VerdictText);
        Assert.Equal("int-nonmonotonic-poll,unseen", Check(Send(0, 0, 1, 0) + Send(0, 0, 2, 1) + Poll(1, "{0 [[1 2] [0 1]]}") + Send(0, 0, 3, 2)).VerdictText);
    }

    [Fact]
    public void Several_anomalies_are_listed_sorted()
    {
        var failed = "{:type :invoke, :f :send, :value [0 9], :process 0}\n{:type :fail, :f :send, :value [0 9], :process 0}\n";
        var result = Check(failed + Send(0, 0, 1, 0) + Poll(1, "{0 [[0 9]]}"));
        // The aborted 9 took offset 0 from the acknowledged 1, so 1 is also lost.
        Assert.Equal("G1a,inconsistent-offsets,lost-write,unseen", result.VerdictText);
    }
}
