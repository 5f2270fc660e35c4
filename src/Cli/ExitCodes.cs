namespace Kraft.Cli;

/// <summary>Exit codes of every kraft command. Append-only: scripts depend on them.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command ran and failed (cluster unreachable, request refused...).</summary>
    public const int Failure = 1;
    /// <summary>Bad command line: unknown flag, missing argument, bad value.</summary>
    public const int UsageError = 2;
    /// <summary>Damaged data was found (log dump / verify).</summary>
    public const int DataError = 3;
}
