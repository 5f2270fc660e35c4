using Kraft.Linearizability.Edn;

namespace Kraft.Linearizability.History;

/// <summary>The input formats the checkers read.</summary>
public enum HistoryFormat
{
    /// <summary>Detect from the content: Jepsen text log lines start with <c>INFO</c>, anything else is EDN.</summary>
    Auto,

    /// <summary>Jepsen's text log as in Porcupine's etcd_NNN.log files.</summary>
    EtcdLog,

    /// <summary>EDN: one collection of op maps, or a sequence of op maps (one per line or not).</summary>
    Edn,
}

/// <summary>
/// Reads histories from text. Errors are <see cref="EdnParseException"/> or
/// <see cref="HistoryFormatException"/>, both with a line number. Stateless.
/// </summary>
public static class HistoryParser
{
    private static readonly char[] Whitespace = [' ', '\t'];

    public static HistoryFormat ParseFormatName(string name) => name.ToLowerInvariant() switch
    {
        "auto" => HistoryFormat.Auto,
        "etcd-log" or "etcd" or "log" or "porcupine-etcd" => HistoryFormat.EtcdLog,
        "edn" or "knossos" or "kv" or "porcupine-kv" or "jepsen" => HistoryFormat.Edn,
        _ => throw new ArgumentException($"unknown format '{name}' (expected auto, etcd-log or edn)"),
    };

    public static History ParseFile(string path, HistoryFormat format = HistoryFormat.Auto) =>
        Parse(File.ReadAllText(path), format, path);

    public static History Parse(string text, HistoryFormat format = HistoryFormat.Auto, string source = "")
    {
        if (format == HistoryFormat.Auto)
        {
            format = text.TrimStart().StartsWith("INFO", StringComparison.Ordinal) ? HistoryFormat.EtcdLog : HistoryFormat.Edn;
        }

        return format == HistoryFormat.EtcdLog ? ParseEtcdLog(text, source) : ParseEdn(text, source);
    }

    /// <summary>
    /// Jepsen's text log: <c>INFO  jepsen.util - PROCESS TYPE F VALUE</c>, fields split on any whitespace
    /// at most four times because a CAS value such as <c>[1 2]</c> contains a space.
    /// A <c>:fail :read :timed-out</c> is an unknown outcome, so it becomes an <c>:info</c>.
    /// </summary>
    public static History ParseEtcdLog(string text, string source = "")
    {
        var events = new List<HistoryEvent>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var raw = lines[i].TrimEnd('\r');
            if (raw.Trim().Length == 0)
            {
                continue;
            }

            var dash = raw.IndexOf(" - ", StringComparison.Ordinal);
            if (!raw.StartsWith("INFO", StringComparison.Ordinal) || dash < 0)
            {
                throw new HistoryFormatException("not a Jepsen log line (expected 'INFO  jepsen.util - P TYPE F VALUE')", lineNo);
            }

            var rest = raw[(dash + 3)..].Trim();
            var fields = rest.Split(Whitespace, 4, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3)
            {
                throw new HistoryFormatException("expected 'PROCESS TYPE F VALUE' after ' - '", lineNo);
            }

            object? value;
            try
            {
                value = fields.Length == 4 ? EdnReader.ReadOne(fields[3]) : null;
            }
            catch (EdnParseException e)
            {
                throw new HistoryFormatException("bad value: " + e.Message, lineNo);
            }

            var processValue = ReadFieldOrThrow(fields[0], lineNo);
            var type = ToEventType(ReadFieldOrThrow(fields[1], lineNo), lineNo);
            var f = ToF(ReadFieldOrThrow(fields[2], lineNo), lineNo);
            long? process = processValue is long p ? p : null;
            if (type == EventType.Fail && f == "read" && value is Keyword { Name: "timed-out" })
            {
                type = EventType.Info;
            }

            events.Add(new HistoryEvent(events.Count, process, type, f, value, lineNo) { ProcessName = processValue });
        }

        return new History(events, source);
    }

    /// <summary>
    /// EDN histories: either one vector/list of op maps (Knossos) or a sequence of top-level op maps
    /// (Porcupine kv, Jepsen's history.edn). The order in the file is the real-time order.
    /// </summary>
    public static History ParseEdn(string text, string source = "")
    {
        // Read top-level forms one by one so that a stray atom can be reported with its line.
        var reader = new EdnReader(text);
        var forms = new List<object?>();
        var lines = new List<int>();
        while (reader.TryRead(out var form))
        {
            forms.Add(form);
            lines.Add(reader.Line);
        }

        var nested = forms.Count == 1 && forms[0] is EdnSeq;
        IReadOnlyList<object?> items = nested ? ((EdnSeq)forms[0]!).Items : forms;
        var events = new List<HistoryEvent>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item is not EdnMap map)
            {
                var line = item is EdnSeq s && s.Line > 0 ? s.Line : nested ? ((EdnSeq)forms[0]!).Line : lines[i];
                throw new HistoryFormatException("expected an op map like {:process 0, :type :invoke, :f :read, :value nil}, found " + Truncate(EdnWriter.Write(item)), line);
            }

            events.Add(ToEvent(map, events.Count));
        }

        return new History(events, source);
    }

    public static HistoryEvent ToEvent(EdnMap map, int index)
    {
        if (!map.Has("type"))
        {
            throw new HistoryFormatException("op map has no :type", map.Line);
        }

        var type = ToEventType(map.Get("type"), map.Line);
        var f = map.Has("f") ? ToF(map.Get("f"), map.Line) : "";
        var processValue = map.Get("process");
        long? process = processValue is long p ? p : null;
        if (processValue is not null and not long and not Keyword and not string)
        {
            throw new HistoryFormatException("bad :process " + EdnWriter.Write(processValue), map.Line);
        }

        return new HistoryEvent(index, process, type, f, map.Get("value"), map.Line, map.Get("key"), map.Get("error"), map)
        {
            ProcessName = processValue,
            Time = map.Get("time") as long?,
        };
    }

    private static object? ReadFieldOrThrow(string field, int line)
    {
        try
        {
            return EdnReader.ReadOne(field);
        }
        catch (EdnParseException e)
        {
            throw new HistoryFormatException($"bad field '{field}': {e.Message}", line);
        }
    }

    private static EventType ToEventType(object? value, int line) => value switch
    {
        Keyword { Name: "invoke" } => EventType.Invoke,
        Keyword { Name: "ok" } => EventType.Ok,
        Keyword { Name: "fail" } => EventType.Fail,
        Keyword { Name: "info" } => EventType.Info,
        _ => throw new HistoryFormatException("bad :type " + EdnWriter.Write(value) + " (expected :invoke, :ok, :fail or :info)", line),
    };

    private static string ToF(object? value, int line) => value switch
    {
        Keyword k => k.Name,
        string s => s,
        Symbol s => s.Name,
        _ => throw new HistoryFormatException("bad :f " + EdnWriter.Write(value), line),
    };

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60] + "...";
}

/// <summary>
/// Writes histories as EDN, one op map per line inside a vector, so a harness can save what it recorded
/// and the checkers (or Knossos) can read it back. Stateless.
/// </summary>
public static class HistoryWriter
{
    public static string ToEdn(IEnumerable<HistoryEvent> events)
    {
        var sb = new System.Text.StringBuilder();
        sb.Append('[');
        var first = true;
        foreach (var e in events)
        {
            if (!first)
            {
                sb.Append('\n').Append(' ');
            }

            first = false;
            EdnWriter.Write(sb, ToMap(e));
        }

        sb.Append("]\n");
        return sb.ToString();
    }

    public static void WriteFile(string path, History history) => File.WriteAllText(path, ToEdn(history.Events));

    public static EdnMap ToMap(HistoryEvent e)
    {
        var pairs = new List<(string, object?)>
        {
            ("type", new Keyword(e.Type.ToString().ToLowerInvariant())),
            ("f", new Keyword(e.F)),
        };
        if (e.Key is not null)
        {
            pairs.Add(("key", e.Key));
        }

        pairs.Add(("value", e.Value));
        pairs.Add(("process", e.Process is long p ? p : e.ProcessName));
        if (e.Time is long t)
        {
            pairs.Add(("time", t));
        }

        if (e.Error is not null)
        {
            pairs.Add(("error", e.Error));
        }

        pairs.Add(("index", (long)e.Index));
        return EdnWriter.Map([.. pairs]);
    }
}
