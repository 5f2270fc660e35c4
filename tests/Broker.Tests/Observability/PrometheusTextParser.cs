using System.Globalization;
using System.Text;

namespace Kraft.Broker.Tests.Observability;

/// <summary>One sample line: metric name, labels (unescaped) and value.</summary>
internal sealed record PromSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) => Labels.TryGetValue(name, out var v) ? v : throw new PromFormatException($"sample {Name} has no label {name}");
}

/// <summary>One metric family: its HELP (unescaped), TYPE and samples in file order.</summary>
internal sealed record PromFamily(string Name, string Type, string Help, IReadOnlyList<PromSample> Samples);

/// <summary>Thrown on any deviation from the exposition format (or from what Kraft promises to emit).</summary>
internal sealed class PromFormatException(string message) : Exception(message);

/// <summary>
/// A deliberately strict parser of the Prometheus text exposition format 0.0.4, used to check the
/// exporter's output. It accepts a subset of the format: exactly what a correct exporter that always
/// writes HELP and TYPE emits, and it fails loudly (with the line number) on anything else.
/// </summary>
/// <remarks>
/// Checks: "\n" line ends only and a final newline; no blank lines, no free comments, no timestamps;
/// HELP then TYPE, once each, before the family's samples; families contiguous and never repeated;
/// metric and label names by the format's grammar, no "__" label names, no duplicate label names;
/// label values with only the escapes \\ \" \n; HELP with only \\ \n; single spaces between parts;
/// values parse as Go floats (+Inf, -Inf, NaN); no duplicate series; counter names end in _total and
/// counter values are finite and not negative; histogram series have strictly increasing "le" buckets
/// ending at +Inf, non-decreasing cumulative counts, exactly one _sum and _count each, and the +Inf
/// bucket equals _count. Pure; any thread.
/// </remarks>
internal static class PrometheusTextParser
{
    public static IReadOnlyDictionary<string, PromFamily> Parse(string text)
    {
        if (text.Contains('\r'))
        {
            throw new PromFormatException("carriage return found; lines must end with \\n only");
        }

        if (text.Length > 0 && !text.EndsWith('\n'))
        {
            throw new PromFormatException("the last line does not end with \\n");
        }

        var families = new Dictionary<string, PromFamily>(StringComparer.Ordinal);
        var seriesSeen = new HashSet<string>(StringComparer.Ordinal);
        string? currentName = null;
        string? currentHelp = null;
        string? currentType = null;
        var currentSamples = new List<PromSample>();

        void Close(int lineNo)
        {
            if (currentName is null)
            {
                return;
            }

            if (currentType is null)
            {
                throw new PromFormatException($"line {lineNo}: family {currentName} has HELP but no TYPE");
            }

            var family = new PromFamily(currentName, currentType, currentHelp ?? "", currentSamples);
            Validate(family);
            families.Add(currentName, family);
            currentName = null;
            currentHelp = null;
            currentType = null;
            currentSamples = [];
        }

        var lines = text.Length == 0 ? [] : text[..^1].Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var line = lines[i];
            try
            {
                if (line.Length == 0)
                {
                    throw new PromFormatException("blank line");
                }

                if (line.StartsWith("# HELP ", StringComparison.Ordinal))
                {
                    var rest = line["# HELP ".Length..];
                    var space = rest.IndexOf(' ', StringComparison.Ordinal);
                    var name = space < 0 ? rest : rest[..space];
                    var help = space < 0 ? "" : UnescapeHelp(rest[(space + 1)..]);
                    CheckMetricName(name);
                    Close(lineNo);
                    if (families.ContainsKey(name))
                    {
                        throw new PromFormatException($"family {name} appears twice (families must be contiguous)");
                    }

                    currentName = name;
                    currentHelp = help;
                    continue;
                }

                if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
                {
                    var parts = line["# TYPE ".Length..].Split(' ');
                    if (parts.Length != 2)
                    {
                        throw new PromFormatException("TYPE line must be '# TYPE name type'");
                    }

                    CheckMetricName(parts[0]);
                    if (parts[1] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped"))
                    {
                        throw new PromFormatException($"unknown type '{parts[1]}'");
                    }

                    if (currentName != parts[0] || currentType is not null || currentSamples.Count > 0)
                    {
                        throw new PromFormatException($"TYPE for {parts[0]} must follow its HELP line, once, before any sample");
                    }

                    currentType = parts[1];
                    continue;
                }

                if (line.StartsWith('#'))
                {
                    throw new PromFormatException("free comment lines are not expected from Kraft");
                }

                var sample = ParseSample(line);
                if (currentName is null || currentType is null)
                {
                    throw new PromFormatException($"sample {sample.Name} before any HELP/TYPE");
                }

                var allowed = currentType == "histogram"
                    ? new[] { currentName + "_bucket", currentName + "_sum", currentName + "_count" }
                    : [currentName];
                if (!allowed.Contains(sample.Name))
                {
                    throw new PromFormatException($"sample {sample.Name} does not belong to family {currentName} ({currentType})");
                }

                var key = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value)) + "}";
                if (!seriesSeen.Add(key))
                {
                    throw new PromFormatException($"duplicate series {key}");
                }

                currentSamples.Add(sample);
            }
            catch (PromFormatException e) when (!e.Message.StartsWith("line ", StringComparison.Ordinal))
            {
                throw new PromFormatException($"line {lineNo}: {e.Message}: «{line}»");
            }
        }

        Close(lines.Length);
        return families;
    }

    private static PromSample ParseSample(string line)
    {
        var pos = 0;
        while (pos < line.Length && IsMetricChar(line[pos], pos == 0))
        {
            pos++;
        }

        var name = line[..pos];
        CheckMetricName(name);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (pos < line.Length && line[pos] == '{')
        {
            pos++;
            while (true)
            {
                var start = pos;
                while (pos < line.Length && IsLabelChar(line[pos], pos == start))
                {
                    pos++;
                }

                var labelName = line[start..pos];
                if (labelName.Length == 0)
                {
                    throw new PromFormatException("empty label name (or trailing comma)");
                }

                if (labelName.StartsWith("__", StringComparison.Ordinal))
                {
                    throw new PromFormatException($"label name {labelName} is reserved");
                }

                if (pos + 1 >= line.Length || line[pos] != '=' || line[pos + 1] != '"')
                {
                    throw new PromFormatException($"label {labelName} must be followed by =\"");
                }

                pos += 2;
                var value = new StringBuilder();
                while (true)
                {
                    if (pos >= line.Length)
                    {
                        throw new PromFormatException($"unterminated value of label {labelName}");
                    }

                    var c = line[pos++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\')
                    {
                        if (pos >= line.Length)
                        {
                            throw new PromFormatException("backslash at end of line");
                        }

                        var e = line[pos++];
                        value.Append(e switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new PromFormatException($"invalid escape \\{e} in label {labelName}"),
                        });
                    }
                    else
                    {
                        value.Append(c);
                    }
                }

                if (!labels.TryAdd(labelName, value.ToString()))
                {
                    throw new PromFormatException($"duplicate label {labelName}");
                }

                if (pos < line.Length && line[pos] == ',')
                {
                    pos++;
                    continue;
                }

                if (pos < line.Length && line[pos] == '}')
                {
                    pos++;
                    break;
                }

                throw new PromFormatException("expected ',' or '}' after a label");
            }
        }

        if (pos >= line.Length || line[pos] != ' ')
        {
            throw new PromFormatException("expected one space before the value");
        }

        var valueText = line[(pos + 1)..];
        if (valueText.Contains(' ', StringComparison.Ordinal))
        {
            throw new PromFormatException("extra field after the value (Kraft emits no timestamps)");
        }

        return new PromSample(name, labels, ParseValue(valueText));
    }

    public static double ParseValue(string text)
    {
        switch (text)
        {
            case "+Inf": return double.PositiveInfinity;
            case "-Inf": return double.NegativeInfinity;
            case "NaN": return double.NaN;
        }

        if (text.Length == 0 || text.Any(c => !(char.IsAsciiDigit(c) || c is '.' or 'e' or 'E' or '+' or '-'))
            || !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
        {
            throw new PromFormatException($"'{text}' is not a valid sample value");
        }

        return v;
    }

    private static void Validate(PromFamily family)
    {
        if (family.Type == "counter")
        {
            if (!family.Name.EndsWith("_total", StringComparison.Ordinal))
            {
                throw new PromFormatException($"counter {family.Name} does not end in _total");
            }

            foreach (var s in family.Samples)
            {
                if (!double.IsFinite(s.Value) || s.Value < 0)
                {
                    throw new PromFormatException($"counter {family.Name} has value {s.Value}");
                }
            }
        }

        if (family.Type != "histogram")
        {
            return;
        }

        static string SeriesKey(PromSample s) =>
            string.Join(",", s.Labels.Where(kv => kv.Key != "le").OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value));

        foreach (var group in family.Samples.GroupBy(SeriesKey))
        {
            var buckets = group.Where(s => s.Name == family.Name + "_bucket").ToList();
            var sums = group.Where(s => s.Name == family.Name + "_sum").ToList();
            var counts = group.Where(s => s.Name == family.Name + "_count").ToList();
            if (sums.Any(s => s.Labels.ContainsKey("le")) || counts.Any(s => s.Labels.ContainsKey("le")))
            {
                throw new PromFormatException($"histogram {family.Name}: _sum/_count must not carry le");
            }

            if (buckets.Count == 0 || sums.Count != 1 || counts.Count != 1)
            {
                throw new PromFormatException($"histogram {family.Name}{{{group.Key}}}: needs buckets, one _sum and one _count");
            }

            var previousLe = double.NegativeInfinity;
            var previousCount = 0.0;
            foreach (var b in buckets)
            {
                var le = ParseValue(b.Label("le"));
                if (!(le > previousLe))
                {
                    throw new PromFormatException($"histogram {family.Name}{{{group.Key}}}: le {le} not above {previousLe}");
                }

                if (b.Value < previousCount || !double.IsFinite(b.Value) || b.Value != Math.Floor(b.Value))
                {
                    throw new PromFormatException($"histogram {family.Name}{{{group.Key}}}: bucket le={le} count {b.Value} is not a cumulative count");
                }

                previousLe = le;
                previousCount = b.Value;
            }

            if (!double.IsPositiveInfinity(previousLe))
            {
                throw new PromFormatException($"histogram {family.Name}{{{group.Key}}}: last bucket is not +Inf");
            }

            if (previousCount != counts[0].Value)
            {
                throw new PromFormatException($"histogram {family.Name}{{{group.Key}}}: +Inf bucket {previousCount} != _count {counts[0].Value}");
            }
        }
    }

    private static string UnescapeHelp(string raw)
    {
        var sb = new StringBuilder(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != '\\')
            {
                sb.Append(raw[i]);
                continue;
            }

            if (++i >= raw.Length)
            {
                throw new PromFormatException("backslash at end of HELP");
            }

            sb.Append(raw[i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                _ => throw new PromFormatException($"invalid escape \\{raw[i]} in HELP"),
            });
        }

        return sb.ToString();
    }

    private static void CheckMetricName(string name)
    {
        if (name.Length == 0 || !name.Select((c, i) => IsMetricChar(c, i == 0)).All(ok => ok))
        {
            throw new PromFormatException($"invalid metric name '{name}'");
        }
    }

    private static bool IsMetricChar(char c, bool first) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' or ':' || (!first && c is >= '0' and <= '9');

    private static bool IsLabelChar(char c, bool first) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or '_' || (!first && c is >= '0' and <= '9');
}
