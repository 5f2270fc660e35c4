using System.CommandLine;
using Kraft.Cli.Commands;

namespace Kraft.Cli;

/// <summary>
/// Builds the command tree of <c>kraft</c>. Each sub-command is a small class that owns its options and
/// returns an exit code from <see cref="ExitCodes"/>. Results go to stdout, diagnostics to stderr.
/// </summary>
public static class KraftCommand
{
    /// <summary>--output table|json, shared by every command that prints results.</summary>
    public static readonly Option<string> Output = new("--output", "-o")
    {
        Description = "Output format: table (for people) or json (for scripts)",
        DefaultValueFactory = _ => "table",
        Recursive = true,
    };

    public static RootCommand Build()
    {
        Output.AcceptOnlyFromAmong("table", "json");
        var root = new RootCommand("Kraft: a Kafka-compatible event-streaming broker whose metadata lives in a Raft quorum.")
        {
            Output,
            ClientCommand.Bootstrap,
            ServerCommand.Build(),
            ClusterCommand.Build(),
            TopicsCommand.Build(),
            DataCommands.Produce(),
            DataCommands.Consume(),
            GroupsCommand.Build(),
            LeadersCommand.Build(),
            LeadersCommand.Quorum(),
            LogCommand.Build(),
            BenchCommand.Build(),
            PartitionsCommand.Build(),
        };
        return root;
    }

    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var configuration = new InvocationConfiguration();
        if (output is not null) configuration.Output = output;
        if (error is not null) configuration.Error = error;
        var parse = Build().Parse(args);
        if (parse.Errors.Count > 0)
        {
            var err = error ?? Console.Error;
            foreach (var e in parse.Errors)
            {
                err.WriteLine($"kraft: {e.Message}");
            }
            err.WriteLine("Run 'kraft --help' for usage.");
            return ExitCodes.UsageError;
        }
        return parse.Invoke(configuration);
    }
}
