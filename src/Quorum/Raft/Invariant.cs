namespace Kraft.Quorum.Raft;

/// <summary>
/// Thrown when a Raft safety rule would be broken. This is always a bug (in the core, in the driver
/// that feeds it, or a deliberately unsafe test switch); the node must stop rather than continue
/// with state that could lose committed metadata.
/// </summary>
public sealed class RaftInvariantException(string message) : Exception(message);

/// <summary>
/// Assertions that stay on in Release builds (TigerBeetle style): the core checks its
/// preconditions, postconditions and the negative space (what must never happen) densely, because
/// a consensus bug that continues silently corrupts every replica.
/// </summary>
public static class Invariant
{
    /// <summary>Throws <see cref="RaftInvariantException"/> when <paramref name="condition"/> is false.</summary>
    public static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new RaftInvariantException(message);
        }
    }

    /// <summary>Same as <see cref="Check(bool, string)"/> but builds the message only on failure.</summary>
    public static void Check<TState>(bool condition, TState state, Func<TState, string> message)
    {
        if (!condition)
        {
            throw new RaftInvariantException(message(state));
        }
    }
}
