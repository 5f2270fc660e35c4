using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Kraft.Quorum.Raft;
using Kraft.Storage;
using Kraft.Storage.IO;
using Kraft.Storage.Log;
using Kraft.Storage.Records;
using Invariant = Kraft.Quorum.Raft.Invariant;

namespace Kraft.Quorum.RaftDriver;

/// <summary>Thrown when the Raft state on disk cannot be trusted; the node must not start.</summary>
public sealed class RaftStorageException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The durable half of a Raft node: the metadata log, the quorum-state file and snapshots, laid out as
/// <code>
/// &lt;dir&gt;/quorum-state                         text, replaced atomically (see FormatQuorumState)
/// &lt;dir&gt;/log/                                 a SegmentedLog: one single-record batch per entry
///                                          (base offset = offset, partition leader epoch = epoch,
///                                           key = [kind byte], value = payload)
/// &lt;dir&gt;/snapshots/&lt;offset&gt;-&lt;epoch&gt;.snapshot  "KRSN" v1 [offset int64][epoch int32][length int32][bytes][crc32c int32]
/// </code>
/// Each method mirrors one step of a <see cref="Ready"/>. Log changes are made durable by
/// <see cref="Flush"/> (appends) or by the storage engine itself (truncation, reset, start offset).
/// Owned by the driver thread (not thread-safe), with one exception: <see cref="WriteSnapshot"/> may also run
/// on a background task the driver starts, so the snapshot files are guarded by their own lock.
/// </summary>
public sealed class RaftDiskStore : IDisposable
{
    private const string QuorumStateFileName = "quorum-state";
    private const int QuorumStateVersion = 1;
    private static readonly byte[] SnapshotMagic = "KRSN"u8.ToArray();
    private const byte SnapshotVersion = 1;

    private readonly string _directory;
    private readonly string _snapshotDirectory;
    private readonly TimeProvider _time;
    private readonly SegmentedLog _log;
    private readonly Lock _snapshotFiles = new();

    private RaftDiskStore(string directory, SegmentedLog log, TimeProvider time)
    {
        _directory = directory;
        _snapshotDirectory = Path.Combine(directory, "snapshots");
        _log = log;
        _time = time;
    }

    /// <summary>The storage engine's log (read-only use: tests and metrics).</summary>
    public SegmentedLog Log => _log;

    /// <summary>Opens (or creates) the store; the state itself is read by <see cref="Recover"/>.</summary>
    public static RaftDiskStore Open(string directory, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        Directory.CreateDirectory(Path.Combine(directory, "snapshots"));
        SegmentedLog log;
        try
        {
            // The driver flushes once per Ready, so the engine does not fsync each append itself.
            // Smaller segments than a partition's let snapshots actually free the log prefix (only
            // whole segments are deleted).
            log = SegmentedLog.Open(Path.Combine(directory, "log"), LogConfig.Default with { FsyncEveryAppend = false, SegmentBytes = 64L << 20, Preallocate = true, MetricsLogKind = StorageMetrics.MetadataLog }, time);
        }
        catch (StorageException e)
        {
            throw new RaftStorageException($"the Raft log in {Path.Combine(directory, "log")} is damaged: {e.Message}", e);
        }
        return new RaftDiskStore(directory, log, time);
    }

    /// <summary>
    /// Reads the quorum state, the latest snapshot and every log entry on disk. Older snapshots and
    /// leftover temporary files are deleted. Throws <see cref="RaftStorageException"/> on damage.
    /// </summary>
    public RecoveredState Recover()
    {
        var quorumState = ReadQuorumState();
        var snapshot = ReadLatestSnapshot();
        var entries = ReadEntries(_log.LogStartOffset, _log.LogEndOffset);
        return new RecoveredState(quorumState, snapshot, entries);
    }

    // ----- quorum state -----

    /// <summary>The file's text: "version", "epoch", "votedFor", "leaderId" lines (-1 = none) and a CRC-32C of them.</summary>
    public static string FormatQuorumState(PersistentQuorumState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        string body = string.Create(CultureInfo.InvariantCulture,
            $"version={QuorumStateVersion}\nepoch={state.Epoch}\nvotedFor={state.VotedFor?.Value ?? -1}\nleaderId={state.LeaderId?.Value ?? -1}\n");
        uint crc = Crc32C.Compute(Encoding.ASCII.GetBytes(body));
        return body + string.Create(CultureInfo.InvariantCulture, $"crc={crc}\n");
    }

    /// <summary>Parses <see cref="FormatQuorumState"/>'s text; throws <see cref="RaftStorageException"/> naming the problem.</summary>
    public static PersistentQuorumState ParseQuorumState(string text, string path)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !long.TryParse(line.AsSpan(eq + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) || !values.TryAdd(line[..eq], v))
                throw new RaftStorageException($"{path} is damaged: malformed line '{line}'; refusing to start (restore the file or the node's whole directory)");
        }
        if (!values.TryGetValue("version", out long version))
            throw new RaftStorageException($"{path} is damaged: no version line; refusing to start");
        if (version != QuorumStateVersion)
            throw new RaftStorageException($"{path} has unknown version {version} (this build reads version {QuorumStateVersion}); refusing to start");
        if (lines.Length != 5 || !values.TryGetValue("epoch", out long epoch) || !values.TryGetValue("votedFor", out long voted)
            || !values.TryGetValue("leaderId", out long leader) || !values.TryGetValue("crc", out long crc))
            throw new RaftStorageException($"{path} is damaged: expected version, epoch, votedFor, leaderId and crc lines; refusing to start");
        string body = text[..text.IndexOf("crc=", StringComparison.Ordinal)];
        if (Crc32C.Compute(Encoding.ASCII.GetBytes(body)) != crc)
            throw new RaftStorageException($"{path} is damaged: checksum mismatch; refusing to start");
        if (epoch < 0 || epoch > int.MaxValue || voted < -1 || voted > int.MaxValue || leader < -1 || leader > int.MaxValue)
            throw new RaftStorageException($"{path} is damaged: value out of range; refusing to start");
        return new PersistentQuorumState((int)epoch, voted < 0 ? null : new NodeId((int)voted), leader < 0 ? null : new NodeId((int)leader));
    }

    private PersistentQuorumState ReadQuorumState()
    {
        string path = Path.Combine(_directory, QuorumStateFileName);
        if (!File.Exists(path)) return PersistentQuorumState.Initial;
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.ASCII);
        }
        catch (IOException e)
        {
            throw new RaftStorageException($"cannot read {path}: {e.Message}", e);
        }
        return ParseQuorumState(text, path);
    }

    /// <summary>Step 1 of a Ready: replace the quorum-state file atomically and durably.</summary>
    public void WriteQuorumState(PersistentQuorumState state) =>
        Durable.WriteAtomically(Path.Combine(_directory, QuorumStateFileName), Encoding.ASCII.GetBytes(FormatQuorumState(state)));

    // ----- snapshots -----

    /// <summary>Step 2 of a Ready: store the snapshot atomically, then delete older ones.</summary>
    public void WriteSnapshot(RaftSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var bytes = new byte[SnapshotMagic.Length + 1 + 8 + 4 + 4 + snapshot.Bytes.Length + 4];
        var s = bytes.AsSpan();
        SnapshotMagic.CopyTo(s);
        s[4] = SnapshotVersion;
        BinaryPrimitives.WriteInt64BigEndian(s[5..], snapshot.Id.Offset);
        BinaryPrimitives.WriteInt32BigEndian(s[13..], snapshot.Id.Epoch);
        BinaryPrimitives.WriteInt32BigEndian(s[17..], snapshot.Bytes.Length);
        snapshot.Bytes.CopyTo(s[21..]);
        BinaryPrimitives.WriteUInt32BigEndian(s[^4..], Crc32C.Compute(s[..^4]));
        string path = SnapshotPath(snapshot.Id);
        lock (_snapshotFiles)
        {
            Durable.WriteAtomically(path, bytes);
            // Older snapshots are deleted only once the new one is durable. Their deletion need not be: a leftover
            // older file is ignored and deleted again by Recover.
            foreach (var (id, file) in ListSnapshots())
            {
                if (id.Offset < snapshot.Id.Offset) File.Delete(file);
            }
        }
    }

    private string SnapshotPath(OffsetAndEpoch id) =>
        Path.Combine(_snapshotDirectory, string.Create(CultureInfo.InvariantCulture, $"{id.Offset:D20}-{id.Epoch}.snapshot"));

    private List<(OffsetAndEpoch Id, string File)> ListSnapshots()
    {
        var list = new List<(OffsetAndEpoch, string)>();
        foreach (var file in Directory.EnumerateFiles(_snapshotDirectory))
        {
            string name = Path.GetFileName(file);
            if (name.EndsWith(".tmp", StringComparison.Ordinal))
            {
                File.Delete(file); // an interrupted atomic write
                continue;
            }
            var parts = name.EndsWith(".snapshot", StringComparison.Ordinal) ? name[..^".snapshot".Length].Split('-') : [];
            if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long offset)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int epoch))
                throw new RaftStorageException($"unexpected file {file} in the snapshot directory; refusing to start");
            list.Add((new OffsetAndEpoch(offset, epoch), file));
        }
        list.Sort((a, b) => a.Item1.Offset.CompareTo(b.Item1.Offset));
        return list;
    }

    private RaftSnapshot? ReadLatestSnapshot()
    {
        var all = ListSnapshots();
        if (all.Count == 0) return null;
        var (id, file) = all[^1];
        byte[] bytes = File.ReadAllBytes(file);
        var s = bytes.AsSpan();
        if (s.Length < 25 || !s[..4].SequenceEqual(SnapshotMagic))
            throw new RaftStorageException($"snapshot {file} is damaged: bad header; refusing to start");
        if (s[4] != SnapshotVersion)
            throw new RaftStorageException($"snapshot {file} has unknown version {s[4]}; refusing to start");
        if (BinaryPrimitives.ReadUInt32BigEndian(s[^4..]) != Crc32C.Compute(s[..^4]))
            throw new RaftStorageException($"snapshot {file} is damaged: checksum mismatch; refusing to start");
        long offset = BinaryPrimitives.ReadInt64BigEndian(s[5..]);
        int epoch = BinaryPrimitives.ReadInt32BigEndian(s[13..]);
        int length = BinaryPrimitives.ReadInt32BigEndian(s[17..]);
        if (offset != id.Offset || epoch != id.Epoch || length != s.Length - 25)
            throw new RaftStorageException($"snapshot {file} disagrees with its name or length; refusing to start");
        for (int i = 0; i < all.Count - 1; i++) File.Delete(all[i].File);
        return new RaftSnapshot(id, s.Slice(21, length).ToArray());
    }

    // ----- log -----

    /// <summary>Step 3: empty the log; it restarts at <paramref name="offset"/>.</summary>
    public void ResetLog(long offset) => _log.TruncateFullyAndStartAt(offset);

    /// <summary>Step 4: remove entries at and above <paramref name="offset"/> (fsynced by the engine).</summary>
    public void TruncateLog(long offset)
    {
        long end = _log.TruncateTo(offset);
        Invariant.Check(end <= offset, end, e => $"truncation to {offset} left the log ending at {e}");
    }

    /// <summary>Step 5: drop entries below <paramref name="offset"/> (a snapshot covers them).</summary>
    public void DeleteLogBefore(long offset)
    {
        if (offset > _log.LogEndOffset) return; // covered by a reset in the same Ready
        // Lazily, a whole segment at a time (as Kafka deletes log prefixes): moving the on-disk start offset costs a
        // checkpoint file and directory fsyncs (about 5-10 ms here), which would stall commits after every
        // snapshot, while entries below the snapshot that stay on disk are harmless: Recover reads them and the core
        // drops what the snapshot covers (RaftNode's recovery constructor).
        if (!_log.HasWholeSegmentBelow(offset)) return;
        _log.AdvanceLogStartOffset(offset);
    }

    /// <summary>Step 6 (first half): append entries, each as one single-record batch. Not durable until <see cref="Flush"/>.</summary>
    public void Append(IReadOnlyList<LogEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0) return;
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        using var buffer = new MemoryStream();
        foreach (var e in entries)
        {
            var batch = new RecordBatchBuilder { BaseOffset = e.Offset, PartitionLeaderEpoch = e.Epoch }
                .Add([(byte)e.Kind], e.Payload, now)
                .Build(now);
            buffer.Write(batch);
        }
        Invariant.Check(entries[0].Offset == _log.LogEndOffset, entries[0].Offset, o => $"append at {o} but the log ends at {_log.LogEndOffset}");
        var result = _log.AppendAsFollower(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        if (result.Error != AppendError.None)
            throw new RaftStorageException($"appending {entries.Count} entries at offset {entries[0].Offset} failed: {result.Error}");
    }

    /// <summary>Step 6 (second half): fsync everything appended.</summary>
    public void Flush() => _log.Flush();

    /// <summary>The log end offset on disk.</summary>
    public long LogEndOffset => _log.LogEndOffset;

    /// <summary>Reads entries [from, to) back from the segments (recovery and tests).</summary>
    public List<LogEntry> ReadEntries(long from, long to)
    {
        var entries = new List<LogEntry>();
        long next = from;
        while (next < to)
        {
            var read = _log.Read(next, 1 << 20);
            if (read.Error != LogReadError.None || read.Records.Length == 0)
                throw new RaftStorageException($"the Raft log in {_log.Directory} cannot be read at offset {next}: {read.Error}");
            long before = next;
            var walker = new BatchWalker(read.Records);
            while (walker.TryNext(out var header, out int position, out var validation))
            {
                if (header.BaseOffset < next) continue;
                if (header.LastOffsetDelta != 0 || header.BaseOffset != next)
                    throw new RaftStorageException($"the Raft log in {_log.Directory} holds a batch at {header.BaseOffset} that is not one entry at {next}");
                var body = read.Records.AsSpan(position + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize);
                var reader = new RecordReader(body);
                if (!reader.TryReadNext(out var record, out _) || record.Key.Length != 1 || !Enum.IsDefined((LogEntryKind)record.Key[0]))
                    throw new RaftStorageException($"the Raft log in {_log.Directory} holds a malformed entry at offset {next}");
                entries.Add(new LogEntry(next, header.PartitionLeaderEpoch, (LogEntryKind)record.Key[0], record.Value.ToArray()));
                next++;
            }
            if (next == before)
                throw new RaftStorageException($"the Raft log in {_log.Directory} cannot be decoded at offset {next}");
        }
        return entries;
    }

    /// <inheritdoc />
    public void Dispose() => _log.Dispose();
}
