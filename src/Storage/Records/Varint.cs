namespace Kraft.Storage.Records;

/// <summary>
/// Zig-zag variable-length integers as used inside Kafka records (protobuf encoding:
/// 7 bits per byte, least significant group first, high bit = more bytes follow).
/// Reads return false on truncated or over-long input instead of throwing.
/// </summary>
public static class Varint
{
    public static int SizeOfInt(int value) => SizeOfUnsigned((uint)((value << 1) ^ (value >> 31)));

    public static int SizeOfLong(long value) => SizeOfUnsignedLong((ulong)((value << 1) ^ (value >> 63)));

    public static int SizeOfUnsigned(uint value)
    {
        int size = 1;
        while (value >= 0x80) { value >>= 7; size++; }
        return size;
    }

    public static int SizeOfUnsignedLong(ulong value)
    {
        int size = 1;
        while (value >= 0x80) { value >>= 7; size++; }
        return size;
    }

    public static int WriteInt(Span<byte> destination, int value) =>
        WriteUnsignedLong(destination, (uint)((value << 1) ^ (value >> 31)));

    public static int WriteLong(Span<byte> destination, long value) =>
        WriteUnsignedLong(destination, (ulong)((value << 1) ^ (value >> 63)));

    public static int WriteUnsignedLong(Span<byte> destination, ulong value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads a zig-zag varint of at most 5 bytes. Returns false if truncated or too long.</summary>
    public static bool TryReadInt(ReadOnlySpan<byte> source, out int value, out int bytesRead)
    {
        value = 0;
        if (!TryReadUnsigned(source, 5, out ulong raw, out bytesRead) || raw > uint.MaxValue)
        {
            return false;
        }
        uint u = (uint)raw;
        value = (int)(u >> 1) ^ -(int)(u & 1);
        return true;
    }

    /// <summary>Reads a zig-zag varlong of at most 10 bytes. Returns false if truncated or too long.</summary>
    public static bool TryReadLong(ReadOnlySpan<byte> source, out long value, out int bytesRead)
    {
        value = 0;
        if (!TryReadUnsigned(source, 10, out ulong u, out bytesRead))
        {
            return false;
        }
        value = (long)(u >> 1) ^ -(long)(u & 1);
        return true;
    }

    private static bool TryReadUnsigned(ReadOnlySpan<byte> source, int maxBytes, out ulong value, out int bytesRead)
    {
        value = 0;
        int shift = 0;
        for (int i = 0; i < maxBytes && i < source.Length; i++)
        {
            byte b = source[i];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                bytesRead = i + 1;
                return true;
            }
            shift += 7;
        }
        bytesRead = 0;
        return false;
    }
}
