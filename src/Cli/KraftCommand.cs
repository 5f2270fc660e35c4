using System.CommandLine;

namespace Kraft.Cli;

/// <summary>Builds the command tree of <c>kraft</c>. Each sub-command owns its options and returns a named exit code.</summary>
public static class KraftCommand
{
    public static RootCommand Build()
    {
        var root = new RootCommand("Kraft: a Kafka-compatible broker with a Raft metadata quorum.");
        return root;
    }

    public static int Run(string[] args) => Build().Parse(args).Invoke();
}
