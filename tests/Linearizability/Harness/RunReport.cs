using System.Globalization;
using System.Net;
using System.Text;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Harness;

/// <summary>
/// The report of one run: a self-contained HTML page (no scripts, no external files) with the verdict, the
/// anomalies and the ops involved, and two SVG charts over time (operations completed per second by outcome;
/// the latency of every operation, log scale) with nemesis fault intervals shaded. Role: presentation only; it
/// reads the recorded events and never changes a verdict. Stateless.
/// </summary>
public static class RunReport
{
    private const double Width = 1000, PlotHeight = 220, Left = 60, Right = 20, Top = 20, Bottom = 30;

    /// <summary>One completed (or never completed) client operation, as the charts need it.</summary>
    public sealed record Sample(string F, EventType Outcome, double StartSeconds, double LatencyMs);

    /// <summary>Pairs invokes with completions per process; an invoke never completed counts as info at the end.</summary>
    public static List<Sample> Samples(IReadOnlyList<HistoryEvent> events)
    {
        var open = new Dictionary<long, HistoryEvent>();
        var samples = new List<Sample>();
        long lastTime = events.Count == 0 ? 0 : events.Max(e => e.Time ?? 0);
        foreach (var e in events)
        {
            if (e.Process is not long p)
            {
                continue;
            }

            if (e.Type == EventType.Invoke)
            {
                open[p] = e;
            }
            else if (open.Remove(p, out var invoke) && invoke.F is "send" or "poll" or "create" or "delete" or "read")
            {
                samples.Add(new Sample(invoke.F, e.Type, (invoke.Time ?? 0) / 1e9, ((e.Time ?? 0) - (invoke.Time ?? 0)) / 1e6));
            }
        }

        foreach (var invoke in open.Values.Where(i => i.F is "send" or "poll" or "create" or "delete" or "read"))
        {
            samples.Add(new Sample(invoke.F, EventType.Info, (invoke.Time ?? 0) / 1e9, (lastTime - (invoke.Time ?? 0)) / 1e6));
        }

        return samples;
    }

    public static string Render(
        string title,
        string verdict,
        IReadOnlyList<string> details,
        IReadOnlyList<HistoryEvent> events,
        IReadOnlyList<(long StartNanos, long EndNanos, string What)> faults)
    {
        var samples = Samples(events);
        double duration = Math.Max(1, samples.Count == 0 ? 1 : samples.Max(s => s.StartSeconds + (s.LatencyMs / 1000)));
        var shaded = faults.Select(f => (f.StartNanos / 1e9, f.EndNanos / 1e9, f.What)).ToList();
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>").Append(Esc(title)).Append("</title>")
            .Append("<style>body{font-family:sans-serif;margin:20px}pre{background:#f6f6f6;padding:8px;white-space:pre-wrap}")
            .Append(".ok{color:#080}.bad{color:#b00}</style></head><body>");
        html.Append("<h1>").Append(Esc(title)).Append("</h1>");
        html.Append("<h2 class=\"").Append(verdict == "ok" ? "ok" : "bad").Append("\">Verdict: ").Append(Esc(verdict)).Append("</h2>");
        html.Append("<pre>").Append(Esc(string.Join('\n', details))).Append("</pre>");
        html.Append("<h3>Operations completed per second (shaded: nemesis faults)</h3>");
        html.Append(Throughput(samples, duration, shaded));
        html.Append("<h3>Latency per operation, ms (log scale; shaded: nemesis faults)</h3>");
        html.Append(Latency(samples, duration, shaded));
        html.Append("<h3>Nemesis</h3><pre>");
        foreach (var (start, end, what) in shaded)
        {
            html.Append(CultureInfo.InvariantCulture, $"{start,7:F1}s - {end,7:F1}s  {Esc(what)}\n");
        }

        html.Append("</pre></body></html>\n");
        return html.ToString();
    }

    private static readonly (string F, EventType Type, string Label, string Color)[] Series =
    [
        ("send", EventType.Ok, "send ok", "#2a7"),
        ("send", EventType.Info, "send info", "#e80"),
        ("send", EventType.Fail, "send fail", "#c22"),
        ("poll", EventType.Ok, "poll ok", "#36c"),
        ("create", EventType.Ok, "create ok", "#2a7"),
        ("delete", EventType.Ok, "delete ok", "#a3c"),
        ("read", EventType.Ok, "read ok", "#36c"),
    ];

    private static string Throughput(List<Sample> samples, double duration, List<(double, double, string)> shaded)
    {
        int buckets = (int)Math.Ceiling(duration);
        var counts = Series.Select(s =>
        {
            var c = new int[buckets + 1];
            foreach (var x in samples.Where(x => x.F == s.F && x.Outcome == s.Type))
            {
                c[Math.Clamp((int)(x.StartSeconds + (x.LatencyMs / 1000)), 0, buckets)]++;
            }

            return c;
        }).ToList();
        double max = Math.Max(1, counts.Max(c => c.Max()));
        var svg = Frame(duration, shaded, out double plotWidth);
        AxisY(svg, 0, max, v => v, "F0");
        for (int s = 0; s < Series.Length; s++)
        {
            var points = string.Join(' ', Enumerable.Range(0, buckets + 1).Select(b =>
                $"{X(b + 0.5, duration, plotWidth):F1},{Top + PlotHeight - (counts[s][b] / max * PlotHeight):F1}"));
            svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{Series[s].Color}\" stroke-width=\"1.5\" points=\"{points}\"/>");
        }

        Legend(svg);
        return svg.Append("</svg>").ToString();
    }

    private static string Latency(List<Sample> samples, double duration, List<(double, double, string)> shaded)
    {
        double max = Math.Max(10, samples.Count == 0 ? 10 : samples.Max(s => s.LatencyMs));
        double logMin = 0, logMax = Math.Log10(max);
        double Y(double ms) => Top + PlotHeight - ((Math.Log10(Math.Max(1, ms)) - logMin) / (logMax - logMin) * PlotHeight);
        var svg = Frame(duration, shaded, out double plotWidth);
        for (double v = 1; v <= max * 1.01; v *= 10)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 5}\" y=\"{Y(v) + 4:F1}\" font-size=\"10\" text-anchor=\"end\">{v:F0}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Left + plotWidth}\" y1=\"{Y(v):F1}\" y2=\"{Y(v):F1}\" stroke=\"#ddd\"/>");
        }

        foreach (var s in samples)
        {
            var color = Series.FirstOrDefault(x => x.F == s.F && x.Type == s.Outcome).Color ?? "#999";
            svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(s.StartSeconds, duration, plotWidth):F1}\" cy=\"{Y(s.LatencyMs):F1}\" r=\"1.6\" fill=\"{color}\" fill-opacity=\"0.6\"/>");
        }

        Legend(svg);
        return svg.Append("</svg>").ToString();
    }

    private static StringBuilder Frame(double duration, List<(double Start, double End, string What)> shaded, out double plotWidth)
    {
        plotWidth = Width - Left - Right;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Top + PlotHeight + Bottom}\">");
        foreach (var (start, end, what) in shaded)
        {
            double x0 = X(start, duration, plotWidth), x1 = X(Math.Min(end, duration), duration, plotWidth);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x0:F1}\" y=\"{Top}\" width=\"{Math.Max(1, x1 - x0):F1}\" height=\"{PlotHeight}\" fill=\"#f4b\" fill-opacity=\"0.15\"><title>{Esc(what)}</title></rect>");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotWidth}\" height=\"{PlotHeight}\" fill=\"none\" stroke=\"#888\"/>");
        double step = duration > 120 ? 30 : duration > 40 ? 10 : 5;
        for (double t = 0; t <= duration; t += step)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(t, duration, plotWidth):F1}\" y=\"{Top + PlotHeight + 15}\" font-size=\"10\" text-anchor=\"middle\">{t:F0}s</text>");
        }

        return svg;
    }

    private static void AxisY(StringBuilder svg, double min, double max, Func<double, double> value, string format)
    {
        for (int i = 0; i <= 4; i++)
        {
            double v = min + ((max - min) * i / 4);
            double y = Top + PlotHeight - (PlotHeight * i / 4);
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 5}\" y=\"{y + 4:F1}\" font-size=\"10\" text-anchor=\"end\">{value(v).ToString(format, CultureInfo.InvariantCulture)}</text>");
        }
    }

    private static void Legend(StringBuilder svg)
    {
        for (int i = 0; i < Series.Length; i++)
        {
            double x = Left + 10 + (i * 90);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{Top + 5}\" width=\"10\" height=\"10\" fill=\"{Series[i].Color}\"/><text x=\"{x + 14}\" y=\"{Top + 14}\" font-size=\"11\">{Series[i].Label}</text>");
        }
    }

    private static double X(double seconds, double duration, double plotWidth) => Left + (seconds / duration * plotWidth);

    private static string Esc(string text) => WebUtility.HtmlEncode(text);
}
