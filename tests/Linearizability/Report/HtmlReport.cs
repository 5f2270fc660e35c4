using System.Globalization;
using System.Net;
using System.Text;
using Kraft.Linearizability.Checking;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Report;

/// <summary>
/// Renders check results as one self-contained HTML page (no scripts or external files): per file, a
/// timeline with one row per process and one bar per operation from its call to its return. Ops of the
/// longest linearizable prefix show their position in it; ops that cannot be placed are red; the op whose
/// return bounds the search is outlined. Stateless.
/// </summary>
public static class HtmlReport
{
    private const int PixelsPerEvent = 14;
    private const int RowHeight = 26;
    private const int LabelWidth = 60;

    public sealed record Section(string File, string Model, CheckResult Result);

    public static string Render(IEnumerable<Section> sections)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Kraft linearizability report</title><style>\n");
        sb.Append("body{font-family:sans-serif;margin:1em}h2{font-size:1.1em}.tl{position:relative;overflow-x:auto;border:1px solid #ccc;background:#fafafa}");
        sb.Append(".row{position:absolute;left:0;font-size:11px;color:#555}.op{position:absolute;height:18px;border-radius:3px;font-size:10px;overflow:hidden;white-space:nowrap;box-sizing:border-box;border:1px solid #888;background:#ddd;padding:1px 2px}");
        sb.Append(".ok{background:#cfe8cf;border-color:#5a5}.bad{background:#f4b4b4;border-color:#c00;font-weight:bold}.bound{outline:3px solid #e80}.unknown{border-style:dashed}");
        sb.Append(".fail{background:#eee;color:#777}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}.lin{color:#070}.not{color:#c00}.unk{color:#a60}</style></head><body>\n");
        sb.Append("<h1>Kraft linearizability report</h1>\n<p>Bars run from an operation's call to its return (dashed: unknown outcome, open to the end). ");
        sb.Append("Green bars are in the longest linearizable prefix (number = position); red bars could not be placed after it; the orange outline marks the op that had to be placed before it returned.</p>\n");
        foreach (var section in sections)
        {
            RenderSection(sb, section);
        }

        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private static void RenderSection(StringBuilder sb, Section section)
    {
        var result = section.Result;
        var css = result.Verdict switch
        {
            Verdict.Linearizable => "lin",
            Verdict.NotLinearizable => "not",
            _ => "unk",
        };
        sb.Append("<h2>").Append(E(section.File)).Append(" &mdash; model ").Append(E(section.Model)).Append(": <span class=\"").Append(css).Append("\">")
          .Append(E(result.VerdictText)).Append("</span></h2>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<p>{result.Operations.Count} operations, {result.Partitions.Count} partition(s), {result.Elapsed.TotalMilliseconds:F1} ms.</p>\n");

        var explanations = result.Explanations.ToList();
        foreach (var explanation in explanations)
        {
            sb.Append("<pre>").Append(E(explanation.ToString())).Append("</pre>\n");
        }

        // Show the failing partitions' ops, or everything when the history is fine (bounded for size).
        var shown = explanations.Count > 0
            ? result.Partitions.Where(p => p.Explanation is not null).SelectMany(p => OpsOf(p, result)).ToList()
            : result.Operations.ToList();
        if (shown.Count > 3000)
        {
            sb.Append("<p>(timeline omitted: more than 3000 operations)</p>\n");
            return;
        }

        var position = new Dictionary<int, int>();
        var bad = new HashSet<int>();
        var bound = new HashSet<int>();
        foreach (var explanation in explanations)
        {
            for (var i = 0; i < explanation.LongestPrefix.Count; i++)
            {
                position[explanation.LongestPrefix[i].Id] = i + 1;
            }

            bad.UnionWith(explanation.Unplaceable.Select(o => o.Id));
            if (explanation.MustPrecede is not null)
            {
                bound.Add(explanation.MustPrecede.Id);
            }
        }

        if (explanations.Count == 0)
        {
            foreach (var p in result.Partitions)
            {
                for (var i = 0; i < p.Linearization.Count; i++)
                {
                    position[p.Linearization[i].Id] = i + 1;
                }
            }
        }

        if (shown.Count == 0)
        {
            return;
        }

        var minTime = shown.Min(o => o.Call);
        var maxTime = shown.Max(o => o.Return == Operation.Infinity ? o.Call + 1 : o.Return) + 3;
        var processes = shown.Select(o => o.Process).Distinct().Order().ToList();
        var row = processes.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i);
        var width = LabelWidth + ((maxTime - minTime) * PixelsPerEvent) + 40;
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"tl\" style=\"height:{(processes.Count * RowHeight) + 10}px\"><div style=\"width:{width}px;height:1px\"></div>\n");
        foreach (var p in processes)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"row\" style=\"top:{(row[p] * RowHeight) + 6}px\">p{p}</div>\n");
        }

        foreach (var op in shown)
        {
            var end = op.Return == Operation.Infinity ? maxTime : op.Return;
            var left = LabelWidth + ((op.Call - minTime) * PixelsPerEvent);
            var w = Math.Max(PixelsPerEvent, (end - op.Call) * PixelsPerEvent);
            var classes = new List<string> { "op" };
            if (op.Status == OpStatus.Unknown)
            {
                classes.Add("unknown");
            }

            if (op.Status == OpStatus.Fail)
            {
                classes.Add("fail");
            }

            if (position.ContainsKey(op.Id))
            {
                classes.Add("ok");
            }

            if (bad.Contains(op.Id))
            {
                classes.Add("bad");
            }

            if (bound.Contains(op.Id))
            {
                classes.Add("bound");
            }

            var label = (position.TryGetValue(op.Id, out var pos) ? pos.ToString(CultureInfo.InvariantCulture) + ". " : "") + Short(op);
            sb.Append(CultureInfo.InvariantCulture, $"<div class=\"{string.Join(' ', classes)}\" style=\"left:{left}px;top:{(row[op.Process] * RowHeight) + 4}px;width:{w}px\" title=\"{E(op.ToString())}\">{E(label)}</div>\n");
        }

        sb.Append("</div>\n");
    }

    private static IEnumerable<Operation> OpsOf(PartitionResult partition, CheckResult result) =>
        partition.Key is null
            ? result.Operations
            : result.Operations.Where(o => o.Key is not null && Edn.EdnEquality.AreEqual(o.Key, partition.Key));

    private static string Short(Operation op)
    {
        var value = op.Status == OpStatus.Ok && op.Output is not null ? op.Output : op.Input;
        return op.F + " " + Edn.EdnWriter.Write(value);
    }

    private static string E(string s) => WebUtility.HtmlEncode(s);
}
