using System.Collections;
using System.Reflection;
using System.Text;
using Kraft.Protocol.Messages;
using Kraft.Protocol.Primitives;

namespace Kraft.Protocol.Tests;

/// <summary>
/// Fills any generated message with random values by reflection, so one property test covers all of them.
/// </summary>
/// <remarks>
/// Values are arbitrary, not meaningful: the round-trip property only needs every field to carry something
/// other than its default. Null is produced only for properties whose C# type is nullable; the codecs write
/// such a null as empty in versions that cannot carry null, which keeps encode(decode(encode(m))) stable.
/// Unknown tagged fields get tags from 1000 up, above every tag Kafka has assigned.
/// </remarks>
internal sealed class MessageFiller
{
    private static readonly NullabilityInfoContext Nullability = new();
    private readonly Random _random;

    public MessageFiller(int seed) => _random = new Random(seed);

    public T Fill<T>(T message, int depth = 0) where T : IKafkaMessage
    {
        FillObject(message, depth);
        return message;
    }

    private void FillObject(object target, int depth)
    {
        foreach (var property in target.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!property.CanWrite)
            {
                continue;
            }

            if (property.Name == nameof(ApiVersionsResponse.UnknownTaggedFields))
            {
                property.SetValue(target, RandomUnknownTags());
                continue;
            }

            bool nullable = Nullability.Create(property).WriteState == NullabilityState.Nullable;
            property.SetValue(target, RandomValue(property.PropertyType, nullable, depth));
        }
    }

    private List<TaggedField>? RandomUnknownTags()
    {
        if (_random.Next(4) != 0)
        {
            return null;
        }

        var list = new List<TaggedField>();
        int tag = 1000;
        for (int i = _random.Next(1, 3); i > 0; i--)
        {
            tag += _random.Next(1, 50);
            list.Add(new TaggedField(tag, RandomBytes(8)));
        }

        return list;
    }

    private byte[] RandomBytes(int max)
    {
        var bytes = new byte[_random.Next(max + 1)];
        _random.NextBytes(bytes);
        return bytes;
    }

    private string RandomString()
    {
        const string alphabet = "abcXYZ019._-é€𝄞";
        var builder = new StringBuilder();
        for (int i = _random.Next(8); i > 0; i--)
        {
            builder.Append(alphabet[_random.Next(alphabet.Length)]);
        }

        // A surrogate pair cut in half is not valid UTF-16; drop a lone surrogate at the end.
        var text = builder.ToString();
        return text.Length > 0 && char.IsHighSurrogate(text[^1]) ? text[..^1] : text.Replace("\uDD1E", "");
    }

    private object? RandomValue(Type type, bool nullable, int depth)
    {
        if (nullable && _random.Next(5) == 0)
        {
            return null;
        }

        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null)
        {
            return RandomValue(underlying, nullable: false, depth);
        }

        if (type == typeof(sbyte)) return (sbyte)_random.Next(sbyte.MinValue, sbyte.MaxValue + 1);
        if (type == typeof(short)) return (short)_random.Next(short.MinValue, short.MaxValue + 1);
        if (type == typeof(ushort)) return (ushort)_random.Next(ushort.MaxValue + 1);
        if (type == typeof(int)) return _random.Next(int.MinValue, int.MaxValue);
        if (type == typeof(uint)) return (uint)_random.NextInt64(uint.MaxValue);
        if (type == typeof(long)) return _random.NextInt64(long.MinValue, long.MaxValue);
        if (type == typeof(double)) return _random.NextDouble() * 1e6;
        if (type == typeof(bool)) return _random.Next(2) == 1;
        if (type == typeof(Guid)) return _random.Next(4) == 0 ? Guid.Empty : Guid.NewGuid();
        if (type == typeof(string)) return RandomString();
        if (type == typeof(ReadOnlyMemory<byte>)) return new ReadOnlyMemory<byte>(RandomBytes(24));
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var elementType = type.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(type)!;
            int count = depth > 3 ? 0 : _random.Next(4);
            for (int i = 0; i < count; i++)
            {
                list.Add(RandomValue(elementType, nullable: false, depth + 1));
            }

            return list;
        }

        if (typeof(IKafkaMessage).IsAssignableFrom(type))
        {
            var nested = Activator.CreateInstance(type)!;
            FillObject(nested, depth + 1);
            return nested;
        }

        throw new InvalidOperationException($"the filler does not know {type}");
    }
}
