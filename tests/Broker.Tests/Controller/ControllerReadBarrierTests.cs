using Kraft.Broker.Controller;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;
using Microsoft.Extensions.Logging.Abstractions;

namespace Kraft.Broker.Tests.Controller;

/// <summary>
/// Admin reads served by the active controller wait for a read barrier (read-index) and are answered from the state
/// applied through it; a barrier that cannot be confirmed turns the read into NOT_CONTROLLER (null here).
/// </summary>
public class ControllerReadBarrierTests
{
    /// <summary>A metadata log whose barrier is scripted: it may apply the barrier's no-op entry, depose the node, or fail.</summary>
    private sealed class ScriptedLog : IMetadataLog
    {
        public int Barriers { get; private set; }

        public Func<long> OnBarrier { get; set; } = () => -1;

        public List<int> ProposedEpochs { get; } = [];

        public Task<MetadataProposal> ProposeAsync(byte[] batch, int epoch, CancellationToken cancellationToken)
        {
            ProposedEpochs.Add(epoch);
            return Task.FromResult(new MetadataProposal(false, -1, -1, "NOT_LEADER"));
        }

        public Task<long> ReadBarrierAsync(CancellationToken cancellationToken)
        {
            Barriers++;
            return Task.FromResult(OnBarrier());
        }
    }

    private static (ControllerService Service, ScriptedLog Log) ActiveController()
    {
        var service = new ControllerService(1, new ControllerConfig(), TimeProvider.System, NullLogger.Instance);
        var log = new ScriptedLog();
        service.Attach(log);
        service.OnRoleChange(leading: true, epoch: 1);
        service.ApplyCommitted([], isLeaderChange: true, offset: 0, epoch: 1);
        Assert.True(service.IsActive);
        return (service, log);
    }

    private static ControllerResult<IReadOnlyList<OngoingReassignment>> ListReassignments(QuorumController c, long now) => c.ListPartitionReassignments(null);

    [Fact]
    public async Task A_write_is_proposed_for_the_epoch_it_was_decided_in_and_refused_leaves_nothing_behind()
    {
        var service = new ControllerService(1, new ControllerConfig(), TimeProvider.System, NullLogger.Instance);
        var log = new ScriptedLog();
        service.Attach(log);
        service.ApplyCommitted(MetadataRecordCodec.EncodeBatch([new RegisterBrokerRecord(new BrokerId(1), Guid.NewGuid(), 1, ValueList<BrokerEndpoint>.Empty, null, Fenced: false)]), isLeaderChange: false, offset: 0, epoch: 1);
        service.OnRoleChange(leading: true, epoch: 2);
        service.ApplyCommitted([], isLeaderChange: true, offset: 1, epoch: 2);
        Assert.True(service.IsActive);

        var answer = await service.ExecuteAsync((c, now) => c.CreateTopics(new CreateTopicsRequest([new CreatableTopic("t", 1, 1)]), now), CancellationToken.None);

        Assert.Null(answer); // the log refused it (NOT_LEADER): NOT_CONTROLLER for the caller
        Assert.Equal([2], log.ProposedEpochs);
        Assert.Null(service.CommittedImage.Topic("t"));
    }

    [Fact]
    public async Task A_linearizable_read_is_answered_after_its_barrier_entry_is_applied()
    {
        var (service, log) = ActiveController();
        log.OnBarrier = () =>
        {
            // The driver applies the barrier entry (a batch without records) before completing the barrier.
            service.ApplyCommitted(MetadataRecordCodec.EncodeBatch([]), isLeaderChange: false, offset: 1, epoch: 1);
            return 2;
        };

        var answer = await service.ExecuteAsync(ListReassignments, CancellationToken.None, linearizable: true);

        Assert.NotNull(answer);
        Assert.Equal(1, log.Barriers);
        Assert.Equal(1, service.CommittedImage.LastAppliedOffset);
    }

    [Fact]
    public async Task A_leader_deposed_while_its_barrier_is_in_flight_answers_not_controller()
    {
        var (service, log) = ActiveController();
        log.OnBarrier = () =>
        {
            service.OnRoleChange(leading: false, epoch: 2); // a newer epoch: the barrier entry can never commit in epoch 1
            return -1;
        };

        Assert.Null(await service.ExecuteAsync(ListReassignments, CancellationToken.None, linearizable: true));
        Assert.Equal(1, log.Barriers);
    }

    [Fact]
    public async Task A_barrier_that_returns_before_its_entry_is_applied_is_not_trusted()
    {
        var (service, log) = ActiveController();
        log.OnBarrier = () => 5; // claims offset 4 applied, but the controller has applied only offset 0

        Assert.Null(await service.ExecuteAsync(ListReassignments, CancellationToken.None, linearizable: true));
    }

    [Fact]
    public async Task Broker_lifecycle_calls_without_records_do_not_pay_for_a_barrier()
    {
        var (service, log) = ActiveController();

        var answer = await service.ExecuteAsync(ListReassignments, CancellationToken.None);

        Assert.NotNull(answer);
        Assert.Equal(0, log.Barriers);
    }
}
