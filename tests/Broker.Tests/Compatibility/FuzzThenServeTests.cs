using System.Net.Sockets;
using Kraft.Broker.Tests.Network;
using Kraft.Protocol;
using Kraft.Protocol.Client;
using Kraft.Protocol.Framing;
using Kraft.Protocol.Messages;
using Kraft.Storage.Records;

namespace Kraft.Broker.Tests.Compatibility;

/// <summary>
/// A broker serving real partitions takes 100,000 random and mutated frames (Metadata, Produce, Fetch and ApiVersions
/// requests, bit-flipped, truncated, with lying sizes, unknown APIs, noise), then still serves a normal produce and
/// fetch, and nothing the garbage carried reached the log.
/// </summary>
public class FuzzThenServeTests
{
    [Fact]
    public async Task After_a_hundred_thousand_bad_frames_the_broker_still_produces_and_fetches()
    {
        await using var broker = new SingleBrokerFixture(("fuzz", 1));
        var random = new Random(4321);
        byte[] batch = new RecordBatchBuilder().Add(null, "payload"u8.ToArray(), 1).Build();
        var templates = new[]
        {
            FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.ApiVersions, 3, 1, "f"), new ApiVersionsRequest { ClientSoftwareName = "f", ClientSoftwareVersion = "1" }),
            FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.Metadata, 9, 2, "f"), new MetadataRequest { Topics = [new MetadataRequest.MetadataRequestTopic { Name = "fuzz" }] }),
            FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.Fetch, 11, 3, "f"), new FetchRequest
            {
                ReplicaId = -1, MaxWaitMs = 0, MinBytes = 0, MaxBytes = 1000, SessionEpoch = -1, RackId = "", ForgottenTopicsData = [],
                Topics = [new FetchRequest.FetchTopic { Topic = "fuzz", Partitions = [new FetchRequest.FetchPartition { Partition = 0, FetchOffset = 0, PartitionMaxBytes = 1000 }] }],
            }),
            FrameEncoder.EncodeRequest(new RequestHeader(ApiKey.Produce, 7, 4, "f"), new ProduceRequest
            {
                Acks = 1, TimeoutMs = 1000,
                TopicData = [new ProduceRequest.TopicProduceData { Name = "fuzz", PartitionData = [new ProduceRequest.PartitionProduceData { Index = 0, Records = batch }] }],
            }),
        };
        int sent = 0, validProduces = 0;
        while (sent < 100_000)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(broker.Server.BoundEndpoint);
            var payload = new List<byte>();
            int valid = random.Next(0, 30);
            for (int i = 0; i < valid; i++)
            {
                // Mostly harmless valid requests; a valid produce now and then, counted.
                int t = random.Next(10) == 0 ? 3 : random.Next(3);
                if (t == 3) validProduces++;
                payload.AddRange(templates[t]);
            }
            payload.AddRange(KafkaServerTests.Mutate(random, templates[random.Next(templates.Length)]));
            sent += valid + 1;
            try
            {
                await socket.SendAsync(payload.ToArray());
                socket.Shutdown(SocketShutdown.Send);
                var drain = new byte[64 * 1024];
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                while (await socket.ReceiveAsync(drain, SocketFlags.None, cts.Token) > 0) { }
            }
            catch (SocketException)
            {
            }
            catch (OperationCanceledException)
            {
                // A bit flip can make a valid Fetch with a long wait: the server is long-polling as asked; move on.
            }
        }

        var log = broker.Replicas.Get("fuzz", 0)!.Log;
        long before = log.LogEndOffset;
        // Mutated produce frames can only have been refused or, when a flip left them valid, appended whole;
        // the log must still read back cleanly from the start.
        Assert.True(before >= validProduces, $"log end {before} < {validProduces} valid produces");
        var all = log.Read(0, int.MaxValue);
        Assert.Equal(Kraft.Storage.Log.LogReadError.None, all.Error);

        await using var client = new KafkaClient(new KafkaClientOptions { BootstrapServers = [broker.Bootstrap] });
        var produced = await client.ProduceAsync("fuzz", 0, new RecordBatchBuilder().Add(null, "after-fuzz"u8.ToArray(), 1).Build(), acks: -1);
        Assert.Equal(0, produced!.ErrorCode);
        Assert.Equal(before, produced.BaseOffset);
        var fetched = await client.FetchAsync("fuzz", 0, produced.BaseOffset);
        Assert.Equal(0, fetched.ErrorCode);
        Assert.True(fetched.Records is { Length: > 0 });
        Assert.Contains("after-fuzz", System.Text.Encoding.UTF8.GetString(fetched.Records!.Value.Span));
    }
}
