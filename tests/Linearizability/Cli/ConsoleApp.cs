using System.Diagnostics;
using System.Globalization;
using Kraft.Linearizability.Checking;
using Kraft.Linearizability.Edn;
using Kraft.Linearizability.History;
using Kraft.Linearizability.Queue;
using Kraft.Linearizability.Report;

namespace Kraft.Linearizability.Cli;

/// <summary>Exit codes of the console, as named constants.</summary>
public static class ExitCodes
{
    /// <summary>Every file passed.</summary>
    public const int Pass = 0;

    /// <summary>At least one file failed its check (not linearizable, an anomaly, or unknown after a timeout).</summary>
    public const int Fail = 1;

    /// <summary>Unreadable input (missing file, bad syntax, malformed history) or a bad command line.</summary>
    public const int BadInput = 2;
}

/// <summary>A subcommand of the console (<c>check</c>, <c>bench</c>; the harness adds <c>run</c>).</summary>
public interface ICommand
{
    string Name { get; }

    string Summary { get; }

    int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error);
}

/// <summary>
/// The console: dispatches the first argument to a subcommand. Output goes to the given writers so that
/// tests can call <see cref="Run"/> in-process. Stateless apart from the command table.
/// </summary>
public static class ConsoleApp
{
    private static readonly List<ICommand> Commands = [new CheckCommand(), new BenchCommand()];

    /// <summary>Lets another part of the suite (the harness) add a subcommand such as <c>run</c>.</summary>
    public static void Register(ICommand command)
    {
        lock (Commands)
        {
            Commands.RemoveAll(c => c.Name == command.Name);
            Commands.Add(command);
        }
    }

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        ICommand? command;
        lock (Commands)
        {
            command = args.Length == 0 ? null : Commands.FirstOrDefault(c => c.Name == args[0]);
        }

        if (command is null)
        {
            if (args.Length > 0 && args[0] is not ("-h" or "--help" or "help"))
            {
                error.WriteLine($"error: unknown command '{args[0]}'");
            }

            error.WriteLine("usage: Kraft.Linearizability COMMAND [options]");
            lock (Commands)
            {
                foreach (var c in Commands)
                {
                    error.WriteLine($"  {c.Name,-8} {c.Summary}");
                }
            }

            return ExitCodes.BadInput;
        }

        return command.Run(args[1..], output, error);
    }
}

/// <summary>Options shared by <c>check</c> and <c>bench</c>, parsed from the command line.</summary>
internal sealed class CheckOptions
{
    public string? Model { get; set; }

    public HistoryFormat Format { get; set; } = HistoryFormat.Auto;

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    public string? Html { get; set; }

    public bool Quiet { get; set; }

    public bool Stats { get; set; }

    public int Runs { get; set; } = 5;

    public List<string> Files { get; } = [];

    /// <summary>Parses; returns an error message or null.</summary>
    public static string? Parse(IReadOnlyList<string> args, CheckOptions options)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string Value()
            {
                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"{a} needs a value");
                }

                return args[++i];
            }

            try
            {
                switch (a)
                {
                    case "--model" or "-m":
                        options.Model = Value();
                        break;
                    case "--format" or "-f":
                        options.Format = HistoryParser.ParseFormatName(Value());
                        break;
                    case "--timeout-ms":
                        options.Timeout = TimeSpan.FromMilliseconds(int.Parse(Value(), CultureInfo.InvariantCulture));
                        break;
                    case "--html":
                        options.Html = Value();
                        break;
                    case "--runs":
                        options.Runs = int.Parse(Value(), CultureInfo.InvariantCulture);
                        break;
                    case "--stats":
                        options.Stats = true;
                        break;
                    case "--quiet" or "-q":
                        options.Quiet = true;
                        break;
                    default:
                        if (a.StartsWith('-') && a.Length > 1)
                        {
                            return $"unknown option '{a}'";
                        }

                        options.Files.Add(a);
                        break;
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                return e.Message;
            }
        }

        if (options.Model is null)
        {
            return "--model is required (" + string.Join(", ", CheckCommand.ModelNames) + ")";
        }

        if (!CheckCommand.ModelNames.Contains(options.Model))
        {
            return $"unknown model '{options.Model}' (expected one of {string.Join(", ", CheckCommand.ModelNames)})";
        }

        return options.Files.Count == 0 ? "no input files" : null;
    }
}

/// <summary>
/// <c>check --model MODEL [--format F] [--timeout-ms N] [--html OUT.html] [--quiet] FILE...</c>:
/// prints <c>FILE&lt;TAB&gt;VERDICT</c> per file on stdout and explanations on stderr.
/// </summary>
public sealed class CheckCommand : ICommand
{
    public const string KafkaQueue = "kafka-queue";

    public static IReadOnlyList<string> ModelNames { get; } = [.. LinearizabilityChecker.Models.Keys, KafkaQueue];

    public string Name => "check";

    public string Summary => "check histories: check --model MODEL [--format auto|etcd-log|edn] [--timeout-ms N] [--html OUT.html] [--quiet] [--stats] FILE...";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        var options = new CheckOptions();
        var problem = CheckOptions.Parse(args, options);
        if (problem is not null)
        {
            error.WriteLine("error: " + problem);
            error.WriteLine("usage: " + Summary);
            return ExitCodes.BadInput;
        }

        var exit = ExitCodes.Pass;
        var report = new List<HtmlReport.Section>();
        foreach (var file in options.Files)
        {
            var history = TryRead(file, options.Format, error);
            if (history is null)
            {
                output.WriteLine($"{file}\terror");
                exit = ExitCodes.BadInput;
                continue;
            }

            try
            {
                if (options.Model == KafkaQueue)
                {
                    var result = KafkaQueueChecker.Check(history);
                    output.WriteLine($"{file}\t{result.VerdictText}");
                    if (!result.IsOk)
                    {
                        exit = Math.Max(exit, ExitCodes.Fail);
                        if (!options.Quiet)
                        {
                            error.WriteLine(file + ": " + result.Describe());
                        }
                    }
                }
                else
                {
                    var result = LinearizabilityChecker.Check(history, LinearizabilityChecker.Models[options.Model!], options.Timeout);
                    output.WriteLine($"{file}\t{result.VerdictText}");
                    if (options.Stats)
                    {
                        error.WriteLine(string.Create(
                            CultureInfo.InvariantCulture,
                            $"{file}: {result.Operations.Count} ops, {result.Partitions.Count} partitions, {result.Partitions.Sum(p => p.Steps)} steps, {result.Partitions.Sum(p => p.CacheSize)} cached configurations, {result.Elapsed.TotalMilliseconds:F1} ms"));
                        foreach (var p in result.Partitions.Where(p => result.Partitions.Count > 1))
                        {
                            error.WriteLine($"  key {EdnWriter.Write(p.Key)}: {p.Operations} ops, {p.Steps} steps, {p.CacheSize} cached, {LinearizabilityChecker.VerdictText(p.Verdict)}");
                        }
                    }

                    if (result.Verdict != Verdict.Linearizable)
                    {
                        exit = Math.Max(exit, ExitCodes.Fail);
                        if (!options.Quiet)
                        {
                            foreach (var explanation in result.Explanations)
                            {
                                error.WriteLine($"{file}: {explanation}");
                            }

                            if (result.Verdict == Verdict.Unknown)
                            {
                                error.WriteLine($"{file}: gave up after {options.Timeout.TotalMilliseconds} ms without an answer");
                            }
                        }
                    }

                    report.Add(new HtmlReport.Section(file, options.Model!, result));
                }
            }
            catch (HistoryFormatException e)
            {
                error.WriteLine($"error: {file}:{e.Line}: {e.Message}");
                output.WriteLine($"{file}\terror");
                exit = ExitCodes.BadInput;
            }
        }

        if (options.Html is not null && report.Count > 0)
        {
            File.WriteAllText(options.Html, HtmlReport.Render(report));
        }

        return exit;
    }

    /// <summary>Reads and pairs a history, printing a one-line message naming the file and line on failure.</summary>
    internal static History.History? TryRead(string file, HistoryFormat format, TextWriter error)
    {
        try
        {
            var history = HistoryParser.ParseFile(file, format);
            OperationPairing.Pair(history); // validates the pairing with line numbers
            return history;
        }
        catch (EdnParseException e)
        {
            error.WriteLine($"error: {file}:{e.Line}: {e.Message}");
        }
        catch (HistoryFormatException e)
        {
            error.WriteLine($"error: {file}:{e.Line}: {e.Message}");
        }
        catch (IOException e)
        {
            error.WriteLine($"error: {file}: cannot read: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            error.WriteLine($"error: {file}: cannot read: {e.Message}");
        }

        return null;
    }
}

/// <summary>
/// <c>bench --model MODEL [--runs N] FILE...</c>: parses and checks all files N times in-process and prints
/// the wall time of each pass (parse + check), so checker speed can be compared with Porcupine's.
/// </summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";

    public string Summary => "time the checker: bench --model MODEL [--runs N] FILE...";

    public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        var options = new CheckOptions();
        var problem = CheckOptions.Parse(args, options);
        if (problem is not null || options.Model == CheckCommand.KafkaQueue)
        {
            error.WriteLine("error: " + (problem ?? "bench supports the linearizability models only"));
            return ExitCodes.BadInput;
        }

        var model = LinearizabilityChecker.Models[options.Model!];
        var times = new List<double>();
        var cpuTimes = new List<double>();
        for (var run = 0; run <= options.Runs; run++)
        {
            var clock = Stopwatch.StartNew();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var failed = 0;
            var checkTime = TimeSpan.Zero;
            foreach (var file in options.Files)
            {
                var history = CheckCommand.TryRead(file, options.Format, error);
                if (history is null)
                {
                    return ExitCodes.BadInput;
                }

                var result = LinearizabilityChecker.Check(history, model, options.Timeout);
                checkTime += result.Elapsed;
                failed += result.Verdict == Verdict.Linearizable ? 0 : 1;
            }

            var ms = clock.Elapsed.TotalMilliseconds;
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
            // Run 0 includes JIT compilation (as a one-shot `check` does); it is reported but not counted.
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {run}{(run == 0 ? " (cold)" : "")}: {options.Files.Count} files, {failed} not linearizable/unknown, {ms:F1} ms (search {checkTime.TotalMilliseconds:F1} ms, reading {ms - checkTime.TotalMilliseconds:F1} ms; CPU time {cpu:F0} ms)"));
            if (run > 0)
            {
                times.Add(ms);
                cpuTimes.Add(cpu);
            }
        }

        times.Sort();
        if (times.Count > 0)
        {
            cpuTimes.Sort();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wall: min {times[0]:F1} ms, median {times[times.Count / 2]:F1} ms over {times.Count} runs; CPU time: min {cpuTimes[0]:F0} ms, median {cpuTimes[cpuTimes.Count / 2]:F0} ms"));
        }

        return ExitCodes.Pass;
    }
}
