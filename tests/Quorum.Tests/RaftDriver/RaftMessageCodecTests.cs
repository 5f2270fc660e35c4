using FsCheck;
using FsCheck.Fluent;
using Kraft.Quorum.Raft;
using Kraft.Quorum.RaftDriver;

namespace Kraft.Quorum.Tests.RaftDriver;

public sealed class RaftMessageCodecTests
{
    private static readonly NodeId A = new(1);
    private static readonly NodeId B = new(2);

    /// <summary>At least one message of every type, with edge values (null ids, empty and non-empty lists, extremes).</summary>
    public static IEnumerable<RaftMessage> Samples()
    {
        yield return new VoteRequest(A, B, 1, 5, 4, 100, PreVote: true);
        yield return new VoteRequest(A, B, long.MaxValue, int.MaxValue, 0, 0, PreVote: false);
        yield return new VoteResponse(B, A, 7, RaftError.None, 5, null, VoteGranted: true, PreVote: true);
        yield return new VoteResponse(B, A, 8, RaftError.FencedLeaderEpoch, 6, new NodeId(3), VoteGranted: false, PreVote: false);
        yield return new BeginQuorumEpochRequest(A, B, 9, 3, A);
        yield return new BeginQuorumEpochResponse(B, A, 9, RaftError.NotLeaderOrFollower, 3, null);
        yield return new BeginQuorumEpochResponse(B, A, 10, RaftError.None, 3, A);
        yield return new EndQuorumEpochRequest(A, B, 11, 4, A, [B, new NodeId(3)]);
        yield return new EndQuorumEpochRequest(A, B, 12, 4, A, []);
        yield return new EndQuorumEpochResponse(B, A, 12, RaftError.InconsistentVoterSet, 4, new NodeId(0));
        yield return new FetchRequest(new NodeId(1000), B, 13, 4, 123456789012, 3);
        yield return new FetchResponse(B, A, 13, RaftError.None, 4, B, 10, 0, null, null,
            [new LogEntry(8, 3, LogEntryKind.LeaderChange, []), new LogEntry(9, 4, LogEntryKind.Data, [1, 2, 3, 255])]);
        yield return new FetchResponse(B, A, 14, RaftError.None, 4, B, 10, 5, new OffsetAndEpoch(7, 2), null, []);
        yield return new FetchResponse(B, A, 15, RaftError.OffsetOutOfRange, 4, null, 10, 5, null, new OffsetAndEpoch(500, 3), []);
        yield return new FetchSnapshotRequest(A, B, 16, 4, new OffsetAndEpoch(500, 3), 1024, 1 << 20);
        yield return new FetchSnapshotResponse(B, A, 16, RaftError.None, 4, B, new OffsetAndEpoch(500, 3), 4096, 1024, [9, 8, 7]);
        yield return new FetchSnapshotResponse(B, A, 17, RaftError.SnapshotNotFound, 4, null, new OffsetAndEpoch(0, 0), 0, 0, []);
    }

    public static TheoryData<int> SampleIndexes()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Samples().Count(); i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Every_message_type_round_trips_field_for_field(int index)
    {
        var original = Samples().ElementAt(index);
        byte[] bytes = RaftMessageCodec.Encode(original);

        Assert.True(RaftMessageCodec.TryDecode(bytes, out var decoded, out string? error), error);
        Assert.Null(error);
        Assert.Equal(original.GetType(), decoded!.GetType());
        Assert.Equal(Describe(original), Describe(decoded));
        Assert.Equal(bytes, RaftMessageCodec.Encode(decoded));
    }

    [Fact]
    public void Samples_cover_every_message_type()
    {
        var types = typeof(RaftMessage).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(RaftMessage)) && !t.IsAbstract).ToHashSet();
        Assert.Equal(types.Count, Samples().Select(s => s.GetType()).Distinct().Count());
    }

    [Fact]
    public void The_header_is_a_type_byte_a_version_byte_and_big_endian_ids()
    {
        byte[] bytes = RaftMessageCodec.Encode(new FetchRequest(new NodeId(0x01020304), new NodeId(5), 0x0A0B0C0D0E0F1011, 1, 2, 3));
        Assert.Equal(new byte[] { 7, 0, 1, 2, 3, 4, 0, 0, 0, 5, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11 }, bytes[..18]);
        Assert.Equal(18 + 4 + 8 + 4, bytes.Length);
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Every_truncation_and_any_trailing_byte_is_refused_without_throwing(int index)
    {
        byte[] bytes = RaftMessageCodec.Encode(Samples().ElementAt(index));
        for (int length = 0; length < bytes.Length; length++)
        {
            Assert.False(RaftMessageCodec.TryDecode(bytes.AsSpan(0, length), out var m, out string? error));
            Assert.Null(m);
            Assert.NotNull(error);
        }
        Assert.False(RaftMessageCodec.TryDecode([.. bytes, 0], out _, out string? trailing));
        Assert.Contains("trailing", trailing, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_type_version_boolean_error_code_and_entry_kind_are_refused()
    {
        byte[] vote = RaftMessageCodec.Encode(new VoteRequest(A, B, 1, 5, 4, 100, true));
        Assert.False(RaftMessageCodec.TryDecode([99, .. vote[1..]], out _, out string? e1));
        Assert.Contains("unknown message type", e1, StringComparison.Ordinal);
        Assert.False(RaftMessageCodec.TryDecode([vote[0], 1, .. vote[2..]], out _, out string? e2));
        Assert.Contains("version", e2, StringComparison.Ordinal);
        Assert.False(RaftMessageCodec.TryDecode([.. vote[..^1], 2], out _, out string? e3));
        Assert.Contains("boolean", e3, StringComparison.Ordinal);

        byte[] response = RaftMessageCodec.Encode(new BeginQuorumEpochResponse(B, A, 9, RaftError.None, 3, null));
        response[18] = 0x7F; // error code high byte: 0x7F00 is not a Kafka error Raft uses
        Assert.False(RaftMessageCodec.TryDecode(response, out _, out string? e4));
        Assert.Contains("error code", e4, StringComparison.Ordinal);

        byte[] fetch = RaftMessageCodec.Encode(new FetchResponse(B, A, 13, RaftError.None, 4, B, 10, 0, null, null, [new LogEntry(9, 4, LogEntryKind.Data, [1])]));
        int kindPosition = fetch.Length - 4 - 1 - 1; // [kind][length int32][1 payload byte]
        Assert.Equal((byte)LogEntryKind.Data, fetch[kindPosition]);
        fetch[kindPosition] = 1;
        Assert.False(RaftMessageCodec.TryDecode(fetch, out _, out string? e5));
        Assert.Contains("entry kind", e5, StringComparison.Ordinal);
    }

    [Fact]
    public void A_forged_huge_count_is_refused_without_allocating_it()
    {
        byte[] bytes = RaftMessageCodec.Encode(new EndQuorumEpochRequest(A, B, 12, 4, A, []));
        bytes[^4] = 0x7F; // count = 0x7F000000
        Assert.False(RaftMessageCodec.TryDecode(bytes, out _, out string? error));
        Assert.Contains("count", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        Prop.ForAll<byte[]>(bytes =>
        {
            bool ok = RaftMessageCodec.TryDecode(bytes, out var m, out string? error);
            return ok ? m is not null && error is null && RaftMessageCodec.Encode(m).AsSpan().SequenceEqual(bytes) : m is null && error is not null;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Valid_messages_with_random_byte_flips_never_throw()
    {
        var samples = Samples().Select(RaftMessageCodec.Encode).ToArray();
        Prop.ForAll<int, int, byte>((which, position, value) =>
        {
            byte[] bytes = (byte[])samples[Math.Abs(which % samples.Length)].Clone();
            bytes[Math.Abs(position % bytes.Length)] = value;
            bool ok = RaftMessageCodec.TryDecode(bytes, out var m, out string? error);
            return ok ? RaftMessageCodec.Encode(m!).AsSpan().SequenceEqual(bytes) : error is not null;
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>A structural description (records compare lists and arrays by reference, so describe them).</summary>
    private static string Describe(RaftMessage m) => m switch
    {
        EndQuorumEpochRequest r => $"{r with { PreferredSuccessors = [] }} successors=[{string.Join(",", r.PreferredSuccessors)}]",
        FetchResponse r => $"{r with { Records = [] }} records=[{string.Join(";", r.Records.Select(e => $"{e.Offset}/{e.Epoch}/{e.Kind}/{Convert.ToHexString(e.Payload)}"))}]",
        FetchSnapshotResponse r => $"{r with { UnalignedRecords = [] }} bytes={Convert.ToHexString(r.UnalignedRecords)}",
        _ => m.ToString(),
    };
}
