using System.Text;

namespace Kraft.Protocol.Tests;

/// <summary>
/// Spells out expected wire bytes field by field, for golden tests. Deliberately independent of the
/// library's KafkaWriter (shifts instead of BinaryPrimitives) so a shared bug cannot hide itself.
/// </summary>
internal sealed class Bytes
{
    private readonly List<byte> _bytes = new();

    private Bytes BigEndian(ulong value, int size)
    {
        for (int i = size - 1; i >= 0; i--)
        {
            _bytes.Add((byte)(value >> (8 * i)));
        }

        return this;
    }

    public Bytes I8(int value) => BigEndian((ulong)(sbyte)value, 1);
    public Bytes Bool(bool value) => I8(value ? 1 : 0);
    public Bytes I16(int value) => BigEndian((ulong)(short)value, 2);
    public Bytes U16(int value) => BigEndian((ulong)(ushort)value, 2);
    public Bytes I32(int value) => BigEndian((ulong)value, 4);
    public Bytes I64(long value) => BigEndian((ulong)value, 8);

    public Bytes UVar(int value)
    {
        uint v = (uint)value;
        do
        {
            byte b = (byte)(v & 0x7F);
            v >>= 7;
            _bytes.Add(v != 0 ? (byte)(b | 0x80) : b);
        }
        while (v != 0);
        return this;
    }

    /// <summary>A UUID written as its 32 hex digits, most significant first.</summary>
    public Bytes Uuid(string hex32) => Hex(hex32);

    /// <summary>Classic string: int16 length (-1 for null), UTF-8.</summary>
    public Bytes Str(string? s)
    {
        if (s is null)
        {
            return I16(-1);
        }

        var utf8 = Encoding.UTF8.GetBytes(s);
        I16(utf8.Length);
        _bytes.AddRange(utf8);
        return this;
    }

    /// <summary>Compact string: unsigned varint length+1 (0 for null), UTF-8.</summary>
    public Bytes CStr(string? s)
    {
        if (s is null)
        {
            return UVar(0);
        }

        var utf8 = Encoding.UTF8.GetBytes(s);
        UVar(utf8.Length + 1);
        _bytes.AddRange(utf8);
        return this;
    }

    public Bytes Blob(byte[]? b)
    {
        if (b is null)
        {
            return I32(-1);
        }

        I32(b.Length);
        _bytes.AddRange(b);
        return this;
    }

    public Bytes CBlob(byte[]? b)
    {
        if (b is null)
        {
            return UVar(0);
        }

        UVar(b.Length + 1);
        _bytes.AddRange(b);
        return this;
    }

    /// <summary>Classic array length (int32, -1 for null).</summary>
    public Bytes Arr(int count) => I32(count);

    /// <summary>Compact array length (unsigned varint count+1, 0 for null).</summary>
    public Bytes CArr(int count) => UVar(count + 1);

    /// <summary>An empty tagged-field section.</summary>
    public Bytes NoTags() => UVar(0);

    public Bytes Raw(byte[] b)
    {
        _bytes.AddRange(b);
        return this;
    }

    public Bytes Hex(string hex) => Raw(Convert.FromHexString(hex.Replace(" ", "")));

    /// <summary>Wraps everything so far in a frame: int32 size prefix.</summary>
    public byte[] Framed()
    {
        var body = _bytes.ToArray();
        return new Bytes().I32(body.Length).Raw(body).ToArray();
    }

    public byte[] ToArray() => _bytes.ToArray();
}
