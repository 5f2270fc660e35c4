using Kraft.Storage.Records;

namespace Kraft.Storage.Tests;

/// <summary>A manual clock for tests: time moves only when a test says so.</summary>
public sealed class ManualTime(long startMs = 1_700_000_000_000) : TimeProvider
{
    private long _nowMs = startMs;

    public long NowMs => _nowMs;

    public void Advance(long ms) => _nowMs += ms;

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(_nowMs);
}

/// <summary>A fresh temporary directory, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kraft-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

public static class Batches
{
    /// <summary>A batch of <paramref name="count"/> records whose values are "tag-i".</summary>
    public static byte[] Make(string tag, int count, long timestampMs = 1000, int valueSize = 0)
    {
        var builder = new RecordBatchBuilder();
        for (int i = 0; i < count; i++)
        {
            var text = $"{tag}-{i}";
            var value = System.Text.Encoding.UTF8.GetBytes(valueSize > text.Length ? text.PadRight(valueSize, '.') : text);
            builder.Add(System.Text.Encoding.UTF8.GetBytes($"k{i}"), value, timestampMs);
        }
        return builder.Build(timestampMs);
    }

    /// <summary>Values of every record in a buffer of batches, paired with their offsets.</summary>
    public static List<(long Offset, string Value)> Values(byte[] buffer)
    {
        var result = new List<(long, string)>();
        var walker = new BatchWalker(buffer);
        while (walker.TryNext(out var header, out int at, out var check))
        {
            var reader = new RecordReader(buffer.AsSpan(at + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize));
            while (reader.TryReadNext(out var record, out _))
            {
                result.Add((header.BaseOffset + record.OffsetDelta, System.Text.Encoding.UTF8.GetString(record.Value)));
            }
        }
        Assert.Equal(buffer.Length, walker.Position);
        return result;
    }

    /// <summary>Bit-by-bit CRC-32C from the polynomial (0x82F63B78 reflected): an independent reference.</summary>
    public static uint ReferenceCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }
        return ~crc;
    }
}
