using System.Globalization;
using Kraft.Quorum.Raft;
using Xunit.Abstractions;

namespace Kraft.Simulation;

/// <summary>
/// Runs the deterministic simulation over many seeds. A failure prints the seed and a one-line
/// command that replays exactly that run.
/// </summary>
public class SimulationTests(ITestOutputHelper output)
{
    internal static string ReplayCommand(ulong seed, SimulationProfile profile) =>
        string.Create(CultureInfo.InvariantCulture,
            $"KRAFT_SIM_SEED={seed} KRAFT_SIM_PROFILE={profile.Name} dotnet test tests/Simulation -c Release --filter \"FullyQualifiedName~Kraft.Simulation.SimulationTests.Replay_seed_from_environment\"");

    private static string Describe(SimulationResult r, SimulationProfile profile) =>
        $"{r.Summary}\nviolation: {string.Join("\n           ", r.Violations)}\nreplay: {ReplayCommand(r.Seed, profile)}\nlast events:\n{r.RecentEvents}";

    private void RunSeeds(ulong first, int count, SimulationProfile profile)
    {
        // KRAFT_SIM_SEEDS / KRAFT_SIM_FIRST_SEED widen a search (e.g. overnight) without code changes.
        if (Environment.GetEnvironmentVariable("KRAFT_SIM_SEEDS") is { } seeds) count = int.Parse(seeds, CultureInfo.InvariantCulture);
        if (Environment.GetEnvironmentVariable("KRAFT_SIM_FIRST_SEED") is { } firstSeed) first = ulong.Parse(firstSeed, CultureInfo.InvariantCulture);
        var failures = new System.Collections.Concurrent.ConcurrentBag<SimulationResult>();
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, i =>
        {
            var result = new Simulator(first + (ulong)i, profile).Run();
            if (!result.Passed) failures.Add(result);
        });
        if (!failures.IsEmpty)
        {
            var firstFailure = failures.OrderBy(f => f.Seed).First();
            Assert.Fail($"{failures.Count} of {count} seeds failed; first:\n{Describe(firstFailure, profile)}");
        }
        output.WriteLine($"{count} seeds passed ({profile.Name})");
    }

    [Fact]
    public void Thousand_seeds_keep_every_safety_invariant_and_recover_after_healing() =>
        RunSeeds(first: 1, count: 1_000, SimulationProfile.Fast);

    [Fact]
    [Trait("Category", "Slow")]
    public void Long_runs_keep_every_safety_invariant_and_recover_after_healing() =>
        RunSeeds(first: 1_000_000, count: 2_000, SimulationProfile.Long);

    [Fact]
    public void Replay_seed_from_environment()
    {
        string? seedText = Environment.GetEnvironmentVariable("KRAFT_SIM_SEED");
        if (seedText is null)
        {
            output.WriteLine("KRAFT_SIM_SEED not set; nothing to replay.");
            return;
        }
        var profile = SimulationProfile.ByName(Environment.GetEnvironmentVariable("KRAFT_SIM_PROFILE") ?? "fast");
        // KRAFT_SIM_UNSAFE replays the deliberately broken configurations of the tests below.
        Func<RaftOptions, RaftOptions>? unsafeOptions = Environment.GetEnvironmentVariable("KRAFT_SIM_UNSAFE") switch
        {
            "log-up-to-date" => o => o with { UnsafeSkipLogUpToDateCheck = true },
            "own-epoch" => o => o with { UnsafeSkipOwnEpochCommitRule = true },
            "both" => o => o with { UnsafeSkipLogUpToDateCheck = true, UnsafeSkipOwnEpochCommitRule = true },
            _ => null,
        };
        var result = new Simulator(ulong.Parse(seedText, CultureInfo.InvariantCulture), profile, unsafeOptions).Run();
        output.WriteLine(result.Summary);
        output.WriteLine(result.RecentEvents);
        Assert.True(result.Passed, Describe(result, profile));
    }

    [Fact]
    public void Same_seed_gives_the_same_run()
    {
        var a = new Simulator(42, SimulationProfile.Fast).Run();
        var b = new Simulator(42, SimulationProfile.Fast).Run();
        Assert.Equal(a.Summary, b.Summary);
        Assert.Equal(a.RecentEvents, b.RecentEvents);
    }

    [Fact]
    public void A_driver_that_sends_before_its_writes_are_durable_is_caught_within_1000_seeds()
    {
        string? example = null;
        for (ulong seed = 1; seed <= 1_000 && example is null; seed++)
        {
            var result = new Simulator(seed, SimulationProfile.Fast) { UnsafeSendBeforeDurable = true }.Run();
            if (!result.Passed && !result.Violations[0].StartsWith("liveness", StringComparison.Ordinal)) example = $"seed {seed}: {result.Violations[0]}";
        }
        output.WriteLine(example ?? "none");
        Assert.True(example is not null, "the simulator did not notice acknowledgements of writes that a crash then lost");
    }

    private static string? FirstViolation(int seeds, Func<RaftOptions, RaftOptions> unsafeOptions)
    {
        for (ulong seed = 1; seed <= (ulong)seeds; seed++)
        {
            var result = new Simulator(seed, SimulationProfile.Fast, unsafeOptions).Run();
            // Only a safety violation counts: the point is that the checker sees the lost or changed entry.
            if (!result.Passed && !result.Violations[0].StartsWith("liveness", StringComparison.Ordinal)) return $"seed {seed}: {result.Violations[0]}";
        }
        return null;
    }

    [Fact]
    public void Skipping_the_log_up_to_date_check_on_votes_is_caught_within_300_seeds()
    {
        string? example = FirstViolation(300, o => o with { UnsafeSkipLogUpToDateCheck = true });
        output.WriteLine(example ?? "none");
        Assert.True(example is not null, "the simulator did not notice that votes ignore the log-up-to-date rule");
    }
}
