using System.Diagnostics.CodeAnalysis;

namespace Kraft.Storage;

/// <summary>
/// Assertions that stay on in Release. A failed invariant is a bug in Kraft, never an expected
/// outcome: it throws <see cref="InvariantViolationException"/> so the node stops instead of
/// serving or persisting bad state.
/// </summary>
public static class Invariant
{
    public static void Check([DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition)
        {
            throw new InvariantViolationException(message);
        }
    }
}

/// <summary>A broken internal invariant (a bug). Never caught to continue serving.</summary>
public sealed class InvariantViolationException(string message) : Exception(message);
