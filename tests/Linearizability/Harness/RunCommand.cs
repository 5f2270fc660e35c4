using Kraft.Linearizability.Cli;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// The <c>run</c> subcommand: parses <see cref="RunOptions"/>, runs <see cref="HarnessRun"/>, prints the verdict on
/// stdout and progress on stderr. Ctrl-C or SIGTERM cancels the run, which still stops every node it started (and
/// deletes its network namespace). Stateless.
/// </summary>
public sealed class RunCommand : ICommand
{
    public string Name => "run";

    public string Summary => "run a Jepsen-style test against a local Kraft cluster (see docs/jepsen.md)";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            error.WriteLine(RunOptions.Usage);
            return HarnessRun.BadInput;
        }

        var options = new RunOptions();
        if (RunOptions.Parse(args, options) is string problem)
        {
            error.WriteLine("error: " + problem);
            error.WriteLine(RunOptions.Usage);
            return HarnessRun.BadInput;
        }

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // Keep the process alive so that the run's finally block kills the nodes it started.
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;

        // SIGTERM (kill, a CI runner's timeout) stops the run the same way: without this the process would end at
        // once and leave its nodes, and a partition run its network namespace, behind.
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            cancel.Cancel();
        });
        try
        {
            // The console's commands are synchronous; this is the one place the harness blocks on its async run.
#pragma warning disable VSTHRD002
            var result = HarnessRun.RunAsync(options, error, cancel.Token).GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
            // Inside the harness's network namespace the outer run prints the summary (from results.txt).
            if (NetworkNamespace.Current is null)
            {
                foreach (var line in result.Summary)
                {
                    error.WriteLine(line);
                }
            }

            output.WriteLine($"{result.Dir}\t{result.Verdict}");
            return result.ExitCode;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("run: cancelled; every node was stopped");
            return HarnessRun.HarnessError;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
