using System.Buffers.Binary;
using System.Numerics;

namespace Kraft.Storage.Records;

/// <summary>
/// CRC-32C (Castagnoli), the checksum of Kafka's record batch v2. Uses the CPU's CRC32 instruction
/// through <see cref="BitOperations.Crc32C(uint, ulong)"/>, eight bytes per step.
/// </summary>
public static class Crc32C
{
    /// <summary>The CRC-32C of <paramref name="data"/> (initial value and final XOR of 0xFFFFFFFF).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Update(Start, data));

    public const uint Start = 0xFFFFFFFFu;

    public static uint Finish(uint state) => state ^ 0xFFFFFFFFu;

    /// <summary>Continues a running CRC state over more bytes (for data split across buffers).</summary>
    public static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        uint crc = state;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        if (data.Length >= 4)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt32LittleEndian(data));
            data = data[4..];
        }
        foreach (byte b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        return crc;
    }
}
