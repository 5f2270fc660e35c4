using System.Collections.Concurrent;
using System.Threading.Channels;
using Kraft.Quorum.Raft;
using Microsoft.Extensions.Logging;

namespace Kraft.Quorum.RaftDriver;

/// <summary>
/// Runs one <see cref="RaftNode"/> for real: a dedicated thread owns the core, the disk
/// (<see cref="RaftDiskStore"/>) and the state machine callbacks, and talks to other nodes through an
/// <see cref="IRaftTransport"/>. Each turn of its loop ticks the core with the real elapsed time,
/// steps queued messages and commands, and carries out every <see cref="Ready"/> in the order
/// <see cref="Ready"/> prescribes (state durable and log fsynced before any message leaves).
/// Other threads talk to it only through thread-safe queues (<see cref="Deliver"/>, the async
/// methods) and read <see cref="Role"/>/<see cref="HighWatermark"/> snapshots.
/// Failure policy: an exception from the core (a broken invariant), the disk or the state machine
/// stops the driver thread with a critical log line; pending calls then complete with STOPPED and
/// <see cref="Stopped"/> faults, so the node can shut down rather than serve from a broken state.
/// </summary>
public sealed partial class RaftDriver : IAsyncDisposable
{
    private readonly RaftDriverOptions _options;
    private readonly IRaftTransport _transport;
    private readonly IRaftStateMachine _stateMachine;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly RaftDiskStore _store;
    private readonly RaftNode _node;
    private readonly RaftSnapshot? _recoveredSnapshot;
    private readonly int _majority;

    private readonly Channel<RaftMessage> _inbound;
    private readonly ConcurrentQueue<Action> _commands = new();
    // No spinning before blocking: on a 2-core machine shared by several nodes a spinning driver thread takes the
    // core that the thread it waits for (a socket reader, a proposer) needs (perf sched showed each driver thread
    // switching ~9,000 times/s at 1,000 commits/s; without spinning ~600/s; docs/performance-cluster.md).
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _thread;
    private volatile bool _stopRequested;
    private volatile bool _halted;
    private int _disposed;

    // Owned by the driver thread.
    private readonly Dictionary<long, PendingProposal> _pending = [];
    private readonly List<ReadBarrier> _barriers = [];
    private readonly List<TaskCompletionSource<long>> _barrierWaiting = [];
    private BarrierEntry? _barrierInFlight;
    private long _appliedSinceSnapshot;
    private long _logStartOffset;
    private readonly Dictionary<NodeId, long> _lastHeardFrom = []; // timestamps of the last message from each node (driver thread)
    private Task? _snapshotWrite; // the background snapshot file write, while one runs (driver thread only)
    private readonly ElectionTracker _elections = new();
    private readonly CommitLatencyTracker _commitLatency = new();
    private long _gaugesRefreshedAt;
    private long _appliedBytesSinceSnapshot;

    // Published by the driver thread for readers on any thread.
    private volatile RoleInfo _role;
    private long _highWatermark;
    private long _appliedOffset;
    private int _pendingCount;
    private long _droppedInbound;
    private long _refusedInbound;
    private long _snapshotsInstalled;
    private Exception? _fault;
    private volatile RaftGaugeSnapshot _gauges;
    private readonly RaftMetrics _metrics;

    private RaftDriver(RaftDriverOptions options, IRaftTransport transport, IRaftStateMachine stateMachine, TimeProvider time, ILogger logger,
        RaftDiskStore store, RaftNode node, RaftSnapshot? recoveredSnapshot)
    {
        _options = options;
        _transport = transport;
        _stateMachine = stateMachine;
        _time = time;
        _logger = logger;
        _store = store;
        _node = node;
        _recoveredSnapshot = recoveredSnapshot;
        _majority = options.Raft.Voters.Count / 2 + 1;
        _inbound = Channel.CreateBounded<RaftMessage>(new BoundedChannelOptions(options.InboundQueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails and Deliver counts the drop
        });
        _role = new RoleInfo(node.Role, node.Epoch, node.LeaderId);
        _highWatermark = node.HighWatermark;
        _appliedOffset = node.AppliedOffset;
        _gauges = RaftGaugeSnapshot.From(node.Role, options.Raft.NodeId, node.Log.EndOffset, null);
        _metrics = new RaftMetrics(options.Raft.NodeId, () => _gauges);
    }

    /// <summary>
    /// Recovers the node from <see cref="RaftDriverOptions.Directory"/> (created when missing). A damaged
    /// or unknown-version quorum-state file, snapshot or log throws <see cref="RaftStorageException"/>.
    /// </summary>
    public static RaftDriver Open(RaftDriverOptions options, IRaftTransport transport, IRaftStateMachine stateMachine, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(stateMachine);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        options.Raft.Validate();
        if (options.SnapshotEveryEntries <= 0 || options.SnapshotEveryBytes <= 0 || options.InboundQueueCapacity <= 0 || options.MaxPendingProposals <= 0 || options.TickIntervalMs <= 0)
            throw new ArgumentException("RaftDriverOptions bounds must be positive");
        var store = RaftDiskStore.Open(options.Directory, time);
        try
        {
            var recovered = store.Recover();
            RaftNode node;
            try
            {
                node = new RaftNode(options.Raft, recovered, new SplitMix64Random((ulong)Random.Shared.NextInt64()));
            }
            catch (RaftInvariantException e)
            {
                throw new RaftStorageException($"the Raft state in {options.Directory} is inconsistent: {e.Message}; refusing to start", e);
            }
            var driver = new RaftDriver(options, transport, stateMachine, time, logger, store, node, recovered.Snapshot);
            driver.LogOpened(options.Raft.NodeId, recovered.QuorumState.Epoch, recovered.Snapshot?.Id.Offset ?? -1, recovered.Entries.Count, node.Log.EndOffset);
            return driver;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>This node's id.</summary>
    public NodeId NodeId => _options.Raft.NodeId;

    /// <summary>The latest role, epoch and leader (thread-safe).</summary>
    public RoleInfo Role => _role;

    /// <summary>The latest high watermark (thread-safe).</summary>
    public long HighWatermark => Volatile.Read(ref _highWatermark);

    /// <summary>Every committed entry below this has been handed to the state machine (thread-safe).</summary>
    public long AppliedOffset => Volatile.Read(ref _appliedOffset);

    /// <summary>Messages dropped because the inbound queue was full.</summary>
    public long DroppedInboundMessages => Interlocked.Read(ref _droppedInbound);

    /// <summary>Snapshots this node downloaded from a leader (FetchSnapshot) and installed since it started.</summary>
    public long SnapshotsInstalled => Interlocked.Read(ref _snapshotsInstalled);

    /// <summary>Messages refused because they were addressed to another node or came from this one.</summary>
    public long RefusedInboundMessages => Interlocked.Read(ref _refusedInbound);

    /// <summary>Completes when the driver thread has exited; faults with the cause when it failed.</summary>
#pragma warning disable VSTHRD003 // The task belongs to this driver's own thread, not to a caller's context.
    public Task Stopped => _stopped.Task;
#pragma warning restore VSTHRD003

    /// <summary>The exception that stopped the driver, if any.</summary>
    public Exception? Fault => Volatile.Read(ref _fault);

    /// <summary>The storage (tests and metrics only; touch it only while the driver is not running).</summary>
    public RaftDiskStore Store => _store;

    /// <summary>
    /// The first offset still in the log (the latest snapshot's end once one was taken or installed): fetches below
    /// it are answered with the snapshot. The disk may keep older entries until a whole segment can go.
    /// </summary>
    public long LogStartOffset => Volatile.Read(ref _logStartOffset);

    /// <summary>
    /// How long ago (ms) this node last received any message from <paramref name="node"/>, or null if never since it
    /// started. Driver thread only: call it from the state machine's callbacks (the controller asks on becoming
    /// leader when it last heard from the previous leader).
    /// </summary>
    public long? MillisecondsSinceHeardFrom(NodeId node) =>
        _lastHeardFrom.TryGetValue(node, out long at) ? (long)_time.GetElapsedTime(at).TotalMilliseconds : null;

    /// <summary>Starts the driver thread. Call once.</summary>
    public void Start()
    {
        if (_thread is not null) throw new InvalidOperationException("the driver is already started");
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        _thread = new Thread(Run) { IsBackground = true, Name = $"raft-driver-{NodeId}" };
        _thread.Start();
    }

    /// <summary>
    /// Queues a received message (thread-safe, never blocks). Messages for another node id or from this
    /// node are refused; when the queue is full the message is dropped. Both are counted, and Raft's
    /// timers recover from the loss.
    /// </summary>
    public void Deliver(RaftMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.To != NodeId || message.From == NodeId)
        {
            Interlocked.Increment(ref _refusedInbound);
            return;
        }
        if (Volatile.Read(ref _disposed) != 0 || !_inbound.Writer.TryWrite(message))
        {
            Interlocked.Increment(ref _droppedInbound);
            return;
        }
        _wake.Set();
    }

    /// <summary>
    /// Proposes one entry. Completes when the entry commits (the entry at its offset committed with its
    /// epoch) or with an error from <see cref="ProposalErrors"/>. Cancellation abandons the wait only;
    /// the entry may still commit.
    /// </summary>
    public Task<ProposalOutcome> ProposeAsync(byte[] payload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return ProposeBatchAsync([payload], cancellationToken);
    }

    /// <summary>
    /// Proposes one entry only if, when the driver thread appends it, this node still leads
    /// <paramref name="expectedEpoch"/>; otherwise it is refused with NOT_LEADER and nothing is appended. For a caller
    /// that decided the entry from the state of that epoch (the controller): after a leadership loss and a new election
    /// won by this same node, the entry would otherwise land in a later epoch whose state it was not decided from.
    /// </summary>
    public Task<ProposalOutcome> ProposeAsync(byte[] payload, int expectedEpoch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return ProposeBatchAsync([payload], cancellationToken, expectedEpoch);
    }

    /// <summary>
    /// Proposes several entries with one call (group commit from the caller's side): they are appended
    /// contiguously in one epoch and written, with everything else appended in the same turn, by one write
    /// and one fsync. Completes once the last of them commits with that epoch, which by Raft's log-matching
    /// property means every one of them committed; <see cref="ProposalOutcome.Offset"/> is then the first
    /// entry's offset. The errors are <see cref="ProposeAsync"/>'s, for the batch as a whole (nothing of a
    /// batch refused with NOT_LEADER or BACKPRESSURE was appended). Counts as one pending proposal.
    /// </summary>
    public Task<ProposalOutcome> ProposeBatchAsync(IReadOnlyList<byte[]> payloads, CancellationToken cancellationToken) =>
        ProposeBatchAsync(payloads, cancellationToken, expectedEpoch: null);

    private Task<ProposalOutcome> ProposeBatchAsync(IReadOnlyList<byte[]> payloads, CancellationToken cancellationToken, int? expectedEpoch)
    {
        ArgumentNullException.ThrowIfNull(payloads);
        if (payloads.Count == 0) throw new ArgumentException("a batch needs at least one entry", nameof(payloads));
        foreach (var payload in payloads) ArgumentNullException.ThrowIfNull(payload, nameof(payloads));
        if (_halted || _stopRequested) return Task.FromResult(new ProposalOutcome(false, -1, -1, ProposalErrors.Stopped));
        if (Interlocked.Increment(ref _pendingCount) > _options.MaxPendingProposals)
        {
            Interlocked.Decrement(ref _pendingCount);
            return Task.FromResult(new ProposalOutcome(false, -1, -1, ProposalErrors.Backpressure));
        }
        var completion = new TaskCompletionSource<ProposalOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = completion.Task.ContinueWith(static (_, state) => Interlocked.Decrement(ref ((RaftDriver)state!)._pendingCount), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(static s => ((TaskCompletionSource<ProposalOutcome>)s!).TrySetCanceled(), completion);
            _ = completion.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        // Copied: the driver thread reads the list later, and the caller may reuse its list meanwhile.
        byte[][] entries = [.. payloads];
        Enqueue(() => DoPropose(entries, completion, expectedEpoch), () => completion.TrySetResult(new ProposalOutcome(false, -1, -1, ProposalErrors.Stopped)));
        return completion.Task;
    }

    /// <summary>DescribeQuorum's data from the core; null when this node is not the leader.</summary>
    public Task<QuorumDescription?> DescribeQuorumAsync(CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<QuorumDescription?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Enqueue(() => completion.TrySetResult(ToWallClock(_node.DescribeQuorum())), () => completion.TrySetResult(null));
        return completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// The core reports fetch times on its logical clock (ms since this node started); DescribeQuorum answers carry
    /// wall-clock epoch milliseconds, as Kafka's do. Runs on the driver thread.
    /// </summary>
    private QuorumDescription? ToWallClock(QuorumDescription? description)
    {
        if (description is null)
        {
            return null;
        }
        long wallNow = _time.GetUtcNow().ToUnixTimeMilliseconds();
        long logicalNow = _node.NowMs;
        long Convert(long logical) => logical < 0 ? -1 : wallNow - (logicalNow - logical);
        ReplicaDescription Map(ReplicaDescription r) => r with { LastFetchTimestampMs = Convert(r.LastFetchTimestampMs), LastCaughtUpTimestampMs = Convert(r.LastCaughtUpTimestampMs) };
        return description with { CurrentVoters = description.CurrentVoters.Select(Map).ToList(), Observers = description.Observers.Select(Map).ToList() };
    }

    /// <summary>
    /// Linearizable read support (read-index, Raft thesis 6.4). Returns an end offset R such that the
    /// state machine's state after applying every entry below R reflects every write committed before
    /// the call; when the task completes this node has already applied through R. Returns -1 when this
    /// node is not a leader that has committed an entry of its epoch, or stops leading meanwhile.
    /// Two modes:
    /// <list type="bullet">
    /// <item>With <see cref="RaftDriverOptions.ReadBarrierPayload"/> set (recommended; the controller sets
    /// it to an encoded metadata no-op record): the driver proposes one barrier entry for the reads that
    /// arrived since the last barrier entry and answers them when it commits in this epoch (R = its
    /// offset + 1). Needs no clock and has no known hole: the entry commits only through fetches of this
    /// epoch that acknowledge an entry appended after the reads began. Costs one fsync and fetch round
    /// per batch; the state machine sees the barrier entries as ordinary Data entries.</item>
    /// <item>Without it: a write-free fetch round. R = the high watermark at the call; the driver
    /// releases parked fetches and waits until a majority of voters (itself included) was answered
    /// after the call and then fetched again in this epoch. Known hole (see docs/quorum.md): a
    /// follower's fetch re-sent after a request timeout before the call, arriving late, counts.</item>
    /// </list>
    /// </summary>
    public Task<long> ReadBarrierAsync(CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Enqueue(() => StartReadBarrier(completion), () => completion.TrySetResult(-1));
        return completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Graceful leadership hand-off (shutdown): a leader resigns and sends EndQuorumEpoch so the other
    /// voters elect a successor at once. Completes when those messages were handed to the transport.
    /// </summary>
    public Task ResignAsync()
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Enqueue(() =>
        {
            if (_node.Resign()) ProcessReadies();
            completion.TrySetResult();
        }, () => completion.TrySetResult());
        return completion.Task;
    }

    /// <summary>Stops the driver thread (without resigning: call <see cref="ResignAsync"/> first for a quick hand-off) and closes the disk.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stopRequested = true;
        _wake.Set();
        if (_thread is not null)
        {
            try
            {
#pragma warning disable VSTHRD003 // Waiting for this driver's own thread to exit.
                await _stopped.Task.ConfigureAwait(false);
#pragma warning restore VSTHRD003
            }
            catch (Exception)
            {
                // The failure was logged by the driver thread and stays visible through Fault/Stopped.
            }
        }
        else
        {
            _stopped.TrySetResult();
        }
        FailEverything();
        if (Volatile.Read(ref _snapshotWrite) is { } snapshotWrite)
        {
            // The store must outlive its last write. WhenAny waits without rethrowing: a failed write is reported by
            // the driver thread (OnSnapshotWritten), or is moot when the node is stopping anyway.
            await Task.WhenAny(snapshotWrite).ConfigureAwait(false);
        }
        _store.Dispose();
        _metrics.Dispose();
        // _wake is not disposed: other threads may still call Deliver or Enqueue, which only Set it.
    }

    private void Enqueue(Action action, Action onStopped)
    {
        if (_halted || _stopRequested)
        {
            onStopped();
            return;
        }
        _commands.Enqueue(() =>
        {
            if (_halted) onStopped();
            else action();
        });
        _wake.Set();
        // A command queued while the thread was exiting would never run; the exit path drains the queue.
        if (_halted) DrainCommandsAfterStop();
    }

    // ----- the driver thread -----

    private void Run()
    {
        Exception? failure = null;
        try
        {
            if (_recoveredSnapshot is { } snapshot) _stateMachine.OnSnapshotLoad(snapshot);
            Volatile.Write(ref _appliedOffset, _node.AppliedOffset);
            ProcessReadies();
            long lastTimestamp = _time.GetTimestamp();
            while (!_stopRequested)
            {
                _wake.Wait(_options.TickIntervalMs);
                _wake.Reset();
                long now = _time.GetTimestamp();
                long elapsedMs = (long)_time.GetElapsedTime(lastTimestamp, now).TotalMilliseconds;
                if (elapsedMs > 0)
                {
                    _node.Tick(elapsedMs);
                    lastTimestamp += elapsedMs * _time.TimestampFrequency / 1000;
                    ProcessReadies();
                }
                for (int i = 0; i < 10_000 && _commands.TryDequeue(out var command); i++)
                {
                    command();
                }
                for (int i = 0; i < 10_000 && _inbound.Reader.TryRead(out var message); i++)
                {
                    ObserveInbound(message);
                    _node.Step(message);
                }
                ProcessReadies();
                RefreshGauges(force: false);
                MaybeSnapshot();
                // A Fetch that confirms a read barrier may be parked and produce no Ready.
                CompleteBarriers();
                if (_barrierWaiting.Count > 0 && _barrierInFlight is null)
                {
                    if (_node.IsLeaderReady) MaybeProposeBarrierEntry();
                    else FailBarriers();
                    ProcessReadies();
                }
            }
        }
#pragma warning disable CA1031 // Fail fast: any failure stops the node; it is logged and surfaced through Stopped/Fault.
        catch (Exception e)
#pragma warning restore CA1031
        {
            failure = e;
            Volatile.Write(ref _fault, e);
            LogDriverFailed(e, NodeId);
        }
        finally
        {
            _halted = true;
            FailEverything();
            DrainCommandsAfterStop();
            // Signalled last, so that a disposer waiting for it never races the clean-up above.
            if (failure is null) _stopped.TrySetResult();
            else _stopped.TrySetException(failure);
        }
    }

    private void DrainCommandsAfterStop()
    {
        // Runs after the thread stopped: every command then takes its onStopped branch.
        while (_commands.TryDequeue(out var command)) command();
    }

    /// <summary>Carries out every pending Ready, in the order Ready.cs prescribes.</summary>
    private void ProcessReadies()
    {
        while (_node.HasReady)
        {
            var ready = _node.GetReady();
            long durableStart = _time.GetTimestamp();
            if (ready.QuorumState is { } quorumState) _store.WriteQuorumState(quorumState);
            if (ready.SnapshotToWrite is { } snapshotToWrite) _store.WriteSnapshot(snapshotToWrite);
            if (ready.ResetLogTo is { } resetTo)
            {
                _store.ResetLog(resetTo);
                FailPendingFrom(resetTo, ProposalErrors.Lost);
                FailBarrierEntryFrom(long.MinValue);
            }
            if (ready.TruncateLogTo is { } truncateTo)
            {
                _store.TruncateLog(truncateTo);
                FailPendingFrom(truncateTo, ProposalErrors.Lost);
                FailBarrierEntryFrom(truncateTo);
            }
            if (ready.DeleteLogBefore is { } deleteBefore) _store.DeleteLogBefore(deleteBefore);
            int sentEarly = 0;
            if (ready.EntriesToAppend.Count > 0)
            {
                _store.Append(ready.EntriesToAppend);
                // Followers write these entries while we fsync them: a commit then waits for the slower of the two
                // fsyncs rather than for both in turn (see Ready.MaySendBeforeDurable for why this is safe).
                foreach (var message in ready.Messages)
                {
                    if (!ready.MaySendBeforeDurable(message)) continue;
                    ObserveOutbound(message);
                    _transport.Send(message);
                    sentEarly++;
                }
                _store.Flush();
                if (_node.Role == RaftRole.Leader)
                {
                    // Timed from the moment the leader hands the entries to its disk: the fsync is part of committing.
                    _commitLatency.OnLeaderAppend(ready.LogEndOffset, MonotonicMs(durableStart));
                }
            }
            Invariant.Check(_store.LogEndOffset == ready.LogEndOffset, ready, r => $"disk log ends at {_store.LogEndOffset}, core at {r.LogEndOffset}");
            var durableTime = _time.GetElapsedTime(durableStart);
            if (durableTime.TotalMilliseconds > SlowDiskWarningMs) LogSlowDisk(NodeId, (long)durableTime.TotalMilliseconds, ready.EntriesToAppend.Count, ready.QuorumState is not null, ready.SnapshotToWrite is not null);
            foreach (var message in ready.Messages)
            {
                if (sentEarly > 0 && ready.MaySendBeforeDurable(message)) continue; // already sent before the fsync
                ObserveOutbound(message);
                _transport.Send(message);
            }
            if (ready.RoleChange is { } role)
            {
                _role = role;
                if (_elections.Observe(role) is { } election) _metrics.RecordElection(election);
                if (role.Role != RaftRole.Leader) _commitLatency.Reset();
                RefreshGauges(force: true);
                LogRoleChange(NodeId, role.Role, role.Epoch, role.LeaderId?.Value ?? -1);
                _stateMachine.OnRoleChange(role);
                if (role.Role != RaftRole.Leader)
                {
                    FailPendingFrom(long.MinValue, ProposalErrors.LeadershipLost);
                    FailBarriers();
                }
            }
            if (ready.SnapshotToLoad is { } snapshotToLoad)
            {
                _stateMachine.OnSnapshotLoad(snapshotToLoad);
                LogSnapshotInstalled(NodeId, snapshotToLoad.Id.Offset, snapshotToLoad.Id.Epoch, snapshotToLoad.Bytes.Length);
                Interlocked.Increment(ref _snapshotsInstalled);
                // Entries the snapshot covers can no longer be matched against their epochs.
                FailPendingBelow(snapshotToLoad.Id.Offset, ProposalErrors.LeadershipLost);
                _appliedSinceSnapshot = 0;
                _appliedBytesSinceSnapshot = 0;
            }
            if (ready.CommittedEntries.Count > 0)
            {
                _stateMachine.OnCommitted(ready.CommittedEntries, ready.HighWatermark);
                Volatile.Write(ref _appliedOffset, ready.CommittedEntries[^1].Offset + 1);
                foreach (var entry in ready.CommittedEntries)
                {
                    OnBarrierEntryCommitted(entry);
                    if (_pending.Remove(entry.Offset, out var p))
                    {
                        p.Completion.TrySetResult(entry.Epoch == p.Epoch
                            ? new ProposalOutcome(true, p.BaseOffset, entry.Epoch, null)
                            : new ProposalOutcome(false, entry.Offset, p.Epoch, ProposalErrors.Lost));
                    }
                }
                _appliedSinceSnapshot += ready.CommittedEntries.Count;
                foreach (var entry in ready.CommittedEntries) _appliedBytesSinceSnapshot += entry.Payload.Length;
            }
            long highWatermarkBefore = Volatile.Read(ref _highWatermark);
            _node.Advance(ready);
            Volatile.Write(ref _highWatermark, _node.HighWatermark);
            Volatile.Write(ref _logStartOffset, _node.Log.StartOffset);
            if (_node.HighWatermark > highWatermarkBefore && _node.Role == RaftRole.Leader)
            {
                foreach (double latency in _commitLatency.OnHighWatermark(_node.HighWatermark, MonotonicMs(_time.GetTimestamp())))
                {
                    _metrics.RecordCommitLatency(latency);
                }
                // Followers learn the new high watermark from fetch answers: answer the parked ones now instead of at
                // their long-poll timeout, so that committed metadata reaches every node within a round trip.
                _node.ReleaseParkedFetches();
            }
            Volatile.Write(ref _appliedOffset, _node.AppliedOffset);
            CompleteBarriers();
        }
    }

    private double MonotonicMs(long timestamp) => timestamp * 1000.0 / _time.TimestampFrequency;

    /// <summary>Gauges refresh at most this often (DescribeQuorum allocates; scrapes come every few seconds).</summary>
    private const int GaugeRefreshIntervalMs = 200;

    /// <summary>Publishes what the Raft gauges show (driver thread): per-voter log end offsets and fetch lags on the leader.</summary>
    private void RefreshGauges(bool force)
    {
        long now = _time.GetTimestamp();
        if (!force && _time.GetElapsedTime(_gaugesRefreshedAt, now).TotalMilliseconds < GaugeRefreshIntervalMs) return;
        _gaugesRefreshedAt = now;
        _gauges = RaftGaugeSnapshot.From(_node.Role, NodeId, _node.Log.EndOffset, _node.DescribeQuorum());
    }

    /// <summary>
    /// Takes a snapshot once enough was applied since the last one. The state machine serializes its state here, on
    /// the driver thread (it must reflect exactly the applied prefix), but the file is written and fsynced on a
    /// background task: creating, renaming and fsyncing a file took 10-12 ms on the development VM, a stall that
    /// delayed every commit in flight on all three voters at once, since they snapshot at the same offsets. Only
    /// when the file is durable does the core adopt the snapshot (serve it to followers, drop the log prefix), so
    /// a crash in between leaves the previous snapshot and the whole log, as before. One write at a time.
    /// </summary>
    private void MaybeSnapshot()
    {
        if (_snapshotWrite is not null) return;
        if (_appliedSinceSnapshot < _options.SnapshotEveryEntries && _appliedBytesSinceSnapshot < _options.SnapshotEveryBytes) return;
        _appliedSinceSnapshot = 0;
        _appliedBytesSinceSnapshot = 0;
        long endOffset = _node.AppliedOffset;
        if (endOffset <= _node.Log.StartOffset) return;
        int epoch = _node.Log.EpochAt(endOffset - 1) ?? throw new RaftInvariantException($"applied offset {endOffset} is outside the log");
        byte[]? bytes = _stateMachine.TakeSnapshot(endOffset);
        if (bytes is null) return;
        var snapshot = new RaftSnapshot(new OffsetAndEpoch(endOffset, epoch), bytes);
        _snapshotWrite = Task.Run(() => _store.WriteSnapshot(snapshot));
        _ = _snapshotWrite.ContinueWith(
            t => Enqueue(() => OnSnapshotWritten(snapshot, t.Exception), () => { }),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Driver thread: the background snapshot write finished (or failed, which stops the node like any other disk failure).</summary>
    private void OnSnapshotWritten(RaftSnapshot snapshot, AggregateException? failure)
    {
        _snapshotWrite = null;
        if (failure is not null) throw new RaftStorageException($"writing the snapshot up to offset {snapshot.Id.Offset} failed: {failure.GetBaseException().Message}", failure.GetBaseException());
        // A snapshot installed from the leader meanwhile may already cover it; the file then just goes at the next one.
        if (snapshot.Id.Offset <= _node.Log.StartOffset) return;
        var id = _node.CreateSnapshot(snapshot.Id.Offset, snapshot.Bytes, alreadyDurable: true);
        LogSnapshot(NodeId, id.Offset, id.Epoch, snapshot.Bytes.Length);
        ProcessReadies();
    }

    private void DoPropose(IReadOnlyList<byte[]> payloads, TaskCompletionSource<ProposalOutcome> completion, int? expectedEpoch)
    {
        if (completion.Task.IsCompleted) return; // cancelled while queued
        if (expectedEpoch is { } epoch && (_node.Role != RaftRole.Leader || _node.Epoch != epoch))
        {
            completion.TrySetResult(new ProposalOutcome(false, -1, _node.Epoch, ProposalErrors.NotLeader));
            return;
        }
        var result = _node.Propose(payloads);
        switch (result.Status)
        {
            case ProposeStatus.Accepted:
                // Keyed by the batch's last offset: a truncation that removes any of its entries removes that one
                // too (FailPendingFrom), and its commit in this epoch implies the commit of all the earlier ones.
                _pending.Add(result.LastOffset, new PendingProposal(result.Epoch, result.BaseOffset, completion));
                break;
            case ProposeStatus.NotLeader:
                completion.TrySetResult(new ProposalOutcome(false, -1, result.Epoch, ProposalErrors.NotLeader));
                break;
            default:
                completion.TrySetResult(new ProposalOutcome(false, -1, result.Epoch, ProposalErrors.Backpressure));
                break;
        }
    }

    private void FailPendingFrom(long offset, string error)
    {
        foreach (var key in _pending.Keys.Where(k => k >= offset).ToList())
        {
            _pending.Remove(key, out var p);
            p!.Completion.TrySetResult(new ProposalOutcome(false, key, p.Epoch, error));
        }
    }

    private void FailPendingBelow(long offset, string error)
    {
        foreach (var key in _pending.Keys.Where(k => k < offset).ToList())
        {
            _pending.Remove(key, out var p);
            p!.Completion.TrySetResult(new ProposalOutcome(false, key, p.Epoch, error));
        }
    }

    private void FailEverything()
    {
        // Only the driver thread touches these collections, or the disposer after the thread exited.
        if (_thread is not null && Thread.CurrentThread != _thread && !_stopped.Task.IsCompleted) return;
        FailPendingFrom(long.MinValue, ProposalErrors.Stopped);
        FailBarriers();
    }

    // ----- read barriers -----

    private void StartReadBarrier(TaskCompletionSource<long> completion)
    {
        if (!_node.IsLeaderReady)
        {
            completion.TrySetResult(-1);
            return;
        }
        if (_options.ReadBarrierPayload is not null)
        {
            _barrierWaiting.Add(completion);
            MaybeProposeBarrierEntry();
            return;
        }
        _node.ReleaseParkedFetches(); // answers parked fetches now, so the proving round takes one round trip
        var barrier = new ReadBarrier(_node.Epoch, _node.HighWatermark, completion);
        _barriers.Add(barrier);
        CompleteBarriers();
    }

    private void ObserveOutbound(RaftMessage message)
    {
        if (_barriers.Count == 0) return;
        bool success = message switch
        {
            FetchResponse r => r.ErrorCode == RaftError.None,
            FetchSnapshotResponse r => r.ErrorCode == RaftError.None,
            _ => false,
        };
        if (!success) return;
        foreach (var b in _barriers) b.RespondedTo.Add(message.To);
    }

    private void ObserveInbound(RaftMessage message)
    {
        _lastHeardFrom[message.From] = _time.GetTimestamp();
        if (_barriers.Count == 0) return;
        int? epoch = message switch
        {
            FetchRequest r => r.CurrentLeaderEpoch,
            FetchSnapshotRequest r => r.CurrentLeaderEpoch,
            _ => null,
        };
        if (epoch is null || !_options.Raft.Voters.Contains(message.From)) return;
        foreach (var b in _barriers)
        {
            if (epoch == b.Epoch && b.RespondedTo.Contains(message.From)) b.Confirmed.Add(message.From);
        }
    }

    private void CompleteBarriers()
    {
        if (_barriers.Count == 0) return;
        bool leading = _node.Role == RaftRole.Leader;
        for (int i = _barriers.Count - 1; i >= 0; i--)
        {
            var b = _barriers[i];
            if (!leading || _node.Epoch != b.Epoch)
            {
                b.Completion.TrySetResult(-1);
                _barriers.RemoveAt(i);
            }
            else if (b.Confirmed.Count + 1 >= _majority && _node.AppliedOffset >= b.Index)
            {
                b.Completion.TrySetResult(b.Index);
                _barriers.RemoveAt(i);
            }
        }
    }

    private void FailBarriers()
    {
        foreach (var b in _barriers) b.Completion.TrySetResult(-1);
        _barriers.Clear();
        foreach (var c in _barrierWaiting) c.TrySetResult(-1);
        _barrierWaiting.Clear();
        if (_barrierInFlight is { } inFlight)
        {
            foreach (var c in inFlight.Readers) c.TrySetResult(-1);
            _barrierInFlight = null;
        }
    }

    /// <summary>Entry mode: one barrier entry in flight at a time, covering every read that arrived before it was appended.</summary>
    private void MaybeProposeBarrierEntry()
    {
        if (_barrierInFlight is not null || _barrierWaiting.Count == 0) return;
        var result = _node.Propose([_options.ReadBarrierPayload!]);
        if (result.Status != ProposeStatus.Accepted)
        {
            foreach (var c in _barrierWaiting) c.TrySetResult(-1);
            _barrierWaiting.Clear();
            return;
        }
        _barrierInFlight = new BarrierEntry(result.BaseOffset, result.Epoch, [.. _barrierWaiting]);
        _barrierWaiting.Clear();
    }

    /// <summary>Entry mode: called for each committed entry, in order.</summary>
    private void OnBarrierEntryCommitted(LogEntry entry)
    {
        if (_barrierInFlight is not { } inFlight || entry.Offset != inFlight.Offset) return;
        _barrierInFlight = null;
        long result = entry.Epoch == inFlight.Epoch ? entry.Offset + 1 : -1;
        // The task completes after this Ready's entries are applied (continuations run asynchronously,
        // and the whole CommittedEntries list was applied before this is called).
        foreach (var c in inFlight.Readers) c.TrySetResult(result);
    }

    /// <summary>Entry mode: a truncation removed the in-flight barrier entry.</summary>
    private void FailBarrierEntryFrom(long offset)
    {
        if (_barrierInFlight is { } inFlight && inFlight.Offset >= offset)
        {
            foreach (var c in inFlight.Readers) c.TrySetResult(-1);
            _barrierInFlight = null;
        }
    }

    private sealed record BarrierEntry(long Offset, int Epoch, List<TaskCompletionSource<long>> Readers);

    private sealed record PendingProposal(int Epoch, long BaseOffset, TaskCompletionSource<ProposalOutcome> Completion);

    private sealed class ReadBarrier(int epoch, long index, TaskCompletionSource<long> completion)
    {
        public int Epoch { get; } = epoch;

        public long Index { get; } = index;

        public TaskCompletionSource<long> Completion { get; } = completion;

        public HashSet<NodeId> RespondedTo { get; } = [];

        public HashSet<NodeId> Confirmed { get; } = [];
    }

    // ----- logging -----

    /// <summary>Writing a Ready's durable state slower than this is logged: fsync stalls this long delay every acknowledgement.</summary>
    private const int SlowDiskWarningMs = 100;

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Raft node {NodeId}: writing durable state took {ElapsedMs} ms ({EntryCount} entries, quorum state {QuorumState}, snapshot {Snapshot}); a slow disk delays elections and commits")]
    private partial void LogSlowDisk(NodeId nodeId, long elapsedMs, int entryCount, bool quorumState, bool snapshot);

    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Raft node {NodeId} opened: epoch {Epoch}, snapshot end {SnapshotOffset}, {EntryCount} entries on disk, log end {LogEnd}")]
    private partial void LogOpened(NodeId nodeId, int epoch, long snapshotOffset, int entryCount, long logEnd);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Raft node {NodeId} is now {Role} in epoch {Epoch} (leader {LeaderId})")]
    private partial void LogRoleChange(NodeId nodeId, RaftRole role, int epoch, int leaderId);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Raft node {NodeId} took a snapshot up to offset {Offset} (epoch {Epoch}, {Bytes} bytes)")]
    private partial void LogSnapshot(NodeId nodeId, long offset, int epoch, int bytes);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Raft node {NodeId} installed a snapshot fetched from the leader (FetchSnapshot) up to offset {Offset} (epoch {Epoch}, {Bytes} bytes)")]
    private partial void LogSnapshotInstalled(NodeId nodeId, long offset, int epoch, int bytes);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Critical, Message = "Raft node {NodeId} stopped: the driver hit an unrecoverable error (core invariant, disk or state machine); the node must restart")]
    private partial void LogDriverFailed(Exception exception, NodeId nodeId);
}
