namespace Kraft.Quorum.Tests.Raft.BannedSamples;

/// <summary>Deliberately impure code: the banned-API scanner must flag every line here.</summary>
internal static class Impure
{
    public static long Clock() => DateTime.UtcNow.Ticks + System.Diagnostics.Stopwatch.GetTimestamp();

    public static Task Sleep() => Task.Delay(1);

    public static int Dice() => new Random().Next(6);

    public static bool Disk() => File.Exists("/nonexistent");
}
