namespace Kraft.Storage;

/// <summary>
/// A storage failure the node cannot serve through (I/O error, damage below the recovery point).
/// The broker maps it to KAFKA_STORAGE_ERROR and stops the affected log rather than serve bad data.
/// </summary>
public class StorageException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Damaged log data: names the file, the byte position and the offset where it was found.</summary>
public sealed class LogCorruptionException(string file, long position, long offset, string reason)
    : StorageException($"corrupt log data in {file} at byte position {position} (offset {offset}): {reason}")
{
    public string File { get; } = file;
    public long Position { get; } = position;
    public long Offset { get; } = offset;
}

/// <summary>A checkpoint file that cannot be read: unknown version, malformed line, wrong count.</summary>
public sealed class CheckpointFormatException(string file, int line, string reason)
    : StorageException($"bad checkpoint file {file}, line {line}: {reason}")
{
    public string File { get; } = file;
    public int Line { get; } = line;
}
