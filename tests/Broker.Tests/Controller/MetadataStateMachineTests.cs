using Kraft.Broker.Controller;
using Kraft.Broker.Node;
using Kraft.Broker.Tests.GroupsWire;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;
using Kraft.Quorum.Raft;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kraft.Broker.Tests.Controller;

/// <summary>
/// The adapter between the Raft driver's callbacks and the controller: when this node wins an election it tells the
/// controller which node led before and how long ago the driver last heard from it, so that the activation starts
/// that node's broker session then (a dead combined node is fenced one session timeout after it went silent).
/// </summary>
public class MetadataStateMachineTests
{
    private sealed class RecordingLog : IMetadataLog
    {
        public List<MetadataRecord> Proposed { get; } = [];

        public Task<MetadataProposal> ProposeAsync(byte[] batch, int epoch, CancellationToken cancellationToken)
        {
            Proposed.AddRange(MetadataRecordCodec.DecodeBatch(batch));
            return Task.FromResult(new MetadataProposal(false, -1, -1, "NOT_LEADER"));
        }

        public Task<long> ReadBarrierAsync(CancellationToken cancellationToken) => Task.FromResult(-1L);
    }

    [Fact]
    public async Task A_new_leader_starts_the_previous_leaders_broker_session_at_the_last_contact_the_driver_reports()
    {
        var config = new ControllerConfig();
        var clock = new ManualClock(1_000_000);
        var service = new ControllerService(1, config, clock, NullLogger.Instance);
        var log = new RecordingLog();
        service.Attach(log);
        service.ApplyCommitted(MetadataRecordCodec.EncodeBatch([
            new RegisterBrokerRecord(new BrokerId(1), Guid.NewGuid(), 1, ValueList<BrokerEndpoint>.Empty, null, Fenced: false),
            new RegisterBrokerRecord(new BrokerId(2), Guid.NewGuid(), 2, ValueList<BrokerEndpoint>.Empty, null, Fenced: false)]), isLeaderChange: false, offset: 0, epoch: 1);
        const long silentFor = 2_000;
        var machine = new MetadataStateMachine(service) { MillisecondsSinceHeardFrom = id => id.Value == 2 ? silentFor : null };

        machine.OnRoleChange(new RoleInfo(RaftRole.Follower, 1, new NodeId(2)));
        machine.OnRoleChange(new RoleInfo(RaftRole.Candidate, 2, null));
        machine.OnRoleChange(new RoleInfo(RaftRole.Leader, 2, new NodeId(1)));
        service.ApplyCommitted([], isLeaderChange: true, offset: 1, epoch: 2);
        Assert.True(service.IsActive);

        // One session timeout after node 2 went silent (not after the takeover): broker 2 is fenced, broker 1 is not.
        clock.NowMs += config.BrokerSessionTimeoutMs - silentFor + 1;
        await service.TickAsync(CancellationToken.None);
        var fenced = log.Proposed.OfType<FenceBrokerRecord>().Select(r => r.BrokerId.Value).ToList();
        Assert.Equal([2], fenced);
    }
}
