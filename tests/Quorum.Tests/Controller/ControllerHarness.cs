using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;

namespace Kraft.Quorum.Tests.Controller;

/// <summary>
/// Drives a <see cref="QuorumController"/> the way the Raft driver will: every non-empty result is one batch,
/// "committed" in order at increasing offsets by <see cref="CommitAll"/>. Also checks after every commit that
/// replaying the committed batches from scratch gives the controller's committed image, and that the image is
/// consistent. Time is a plain number the test moves.
/// </summary>
internal sealed class ControllerHarness
{
    private readonly Queue<IReadOnlyList<MetadataRecord>> _uncommitted = new();
    private readonly Dictionary<int, long> _epochs = [];
    private int _nextTopicId;
    private int _incarnations;

    public ControllerHarness(ControllerConfig? config = null)
    {
        Controller = new QuorumController(config ?? new ControllerConfig(), MetadataImage.Empty, () => new Guid(++_nextTopicId, 0, 0, new byte[8]));
        Controller.Activate(leaderEpoch: 1, NowMs);
    }

    public QuorumController Controller { get; }

    public long NowMs { get; set; } = 1_000;

    public long NextOffset { get; private set; }

    public List<IReadOnlyList<MetadataRecord>> Committed { get; } = [];

    public MetadataImage Image => Controller.CommittedImage;

    public long EpochOf(int broker) => _epochs[broker];

    /// <summary>Queues the result's records as one batch (as the driver appends it) and returns the response.</summary>
    public T Propose<T>(ControllerResult<T> result)
    {
        if (result.Records.Count > 0)
        {
            _uncommitted.Enqueue(result.Records);
        }

        return result.Response;
    }

    /// <summary>Proposes and commits at once.</summary>
    public T Run<T>(ControllerResult<T> result)
    {
        T response = Propose(result);
        CommitAll();
        return response;
    }

    public void CommitAll()
    {
        while (_uncommitted.Count > 0)
        {
            IReadOnlyList<MetadataRecord> batch = _uncommitted.Dequeue();
            Controller.ReplayCommitted(batch, NextOffset++, 1);
            Committed.Add(batch);
        }

        Assert.Empty(Image.CheckConsistency());
        Assert.Equal(MetadataImage.Empty.ReplayAll(Committed.SelectMany(b => b)).WithProvenance(NextOffset - 1, NextOffset == 0 ? -1 : 1), Image);
    }

    public PartitionRegistration Partition(string topic, int index) => Image.Topic(topic)!.Partition(index)!;

    /// <summary>Registers a broker and heartbeats until it is unfenced.</summary>
    public long AddLiveBroker(int id, string? rack = null)
    {
        BrokerRegistrationReply reply = Run(Controller.RegisterBroker(
            new BrokerRegistrationRequest(new BrokerId(id), new Guid(++_incarnations, (short)id, 0, new byte[8]), [new BrokerEndpoint("PLAINTEXT", $"host{id}", 9092, SecurityProtocol.Plaintext)], rack),
            NowMs));
        Assert.True(reply.Error.IsSuccess, reply.Error.ToString());
        _epochs[id] = reply.BrokerEpoch;
        BrokerHeartbeatReply beat = Heartbeat(id);
        Assert.False(beat.IsFenced);
        return reply.BrokerEpoch;
    }

    public BrokerHeartbeatReply Heartbeat(int id, bool wantShutDown = false) =>
        Run(Controller.BrokerHeartbeat(new BrokerHeartbeatRequest(new BrokerId(id), _epochs[id], NextOffset, WantShutDown: wantShutDown), NowMs));

    /// <summary>Heartbeats every broker except the given ones.</summary>
    public void HeartbeatAllBut(params int[] silent)
    {
        foreach (BrokerRegistration b in Controller.LatestImage.Brokers.Values)
        {
            if (!silent.Contains(b.Id.Value) && !b.Fenced)
            {
                Heartbeat(b.Id.Value);
            }
        }
    }

    public CreateTopicResult CreateTopic(string name, int partitions, short replicationFactor, Dictionary<string, string?>? configs = null)
    {
        CreateTopicResult result = Assert.Single(Run(Controller.CreateTopics(
            new CreateTopicsRequest([new CreatableTopic(name, partitions, replicationFactor, configs)]), NowMs)));
        return result;
    }

    /// <summary>Creates a topic with exactly the given replica lists (CreateTopics with explicit assignments),
    /// for tests that need a known layout.</summary>
    public TopicId CreateTopicWithLayout(string name, params int[][] replicas)
    {
        CreateTopicResult created = Assert.Single(Run(Controller.CreateTopics(new CreateTopicsRequest(
            [new CreatableTopic(name, Assignments: replicas.Select(r => (IReadOnlyList<BrokerId>)r.Select(b => new BrokerId(b)).ToList()).ToList())]), NowMs)));
        Assert.True(created.Error.IsSuccess, created.Error.ToString());
        for (int i = 0; i < replicas.Length; i++)
        {
            Assert.Equal(ValueList.Brokers(replicas[i]), Partition(name, i).Replicas);
        }

        return created.TopicId;
    }
}
