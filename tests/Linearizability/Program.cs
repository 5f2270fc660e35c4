using Kraft.Linearizability.Cli;
using Kraft.Linearizability.Harness;

namespace Kraft.Linearizability;

/// <summary>Console entry of the Jepsen-style suite; see <see cref="ConsoleApp"/> and docs/jepsen.md.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        ConsoleApp.Register(new RunCommand());
        return ConsoleApp.Run(args, Console.Out, Console.Error);
    }
}
