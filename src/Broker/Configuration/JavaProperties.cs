using System.Globalization;
using System.Text;

namespace Kraft.Broker.Configuration;

/// <summary>One key=value pair read from a properties file, with the line its logical line starts on.</summary>
public sealed record PropertyEntry(string Key, string Value, int Line);

/// <summary>
/// A reader for the Java properties syntax Kafka's server.properties uses (java.util.Properties.load):
/// "key=value", "key: value" or "key value"; lines whose first non-blank character is '#' or '!' are
/// comments; a line ending in an odd number of backslashes continues on the next line (whose leading
/// blanks are dropped); escapes \t \n \r \f \uXXXX, and a backslash before any other character keeps
/// that character (so "\=" and "\:" put separators in keys). Later duplicates win, as in Java.
/// Pure; any thread.
/// </summary>
public static class JavaProperties
{
    /// <summary>Parses the text; throws <see cref="ConfigException"/> (with the line) on a malformed \u escape.</summary>
    public static IReadOnlyList<PropertyEntry> Parse(string text, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entries = new List<PropertyEntry>();
        var natural = SplitNaturalLines(text);
        for (var i = 0; i < natural.Count; i++)
        {
            var first = natural[i].TrimStart(' ', '\t', '\f');
            var startLine = i + 1;
            if (first.Length == 0 || first[0] == '#' || first[0] == '!')
            {
                continue;
            }

            // Join continuation lines: an odd count of trailing backslashes escapes the line end.
            var logical = new StringBuilder();
            var current = first;
            while (true)
            {
                var trailing = 0;
                for (var j = current.Length - 1; j >= 0 && current[j] == '\\'; j--)
                {
                    trailing++;
                }

                if (trailing % 2 == 1)
                {
                    logical.Append(current, 0, current.Length - 1);
                    if (i + 1 >= natural.Count)
                    {
                        break;
                    }

                    current = natural[++i].TrimStart(' ', '\t', '\f');
                    continue;
                }

                logical.Append(current);
                break;
            }

            var (key, value) = SplitKeyValue(logical.ToString());
            entries.Add(new PropertyEntry(
                Unescape(key, sourceName, startLine),
                Unescape(value, sourceName, startLine),
                startLine));
        }

        return entries;
    }

    private static List<string> SplitNaturalLines(string text)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is '\n' or '\r')
            {
                lines.Add(text[start..i]);
                if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }

                start = i + 1;
            }
        }

        if (start < text.Length)
        {
            lines.Add(text[start..]);
        }

        return lines;
    }

    private static (string Key, string Value) SplitKeyValue(string line)
    {
        var keyEnd = line.Length;
        var valueStart = line.Length;
        var hasSeparator = false;
        var precedingBackslash = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if ((c == '=' || c == ':') && !precedingBackslash)
            {
                keyEnd = i;
                valueStart = i + 1;
                hasSeparator = true;
                break;
            }

            if ((c == ' ' || c == '\t' || c == '\f') && !precedingBackslash)
            {
                keyEnd = i;
                valueStart = i + 1;
                break;
            }

            precedingBackslash = c == '\\' && !precedingBackslash;
        }

        while (valueStart < line.Length)
        {
            var c = line[valueStart];
            if (c is ' ' or '\t' or '\f')
            {
                valueStart++;
            }
            else if (!hasSeparator && c is '=' or ':')
            {
                valueStart++;
                hasSeparator = true;
            }
            else
            {
                break;
            }
        }

        return (line[..keyEnd], line[Math.Min(valueStart, line.Length)..]);
    }

    private static string Unescape(string s, string sourceName, int line)
    {
        if (!s.Contains('\\', StringComparison.Ordinal))
        {
            return s;
        }

        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if (c != '\\' || i + 1 >= s.Length)
            {
                // A lone backslash at the very end (only possible at end of file) is dropped, as Java does.
                if (c != '\\')
                {
                    sb.Append(c);
                }

                continue;
            }

            c = s[++i];
            switch (c)
            {
                case 't': sb.Append('\t'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 'f': sb.Append('\f'); break;
                case 'u':
                    if (s.Length - i - 1 < 4
                        || !int.TryParse(s.AsSpan(i + 1, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
                    {
                        throw new ConfigException($"{sourceName}:{line}: malformed \\uXXXX escape");
                    }

                    sb.Append((char)code);
                    i += 4;
                    break;
                default: sb.Append(c); break;
            }
        }

        return sb.ToString();
    }
}
