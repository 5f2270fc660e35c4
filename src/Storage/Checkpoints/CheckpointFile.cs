using System.Globalization;
using System.Text;
using Kraft.Storage.IO;

namespace Kraft.Storage.Checkpoints;

/// <summary>
/// A small versioned text file of entries, Kafka's checkpoint layout:
/// <code>
/// VERSION
/// COUNT
/// entry line 1
/// ...
/// </code>
/// Writes are atomic (temp file, fsync, rename, fsync directory). Reading an unknown version, a
/// wrong count or a malformed line throws <see cref="CheckpointFormatException"/> naming file and line.
/// Thread-safety: callers serialize writes to one file.
/// </summary>
public sealed class CheckpointFile<T>
{
    private readonly string _path;
    private readonly int _version;
    private readonly Func<T, string> _format;
    private readonly EntryParser<T> _parse;

    /// <param name="parse">Parses the space-separated fields of one entry line; returns false if malformed.</param>
    public CheckpointFile(string path, int version, Func<T, string> format, EntryParser<T> parse)
    {
        _path = path;
        _version = version;
        _format = format;
        _parse = parse;
    }

    public string Path => _path;

    public void Write(IReadOnlyCollection<T> entries)
    {
        var text = new StringBuilder();
        text.Append(_version.ToString(CultureInfo.InvariantCulture)).Append('\n');
        text.Append(entries.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var e in entries)
        {
            text.Append(_format(e)).Append('\n');
        }
        Durable.WriteAtomically(_path, Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>Reads the entries; a missing file reads as empty.</summary>
    public List<T> Read()
    {
        if (!File.Exists(_path))
        {
            return [];
        }
        string[] lines = File.ReadAllText(_path, Encoding.UTF8).Split('\n');
        if (lines.Length < 2 || !int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out int version))
        {
            throw new CheckpointFormatException(_path, 1, "missing or malformed version line");
        }
        if (version != _version)
        {
            throw new CheckpointFormatException(_path, 1, $"unknown version {version} (this build reads version {_version})");
        }
        if (!int.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out int count))
        {
            throw new CheckpointFormatException(_path, 2, "missing or malformed entry count");
        }
        var result = new List<T>(count);
        for (int i = 0; i < count; i++)
        {
            int lineIndex = 2 + i;
            if (lineIndex >= lines.Length || lines[lineIndex].Length == 0)
            {
                throw new CheckpointFormatException(_path, lineIndex + 1, $"expected {count} entries, found {i}");
            }
            if (!_parse(lines[lineIndex].Split(' '), out T entry))
            {
                throw new CheckpointFormatException(_path, lineIndex + 1, $"malformed entry '{lines[lineIndex]}'");
            }
            result.Add(entry);
        }
        for (int i = 2 + count; i < lines.Length; i++)
        {
            if (lines[i].Length != 0)
            {
                throw new CheckpointFormatException(_path, i + 1, $"more entries than the count {count}");
            }
        }
        return result;
    }
}

/// <summary>Parses one checkpoint entry line's fields.</summary>
public delegate bool EntryParser<T>(string[] fields, out T entry);

/// <summary>Ready-made checkpoint files of a log directory.</summary>
public static class Checkpoint
{
    public const int Version = 0;

    /// <summary>A single offset (recovery point, high watermark, log start offset).</summary>
    public static CheckpointFile<long> Offset(string path) => new(
        path,
        Version,
        o => o.ToString(CultureInfo.InvariantCulture),
        (string[] f, out long o) =>
        {
            o = 0;
            return f.Length == 1 && long.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out o);
        });

    /// <summary>Leader-epoch cache entries "epoch startOffset" (Kafka's leader-epoch-checkpoint).</summary>
    public static CheckpointFile<EpochEntry> LeaderEpochs(string path) => new(
        path,
        Version,
        e => string.Create(CultureInfo.InvariantCulture, $"{e.Epoch} {e.StartOffset}"),
        (string[] f, out EpochEntry e) =>
        {
            e = new EpochEntry(0, 0);
            if (f.Length == 2
                && int.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out int epoch)
                && long.TryParse(f[1], NumberStyles.None, CultureInfo.InvariantCulture, out long start))
            {
                e = new EpochEntry(epoch, start);
                return true;
            }
            return false;
        });

    public static long ReadSingle(CheckpointFile<long> file, long missing)
    {
        var entries = file.Read();
        return entries.Count switch
        {
            0 => missing,
            1 => entries[0],
            _ => throw new CheckpointFormatException(file.Path, 2, "expected one entry"),
        };
    }

    public static void WriteSingle(CheckpointFile<long> file, long value) => file.Write([value]);
}

/// <summary>The first offset written under a leader epoch.</summary>
public sealed record EpochEntry(int Epoch, long StartOffset);
