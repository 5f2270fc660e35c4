using FsCheck;
using FsCheck.Fluent;
using Kraft.Quorum.Raft;

namespace Kraft.Quorum.Tests.Raft;

public class LogAndQuorumTests
{
    /// <summary>Deliberately naive: try every candidate value and count how many voters reach it.</summary>
    private static long NaiveMajorityOffset(long[] offsets)
    {
        long best = long.MinValue;
        foreach (long candidate in offsets)
        {
            int reaching = offsets.Count(o => o >= candidate);
            if (reaching * 2 > offsets.Length && candidate > best) best = candidate;
        }
        return best;
    }

    [Fact]
    public void Majority_offset_matches_the_naive_reference()
    {
        Prop.ForAll(Gen.Choose(1, 7).SelectMany(n => Gen.ArrayOf(Gen.Choose(-1, 20), n)).ToArbitrary(), (int[] raw) =>
        {
            long[] offsets = [.. raw.Select(x => (long)x)];
            return QuorumMath.MajorityOffset(offsets) == NaiveMajorityOffset(offsets);
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(5, 3)]
    public void Majority_is_more_than_half(int voters, int majority) => Assert.Equal(majority, QuorumMath.Majority(voters));

    [Fact]
    public void End_offset_for_epoch_follows_kafkas_epoch_lookup()
    {
        var log = RaftLog.Recover(new OffsetAndEpoch(3, 1), [.. Enumerable.Range(3, 7).Select(o => new LogEntry(o, o < 6 ? 2 : 4, LogEntryKind.Data, []))]);
        Assert.Equal(new OffsetAndEpoch(10, 4), log.EndOffsetForEpoch(4));
        Assert.Equal(new OffsetAndEpoch(10, 4), log.EndOffsetForEpoch(7));
        Assert.Equal(new OffsetAndEpoch(6, 2), log.EndOffsetForEpoch(3));
        Assert.Equal(new OffsetAndEpoch(6, 2), log.EndOffsetForEpoch(2));
        Assert.Equal(new OffsetAndEpoch(3, 1), log.EndOffsetForEpoch(1));
        Assert.Null(log.EndOffsetForEpoch(0)); // inside the snapshot
    }

    [Fact]
    public void End_offset_for_epoch_matches_a_naive_scan()
    {
        var gen =
            from start in Gen.Choose(0, 5)
            from startEpoch in Gen.Choose(0, 3)
            from steps in Gen.ListOf(Gen.Choose(0, 2))
            from query in Gen.Choose(0, 12)
            select (start, startEpoch, steps, query);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (start, startEpoch, steps, query) = t;
            var entries = new List<LogEntry>();
            int epoch = startEpoch;
            foreach (int step in steps)
            {
                epoch += step;
                entries.Add(new LogEntry(start + entries.Count, epoch, LogEntryKind.Data, []));
            }
            var log = start == 0 && startEpoch == 0 ? RaftLog.Recover(null, entries) : RaftLog.Recover(new OffsetAndEpoch(start, startEpoch), entries);
            return Equals(log.EndOffsetForEpoch(query), Naive(start, startEpoch, entries, query));
        }).QuickCheckThrowOnFailure();

        static OffsetAndEpoch? Naive(long start, int startEpoch, List<LogEntry> entries, int query)
        {
            var atOrBelow = entries.Where(e => e.Epoch <= query).ToList();
            if (atOrBelow.Count > 0)
            {
                // Epochs are non-decreasing, so the entries at or below the query form a prefix.
                var last = atOrBelow[^1];
                return new OffsetAndEpoch(last.Offset + 1, last.Epoch);
            }
            return query >= startEpoch ? new OffsetAndEpoch(start, startEpoch) : null;
        }
    }

    [Fact]
    public void Recovery_drops_entries_that_do_not_continue_the_snapshot()
    {
        var stale = Enumerable.Range(0, 8).Select(o => new LogEntry(o, 1, LogEntryKind.Data, [])).ToList();
        var log = RaftLog.Recover(new OffsetAndEpoch(5, 2), stale);
        Assert.Equal(0, log.Count);
        Assert.Equal(5, log.StartOffset);
        var matching = RaftLog.Recover(new OffsetAndEpoch(5, 1), stale);
        Assert.Equal(3, matching.Count);
        Assert.Equal(8, matching.EndOffset);
    }

    [Fact]
    public void Log_refuses_gaps_and_epochs_going_back()
    {
        var log = new RaftLog();
        log.Append(new LogEntry(0, 2, LogEntryKind.Data, []));
        Assert.Throws<RaftInvariantException>(() => log.Append(new LogEntry(2, 2, LogEntryKind.Data, [])));
        Assert.Throws<RaftInvariantException>(() => log.Append(new LogEntry(1, 1, LogEntryKind.Data, [])));
    }

    [Theory]
    [InlineData(RaftRole.Follower, 3, RaftRole.Leader, 3)]
    [InlineData(RaftRole.Unattached, 3, RaftRole.Candidate, 4)]
    [InlineData(RaftRole.Prospective, 3, RaftRole.Candidate, 5)]
    [InlineData(RaftRole.Leader, 3, RaftRole.Follower, 3)]
    [InlineData(RaftRole.Resigned, 3, RaftRole.Leader, 3)]
    [InlineData(RaftRole.Candidate, 4, RaftRole.Unattached, 3)]
    public void Illegal_role_transitions_are_rejected(RaftRole from, int fromEpoch, RaftRole to, int toEpoch)
    {
        Assert.False(RoleTransitions.IsLegal(from, fromEpoch, to, toEpoch, isVoter: true));
        Assert.Throws<RaftInvariantException>(() => RoleTransitions.Check(from, fromEpoch, to, toEpoch, isVoter: true));
    }

    [Theory]
    [InlineData(RaftRole.Prospective, 3, RaftRole.Candidate, 4)]
    [InlineData(RaftRole.Candidate, 4, RaftRole.Leader, 4)]
    [InlineData(RaftRole.Leader, 4, RaftRole.Resigned, 4)]
    [InlineData(RaftRole.Leader, 4, RaftRole.Follower, 5)]
    [InlineData(RaftRole.Follower, 4, RaftRole.Prospective, 4)]
    public void Legal_role_transitions_are_accepted(RaftRole from, int fromEpoch, RaftRole to, int toEpoch) =>
        Assert.True(RoleTransitions.IsLegal(from, fromEpoch, to, toEpoch, isVoter: true));

    [Fact]
    public void Observers_may_not_become_candidates() =>
        Assert.False(RoleTransitions.IsLegal(RaftRole.Prospective, 1, RaftRole.Candidate, 2, isVoter: false));

    [Fact]
    public void The_driver_must_advance_before_giving_more_input()
    {
        var node = new RaftNode(TestCluster.Options(1, [new(1)]), RecoveredState.Empty, new SplitMix64Random(1));
        _ = node.GetReady();
        Assert.Throws<RaftInvariantException>(() => node.Tick(10));
    }
}
