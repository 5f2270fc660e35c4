using System.Globalization;
using System.Text;

namespace Kraft.Linearizability.Edn;

/// <summary>
/// Thrown when EDN text cannot be read. Carries the 1-based line so that the console can name it.
/// </summary>
public sealed class EdnParseException(string message, int line) : Exception(message)
{
    public int Line { get; } = line;
}

/// <summary>
/// A small EDN reader: maps, vectors, lists, sets, keywords, symbols, strings, characters, integers,
/// decimals, nil, true/false, <c>;</c> comments, <c>#_</c> discards, and tagged literals (the tag is
/// dropped and the tagged value kept, so <c>#jepsen.history.Op{...}</c> reads as a map).
/// Role: turn a history file into EDN values with line numbers. Not thread-safe: one reader per text.
/// Commas are whitespace, as EDN specifies.
/// </summary>
public sealed class EdnReader
{
    private readonly string text;
    private int pos;
    private int line = 1;

    public EdnReader(string text)
    {
        this.text = text;
    }

    /// <summary>The line the reader is on, 1-based.</summary>
    public int Line => line;

    /// <summary>Reads every top-level form in the text.</summary>
    public static List<object?> ReadAll(string text)
    {
        var reader = new EdnReader(text);
        var forms = new List<object?>();
        while (reader.TryRead(out var value))
        {
            forms.Add(value);
        }

        return forms;
    }

    /// <summary>Reads exactly one form; anything after it other than whitespace is an error.</summary>
    public static object? ReadOne(string text)
    {
        var forms = ReadAll(text);
        if (forms.Count != 1)
        {
            throw new EdnParseException($"expected one EDN form, found {forms.Count}", 1);
        }

        return forms[0];
    }

    /// <summary>Reads the next top-level form; false at the end of the text.</summary>
    public bool TryRead(out object? value)
    {
        SkipWhitespace();
        if (pos >= text.Length)
        {
            value = null;
            return false;
        }

        value = ReadForm();
        return true;
    }

    private object? ReadForm()
    {
        while (true)
        {
            SkipWhitespace();
            if (pos >= text.Length)
            {
                throw Error("unexpected end of input");
            }

            var c = text[pos];
            switch (c)
            {
                case '{':
                    return ReadMap();
                case '[':
                    {
                        var startLine = line;
                        pos++;
                        return new EdnSeq(ReadUntil(']'), isList: false) { Line = startLine };
                    }

                case '(':
                    {
                        var startLine = line;
                        pos++;
                        return new EdnSeq(ReadUntil(')'), isList: true) { Line = startLine };
                    }

                case '"':
                    return ReadString();
                case ':':
                    pos++;
                    return new Keyword(ReadToken());
                case '\\':
                    return ReadCharacter();
                case '#':
                    if (pos + 1 >= text.Length)
                    {
                        throw Error("unexpected end of input after '#'");
                    }

                    var next = text[pos + 1];
                    if (next == '{')
                    {
                        pos += 2;
                        return new EdnSet(ReadUntil('}'));
                    }

                    if (next == '_')
                    {
                        pos += 2;
                        ReadForm(); // discarded
                        continue;
                    }

                    // A tagged literal: skip the tag and read the value it tags.
                    pos++;
                    ReadToken();
                    continue;
                case ')':
                case ']':
                case '}':
                    throw Error($"unexpected '{c}'");
                default:
                    return ReadAtom();
            }
        }
    }

    private EdnMap ReadMap()
    {
        var startLine = line;
        pos++;
        var items = ReadUntil('}');
        if (items.Count % 2 != 0)
        {
            throw new EdnParseException("map literal has an odd number of forms", startLine);
        }

        var pairs = new List<KeyValuePair<object?, object?>>(items.Count / 2);
        for (var i = 0; i < items.Count; i += 2)
        {
            pairs.Add(new KeyValuePair<object?, object?>(items[i], items[i + 1]));
        }

        try
        {
            return new EdnMap(pairs) { Line = startLine };
        }
        catch (ArgumentException e)
        {
            throw new EdnParseException(e.Message, startLine);
        }
    }

    private List<object?> ReadUntil(char close)
    {
        var items = new List<object?>();
        while (true)
        {
            SkipWhitespace();
            if (pos >= text.Length)
            {
                throw Error($"unexpected end of input, expected '{close}'");
            }

            if (text[pos] == close)
            {
                pos++;
                return items;
            }

            if (text[pos] == '#' && pos + 1 < text.Length && text[pos + 1] == '_')
            {
                pos += 2;
                ReadForm();
                continue;
            }

            items.Add(ReadForm());
        }
    }

    private string ReadString()
    {
        var startLine = line;
        pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (pos >= text.Length)
            {
                throw new EdnParseException("unterminated string", startLine);
            }

            var c = text[pos++];
            if (c == '"')
            {
                return sb.ToString();
            }

            if (c == '\n')
            {
                line++;
            }

            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }

            if (pos >= text.Length)
            {
                throw new EdnParseException("unterminated string", startLine);
            }

            var e = text[pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case 'u':
                    if (pos + 4 > text.Length ||
                        !int.TryParse(text.AsSpan(pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
                    {
                        throw Error("bad \\u escape in string");
                    }

                    sb.Append((char)code);
                    pos += 4;
                    break;
                default:
                    throw Error($"unknown escape '\\{e}' in string");
            }
        }
    }

    private object ReadCharacter()
    {
        pos++;
        var token = ReadToken();
        if (token.Length == 0 && pos < text.Length)
        {
            // A delimiter character such as \( or \space written literally.
            return text[pos++].ToString();
        }

        return token switch
        {
            "newline" => "\n",
            "space" => " ",
            "tab" => "\t",
            "return" => "\r",
            _ when token.Length == 1 => token,
            _ when token.StartsWith('u') && token.Length == 5 => ((char)int.Parse(token.AsSpan(1), NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToString(),
            _ => throw Error($"unknown character literal \\{token}"),
        };
    }

    private object? ReadAtom()
    {
        var token = ReadToken();
        if (token.Length == 0)
        {
            throw Error($"unexpected character '{text[pos]}'");
        }

        switch (token)
        {
            case "nil": return null;
            case "true": return true;
            case "false": return false;
        }

        var first = token[0];
        if (char.IsDigit(first) || ((first == '-' || first == '+') && token.Length > 1 && char.IsDigit(token[1])))
        {
            var number = token.EndsWith('N') || token.EndsWith('M') ? token[..^1] : token;
            if (long.TryParse(number, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
            {
                return l;
            }

            if (double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
            {
                return d;
            }

            throw Error($"bad number '{token}'");
        }

        return new Symbol(token);
    }

    private string ReadToken()
    {
        var start = pos;
        while (pos < text.Length && !IsDelimiter(text[pos]))
        {
            pos++;
        }

        return text[start..pos];
    }

    private static bool IsDelimiter(char c) =>
        char.IsWhiteSpace(c) || c is ',' or '(' or ')' or '[' or ']' or '{' or '}' or '"' or ';';

    private void SkipWhitespace()
    {
        while (pos < text.Length)
        {
            var c = text[pos];
            if (c == '\n')
            {
                line++;
                pos++;
            }
            else if (char.IsWhiteSpace(c) || c == ',')
            {
                pos++;
            }
            else if (c == ';')
            {
                while (pos < text.Length && text[pos] != '\n')
                {
                    pos++;
                }
            }
            else
            {
                return;
            }
        }
    }

    private EdnParseException Error(string message) => new(message, line);
}
