using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Tests;

/// <summary>The golden-byte check every GoldenBytes*Tests class uses.</summary>
internal static class GoldenBytes
{
    /// <summary>
    /// Encoding <paramref name="message"/> at <paramref name="version"/> gives exactly <paramref name="expected"/>;
    /// decoding those bytes consumes all of them; and re-encoding the decoded message gives the same bytes again.
    /// </summary>
    public static void AssertGolden<T>(T message, short version, Bytes expected) where T : IKafkaMessage, new()
    {
        var bytes = expected.ToArray();
        using var writer = new KafkaWriter();
        message.Write(writer, version);
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(writer.WrittenSpan));

        var decoded = new T();
        var reader = new KafkaReader(bytes);
        decoded.Read(ref reader, version);
        Assert.Equal(0, reader.Remaining);
        using var again = new KafkaWriter();
        decoded.Write(again, version);
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(again.WrittenSpan));
    }
}
