using System.Globalization;
using System.Text;

namespace Kraft.Linearizability.Edn;

/// <summary>
/// Writes EDN values as text that <see cref="EdnReader"/> (and Clojure) read back to equal values.
/// Stateless; any thread.
/// </summary>
public static class EdnWriter
{
    public static string Write(object? value)
    {
        var sb = new StringBuilder();
        Write(sb, value);
        return sb.ToString();
    }

    public static void Write(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("nil");
                break;
            case bool b:
                sb.Append(b ? "true" : "false");
                break;
            case long or int or short or byte:
                sb.Append(Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                var s = d.ToString("R", CultureInfo.InvariantCulture);
                sb.Append(s.Contains('.') || s.Contains('E') ? s : s + ".0");
                break;
            case string str:
                WriteString(sb, str);
                break;
            case Keyword k:
                sb.Append(':').Append(k.Name);
                break;
            case Symbol sym:
                sb.Append(sym.Name);
                break;
            case EdnSeq seq:
                sb.Append(seq.IsList ? '(' : '[');
                for (var i = 0; i < seq.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(' ');
                    }

                    Write(sb, seq[i]);
                }

                sb.Append(seq.IsList ? ')' : ']');
                break;
            case EdnMap map:
                sb.Append('{');
                var first = true;
                foreach (var pair in map.Pairs)
                {
                    if (!first)
                    {
                        sb.Append(", ");
                    }

                    first = false;
                    Write(sb, pair.Key);
                    sb.Append(' ');
                    Write(sb, pair.Value);
                }

                sb.Append('}');
                break;
            case EdnSet set:
                sb.Append("#{");
                for (var i = 0; i < set.Ordered.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(' ');
                    }

                    Write(sb, set.Ordered[i]);
                }

                sb.Append('}');
                break;
            default:
                throw new ArgumentException("not an EDN value: " + value.GetType().Name);
        }
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (c < 0x20)
                    {
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }

                    break;
            }
        }

        sb.Append('"');
    }

    /// <summary>Builds a map from keyword names and values, skipping none (nil values are written).</summary>
    public static EdnMap Map(params (string Key, object? Value)[] pairs) =>
        new(pairs.Select(p => new KeyValuePair<object?, object?>(new Keyword(p.Key), p.Value)));

    public static EdnSeq Vector(params object?[] items) => new(items);
}
