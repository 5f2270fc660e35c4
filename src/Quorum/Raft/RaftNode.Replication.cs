namespace Kraft.Quorum.Raft;

/// <summary>
/// Pull-based replication (KIP-595): followers and observers send Fetch(fetchOffset, lastFetchedEpoch);
/// the leader validates the position against its log and answers with records, a diverging epoch to
/// truncate to, or the id of the snapshot to load (KIP-630) when the position lies below its log
/// start. A Fetch with nothing new is parked until data arrives, the high watermark moves or
/// <see cref="RaftOptions.FetchMaxWaitMs"/> passes (Kafka's long poll). The high watermark is the
/// largest offset a majority of voters hold durably, counted only once it passes the leader's own
/// LeaderChange entry.
/// </summary>
public sealed partial class RaftNode
{
    private void TickLeader(LeaderState leader)
    {
        // Check-quorum: a leader cut off from a majority steps down instead of serving stale state.
        // Kafka uses 1.5 times the fetch timeout so that followers time out before their leader does.
        long window = _options.FetchTimeoutMs * 3L / 2;
        int recent = 1;
        foreach (var p in leader.Replicas.Values)
        {
            if (p.IsVoter && _nowMs - p.LastFetchMs < window) recent++;
        }
        if (recent < Majority)
        {
            TransitionToResigned(leader);
            return;
        }
        CompleteParkedFetches(leader, onlyExpired: true);
        if (_nowMs >= leader.NextBeginEpochResendMs && leader.Replicas.Values.Any(p => p.IsVoter && !p.KnowsLeader))
        {
            SendBeginQuorumEpoch(leader);
        }
    }

    private void TickFollower(FollowerState f)
    {
        if (_nowMs - f.LastFetchSuccessMs >= _options.FetchTimeoutMs)
        {
            if (_isVoter) TransitionToProspective(previousLeader: f.Leader);
            else ChangeRole(new UnattachedState(_epoch, _nowMs), _votedFor, leaderId: null);
            return;
        }
        var t = f.Fetch;
        if (t.OutstandingCorrelationId is null ? _nowMs >= t.NextSendAtMs : _nowMs - t.SentAtMs >= _options.RequestTimeoutMs)
        {
            SendFetch(f);
        }
    }

    /// <summary>An observer without a leader asks a random voter; the answer names the leader.</summary>
    private void ProbeForLeader(UnattachedState u)
    {
        var t = u.Probe;
        bool due = t.OutstandingCorrelationId is null ? _nowMs >= t.NextSendAtMs : _nowMs - t.SentAtMs >= _options.RequestTimeoutMs;
        if (!due) return;
        var target = _voters[_random.Next(_voters.Length)];
        long correlationId = NextCorrelationId();
        Send(new FetchRequest(_self, target, correlationId, _epoch, _log.EndOffset, _log.LastEpoch));
        t.OutstandingCorrelationId = correlationId;
        t.SentAtMs = _nowMs;
    }

    private void SendFetch(FollowerState f)
    {
        long correlationId = NextCorrelationId();
        if (f.Download is { } d)
        {
            Send(new FetchSnapshotRequest(_self, f.Leader, correlationId, _epoch, d.Id, d.Buffer.Length, _options.SnapshotChunkBytes));
        }
        else
        {
            Send(new FetchRequest(_self, f.Leader, correlationId, _epoch, _log.EndOffset, _log.LastEpoch));
        }
        f.Fetch.OutstandingCorrelationId = correlationId;
        f.Fetch.SentAtMs = _nowMs;
    }

    private ReplicaProgress? GetReplica(LeaderState leader, NodeId id)
    {
        if (leader.Replicas.TryGetValue(id, out var p)) return p;
        if (IsVoterId(id)) throw new RaftInvariantException("every voter has progress on the leader");
        if (leader.Replicas.Count - (_voters.Length - 1) >= _options.MaxTrackedObservers) return null;
        p = new ReplicaProgress(id, isVoter: false, _nowMs);
        leader.Replicas[id] = p;
        return p;
    }

    private FetchResponse FetchError(FetchRequest m, RaftError error) =>
        new(_self, m.From, m.CorrelationId, error, _epoch, AdvertisedLeaderId,
            -1, _log.StartOffset, null, null, []);

    private void HandleFetchRequest(FetchRequest m)
    {
        if (m.CurrentLeaderEpoch > _epoch) TransitionToUnattached(m.CurrentLeaderEpoch);
        if (_state is not LeaderState leader)
        {
            Send(FetchError(m, m.CurrentLeaderEpoch < _epoch ? RaftError.FencedLeaderEpoch : RaftError.NotLeaderOrFollower));
            return;
        }
        if (m.CurrentLeaderEpoch < _epoch)
        {
            Send(FetchError(m, RaftError.FencedLeaderEpoch));
            return;
        }
        var progress = GetReplica(leader, m.From);
        if (progress is not null)
        {
            progress.LastFetchMs = _nowMs;
            progress.KnowsLeader = true;
        }
        if (m.FetchOffset < _log.StartOffset)
        {
            RespondWithSnapshotId(m);
            return;
        }
        // Log matching: the same (offset, epoch) at FetchOffset - 1 means the same prefix.
        if (m.FetchOffset > _log.EndOffset || _log.EpochAt(m.FetchOffset - 1) != m.LastFetchedEpoch)
        {
            var diverging = _log.EndOffsetForEpoch(m.LastFetchedEpoch);
            if (diverging is not { } d)
            {
                RespondWithSnapshotId(m);
                return;
            }
            Invariant.Check(d.Epoch != m.LastFetchedEpoch || d.Offset < m.FetchOffset, m,
                x => $"node {x.From} holds epoch {x.LastFetchedEpoch} at offset {x.FetchOffset - 1} where the leader does not");
            Send(new FetchResponse(_self, m.From, m.CorrelationId, RaftError.None, _epoch, _self, _highWatermark, _log.StartOffset, d, null, []));
            return;
        }
        bool highWatermarkMoved = false;
        if (progress is not null)
        {
            progress.EndOffset = m.FetchOffset;
            if (m.FetchOffset >= _log.EndOffset) progress.LastCaughtUpMs = _nowMs;
            if (progress.IsVoter) highWatermarkMoved = MaybeAdvanceLeaderHighWatermark(leader);
        }
        if (m.FetchOffset < _log.EndOffset || highWatermarkMoved)
        {
            leader.Parked.Remove(m.From);
            RespondFetch(m);
        }
        else
        {
            leader.Parked[m.From] = new ParkedFetch(m, _nowMs + _options.FetchMaxWaitMs);
        }
    }

    private void RespondWithSnapshotId(FetchRequest m)
    {
        var snapshot = _latestSnapshot ?? throw new RaftInvariantException("a log that does not start at 0 has a snapshot");
        Invariant.Check(snapshot.Id.Offset == _log.StartOffset, "the latest snapshot ends at the log start");
        Send(new FetchResponse(_self, m.From, m.CorrelationId, RaftError.None, _epoch, _self, _highWatermark, _log.StartOffset, null, snapshot.Id, []));
    }

    private void RespondFetch(FetchRequest m)
    {
        if (m.FetchOffset < _log.StartOffset)
        {
            RespondWithSnapshotId(m); // A snapshot was taken while the fetch was parked.
            return;
        }
        var records = _log.Read(m.FetchOffset, _options.FetchMaxEntries);
        Send(new FetchResponse(_self, m.From, m.CorrelationId, RaftError.None, _epoch, _self, _highWatermark, _log.StartOffset, null, null, records));
    }

    private void CompleteParkedFetches(LeaderState leader, bool onlyExpired)
    {
        if (leader.Parked.Count == 0) return;
        foreach (var (id, parked) in leader.Parked.OrderBy(kv => kv.Key.Value).ToList())
        {
            if (onlyExpired && _nowMs < parked.ExpiresAtMs) continue;
            leader.Parked.Remove(id);
            RespondFetch(parked.Request);
        }
    }

    /// <summary>
    /// Recomputes the leader's high watermark from the voters' durable offsets (the leader's own is
    /// what the driver has fsynced). Returns true when it moved.
    /// </summary>
    private bool MaybeAdvanceLeaderHighWatermark(LeaderState leader)
    {
        var offsets = new long[_voters.Length];
        for (int i = 0; i < _voters.Length; i++)
        {
            offsets[i] = _voters[i] == _self ? _durableEnd : leader.Replicas[_voters[i]].EndOffset;
        }
        long candidate = QuorumMath.MajorityOffset(offsets);
        if (candidate <= _highWatermark) return false;
        // Raft thesis 3.6.2: entries of older epochs are committed only indirectly, by committing an
        // entry of the leader's own epoch (its LeaderChange entry at EpochStartOffset).
        if (!_options.UnsafeSkipOwnEpochCommitRule && candidate <= leader.EpochStartOffset) return false;
        Invariant.Check(candidate <= _log.EndOffset, "the high watermark cannot pass the leader's log end");
        RaiseHighWatermark(candidate);
        CompleteParkedFetches(leader, onlyExpired: false);
        return true;
    }

    private void HandleFetchResponse(FetchResponse m)
    {
        if (MaybeLearnEpochAndLeader(m.LeaderEpoch, m.LeaderId)) return;
        FetchTracker? tracker = _state switch
        {
            FollowerState f0 => f0.Fetch,
            UnattachedState u when !_isVoter => u.Probe,
            _ => null,
        };
        if (tracker is null || tracker.OutstandingCorrelationId != m.CorrelationId) return; // Stale or duplicated.
        tracker.OutstandingCorrelationId = null;
        if (_state is not FollowerState f || m.ErrorCode != RaftError.None || m.LeaderEpoch != _epoch || m.From != f.Leader)
        {
            tracker.NextSendAtMs = _nowMs + _options.RetryBackoffMs;
            return;
        }
        f.LastFetchSuccessMs = _nowMs;
        f.HasFetched = true;
        if (m.DivergingEpoch is { } d)
        {
            // Truncate to where both logs agree: the end of the diverging epoch on both sides (KIP-595).
            var local = _log.EndOffsetForEpoch(d.Epoch)
                ?? throw new RaftInvariantException($"node {_self}: leader diverges at {d}, inside this node's snapshot");
            long target = Math.Min(local.Offset, d.Offset);
            Invariant.Check(target < _log.EndOffset, "a diverging epoch must shorten the log");
            TruncateLog(target);
            SendFetch(f);
            return;
        }
        if (m.SnapshotId is { } snapshotId)
        {
            // The leader's snapshot holds only committed entries and starts past everything this node
            // could have matched, so installing it never moves the high watermark back.
            Invariant.Check(snapshotId.Offset >= _highWatermark, "the leader's snapshot ends below this node's high watermark");
            f.Download = new SnapshotDownload(snapshotId);
            SendFetch(f);
            return;
        }
        foreach (var record in m.Records)
        {
            Invariant.Check(record.Epoch <= _epoch, record, r => $"record of epoch {r.Epoch} from the leader of epoch {_epoch}");
            _log.Append(record);
        }
        RaiseHighWatermark(Math.Min(m.HighWatermark, _log.EndOffset));
        SendFetch(f);
    }

    private void HandleFetchSnapshotRequest(FetchSnapshotRequest m)
    {
        if (m.CurrentLeaderEpoch > _epoch) TransitionToUnattached(m.CurrentLeaderEpoch);
        RaftError error = RaftError.None;
        RaftSnapshot? served = null;
        if (_state is not LeaderState leader) error = m.CurrentLeaderEpoch < _epoch ? RaftError.FencedLeaderEpoch : RaftError.NotLeaderOrFollower;
        else if (m.CurrentLeaderEpoch < _epoch) error = RaftError.FencedLeaderEpoch;
        else
        {
            if (GetReplica(leader, m.From) is { } progress)
            {
                progress.LastFetchMs = _nowMs;
                progress.KnowsLeader = true;
            }
            served = _latestSnapshot?.Id == m.SnapshotId ? _latestSnapshot : _previousSnapshot?.Id == m.SnapshotId ? _previousSnapshot : null;
            if (served is null) error = RaftError.SnapshotNotFound;
            else if (m.Position < 0 || m.Position > served.Bytes.Length) error = RaftError.PositionOutOfRange;
        }
        NodeId? leaderId = AdvertisedLeaderId;
        if (error != RaftError.None)
        {
            Send(new FetchSnapshotResponse(_self, m.From, m.CorrelationId, error, _epoch, leaderId, m.SnapshotId, -1, m.Position, []));
            return;
        }
        var bytes = served!.Bytes;
        int length = (int)Math.Min(Math.Min(_options.SnapshotChunkBytes, Math.Max(1, m.MaxBytes)), bytes.Length - m.Position);
        var chunk = bytes.AsSpan((int)m.Position, length).ToArray();
        Send(new FetchSnapshotResponse(_self, m.From, m.CorrelationId, RaftError.None, _epoch, _self, m.SnapshotId, bytes.Length, m.Position, chunk));
    }

    private void HandleFetchSnapshotResponse(FetchSnapshotResponse m)
    {
        if (MaybeLearnEpochAndLeader(m.LeaderEpoch, m.LeaderId)) return;
        if (_state is not FollowerState f || f.Fetch.OutstandingCorrelationId != m.CorrelationId) return;
        f.Fetch.OutstandingCorrelationId = null;
        if (m.ErrorCode != RaftError.None || m.LeaderEpoch != _epoch || f.Download is not { } download || m.SnapshotId != download.Id
            || m.Position != download.Buffer.Length)
        {
            // Start over with a Fetch: the leader may have a newer snapshot by now.
            f.Download = null;
            f.Fetch.NextSendAtMs = _nowMs + _options.RetryBackoffMs;
            return;
        }
        f.LastFetchSuccessMs = _nowMs;
        f.HasFetched = true;
        Invariant.Check(m.UnalignedRecords.Length > 0 || m.Position == m.Size, "a snapshot chunk must make progress");
        download.Buffer.Write(m.UnalignedRecords);
        Invariant.Check(download.Buffer.Length <= m.Size, "snapshot chunks longer than the snapshot");
        if (download.Buffer.Length == m.Size)
        {
            f.Download = null;
            InstallSnapshot(new RaftSnapshot(download.Id, download.Buffer.ToArray()));
        }
        SendFetch(f);
    }

    /// <summary>Replaces the log and state machine by the leader's snapshot (which holds only committed entries).</summary>
    private void InstallSnapshot(RaftSnapshot snapshot)
    {
        Invariant.Check(snapshot.Id.Offset >= _highWatermark, "an installed snapshot never moves the high watermark back");
        Invariant.Check(snapshot.Id.Offset >= _appliedEnd, "an installed snapshot never moves the applied offset back");
        _log.ResetTo(snapshot.Id);
        _previousSnapshot = null;
        _latestSnapshot = snapshot;
        _pendingSnapshotWrite = snapshot;
        _pendingSnapshotLoad = snapshot;
        _pendingResetTo = snapshot.Id.Offset;
        _pendingTruncateTo = null;
        _pendingDeleteBefore = null;
        _durableEnd = snapshot.Id.Offset;
        RaiseHighWatermark(snapshot.Id.Offset);
        _appliedEnd = snapshot.Id.Offset;
    }
}
