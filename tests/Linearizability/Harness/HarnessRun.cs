using System.Globalization;
using Kraft.Linearizability.History;
using Kraft.Linearizability.Queue;

namespace Kraft.Linearizability.Harness;

/// <summary>The outcome of one harness run. Immutable.</summary>
public sealed record RunResult(
    int ExitCode,
    string Verdict,
    QueueResult? Queue,
    string Dir,
    IReadOnlyList<string> Summary)
{
    /// <summary>True when the checker found nothing and the final reads drained every partition.</summary>
    public bool IsClean => ExitCode == HarnessRun.Clean;
}

/// <summary>
/// One Jepsen-style run from start to verdict: start a cluster through the CLI, create the topic, run the workload
/// and the nemesis for the time limit, heal, wait for every ISR to recover, drain every partition from the
/// beginning, save the history (EDN), check it with the Kafka queue checker and write the report.
/// Role: orchestration; every process it starts is killed in a finally block (and on process exit), whatever
/// happens. Files in OUT: history.edn, results.txt, report.html, cluster/ (node configs, data, logs; deleted after a
/// clean run unless --keep-data). Owned by the calling task.
/// </summary>
public static class HarnessRun
{
    /// <summary>No anomaly, every partition drained.</summary>
    public const int Clean = 0;

    /// <summary>An anomaly, or an incomplete final read (the checker cannot vouch for the run).</summary>
    public const int Anomalous = 1;

    /// <summary>A bad command line.</summary>
    public const int BadInput = 2;

    /// <summary>The harness itself failed (the cluster did not start, the topic could not be created).</summary>
    public const int HarnessError = 3;

    public static async Task<RunResult> RunAsync(RunOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        // Workers, the nemesis and the final phase log concurrently; a StringWriter (tests) is not thread-safe.
        log = TextWriter.Synchronized(log);
        if (options.UsesPartitions && NetworkNamespace.Current is null)
        {
            // Partition rules must never touch the host's traffic: run the whole test in a namespace of its own.
            return await NetworkNamespace.RunIsolatedAsync(options, log, cancellationToken).ConfigureAwait(false);
        }

        string dir = Path.GetFullPath(options.Dir);
        Directory.CreateDirectory(dir);
        var cluster = new ProcessCluster(Path.Combine(dir, "cluster"), options.Nodes, options.KraftDll ?? ProcessCluster.DefaultKraftDll(), options.PerNodeHosts || options.UsesPartitions);
        using var firewall = options.UsesPartitions ? new NftFirewall(cluster.Host) : null;
        var recorder = new HistoryRecorder();
        var summary = new List<string>
        {
            $"workload {options.Workload}, {options.Nodes} nodes, {options.Partitions} partitions, acks {(options.Acks == -1 ? "all" : "1")}{(options.Unclean ? ", unclean leader election" : "")}",
            $"time limit {options.TimeLimit.TotalSeconds:F0}s, rate {options.Rate}/s, nemesis {(options.Nemesis.Count == 0 ? "none" : string.Join(',', options.Nemesis.Select(RunOptions.KindName)))} every {options.NemesisInterval.TotalSeconds:F0}s, seed {options.Seed}",
        };
        bool clean = false;
        bool keep = options.KeepData;
        try
        {
            await log.WriteLineAsync($"jepsen: starting {options.Nodes} nodes in {cluster.Directory} (base port {cluster.BasePort}, hosts {cluster.Host(1)}..{cluster.Host(options.Nodes)})").ConfigureAwait(false);
            try
            {
                firewall?.Install();
                await cluster.StartAsync(cancellationToken).ConfigureAwait(false);
                if (options.Workload == "queue")
                {
                    var setup = new QueueWorkload(options, cluster, recorder, log);
                    await setup.SetUpAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception or FileNotFoundException or Kraft.Protocol.Client.KafkaClientException)
            {
                await log.WriteLineAsync($"jepsen: set-up failed: {e.Message}").ConfigureAwait(false);
                return new RunResult(HarnessError, "error", null, dir, [.. summary, "set-up failed: " + e.Message]);
            }

            if (options.Workload == "metadata")
            {
                var metadataResult = await RunMetadataAsync(options, cluster, recorder, dir, summary, log, firewall, cancellationToken).ConfigureAwait(false);
                clean = metadataResult.IsClean;
                return metadataResult;
            }

            var workload = new QueueWorkload(options, cluster, recorder, log);
            var planner = new NemesisPlanner(new Random(options.Seed), options.Nemesis, options.Nodes, options.Partitions);
            var nemesis = new NemesisRunner(cluster, recorder, planner, QueueWorkload.Topic, options.NemesisInterval, log, firewall);
            await log.WriteLineAsync($"jepsen: running the workload for {options.TimeLimit.TotalSeconds:F0}s").ConfigureAwait(false);
            using (var timeLimit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeLimit.CancelAfter(options.TimeLimit);
                var nemesisTask = nemesis.RunAsync(timeLimit.Token);
                await workload.RunAsync(timeLimit.Token).ConfigureAwait(false);
                await timeLimit.CancelAsync().ConfigureAwait(false);
                await nemesisTask.ConfigureAwait(false);
            }

            cancellationToken.ThrowIfCancellationRequested();
            var crashed = cluster.FindCrashed();
            if (crashed.Count > 0)
            {
                keep = true;
                // Not a queue anomaly, but a bug worth a look: the node died of its own accord.
                summary.Add($"nodes that exited on their own during the run (restarted for the final reads; see their server.log): {string.Join(',', crashed)}");
                await log.WriteLineAsync("jepsen: " + summary[^1]).ConfigureAwait(false);
            }

            nemesis.Heal();
            recorder.Nemesis("recover", null);
            await log.WriteLineAsync("jepsen: healed; waiting for every ISR to recover").ConfigureAwait(false);
            var problems = new List<string>();
            if (await workload.WaitForIsrsAsync(options.RecoveryTimeout, cancellationToken).ConfigureAwait(false) is string isr)
            {
                problems.Add("ISRs did not recover: " + isr);
                await log.WriteLineAsync("jepsen: " + problems[^1]).ConfigureAwait(false);
            }

            await log.WriteLineAsync("jepsen: final reads from the beginning of every partition").ConfigureAwait(false);
            var undrained = await workload.FinalReadsAsync(options.RecoveryTimeout, cancellationToken).ConfigureAwait(false);
            if (undrained.Count > 0)
            {
                problems.Add("final reads did not reach the end of partitions " + string.Join(',', undrained));
            }

            string historyPath = Path.Combine(dir, "history.edn");
            await File.WriteAllTextAsync(historyPath, HistoryWriter.ToEdn(recorder.Snapshot()), cancellationToken).ConfigureAwait(false);

            // Check what was saved (read back from the file), so that the line numbers in the anomalies point into
            // history.edn and the file is known to reproduce the verdict with `check --model kafka-queue`.
            var history = HistoryParser.ParseFile(historyPath);
            var result = KafkaQueueChecker.Check(history);
            string verdict = result.VerdictText + (problems.Count > 0 ? ",incomplete" : "");
            summary.AddRange(Counts(recorder.Snapshot()));
            summary.AddRange(problems);
            summary.Add("checker: " + result.Describe());
            summary.Add($"history: {historyPath} (re-check: check --model kafka-queue {historyPath})");
            await File.WriteAllTextAsync(Path.Combine(dir, "results.txt"), $"verdict: {verdict}\n" + string.Join('\n', summary) + "\n", cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(
                Path.Combine(dir, "report.html"),
                RunReport.Render($"Kraft {options.Workload} run, seed {options.Seed}", verdict, summary, recorder.Snapshot(), nemesis.Intervals),
                cancellationToken).ConfigureAwait(false);
            clean = result.IsOk && problems.Count == 0;
            return new RunResult(clean ? Clean : Anomalous, verdict, result, dir, summary);
        }
        finally
        {
            // Rules first, then the nodes: nothing the run set up outlives it (the namespace goes with the outer run).
            firewall?.Dispose();
            cluster.Destroy();
            if (clean && !keep)
            {
                try
                {
                    Directory.Delete(cluster.Directory, recursive: true);
                }
                catch (IOException)
                {
                    // Best effort: a clean run's data is not needed.
                }
            }
        }
    }

    /// <summary>
    /// The metadata workload: topic create/delete/read under the nemesis, then heal, save the history and check it
    /// with the kraft-metadata linearizability model. No final phase is needed: every read is an operation.
    /// </summary>
    private static async Task<RunResult> RunMetadataAsync(
        RunOptions options, ProcessCluster cluster, HistoryRecorder recorder, string dir, List<string> summary, TextWriter log, NftFirewall? firewall, CancellationToken cancellationToken)
    {
        var workload = new MetadataWorkload(options, cluster, recorder);
        var planner = new NemesisPlanner(new Random(options.Seed), options.Nemesis, options.Nodes, 1);
        var nemesis = new NemesisRunner(cluster, recorder, planner, "", options.NemesisInterval, log, firewall);
        await log.WriteLineAsync($"jepsen: running the metadata workload for {options.TimeLimit.TotalSeconds:F0}s").ConfigureAwait(false);
        using (var timeLimit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeLimit.CancelAfter(options.TimeLimit);
            var nemesisTask = nemesis.RunAsync(timeLimit.Token);
            await workload.RunAsync(timeLimit.Token).ConfigureAwait(false);
            await timeLimit.CancelAsync().ConfigureAwait(false);
            await nemesisTask.ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var crashed = cluster.FindCrashed();
        if (crashed.Count > 0)
        {
            summary.Add($"nodes that exited on their own during the run (see their server.log): {string.Join(',', crashed)}");
        }

        nemesis.Heal();
        string historyPath = Path.Combine(dir, "history.edn");
        await File.WriteAllTextAsync(historyPath, HistoryWriter.ToEdn(recorder.Snapshot()), cancellationToken).ConfigureAwait(false);
        var history = HistoryParser.ParseFile(historyPath);
        var result = Checking.LinearizabilityChecker.Check(history, Checking.LinearizabilityChecker.Models["kraft-metadata"], TimeSpan.FromSeconds(120), cancellationToken);
        var events = recorder.Snapshot();
        var ops = OperationPairing.Pair(history);
        summary.Add($"ops: {ops.Count(o => o.Status == OpStatus.Ok)} ok, {ops.Count(o => o.Status == OpStatus.Fail)} fail, {ops.Count(o => o.Status == OpStatus.Unknown)} info; " +
            string.Join(", ", ops.GroupBy(o => o.F).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()} {g.Key}")));
        summary.Add("checker (kraft-metadata): " + result.VerdictText);
        summary.AddRange(result.Explanations.Select(e => e.ToString()));
        summary.Add($"history: {historyPath} (re-check: check --model kraft-metadata {historyPath})");
        string verdict = result.VerdictText;
        await File.WriteAllTextAsync(Path.Combine(dir, "results.txt"), $"verdict: {verdict}\n" + string.Join('\n', summary) + "\n", cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(
            Path.Combine(dir, "report.html"),
            RunReport.Render($"Kraft metadata run, seed {options.Seed}", verdict == "linearizable" ? "ok" : verdict, summary, events, nemesis.Intervals),
            cancellationToken).ConfigureAwait(false);
        bool ok = result.Verdict == Checking.Verdict.Linearizable;
        return new RunResult(ok ? Clean : Anomalous, verdict, null, dir, summary);
    }

    private static IEnumerable<string> Counts(IReadOnlyList<HistoryEvent> events)
    {
        var samples = RunReport.Samples(events);
        string Count(string f, EventType t) => samples.Count(s => s.F == f && s.Outcome == t).ToString(CultureInfo.InvariantCulture);
        yield return $"sends: {Count("send", EventType.Ok)} ok, {Count("send", EventType.Info)} info, {Count("send", EventType.Fail)} fail; polls: {Count("poll", EventType.Ok)} ok";
        var sendLatencies = samples.Where(s => s.F == "send" && s.Outcome == EventType.Ok).Select(s => s.LatencyMs).Order().ToList();
        if (sendLatencies.Count > 0)
        {
            double P(double q) => sendLatencies[Math.Min(sendLatencies.Count - 1, (int)(q * sendLatencies.Count))];
            yield return FormattableString.Invariant($"ok send latency ms: p50 {P(0.5):F1}, p99 {P(0.99):F1}, max {sendLatencies[^1]:F1}");
        }
    }
}
