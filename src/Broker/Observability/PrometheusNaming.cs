using System.Globalization;
using System.Text;

namespace Kraft.Broker.Observability;

/// <summary>
/// How a System.Diagnostics.Metrics instrument name and unit become a Prometheus metric family name,
/// and how label values, help text and sample values are written in text exposition format 0.0.4.
/// </summary>
/// <remarks>
/// The naming rule, documented in docs/operations.md ("Metric names"):
/// <list type="number">
/// <item>Every character that is not [a-zA-Z0-9_:] becomes '_' (so dots become underscores), and a
/// leading digit gets a '_' in front.</item>
/// <item>Time units are exported in seconds, the Prometheus base unit: "ms" and "us" values (and
/// histogram bucket boundaries) are scaled to seconds and the suffix is "_seconds"; "s" keeps its
/// values and gets "_seconds".</item>
/// <item>"By" (UCUM bytes) and "bytes" get "_bytes"; "%" gets "_percent"; "1", an empty unit and
/// UCUM annotations such as "{requests}" get no suffix; any other unit is sanitized and appended.</item>
/// <item>Counters (monotonic sums) get "_total" last. A suffix already present is not repeated.</item>
/// </list>
/// All members are pure and thread-safe.
/// </remarks>
public static class PrometheusNaming
{
    /// <summary>The family name and the factor applied to every value (and bucket boundary) of an instrument.</summary>
    public static (string Name, double Scale) MetricName(string instrumentName, string? unit, bool isCounter)
    {
        ArgumentNullException.ThrowIfNull(instrumentName);
        var name = Sanitize(instrumentName, allowColon: true);
        var (suffix, scale) = UnitSuffix(unit);
        if (suffix.Length > 0 && !name.EndsWith(suffix, StringComparison.Ordinal))
        {
            name += suffix;
        }

        if (isCounter && !name.EndsWith("_total", StringComparison.Ordinal))
        {
            name += "_total";
        }

        return (name, scale);
    }

    /// <summary>The suffix for a unit and the factor that converts values into that suffix's unit.</summary>
    public static (string Suffix, double Scale) UnitSuffix(string? unit)
    {
        var u = unit?.Trim() ?? "";
        return u switch
        {
            "" or "1" => ("", 1.0),
            "s" or "sec" or "seconds" => ("_seconds", 1.0),
            "ms" or "milliseconds" => ("_seconds", 1e-3),
            "us" or "μs" or "microseconds" => ("_seconds", 1e-6),
            "ns" or "nanoseconds" => ("_seconds", 1e-9),
            "By" or "bytes" or "byte" or "B" => ("_bytes", 1.0),
            "%" => ("_percent", 1.0),
            _ when u.StartsWith('{') && u.EndsWith('}') => ("", 1.0),
            _ => ("_" + Sanitize(u, allowColon: false).Trim('_'), 1.0),
        };
    }

    /// <summary>A label name as Prometheus accepts it: [a-zA-Z_][a-zA-Z0-9_]*, never starting with "__" (reserved).</summary>
    public static string LabelName(string tagName)
    {
        var name = Sanitize(tagName, allowColon: false);
        return name.StartsWith("__", StringComparison.Ordinal) ? "tag" + name : name;
    }

    /// <summary>Replaces every character outside the allowed set with '_' and guards a leading digit.</summary>
    public static string Sanitize(string raw, bool allowColon)
    {
        if (raw.Length == 0)
        {
            return "_";
        }

        var sb = new StringBuilder(raw.Length + 1);
        if (raw[0] is >= '0' and <= '9')
        {
            sb.Append('_');
        }

        foreach (var c in raw)
        {
            var ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_' || (allowColon && c == ':');
            sb.Append(ok ? c : '_');
        }

        return sb.ToString();
    }

    /// <summary>Escapes a label value: backslash, double quote and line feed (the three the format defines).</summary>
    public static void AppendEscapedLabelValue(StringBuilder sb, string value)
    {
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '"': sb.Append("\\\""); break;
                case '\n': sb.Append("\\n"); break;
                default: sb.Append(c); break;
            }
        }
    }

    /// <summary>Escapes HELP text: backslash and line feed only (quotes stay as they are in HELP).</summary>
    public static string EscapeHelp(string help)
    {
        var sb = new StringBuilder(help.Length);
        foreach (var c in help)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': break;
                default: sb.Append(c); break;
            }
        }

        return sb.ToString();
    }

    /// <summary>A sample value as Go's ParseFloat (and so Prometheus) reads it: shortest round-trip form, +Inf/-Inf/NaN.</summary>
    public static string FormatValue(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsPositiveInfinity(value))
        {
            return "+Inf";
        }

        if (double.IsNegativeInfinity(value))
        {
            return "-Inf";
        }

        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>A tag value as label text; numbers and dates use the invariant culture, booleans are lower case.</summary>
    public static string TagValueToString(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
