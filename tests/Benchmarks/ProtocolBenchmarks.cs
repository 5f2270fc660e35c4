using BenchmarkDotNet.Attributes;
using Kraft.Protocol;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Benchmarks;

/// <summary>
/// The protocol hot paths: decoding Produce requests and encoding Fetch responses (and the reverse, which the
/// client and follower fetchers do), each with one 16 KiB record batch.
/// </summary>
/// <remarks>
/// Decoding must not copy the records: they come back as a slice of the frame, so decode allocations should be
/// a few hundred bytes of message objects whatever the batch size. Encoding copies the batch exactly once,
/// into the (pooled, reused) output buffer. Run: dotnet run -c Release --project tests/Benchmarks -- --filter '*Protocol*'
/// </remarks>
[MemoryDiagnoser]
public class ProtocolBenchmarks
{
    private const int RecordsBytes = 16 * 1024;
    private byte[] _records = [];
    private ProduceRequest _produce = new();
    private FetchResponse _fetch = new();
    private byte[] _produceFrame = [];
    private byte[] _fetchResponseBody = [];
    private readonly KafkaWriter _writer = new(64 * 1024);

    [Params((short)3, (short)9)]
    public short ProduceVersion { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _records = new byte[RecordsBytes];
        new Random(42).NextBytes(_records);
        _produce = new ProduceRequest
        {
            Acks = -1,
            TimeoutMs = 30000,
            TopicData = [new() { Name = "bench-topic", PartitionData = [new() { Index = 0, Records = _records }] }],
        };
        _produceFrame = FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.Produce, ProduceVersion, 1, "bench"), _produce)[4..];

        _fetch = new FetchResponse
        {
            Responses =
            [
                new()
                {
                    Topic = "bench-topic",
                    TopicId = Guid.NewGuid(),
                    Partitions = [new() { PartitionIndex = 0, HighWatermark = 1000, LastStableOffset = 1000, LogStartOffset = 0, Records = _records }],
                },
            ],
        };
        using var w = new KafkaWriter();
        _fetch.Write(w, FetchVersion);
        _fetchResponseBody = w.ToArray();
    }

    private short FetchVersion => ProduceVersion == 9 ? (short)13 : (short)4;

    [GlobalCleanup]
    public void Cleanup() => _writer.Dispose();

    [Benchmark]
    public int ProduceRequestDecode()
    {
        var result = RequestDecoder.Decode(_produceFrame, ApiVersionsTable.All);
        var request = (ProduceRequest)result.Request!.Message;
        return request.TopicData[0].PartitionData[0].Records!.Value.Length;
    }

    [Benchmark]
    public int ProduceRequestEncode()
    {
        _writer.Reset();
        FrameEncoder.WriteRequest(_writer, new RequestHeader(ApiKey.Produce, ProduceVersion, 1, "bench"), _produce);
        return _writer.Length;
    }

    [Benchmark]
    public int FetchResponseEncode()
    {
        _writer.Reset();
        FrameEncoder.WriteResponse(_writer, FetchVersion, 1, _fetch);
        return _writer.Length;
    }

    [Benchmark]
    public int FetchResponseDecode()
    {
        var response = new FetchResponse();
        var reader = new KafkaReader(_fetchResponseBody);
        response.Read(ref reader, FetchVersion);
        return response.Responses[0].Partitions[0].Records!.Value.Length;
    }
}
