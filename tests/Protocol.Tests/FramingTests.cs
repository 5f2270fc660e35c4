using System.Buffers;
using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Tests;

public class FramingTests
{
    private static ReadOnlySequence<byte> Segmented(byte[] bytes, int segmentSize)
    {
        // Builds a multi-segment sequence so frames straddle segment boundaries, as they do in a pipe.
        Segment? first = null, last = null;
        for (int i = 0; i < bytes.Length; i += segmentSize)
        {
            var chunk = bytes.AsMemory(i, Math.Min(segmentSize, bytes.Length - i));
            if (first is null)
            {
                first = last = new Segment(chunk, 0);
            }
            else
            {
                last = last!.Append(chunk);
            }
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    private static byte[] Frame(RequestHeader header, IRequestMessage body) => FrameEncoder.EncodeRequest(header, body);

    [Fact]
    public void Frame_reader_cuts_two_frames_that_straddle_segments_and_waits_for_the_rest()
    {
        var one = Frame(new RequestHeader(ApiKey.Metadata, 12, 1, "a"), new MetadataRequest());
        var two = Frame(new RequestHeader(ApiKey.ApiVersions, 3, 2, "a"), new ApiVersionsRequest());
        var all = one.Concat(two).ToArray();
        var reader = new FrameReader();

        var buffer = Segmented(all[..^3], 5);
        Assert.Equal(FrameStatus.Complete, reader.TryReadFrame(ref buffer, out var first, out _));
        Assert.Equal(one[4..], first.ToArray());
        var before = buffer.Length;
        Assert.Equal(FrameStatus.Incomplete, reader.TryReadFrame(ref buffer, out _, out _));
        Assert.Equal(before, buffer.Length);

        buffer = Segmented(two, 3);
        Assert.Equal(FrameStatus.Complete, reader.TryReadFrame(ref buffer, out var second, out _));
        Assert.Equal(two[4..], second.ToArray());
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void Frame_reader_needs_four_bytes_before_deciding()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[] { 0, 0, 0 });
        Assert.Equal(FrameStatus.Incomplete, new FrameReader().TryReadFrame(ref buffer, out _, out _));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    [InlineData(1025)]
    [InlineData(int.MaxValue)]
    public void Frame_reader_rejects_negative_and_oversized_sizes_from_the_prefix_alone(int size)
    {
        var buffer = new ReadOnlySequence<byte>(new Bytes().I32(size).ToArray());
        var status = new FrameReader(maxFrameBytes: 1024).TryReadFrame(ref buffer, out _, out var error);
        Assert.Equal(FrameStatus.Invalid, status);
        Assert.NotNull(error);
    }

    [Fact]
    public void Default_frame_limit_is_kafkas_socket_request_max_bytes()
    {
        Assert.Equal(104857600, new FrameReader().MaxFrameBytes);
    }

    [Fact]
    public void Decoder_returns_header_and_typed_message_for_a_served_request()
    {
        var request = new MetadataRequest { Topics = [new() { Name = "t" }] };
        var frame = Frame(new RequestHeader(ApiKey.Metadata, 12, 99, "client"), request);
        var result = RequestDecoder.Decode(frame.AsMemory(4), ApiVersionsTable.All);
        Assert.True(result.IsSuccess);
        Assert.Equal(99, result.Request!.Header.CorrelationId);
        Assert.Equal("client", result.Request.Header.ClientId);
        var decoded = Assert.IsType<MetadataRequest>(result.Request.Message);
        Assert.Equal("t", Assert.Single(decoded.Topics!).Name);
    }

    [Fact]
    public void Decoded_records_are_a_slice_of_the_frame_not_a_copy()
    {
        var batch = new byte[100];
        new Random(1).NextBytes(batch);
        var request = new ProduceRequest { Acks = 1, TopicData = [new() { Name = "t", PartitionData = [new() { Index = 0, Records = batch }] }] };
        var frame = Frame(new RequestHeader(ApiKey.Produce, 9, 1, null), request);
        var body = frame.AsMemory(4);

        var result = RequestDecoder.Decode(body, ApiVersionsTable.All);
        var records = ((ProduceRequest)result.Request!.Message).TopicData[0].PartitionData[0].Records!.Value;

        Assert.True(MemoryMarshal.TryGetArray(records, out var segment));
        Assert.Same(frame, segment.Array);
        Assert.Equal(batch, records.ToArray());
    }

    [Fact]
    public void Unsupported_api_key_is_reported_with_the_header_so_the_caller_can_answer()
    {
        var frame = new Bytes().I16((short)ApiKey.SaslHandshake).I16(1).I32(5).Str("c").Str("PLAIN").ToArray();
        var result = RequestDecoder.Decode(frame, ApiVersionsTable.All);
        Assert.False(result.IsSuccess);
        Assert.Equal(DecodeErrorKind.UnsupportedApiKey, result.Error!.Kind);
        Assert.Equal(5, result.Error.Header!.CorrelationId);
    }

    [Fact]
    public void Version_outside_the_table_is_unsupported_even_if_the_codec_could_read_it()
    {
        var table = new ApiVersionsTable([new ApiVersionRange(ApiKey.Metadata, 1, 4)]);
        var frame = Frame(new RequestHeader(ApiKey.Metadata, 9, 3, "c"), new MetadataRequest());
        var result = RequestDecoder.Decode(frame.AsMemory(4), table);
        Assert.Equal(DecodeErrorKind.UnsupportedVersion, result.Error!.Kind);
        Assert.Equal(3, result.Error.Header!.CorrelationId);
    }

    [Fact]
    public void Too_new_ApiVersions_request_is_answered_at_v0_with_error_35_and_our_table()
    {
        // A v4 client: flexible, so header v2, with a body we do not parse.
        var frame = new Bytes().I16(18).I16(4).I32(11).Str("new").NoTags().CStr("x").CStr("y").NoTags().ToArray();
        var result = RequestDecoder.Decode(frame, ApiVersionsTable.BrokerListener);
        Assert.Equal(DecodeErrorKind.UnsupportedVersion, result.Error!.Kind);
        Assert.Equal(ApiKey.ApiVersions, result.Error.Header!.ApiKey);

        using var writer = new KafkaWriter();
        ApiVersionsTable.BrokerListener.WriteUnsupportedVersionResponse(writer, result.Error.Header.CorrelationId);
        var body = writer.WrittenMemory[4..];
        var response = ResponseDecoder.Decode(body.ToArray(), ApiKey.ApiVersions, 0);
        Assert.Equal(11, response.Response!.Header.CorrelationId);
        var apiVersions = (ApiVersionsResponse)response.Response.Message;
        Assert.Equal((short)ErrorCode.UNSUPPORTED_VERSION, apiVersions.ErrorCode);
        var listed = apiVersions.ApiKeys.Single(k => k.ApiKey == (short)ApiKey.ApiVersions);
        Assert.Equal(3, listed.MaxVersion);
    }

    [Fact]
    public void Broker_listener_does_not_advertise_controller_only_rpcs()
    {
        Assert.False(ApiVersionsTable.BrokerListener.IsSupported(ApiKey.Vote, 0));
        Assert.True(ApiVersionsTable.BrokerListener.IsSupported(ApiKey.Fetch, 13));
        Assert.False(ApiVersionsTable.BrokerListener.IsSupported(ApiKey.Fetch, 3));
        Assert.True(ApiVersionsTable.All.IsSupported(ApiKey.Vote, 0));
    }

    [Theory]
    [InlineData(ApiKey.ApiVersions, 3, 2, 0)]
    [InlineData(ApiKey.ApiVersions, 2, 1, 0)]
    [InlineData(ApiKey.Metadata, 8, 1, 0)]
    [InlineData(ApiKey.Metadata, 9, 2, 1)]
    [InlineData(ApiKey.Produce, 9, 2, 1)]
    [InlineData(ApiKey.Fetch, 11, 1, 0)]
    [InlineData(ApiKey.Fetch, 12, 2, 1)]
    [InlineData(ApiKey.Vote, 0, 2, 1)]
    [InlineData(ApiKey.BeginQuorumEpoch, 0, 1, 0)]
    [InlineData(ApiKey.DescribeCluster, 0, 2, 1)]
    public void Header_versions_follow_flexibility_except_ApiVersions_responses(ApiKey api, short version, short requestHeader, short responseHeader)
    {
        Assert.Equal(requestHeader, HeaderVersions.RequestHeaderVersion(api, version));
        Assert.Equal(responseHeader, HeaderVersions.ResponseHeaderVersion(api, version));
    }

    [Fact]
    public void Frames_too_short_for_a_header_are_malformed()
    {
        var result = RequestDecoder.Decode(new byte[] { 0, 3, 0 }, ApiVersionsTable.All);
        Assert.Equal(DecodeErrorKind.Malformed, result.Error!.Kind);
        Assert.Null(result.Error.Header);
    }

    [Fact]
    public void Negative_client_id_length_is_malformed_but_keeps_the_correlation_id()
    {
        var frame = new Bytes().I16(3).I16(1).I32(77).I16(-5).ToArray();
        var result = RequestDecoder.Decode(frame, ApiVersionsTable.All);
        Assert.Equal(DecodeErrorKind.Malformed, result.Error!.Kind);
        Assert.Equal(77, result.Error.Header!.CorrelationId);
    }

    [Fact]
    public void Huge_array_length_is_malformed_without_allocating_it()
    {
        var frame = new Bytes().I16(3).I16(1).I32(1).Str("c").Arr(int.MaxValue).ToArray();
        var result = RequestDecoder.Decode(frame, ApiVersionsTable.All);
        Assert.Equal(DecodeErrorKind.Malformed, result.Error!.Kind);
    }

    [Fact]
    public void Negative_array_length_other_than_null_is_malformed()
    {
        var frame = new Bytes().I16(3).I16(1).I32(1).Str("c").Arr(-2).ToArray();
        Assert.Equal(DecodeErrorKind.Malformed, RequestDecoder.Decode(frame, ApiVersionsTable.All).Error!.Kind);
    }

    [Fact]
    public void Null_where_the_version_forbids_it_is_malformed()
    {
        // Metadata v0 topics are not nullable.
        var frame = new Bytes().I16(3).I16(0).I32(1).Str("c").Arr(-1).ToArray();
        Assert.Equal(DecodeErrorKind.Malformed, RequestDecoder.Decode(frame, ApiVersionsTable.All).Error!.Kind);
    }

    [Fact]
    public void Huge_records_length_is_malformed()
    {
        var frame = new Bytes().I16(0).I16(3).I32(1).Str("c")
            .Str(null).I16(1).I32(0).Arr(1).Str("t").Arr(1).I32(0).I32(int.MaxValue).ToArray();
        Assert.Equal(DecodeErrorKind.Malformed, RequestDecoder.Decode(frame, ApiVersionsTable.All).Error!.Kind);
    }

    [Fact]
    public void Overlong_varint_is_malformed()
    {
        var frame = new Bytes().I16(3).I16(12).I32(1).Str("c").Hex("FFFFFFFFFF01").ToArray();
        Assert.Equal(DecodeErrorKind.Malformed, RequestDecoder.Decode(frame, ApiVersionsTable.All).Error!.Kind);
    }

    [Fact]
    public void Random_bytes_after_a_valid_header_never_throw_out_of_the_decoder()
    {
        var property = Prop.ForAll(
            Arb.From(Gen.Elements(MessageFactory.Codecs.ToArray())),
            Arb.From(Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b))),
            (codec, garbage) =>
            {
                foreach (short version in new[] { codec.LowestVersion, codec.HighestVersion })
                {
                    var frame = new Bytes().I16((short)codec.ApiKey).I16(version).I32(1).Str("c");
                    if (version >= codec.FlexibleVersion)
                    {
                        frame.NoTags();
                    }

                    var result = RequestDecoder.Decode(frame.Raw(garbage).ToArray(), ApiVersionsTable.All);
                    if (!result.IsSuccess && result.Error!.Kind != DecodeErrorKind.Malformed)
                    {
                        return false;
                    }
                }

                return true;
            });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), property);
    }

    [Fact]
    public void Truncating_a_valid_frame_anywhere_gives_malformed_or_a_shorter_valid_message_never_an_exception()
    {
        var request = new ProduceRequest
        {
            TransactionalId = "tx",
            Acks = -1,
            TopicData = [new() { Name = "topic", PartitionData = [new() { Index = 3, Records = new byte[40] }] }],
        };
        var frame = Frame(new RequestHeader(ApiKey.Produce, 9, 1, "c"), request)[4..];
        for (int cut = 0; cut < frame.Length; cut++)
        {
            var result = RequestDecoder.Decode(frame.AsMemory(0, cut), ApiVersionsTable.All);
            Assert.False(result.IsSuccess, $"a frame cut at {cut} of {frame.Length} bytes decoded");
            Assert.Equal(DecodeErrorKind.Malformed, result.Error!.Kind);
        }
    }

    [Fact]
    public void Unknown_tagged_fields_after_known_ones_are_skipped_and_written_back_in_order()
    {
        // Fetch v12 partition: tag 0 (diverging epoch), an unknown tag 5, tag 1 (current leader).
        var diverging = new Bytes().I32(2).I64(6).NoTags().ToArray();
        var leader = new Bytes().I32(1).I32(3).NoTags().ToArray();
        var bytes = new Bytes()
            .I32(0).I16(0).I32(0)
            .CArr(1).CStr("t")
            .CArr(1).I32(0).I16(0).I64(8).I64(-1).I64(0)
            .CArr(-1).I32(-1).CBlob(null)
            .UVar(3)
            .UVar(0).UVar(diverging.Length).Raw(diverging)
            .UVar(1).UVar(leader.Length).Raw(leader)
            .UVar(5).UVar(3).Hex("AABBCC")
            .NoTags()
            .UVar(1).UVar(40).UVar(1).Hex("00") // top level: unknown tag 40
            .ToArray();
        var response = new FetchResponse();
        var reader = new KafkaReader(bytes);
        response.Read(ref reader, 12);
        Assert.Equal(0, reader.Remaining);

        var partition = response.Responses[0].Partitions[0];
        Assert.Equal(2, partition.DivergingEpoch!.Epoch);
        Assert.Equal(3, partition.CurrentLeader!.LeaderEpoch);
        Assert.Equal(5, Assert.Single(partition.UnknownTaggedFields!).Tag);
        Assert.Equal(40, Assert.Single(response.UnknownTaggedFields!).Tag);

        using var writer = new KafkaWriter();
        response.Write(writer, 12);
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(writer.WrittenSpan));
    }
}

/// <summary>Reader and writer details the generated codecs rely on.</summary>
public class PrimitiveTests
{
    [Theory]
    [InlineData(0, "00")]
    [InlineData(1, "02")]
    [InlineData(-1, "01")]
    [InlineData(63, "7E")]
    [InlineData(-64, "7F")]
    [InlineData(64, "8001")]
    [InlineData(int.MaxValue, "FEFFFFFF0F")]
    [InlineData(int.MinValue, "FFFFFFFF0F")]
    public void Zigzag_varints_match_the_record_format(int value, string hex)
    {
        using var writer = new KafkaWriter();
        writer.WriteVarInt(value);
        Assert.Equal(hex, Convert.ToHexString(writer.WrittenSpan));
        var reader = new KafkaReader(Convert.FromHexString(hex));
        Assert.Equal(value, reader.ReadVarInt());
    }

    [Theory]
    [InlineData(0L, "00")]
    [InlineData(-1L, "01")]
    [InlineData(long.MaxValue, "FEFFFFFFFFFFFFFFFF01")]
    [InlineData(long.MinValue, "FFFFFFFFFFFFFFFFFF01")]
    public void Zigzag_varlongs_round_trip(long value, string hex)
    {
        using var writer = new KafkaWriter();
        writer.WriteVarLong(value);
        Assert.Equal(hex, Convert.ToHexString(writer.WrittenSpan));
        var reader = new KafkaReader(Convert.FromHexString(hex));
        Assert.Equal(value, reader.ReadVarLong());
    }

    [Fact]
    public void Uuid_is_written_most_significant_byte_first()
    {
        var id = Guid.Parse("01234567-89ab-cdef-0123-456789abcdef");
        using var writer = new KafkaWriter();
        writer.WriteUuid(id);
        Assert.Equal("0123456789ABCDEF0123456789ABCDEF", Convert.ToHexString(writer.WrittenSpan));
    }

    [Fact]
    public void Float64_is_big_endian_ieee754()
    {
        using var writer = new KafkaWriter();
        writer.WriteFloat64(1.5);
        Assert.Equal("3FF8000000000000", Convert.ToHexString(writer.WrittenSpan));
    }

    [Fact]
    public void Multi_segment_sequences_are_read_as_one_buffer()
    {
        var first = new byte[] { 0, 0 };
        var second = new byte[] { 0, 42 };
        var start = new Chunk(first);
        var end = start.Append(second);
        var reader = new KafkaReader(new ReadOnlySequence<byte>(start, 0, end, 2));
        Assert.Equal(42, reader.ReadInt32());
    }

    [Fact]
    public void Writer_grows_past_its_initial_buffer_and_copies_into_another_writer()
    {
        using var writer = new KafkaWriter(16);
        for (int i = 0; i < 1000; i++)
        {
            writer.WriteInt32(i);
        }

        var sink = new ArrayBufferWriter<byte>();
        writer.CopyTo(sink);
        Assert.Equal(4000, sink.WrittenCount);
        var reader = new KafkaReader(sink.WrittenMemory);
        reader.ReadRaw(4 * 999);
        Assert.Equal(999, reader.ReadInt32());
    }

    [Fact]
    public void Classic_strings_longer_than_int16_are_refused_at_write_time()
    {
        using var writer = new KafkaWriter();
        Assert.Throws<ArgumentException>(() => writer.WriteString(new string('x', 40000), flexible: false));
    }

    private sealed class Chunk : ReadOnlySequenceSegment<byte>
    {
        public Chunk(byte[] bytes) => Memory = bytes;

        public Chunk Append(byte[] bytes)
        {
            var next = new Chunk(bytes) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}

/// <summary>The CLI prints responses with System.Text.Json (--output json); generated messages must allow it.</summary>
public class JsonOutputTests
{
    [Fact]
    public void Generated_messages_serialize_to_json_including_records_as_base64()
    {
        var response = new FetchResponse
        {
            Responses = [new() { Topic = "t", Partitions = [new() { PartitionIndex = 0, HighWatermark = 5, Records = new byte[] { 1, 2, 3 } }] }],
        };
        var json = System.Text.Json.JsonSerializer.Serialize(response);
        Assert.Contains("\"HighWatermark\":5", json);
        Assert.Contains("\"Records\":\"AQID\"", json);
    }
}

public class ResponseExpectationTests
{
    [Fact]
    public void Only_produce_with_acks_zero_goes_unanswered()
    {
        Assert.False(RequestDecoder.ExpectsResponse(new ProduceRequest { Acks = 0 }));
        Assert.True(RequestDecoder.ExpectsResponse(new ProduceRequest { Acks = -1 }));
        Assert.True(RequestDecoder.ExpectsResponse(new ProduceRequest { Acks = 1 }));
        Assert.True(RequestDecoder.ExpectsResponse(new FetchRequest()));
    }
}
