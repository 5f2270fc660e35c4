using System.Buffers.Binary;

namespace Kraft.Quorum.Raft;

/// <summary>
/// Elections (KIP-595 Vote/BeginQuorumEpoch/EndQuorumEpoch with KIP-996 pre-vote). A voter whose
/// timer fires first asks for pre-votes without touching its epoch; only a won pre-vote makes it a
/// candidate of epoch + 1, which votes for itself durably and asks for real votes. A voter that still
/// hears from its leader refuses pre-votes, so a node cut off from the leader cannot disrupt it.
/// </summary>
public sealed partial class RaftNode
{
    private void TickUnattached(UnattachedState u)
    {
        if (!_isVoter)
        {
            ProbeForLeader(u);
            return;
        }
        if (_nowMs >= u.ElectionDeadlineMs) TransitionToProspective(previousLeader: null);
    }

    private void TickProspective(ProspectiveState p)
    {
        if (_nowMs >= p.DeadlineMs) LosePreVote(p);
    }

    private void TickCandidate(CandidateState c)
    {
        // Timed out, or the back-off after a lost election ended: ask for pre-votes again rather than
        // bumping the epoch once more (KIP-996).
        if (_nowMs >= c.DeadlineMs) TransitionToProspective(previousLeader: null);
    }

    private void TickResigned(ResignedState r)
    {
        if (_nowMs >= r.DeadlineMs)
        {
            TransitionToProspective(previousLeader: null);
            return;
        }
        if (_nowMs >= r.NextResendMs) SendEndQuorumEpoch(r);
    }

    private void TransitionToProspective(NodeId? previousLeader)
    {
        Invariant.Check(_isVoter, "only voters stand for election");
        var p = new ProspectiveState(_epoch, _nowMs + RandomElectionTimeoutMs(), previousLeader);
        ChangeRole(p, _votedFor, leaderId: null);
        foreach (var v in _voters)
        {
            if (v == _self) continue;
            Send(new VoteRequest(_self, v, NextCorrelationId(), _epoch + 1, _log.LastEpoch, _log.EndOffset, PreVote: true));
        }
        MaybeFinishPreVote(p);
    }

    private void MaybeFinishPreVote(ProspectiveState p)
    {
        if (p.Granted.Count + 1 >= Majority) TransitionToCandidate();
        else if (p.Rejected.Count > _voters.Length - Majority) LosePreVote(p);
    }

    private void LosePreVote(ProspectiveState p)
    {
        if (p.PreviousLeader is { } leader)
        {
            // Go back to the leader we followed; if it is really gone, the fetch timeout brings us back here.
            TransitionToFollower(_epoch, leader);
        }
        else
        {
            ChangeRole(new UnattachedState(_epoch, _nowMs + RandomBackoffMs()), _votedFor, leaderId: null);
        }
    }

    private void TransitionToCandidate()
    {
        var c = new CandidateState(_epoch + 1, _nowMs + RandomElectionTimeoutMs());
        ChangeRole(c, votedFor: _self, leaderId: null);
        foreach (var v in _voters)
        {
            if (v == _self) continue;
            Send(new VoteRequest(_self, v, NextCorrelationId(), _epoch, _log.LastEpoch, _log.EndOffset, PreVote: false));
        }
        MaybeFinishElection(c);
    }

    private void MaybeFinishElection(CandidateState c)
    {
        if (c.Granted.Count + 1 >= Majority)
        {
            TransitionToLeader();
        }
        else if (!c.BackingOff && c.Rejected.Count > _voters.Length - Majority)
        {
            c.BackingOff = true;
            c.DeadlineMs = _nowMs + RandomBackoffMs();
        }
    }

    private void TransitionToLeader()
    {
        long epochStart = _log.EndOffset;
        var leader = new LeaderState(_epoch, epochStart);
        ChangeRole(leader, _votedFor, _self);
        foreach (var v in _voters)
        {
            if (v != _self) leader.Replicas[v] = new ReplicaProgress(v, isVoter: true, _nowMs);
        }
        // The LeaderChange control entry: once it commits, every earlier entry is committed too, and
        // the high watermark becomes authoritative (Raft thesis 3.6.2; Kafka writes LeaderChangeMessage).
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(payload, _self.Value);
        _log.Append(new LogEntry(epochStart, _epoch, LogEntryKind.LeaderChange, payload));
        SendBeginQuorumEpoch(leader);
        MaybeAdvanceLeaderHighWatermark(leader);
    }

    private void SendBeginQuorumEpoch(LeaderState leader)
    {
        foreach (var p in leader.Replicas.Values)
        {
            if (p.IsVoter && !p.KnowsLeader) Send(new BeginQuorumEpochRequest(_self, p.Id, NextCorrelationId(), _epoch, _self));
        }
        leader.NextBeginEpochResendMs = _nowMs + _options.RequestTimeoutMs;
    }

    private void TransitionToResigned(LeaderState leader)
    {
        // Best successors first: the voters with the longest logs can win the next election.
        var successors = leader.Replicas.Values.Where(p => p.IsVoter)
            .OrderByDescending(p => p.EndOffset).ThenBy(p => p.Id.Value).Select(p => p.Id).ToList();
        var resigned = new ResignedState(_epoch, _nowMs + RandomElectionTimeoutMs(), successors);
        ChangeRole(resigned, _votedFor, _self);
        SendEndQuorumEpoch(resigned);
    }

    private void SendEndQuorumEpoch(ResignedState r)
    {
        foreach (var v in _voters)
        {
            if (v != _self && !r.Acknowledged.Contains(v))
                Send(new EndQuorumEpochRequest(_self, v, NextCorrelationId(), _epoch, _self, r.Successors));
        }
        r.NextResendMs = _nowMs + _options.RequestTimeoutMs;
    }

    private void TransitionToUnattached(int epoch)
    {
        Invariant.Check(epoch > _epoch, "Unattached for a new epoch only");
        ChangeRole(new UnattachedState(epoch, _nowMs + RandomElectionTimeoutMs()), votedFor: null, leaderId: null);
    }

    private void TransitionToFollower(int epoch, NodeId leader)
    {
        Invariant.Check(leader != _self, "a node does not follow itself");
        var f = new FollowerState(epoch, leader, _nowMs);
        ChangeRole(f, epoch == _epoch ? _votedFor : null, leader);
        SendFetch(f);
    }

    /// <summary>
    /// Common handling of an epoch and leader carried by a response: a higher epoch moves this node
    /// to it (following the leader if one is named); a leader named for the current epoch ends an
    /// election or an observer's search. Returns true when the role changed, in which case the
    /// response itself is stale and is ignored.
    /// </summary>
    private bool MaybeLearnEpochAndLeader(int epoch, NodeId? leaderId)
    {
        if (epoch > _epoch)
        {
            Invariant.Check(leaderId != _self, "another node cannot name this node leader of an epoch it does not know");
            if (leaderId is { } l) TransitionToFollower(epoch, l);
            else TransitionToUnattached(epoch);
            return true;
        }
        // A prospective node left this very leader because its fetches timed out: hearing its name
        // again from other voters is no news, so the pre-vote goes on.
        if (epoch == _epoch && leaderId is { } leader && leader != _self && _resignedLeader != (epoch, leader)
            && _state is UnattachedState or ProspectiveState or CandidateState
            && !(_state is ProspectiveState p && p.PreviousLeader == leader))
        {
            TransitionToFollower(epoch, leader);
            return true;
        }
        return false;
    }

    private bool IsLogUpToDate(int lastEpoch, long endOffset)
    {
        if (_options.UnsafeSkipLogUpToDateCheck) return true;
        return lastEpoch > _log.LastEpoch || (lastEpoch == _log.LastEpoch && endOffset >= _log.EndOffset);
    }

    private void HandleVoteRequest(VoteRequest m)
    {
        if (m.PreVote)
        {
            HandlePreVoteRequest(m);
            return;
        }
        if (!_isVoter || !IsVoterId(m.From))
        {
            Send(new VoteResponse(_self, m.From, m.CorrelationId, RaftError.InconsistentVoterSet, _epoch, AdvertisedLeaderId, false, false));
            return;
        }
        if (m.CandidateEpoch < _epoch)
        {
            Send(new VoteResponse(_self, m.From, m.CorrelationId, RaftError.FencedLeaderEpoch, _epoch, AdvertisedLeaderId, false, false));
            return;
        }
        if (m.CandidateEpoch > _epoch) TransitionToUnattached(m.CandidateEpoch);

        bool canVote = _state is UnattachedState or ProspectiveState && (_votedFor is null || _votedFor == m.From);
        bool grant = canVote && IsLogUpToDate(m.LastOffsetEpoch, m.LastOffset);
        if (grant)
        {
            // The grant is durable before the response leaves (both are in the same Ready).
            if (_state is ProspectiveState)
            {
                ChangeRole(new UnattachedState(_epoch, _nowMs + RandomElectionTimeoutMs()), m.From, leaderId: null);
            }
            else
            {
                SetQuorumState(_epoch, m.From, null);
                ((UnattachedState)_state).ElectionDeadlineMs = _nowMs + RandomElectionTimeoutMs();
            }
        }
        Send(new VoteResponse(_self, m.From, m.CorrelationId, RaftError.None, _epoch, AdvertisedLeaderId, grant, false));
    }

    private void HandlePreVoteRequest(VoteRequest m)
    {
        // A pre-vote records no vote. Its epoch is the sender's epoch + 1, so a sender already past
        // our epoch proves that a newer epoch exists: move to it as Raft does for any newer epoch.
        // Without this a voter stuck in a newer epoch with a short log (it lost an election nobody
        // else heard of) could never rejoin: it ignores the older leader, and in a pull-based
        // protocol that leader never contacts it.
        if (m.CandidateEpoch - 1 > _epoch) TransitionToUnattached(m.CandidateEpoch - 1);
        bool leaderAlive = _state switch
        {
            LeaderState => true,
            FollowerState f => f.HasFetched && _nowMs - f.LastFetchSuccessMs < _options.FetchTimeoutMs,
            _ => false,
        };
        bool grant = _isVoter && IsVoterId(m.From) && m.CandidateEpoch >= _epoch && !leaderAlive
            && IsLogUpToDate(m.LastOffsetEpoch, m.LastOffset);
        var error = m.CandidateEpoch < _epoch ? RaftError.FencedLeaderEpoch : RaftError.None;
        Send(new VoteResponse(_self, m.From, m.CorrelationId, error, _epoch, AdvertisedLeaderId, grant, true));
    }

    private void HandleVoteResponse(VoteResponse m)
    {
        if (MaybeLearnEpochAndLeader(m.LeaderEpoch, m.LeaderId)) return;
        if (m.LeaderEpoch < _epoch) return; // An answer about an older epoch.
        if (m.PreVote)
        {
            if (_state is not ProspectiveState p) return;
            if (m.VoteGranted) { p.Granted.Add(m.From); p.Rejected.Remove(m.From); }
            else if (!p.Granted.Contains(m.From)) p.Rejected.Add(m.From);
            MaybeFinishPreVote(p);
        }
        else
        {
            if (_state is not CandidateState c) return;
            if (m.VoteGranted) { c.Granted.Add(m.From); c.Rejected.Remove(m.From); }
            else if (!c.Granted.Contains(m.From)) c.Rejected.Add(m.From);
            MaybeFinishElection(c);
        }
    }

    private void HandleBeginQuorumEpoch(BeginQuorumEpochRequest m)
    {
        if (m.LeaderEpoch < _epoch)
        {
            Send(new BeginQuorumEpochResponse(_self, m.From, m.CorrelationId, RaftError.FencedLeaderEpoch, _epoch, AdvertisedLeaderId));
            return;
        }
        if (m.LeaderId != m.From || !IsVoterId(m.LeaderId))
        {
            // A malformed request from a peer is refused, not asserted: it must not stop this node.
            Send(new BeginQuorumEpochResponse(_self, m.From, m.CorrelationId, RaftError.InvalidRequest, _epoch, AdvertisedLeaderId));
            return;
        }
        if (m.LeaderEpoch == _epoch)
        {
            Invariant.Check(_state is not (LeaderState or ResignedState), m, x => $"two leaders in epoch {x.LeaderEpoch}: {_self} and {x.LeaderId}");
            Invariant.Check(_state is not FollowerState f0 || f0.Leader == m.LeaderId, m, x => $"two leaders in epoch {x.LeaderEpoch}: {_leaderId} and {x.LeaderId}");
        }
        if (!(_state is FollowerState f && f.Epoch == m.LeaderEpoch))
        {
            TransitionToFollower(m.LeaderEpoch, m.LeaderId);
        }
        Send(new BeginQuorumEpochResponse(_self, m.From, m.CorrelationId, RaftError.None, _epoch, AdvertisedLeaderId));
    }

    private void HandleBeginQuorumEpochResponse(BeginQuorumEpochResponse m)
    {
        if (MaybeLearnEpochAndLeader(m.LeaderEpoch, m.LeaderId)) return;
        if (_state is LeaderState leader && m.LeaderEpoch == _epoch && m.ErrorCode == RaftError.None
            && leader.Replicas.TryGetValue(m.From, out var p))
        {
            p.KnowsLeader = true;
        }
    }

    private void HandleEndQuorumEpoch(EndQuorumEpochRequest m)
    {
        if (m.LeaderEpoch < _epoch)
        {
            Send(new EndQuorumEpochResponse(_self, m.From, m.CorrelationId, RaftError.FencedLeaderEpoch, _epoch, AdvertisedLeaderId));
            return;
        }
        // The best successors wait least, so that usually the longest log wins at once.
        int position = m.PreferredSuccessors.ToList().IndexOf(_self);
        long deadline = position < 0
            ? _nowMs + RandomElectionTimeoutMs()
            : _nowMs + Math.Min(_options.ElectionBackoffMaxMs, (long)_options.RetryBackoffMs << Math.Min(position, 16)) + _random.Next(_options.RetryBackoffMs);
        // Remember who resigned, so that followers still naming it do not send us back to it.
        _resignedLeader = (m.LeaderEpoch, m.LeaderId);
        if (m.LeaderEpoch > _epoch)
        {
            TransitionToUnattached(m.LeaderEpoch);
            ((UnattachedState)_state).ElectionDeadlineMs = deadline;
        }
        else if (_state is FollowerState f && f.Leader == m.LeaderId)
        {
            ChangeRole(new UnattachedState(_epoch, deadline), _votedFor, leaderId: null);
        }
        else if (_state is UnattachedState u)
        {
            u.ElectionDeadlineMs = Math.Min(u.ElectionDeadlineMs, deadline);
        }
        Send(new EndQuorumEpochResponse(_self, m.From, m.CorrelationId, RaftError.None, _epoch, AdvertisedLeaderId));
    }

    private void HandleEndQuorumEpochResponse(EndQuorumEpochResponse m)
    {
        if (_state is ResignedState r && m.LeaderEpoch == _epoch)
        {
            r.Acknowledged.Add(m.From);
            return;
        }
        MaybeLearnEpochAndLeader(m.LeaderEpoch, m.LeaderId);
    }
}
