namespace Kraft.Quorum.Raft;

/// <summary>
/// The only source of randomness the core uses (election timeout jitter, back-off, the voter an
/// observer probes first). Injected so that one seed reproduces a whole simulated cluster.
/// </summary>
public interface IRaftRandom
{
    /// <summary>Returns a uniformly distributed integer in [0, <paramref name="maxExclusive"/>).</summary>
    int Next(int maxExclusive);
}

/// <summary>
/// SplitMix64: small, fast and fully determined by its seed (unlike <see cref="System.Random"/>,
/// whose algorithm may change between .NET versions). Not thread-safe; owned by one core.
/// </summary>
public sealed class SplitMix64Random(ulong seed) : IRaftRandom
{
    private ulong _state = seed;

    /// <summary>Returns the next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        ulong z = _state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <inheritdoc />
    public int Next(int maxExclusive)
    {
        Invariant.Check(maxExclusive > 0, "Next needs a positive bound");
        return (int)(NextUInt64() % (ulong)maxExclusive);
    }

    /// <summary>Returns a double in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
