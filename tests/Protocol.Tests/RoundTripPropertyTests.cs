using FsCheck;
using FsCheck.Fluent;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Tests;

/// <summary>
/// For every generated request and response, at every version Kraft serves: encoding, decoding and encoding
/// again gives the same bytes, and the decoder consumes exactly what the encoder wrote.
/// </summary>
public class RoundTripPropertyTests
{
    public static TheoryData<string, string> Messages()
    {
        var data = new TheoryData<string, string>();
        foreach (var codec in MessageFactory.Codecs)
        {
            data.Add(codec.ApiKey.ToString(), "request");
            data.Add(codec.ApiKey.ToString(), "response");
        }

        return data;
    }

    private static IKafkaMessage Create(ApiKey apiKey, string kind) =>
        kind == "request" ? MessageFactory.CreateRequest(apiKey)! : MessageFactory.CreateResponse(apiKey)!;

    [Theory]
    [MemberData(nameof(Messages))]
    public void Every_version_round_trips_random_messages_byte_for_byte(string api, string kind)
    {
        var apiKey = Enum.Parse<ApiKey>(api);
        var codec = MessageFactory.Codecs.Single(c => c.ApiKey == apiKey);
        var property = Prop.ForAll(
            Arb.From(Gen.Choose(0, int.MaxValue)),
            seed =>
            {
                var message = new MessageFiller(seed).Fill(Create(apiKey, kind));
                for (short version = codec.LowestVersion; version <= codec.HighestVersion; version++)
                {
                    AssertRoundTrip(apiKey, kind, message, version, seed);
                }
            });
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), property);
    }

    private static void AssertRoundTrip(ApiKey apiKey, string kind, IKafkaMessage message, short version, int seed)
    {
        using var first = new KafkaWriter();
        message.Write(first, version);
        var decoded = Create(apiKey, kind);
        var reader = new KafkaReader(first.ToArray());
        decoded.Read(ref reader, version);
        Assert.True(reader.Remaining == 0, $"{apiKey} {kind} v{version} seed {seed}: {reader.Remaining} bytes left unread");
        using var second = new KafkaWriter();
        decoded.Write(second, version);
        Assert.True(
            first.WrittenSpan.SequenceEqual(second.WrittenSpan),
            $"{apiKey} {kind} v{version} seed {seed}: re-encoding differs\n{Convert.ToHexString(first.WrittenSpan)}\n{Convert.ToHexString(second.WrittenSpan)}");
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Truncated_encodings_are_rejected_with_a_protocol_error_not_a_crash(string api, string kind)
    {
        var apiKey = Enum.Parse<ApiKey>(api);
        var codec = MessageFactory.Codecs.Single(c => c.ApiKey == apiKey);
        for (int seed = 0; seed < 5; seed++)
        {
            var message = new MessageFiller(seed).Fill(Create(apiKey, kind));
            for (short version = codec.LowestVersion; version <= codec.HighestVersion; version++)
            {
                using var writer = new KafkaWriter();
                message.Write(writer, version);
                var bytes = writer.ToArray();
                for (int cut = 0; cut < bytes.Length; cut += Math.Max(1, bytes.Length / 16))
                {
                    var decoded = Create(apiKey, kind);
                    var reader = new KafkaReader(bytes.AsMemory(0, cut));
                    try
                    {
                        decoded.Read(ref reader, version);
                        // A prefix can itself be a valid, shorter message (for example an empty array at the
                        // end); what must never happen is any exception other than the protocol error.
                    }
                    catch (KafkaProtocolException)
                    {
                    }
                }
            }
        }
    }
}
