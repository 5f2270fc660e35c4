using System.Text;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;
using Microsoft.Extensions.Logging.Abstractions;
using Driver = Kraft.Quorum.RaftDriver.RaftDriver;

namespace Kraft.Quorum.Tests.RaftDriver;

/// <summary>A state machine that keeps the applied Data payloads as strings; its snapshot is those strings, one a line.</summary>
internal sealed class ListStateMachine : IRaftStateMachine
{
    private readonly Lock _lock = new();
    private readonly List<string> _values = [];
    private readonly List<long> _offsets = [];

    public int SnapshotLoads { get; private set; }

    public RoleInfo? LastRole { get; private set; }

    public List<string> Values { get { lock (_lock) { return [.. _values]; } } }

    public void OnRoleChange(RoleInfo role) => LastRole = role;

    public void OnCommitted(IReadOnlyList<LogEntry> entries, long highWatermark)
    {
        lock (_lock)
        {
            foreach (var e in entries)
            {
                Assert.True(_offsets.Count == 0 || e.Offset > _offsets[^1], "entries arrive in offset order");
                _offsets.Add(e.Offset);
                if (e.Kind == LogEntryKind.Data) _values.Add(Encoding.UTF8.GetString(e.Payload));
            }
        }
    }

    public void OnSnapshotLoad(RaftSnapshot snapshot)
    {
        lock (_lock)
        {
            SnapshotLoads++;
            _values.Clear();
            _offsets.Clear();
            string text = Encoding.UTF8.GetString(snapshot.Bytes);
            if (text.Length > 0) _values.AddRange(text.Split('\n'));
        }
    }

    public byte[]? TakeSnapshot(long endOffset)
    {
        lock (_lock)
        {
            return Encoding.UTF8.GetBytes(string.Join('\n', _values));
        }
    }
}

/// <summary>A transport for a single-voter node: nothing to send to.</summary>
internal sealed class NoTransport : IRaftTransport
{
    public int Sent;

    public void Send(RaftMessage message) => Interlocked.Increment(ref Sent);
}

public sealed class RaftDriverRecoveryTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "kraft-driver-tests", Guid.NewGuid().ToString("N"));
    private static readonly NodeId Self = new(1);

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private RaftDriverOptions Options(int snapshotEvery = 10_000) =>
        new(_directory, new RaftOptions { NodeId = Self, Voters = [Self], ElectionTimeoutMs = 50, FetchTimeoutMs = 100 }) { SnapshotEveryEntries = snapshotEvery };

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(5, timeout.Token);
        }
        Assert.True(condition(), what);
    }

    [Fact]
    public async Task A_single_voter_commits_proposals_and_reopens_with_the_same_quorum_state_entries_and_snapshot()
    {
        var machine = new ListStateMachine();
        PersistentQuorumState stateBefore;
        await using (var driver = Driver.Open(Options(snapshotEvery: 5), new NoTransport(), machine, TimeProvider.System, NullLogger.Instance))
        {
            driver.Start();
            await WaitForAsync(() => driver.Role.Role == RaftRole.Leader, "a lone voter elects itself");
            for (int i = 0; i < 12; i++)
            {
                var outcome = await driver.ProposeAsync(Encoding.UTF8.GetBytes($"v{i}"), CancellationToken.None);
                Assert.True(outcome.Committed, outcome.Error);
                Assert.Equal(driver.Role.Epoch, outcome.Epoch);
            }
            Assert.Equal(Enumerable.Range(0, 12).Select(i => $"v{i}"), machine.Values);
            Assert.True(await driver.ReadBarrierAsync(CancellationToken.None) >= 13, "the barrier covers every committed entry (12 data + LeaderChange)");
            var quorum = await driver.DescribeQuorumAsync(CancellationToken.None);
            Assert.Equal(Self, quorum!.LeaderId);
            await driver.DisposeAsync();
            stateBefore = RaftDiskStore.ParseQuorumState(await File.ReadAllTextAsync(Path.Combine(_directory, "quorum-state")), "quorum-state");
        }

        Assert.Equal(new PersistentQuorumState(stateBefore.Epoch, Self, Self), stateBefore);
        var snapshots = Directory.GetFiles(Path.Combine(_directory, "snapshots"));
        Assert.Single(snapshots); // older ones were deleted

        using (var store = RaftDiskStore.Open(_directory, TimeProvider.System))
        {
            var recovered = store.Recover();
            Assert.Equal(stateBefore, recovered.QuorumState);
            Assert.NotNull(recovered.Snapshot);
            Assert.True(recovered.Snapshot!.Id.Offset >= 5);
            Assert.Equal(13, recovered.Entries.Count > 0 ? recovered.Entries[^1].Offset + 1 : recovered.Snapshot.Id.Offset);
            Assert.All(recovered.Entries, e => Assert.Equal(stateBefore.Epoch, e.Epoch));
        }

        var reopened = new ListStateMachine();
        await using (var driver = Driver.Open(Options(snapshotEvery: 5), new NoTransport(), reopened, TimeProvider.System, NullLogger.Instance))
        {
            Assert.Equal(RaftRole.Resigned, driver.Role.Role); // a restarted leader never leads its old epoch again
            driver.Start();
            await WaitForAsync(() => driver.Role.Role == RaftRole.Leader && driver.Role.Epoch > stateBefore.Epoch, "it wins a new epoch");
            var outcome = await driver.ProposeAsync("after"u8.ToArray(), CancellationToken.None);
            Assert.True(outcome.Committed, outcome.Error);
            Assert.Equal(1, reopened.SnapshotLoads);
            Assert.Equal([.. Enumerable.Range(0, 12).Select(i => $"v{i}"), "after"], reopened.Values);
        }
    }

    [Fact]
    public void The_store_returns_what_was_written_across_reopen_including_truncation_and_reset()
    {
        using (var store = RaftDiskStore.Open(_directory, TimeProvider.System))
        {
            store.WriteQuorumState(new PersistentQuorumState(7, new NodeId(2), null));
            store.Append([new LogEntry(0, 1, LogEntryKind.LeaderChange, []), new LogEntry(1, 1, LogEntryKind.Data, [1]), new LogEntry(2, 2, LogEntryKind.Data, [2]), new LogEntry(3, 2, LogEntryKind.Data, [3])]);
            store.Flush();
            store.TruncateLog(3);
            store.Append([new LogEntry(3, 7, LogEntryKind.Data, [7, 7])]);
            store.Flush();
        }
        using (var store = RaftDiskStore.Open(_directory, TimeProvider.System))
        {
            var recovered = store.Recover();
            Assert.Equal(new PersistentQuorumState(7, new NodeId(2), null), recovered.QuorumState);
            Assert.Null(recovered.Snapshot);
            Assert.Equal(["0/1/LeaderChange/", "1/1/Data/01", "2/2/Data/02", "3/7/Data/0707"],
                recovered.Entries.Select(e => $"{e.Offset}/{e.Epoch}/{e.Kind}/{Convert.ToHexString(e.Payload)}"));

            store.WriteSnapshot(new RaftSnapshot(new OffsetAndEpoch(3, 2), [42]));
            store.DeleteLogBefore(3);
            store.WriteSnapshot(new RaftSnapshot(new OffsetAndEpoch(10, 9), [43]));
            store.ResetLog(10);
            store.Append([new LogEntry(10, 9, LogEntryKind.Data, [10])]);
            store.Flush();
        }
        using (var store = RaftDiskStore.Open(_directory, TimeProvider.System))
        {
            var recovered = store.Recover();
            Assert.Equal(new OffsetAndEpoch(10, 9), recovered.Snapshot!.Id);
            Assert.Equal([43], recovered.Snapshot.Bytes);
            Assert.Equal(["10/9"], recovered.Entries.Select(e => $"{e.Offset}/{e.Epoch}"));
            Assert.Single(Directory.GetFiles(Path.Combine(_directory, "snapshots")));
        }
    }

    [Theory]
    [InlineData("version=1\nepoch=3\nvotedFor=2\nleaderId=-1\ncrc=1\n", "checksum")]
    [InlineData("version=2\nepoch=3\nvotedFor=2\nleaderId=-1\ncrc=1\n", "unknown version 2")]
    [InlineData("garbage", "malformed line")]
    [InlineData("", "no version line")]
    [InlineData("version=1\nepoch=3\n", "expected version, epoch")]
    public async Task A_damaged_quorum_state_file_stops_the_node_with_a_clear_error(string contents, string expected)
    {
        Directory.CreateDirectory(_directory);
        await File.WriteAllTextAsync(Path.Combine(_directory, "quorum-state"), contents);

        var e = Assert.Throws<RaftStorageException>(() => Driver.Open(Options(), new NoTransport(), new ListStateMachine(), TimeProvider.System, NullLogger.Instance));
        Assert.Contains("quorum-state", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("refusing to start", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_valid_quorum_state_file_with_one_flipped_digit_is_detected()
    {
        string text = RaftDiskStore.FormatQuorumState(new PersistentQuorumState(12, new NodeId(3), new NodeId(3)));
        Assert.Equal(new PersistentQuorumState(12, new NodeId(3), new NodeId(3)), RaftDiskStore.ParseQuorumState(text, "q"));
        string flipped = text.Replace("epoch=12", "epoch=13", StringComparison.Ordinal);
        Assert.Throws<RaftStorageException>(() => RaftDiskStore.ParseQuorumState(flipped, "q"));
    }

    [Fact]
    public async Task A_damaged_snapshot_stops_the_node_with_a_clear_error()
    {
        using (var store = RaftDiskStore.Open(_directory, TimeProvider.System))
        {
            store.WriteSnapshot(new RaftSnapshot(new OffsetAndEpoch(5, 1), [1, 2, 3]));
        }
        string file = Directory.GetFiles(Path.Combine(_directory, "snapshots")).Single();
        byte[] bytes = await File.ReadAllBytesAsync(file);
        bytes[22] ^= 0xFF;
        await File.WriteAllBytesAsync(file, bytes);

        var e = Assert.Throws<RaftStorageException>(() => Driver.Open(Options(), new NoTransport(), new ListStateMachine(), TimeProvider.System, NullLogger.Instance));
        Assert.Contains("checksum", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_for_another_node_are_refused_and_a_full_queue_drops()
    {
        var options = Options() with { InboundQueueCapacity = 2 };
        await using var driver = Driver.Open(options, new NoTransport(), new ListStateMachine(), TimeProvider.System, NullLogger.Instance);
        driver.Deliver(new FetchRequest(new NodeId(5), new NodeId(9), 1, 0, 0, 0));
        driver.Deliver(new FetchRequest(Self, Self, 1, 0, 0, 0));
        Assert.Equal(2, driver.RefusedInboundMessages);
        for (int i = 0; i < 5; i++) driver.Deliver(new FetchRequest(new NodeId(5), Self, i, 0, 0, 0)); // not started: nothing drains
        Assert.Equal(3, driver.DroppedInboundMessages);
    }

    [Fact]
    public async Task A_batch_proposal_appends_contiguous_entries_and_answers_once_with_the_first_offset()
    {
        var machine = new ListStateMachine();
        await using var driver = Driver.Open(Options(), new NoTransport(), machine, TimeProvider.System, NullLogger.Instance);
        driver.Start();
        await WaitForAsync(() => driver.Role.Role == RaftRole.Leader, "a lone voter elects itself");
        var first = await driver.ProposeBatchAsync([.. Enumerable.Range(0, 100).Select(i => Encoding.UTF8.GetBytes($"a{i}"))], CancellationToken.None);
        var second = await driver.ProposeBatchAsync(["b0"u8.ToArray(), "b1"u8.ToArray()], CancellationToken.None);

        Assert.True(first.Committed, first.Error);
        Assert.True(second.Committed, second.Error);
        Assert.Equal(first.Offset + 100, second.Offset); // the first batch took 100 contiguous offsets
        Assert.Equal([.. Enumerable.Range(0, 100).Select(i => $"a{i}"), "b0", "b1"], machine.Values);
        Assert.True(driver.AppliedOffset >= second.Offset + 2, "the answer comes after the whole batch was applied");
        await Assert.ThrowsAsync<ArgumentException>(() => driver.ProposeBatchAsync([], CancellationToken.None));
    }

    [Fact]
    public void A_snapshot_leaves_the_disk_prefix_until_a_whole_segment_can_go_and_recovery_drops_the_covered_entries()
    {
        using (var store = RaftDiskStore.Open(_directory, TimeProvider.System))
        {
            store.WriteQuorumState(new PersistentQuorumState(1, Self, Self));
            store.Append([.. Enumerable.Range(0, 10).Select(i => new LogEntry(i, 1, LogEntryKind.Data, [(byte)i]))]);
            store.Flush();
            store.WriteSnapshot(new RaftSnapshot(new OffsetAndEpoch(6, 1), [42]));
            store.DeleteLogBefore(6);
            // One segment: deleting the prefix would free nothing, so the start offset (and its checkpoint) stays.
            Assert.Equal(0, store.Log.LogStartOffset);
        }

        using (var store = RaftDiskStore.Open(_directory, TimeProvider.System))
        {
            var recovered = store.Recover();
            Assert.Equal(0, recovered.Entries[0].Offset);
            var node = new RaftNode(new RaftOptions { NodeId = Self, Voters = [Self] }, recovered, new SplitMix64Random(1));
            Assert.Equal(6, node.Log.StartOffset);
            Assert.Equal(10, node.Log.EndOffset);
            Assert.Equal(6, node.HighWatermark);
        }
    }

    [Fact]
    public async Task A_proposal_for_an_epoch_this_node_does_not_lead_is_refused_and_appends_nothing()
    {
        var machine = new ListStateMachine();
        await using var driver = Driver.Open(Options(), new NoTransport(), machine, TimeProvider.System, NullLogger.Instance);
        driver.Start();
        await WaitForAsync(() => driver.Role.Role == RaftRole.Leader, "a lone voter elects itself");
        int epoch = driver.Role.Epoch;

        var stale = await driver.ProposeAsync("decided-in-an-older-epoch"u8.ToArray(), epoch - 1, CancellationToken.None);
        Assert.False(stale.Committed);
        Assert.Equal(ProposalErrors.NotLeader, stale.Error);

        var current = await driver.ProposeAsync("decided-in-this-epoch"u8.ToArray(), epoch, CancellationToken.None);
        Assert.True(current.Committed, current.Error);
        Assert.Equal(["decided-in-this-epoch"], machine.Values);
    }

    [Fact]
    public async Task A_snapshot_is_taken_once_the_applied_payload_bytes_reach_the_byte_bound()
    {
        var machine = new ListStateMachine();
        var options = Options(snapshotEvery: 1_000_000) with { SnapshotEveryBytes = 1000 };
        await using (var driver = Driver.Open(options, new NoTransport(), machine, TimeProvider.System, NullLogger.Instance))
        {
            driver.Start();
            await WaitForAsync(() => driver.Role.Role == RaftRole.Leader, "a lone voter elects itself");
            var outcome = await driver.ProposeBatchAsync([new byte[600]], CancellationToken.None);
            Assert.True(outcome.Committed, outcome.Error);
            await Task.Yield();
            Assert.Empty(Directory.GetFiles(Path.Combine(_directory, "snapshots"))); // 600 bytes: below the bound
            outcome = await driver.ProposeBatchAsync([new byte[600]], CancellationToken.None);
            Assert.True(outcome.Committed, outcome.Error);
            await WaitForAsync(() => Directory.GetFiles(Path.Combine(_directory, "snapshots")).Length == 1, "1,200 bytes applied: a snapshot");
        }
    }

    [Fact]
    public async Task With_a_barrier_payload_a_read_barrier_commits_one_entry_and_returns_the_offset_after_it()
    {
        var machine = new ListStateMachine();
        var options = Options() with { ReadBarrierPayload = "noop"u8.ToArray() };
        await using var driver = Driver.Open(options, new NoTransport(), machine, TimeProvider.System, NullLogger.Instance);
        driver.Start();
        await WaitForAsync(() => driver.Role.Role == RaftRole.Leader, "a lone voter elects itself");
        var outcome = await driver.ProposeAsync("w"u8.ToArray(), CancellationToken.None);
        Assert.True(outcome.Committed);

        long first = await driver.ReadBarrierAsync(CancellationToken.None);
        long second = await driver.ReadBarrierAsync(CancellationToken.None);

        Assert.Equal(outcome.Offset + 2, first); // the barrier entry sits right after "w"; the result is the end after it
        Assert.Equal(first + 1, second);          // every read after the previous barrier needs a new entry
        Assert.Equal(["w", "noop", "noop"], machine.Values);
        Assert.True(driver.AppliedOffset >= second);
    }

    [Fact]
    public async Task A_follower_of_nobody_answers_not_leader_and_read_barrier_minus_one()
    {
        var options = new RaftDriverOptions(_directory, new RaftOptions { NodeId = Self, Voters = [Self, new NodeId(2), new NodeId(3)] });
        await using var driver = Driver.Open(options, new NoTransport(), new ListStateMachine(), TimeProvider.System, NullLogger.Instance);
        driver.Start();
        var outcome = await driver.ProposeAsync([1], CancellationToken.None);
        Assert.False(outcome.Committed);
        Assert.Equal(ProposalErrors.NotLeader, outcome.Error);
        Assert.Equal(-1, await driver.ReadBarrierAsync(CancellationToken.None));
        Assert.Null(await driver.DescribeQuorumAsync(CancellationToken.None));
    }
}
