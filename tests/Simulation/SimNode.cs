using System.Buffers.Binary;
using Kraft.Quorum.Controller;
using Kraft.Quorum.Metadata;
using Kraft.Quorum.Raft;

namespace Kraft.Simulation;

/// <summary>
/// One simulated node: its disk (survives crashes), its running core (null while down), and a tiny
/// state machine whose state is a digest chained over every applied entry, so that states can be
/// compared across nodes and restored from snapshots. With <see cref="HostFactory"/> set (the controller
/// simulation) the node also runs the production <see cref="ControllerHost"/> over the same committed entries,
/// and its snapshots carry the metadata image as production writes it. Owned by the simulator's thread.
/// </summary>
public sealed class SimNode(NodeId id, RaftOptions options)
{
    public NodeId Id { get; } = id;

    public RaftOptions Options { get; } = options;

    public SimDisk Disk { get; } = new();

    public RaftNode? Core { get; private set; }

    /// <summary>How many times the node was started (1 for the first run).</summary>
    public int Incarnation { get; private set; }

    /// <summary>Crash in the middle of the next Ready (after a random number of its steps).</summary>
    public bool CrashDuringNextReady { get; set; }

    public long AppliedEnd { get; private set; }

    public ulong StateHash { get; private set; }

    /// <summary>Committed entries below this offset were already compared with the global map in this run.</summary>
    public long CheckedUpTo { get; set; }

    /// <summary>The epoch in which this node was last seen as leader (to run the leader-completeness check once per term).</summary>
    public int LastLeaderEpochChecked { get; set; } = -1;

    public bool IsUp => Core is not null;

    /// <summary>Creates this node's controller host at every start (null: the plain Raft simulation).</summary>
    public Func<ControllerHost>? HostFactory { get; set; }

    /// <summary>The running controller host (null while down or without <see cref="HostFactory"/>).</summary>
    public ControllerHost? Host { get; private set; }

    public void Start(ulong seed)
    {
        var recovered = Disk.Recover();
        Core = new RaftNode(Options, recovered, new SplitMix64Random(seed));
        Incarnation++;
        Host = HostFactory?.Invoke();
        if (recovered.Snapshot is { } snapshot) LoadSnapshot(snapshot);
        else
        {
            AppliedEnd = 0;
            StateHash = 0;
        }
        CheckedUpTo = Core.Log.StartOffset;
        LastLeaderEpochChecked = -1;
    }

    public void Crash(SplitMix64Random random)
    {
        Disk.Crash(random);
        Core = null;
        Host = null;
        CrashDuringNextReady = false;
    }

    public void LoadSnapshot(RaftSnapshot snapshot)
    {
        AppliedEnd = BinaryPrimitives.ReadInt64BigEndian(snapshot.Bytes);
        StateHash = BinaryPrimitives.ReadUInt64BigEndian(snapshot.Bytes.AsSpan(8));
        if (AppliedEnd != snapshot.Id.Offset) throw new InvalidOperationException("snapshot content does not match its id");
        // As production does (MetadataStateMachine.OnSnapshotLoad): the image's last applied offset is the one before the snapshot's.
        Host?.LoadSnapshot(MetadataRecordCodec.DecodeBatch(snapshot.Bytes.AsSpan(16)), snapshot.Id.Offset - 1, snapshot.Id.Epoch);
    }

    public void Apply(LogEntry entry)
    {
        if (entry.Offset != AppliedEnd) throw new InvalidOperationException($"node {Id} applies offset {entry.Offset}, expected {AppliedEnd}");
        StateHash = Mix(StateHash, EntryHash(entry));
        AppliedEnd = entry.Offset + 1;
    }

    /// <summary>The state machine's snapshot: applied end, digest, then padding so that snapshots need several chunks.</summary>
    public byte[] TakeSnapshot(int paddingBytes)
    {
        if (Host is not null)
        {
            // The controller simulation stores the image's records after the digest, as ControllerService.TakeSnapshot does.
            byte[] image = MetadataRecordCodec.EncodeBatch(Host.CommittedImage.ToRecords());
            var withImage = new byte[16 + image.Length];
            BinaryPrimitives.WriteInt64BigEndian(withImage, AppliedEnd);
            BinaryPrimitives.WriteUInt64BigEndian(withImage.AsSpan(8), StateHash);
            image.CopyTo(withImage, 16);
            return withImage;
        }

        var bytes = new byte[16 + paddingBytes];
        BinaryPrimitives.WriteInt64BigEndian(bytes, AppliedEnd);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), StateHash);
        for (int i = 16; i < bytes.Length; i++) bytes[i] = (byte)(StateHash >> (i % 8 * 8));
        return bytes;
    }

    public static ulong EntryHash(LogEntry entry)
    {
        ulong h = 14695981039346656037UL;
        h = (h ^ (ulong)entry.Offset) * 1099511628211UL;
        h = (h ^ (ulong)entry.Epoch) * 1099511628211UL;
        h = (h ^ (byte)entry.Kind) * 1099511628211UL;
        foreach (byte b in entry.Payload) h = (h ^ b) * 1099511628211UL;
        return h;
    }

    private static ulong Mix(ulong state, ulong value)
    {
        ulong z = state ^ (value + 0x9E3779B97F4A7C15UL + (state << 6) + (state >> 2));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        return z ^ (z >> 31);
    }
}
