namespace Kraft.Cli;

/// <summary>Entry point of the <c>kraft</c> command.</summary>
public static class Program
{
    public static int Main(string[] args) => KraftCommand.Run(args);
}
