using Kraft.Linearizability.Cli;

namespace Kraft.Linearizability;

/// <summary>Console entry of the Jepsen-style suite; see <see cref="ConsoleApp"/> and docs/jepsen.md.</summary>
public static class Program
{
    public static int Main(string[] args) => ConsoleApp.Run(args, Console.Out, Console.Error);
}
