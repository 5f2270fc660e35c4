namespace Kraft.Broker.Tests.Replication;

public class ReplicationSimulationTests
{
    private static int Seeds(int defaults) =>
        int.TryParse(Environment.GetEnvironmentVariable("KRAFT_REPL_SEEDS"), out int n) ? n : defaults;

    private static IEnumerable<int> SeedRange(int count) =>
        Environment.GetEnvironmentVariable("KRAFT_REPL_SEED") is { } one ? [int.Parse(one, System.Globalization.CultureInfo.InvariantCulture)] : Enumerable.Range(1, count);

    [Fact]
    public void With_acks_all_and_clean_election_no_acknowledged_or_committed_record_is_ever_lost()
    {
        int acknowledged = 0;
        foreach (int seed in SeedRange(Seeds(500)))
        {
            var sim = new ReplicationSimulation(seed, new ReplicationSimulation.Options());
            sim.Run();
            Assert.True(sim.Violations.Count == 0,
                $"seed {seed}: {string.Join("; ", sim.Violations)}\nreplay: KRAFT_REPL_SEED={seed} dotnet test tests/Broker.Tests --filter ReplicationSimulation");
            acknowledged += sim.Acknowledged;
        }
        Assert.True(acknowledged > 1000, $"the runs acknowledged only {acknowledged} writes: the workload is too weak to mean anything");
    }

    [Fact]
    public void Unclean_election_is_caught_losing_committed_records()
    {
        int failing = 0;
        foreach (int seed in Enumerable.Range(1, 300))
        {
            var sim = new ReplicationSimulation(seed, new ReplicationSimulation.Options(UncleanElection: true, KillProbability: 0.08));
            sim.Run();
            if (sim.Violations.Count > 0) failing++;
        }
        Assert.True(failing > 0, "the invariant checks never noticed the data loss unclean election causes");
    }

    [Fact]
    public void Acks_1_is_caught_losing_acknowledged_writes()
    {
        int failing = 0;
        foreach (int seed in Enumerable.Range(1, 300))
        {
            var sim = new ReplicationSimulation(seed, new ReplicationSimulation.Options(Acks: 1, MinInSyncReplicas: 1, KillProbability: 0.08));
            sim.Run();
            if (sim.Violations.Any(v => v.Contains("acknowledged"))) failing++;
        }
        Assert.True(failing > 0, "acks=1 with leader kills never showed a lost acknowledged write");
    }
}
