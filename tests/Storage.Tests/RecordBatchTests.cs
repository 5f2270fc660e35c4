using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using Kraft.Storage.Records;

namespace Kraft.Storage.Tests;

public class RecordBatchTests
{
    [Fact]
    public void Crc32c_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    [Fact]
    public void Crc32c_agrees_with_a_bitwise_reference_on_random_buffers()
    {
        var random = new Random(42);
        for (int length = 0; length < 300; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(Batches.ReferenceCrc32C(data), Crc32C.Compute(data));
        }
    }

    [Theory]
    [InlineData(0, new byte[] { 0x00 })]
    [InlineData(-1, new byte[] { 0x01 })]
    [InlineData(1, new byte[] { 0x02 })]
    [InlineData(63, new byte[] { 0x7E })]
    [InlineData(-64, new byte[] { 0x7F })]
    [InlineData(64, new byte[] { 0x80, 0x01 })]
    [InlineData(300, new byte[] { 0xD8, 0x04 })]
    [InlineData(int.MaxValue, new byte[] { 0xFE, 0xFF, 0xFF, 0xFF, 0x0F })]
    [InlineData(int.MinValue, new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F })]
    public void Zigzag_varints_encode_as_the_spec_says(int value, byte[] expected)
    {
        var buffer = new byte[5];
        int n = Varint.WriteInt(buffer, value);
        Assert.Equal(expected, buffer[..n]);
        Assert.Equal(n, Varint.SizeOfInt(value));
        Assert.True(Varint.TryReadInt(expected, out int back, out int read));
        Assert.Equal((value, expected.Length), (back, read));
    }

    [Fact]
    public void Varints_round_trip_for_any_long()
    {
        Prop.ForAll<long>(value =>
        {
            var buffer = new byte[10];
            int n = Varint.WriteLong(buffer, value);
            return Varint.TryReadLong(buffer.AsSpan(0, n), out long back, out int read) && back == value && read == n && n == Varint.SizeOfLong(value);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Truncated_or_overlong_varints_are_rejected()
    {
        Assert.False(Varint.TryReadInt([0x80], out _, out _));
        Assert.False(Varint.TryReadInt([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], out _, out _));
        Assert.False(Varint.TryReadLong([], out _, out _));
    }

    /// <summary>The bytes of a one-record batch, written out field by field from the v2 specification.</summary>
    [Fact]
    public void Builder_output_is_byte_exact_with_the_v2_layout()
    {
        var built = new RecordBatchBuilder { BaseOffset = 0x0102030405060708 }.Add(null, "a"u8.ToArray(), 0x1122).Build();

        // record: length=7 (zigzag 0x0E), attributes 0, tsDelta 0, offsetDelta 0, key null (-1 -> 0x01), value len 1 (0x02), 'a', 0 headers
        byte[] record = [0x0E, 0x00, 0x00, 0x00, 0x01, 0x02, 0x61, 0x00];
        var expected = new byte[61 + record.Length];
        var e = expected.AsSpan();
        BinaryPrimitives.WriteInt64BigEndian(e[0..], 0x0102030405060708);   // baseOffset
        BinaryPrimitives.WriteInt32BigEndian(e[8..], 61 - 12 + record.Length); // batchLength
        BinaryPrimitives.WriteInt32BigEndian(e[12..], -1);                   // partitionLeaderEpoch
        e[16] = 2;                                                          // magic
        BinaryPrimitives.WriteInt16BigEndian(e[21..], 0);                    // attributes
        BinaryPrimitives.WriteInt32BigEndian(e[23..], 0);                    // lastOffsetDelta
        BinaryPrimitives.WriteInt64BigEndian(e[27..], 0x1122);               // baseTimestamp
        BinaryPrimitives.WriteInt64BigEndian(e[35..], 0x1122);               // maxTimestamp
        BinaryPrimitives.WriteInt64BigEndian(e[43..], -1);                   // producerId
        BinaryPrimitives.WriteInt16BigEndian(e[51..], -1);                   // producerEpoch
        BinaryPrimitives.WriteInt32BigEndian(e[53..], -1);                   // baseSequence
        BinaryPrimitives.WriteInt32BigEndian(e[57..], 1);                    // recordsCount
        record.CopyTo(e[61..]);
        BinaryPrimitives.WriteUInt32BigEndian(e[17..], Batches.ReferenceCrc32C(e[21..]));

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(built));
        Assert.Equal(BatchValidation.Ok, RecordBatch.Validate(built, out var header));
        Assert.Equal(0x0102030405060708, header.BaseOffset);
        Assert.Equal(1, header.RecordsCount);
    }

    [Fact]
    public void Records_with_keys_values_and_headers_iterate_back()
    {
        var headers = new List<KeyValuePair<string, byte[]?>> { new("h1", "v1"u8.ToArray()), new("h2", null) };
        var batch = new RecordBatchBuilder()
            .Add(new ProducerRecord("key"u8.ToArray(), "value"u8.ToArray(), 5000, headers))
            .Add(new ProducerRecord(null, null, 5007))
            .Build();
        Assert.Equal(BatchValidation.Ok, RecordBatch.Validate(batch, out var header));
        Assert.Equal(BatchValidation.Ok, RecordBatch.ValidateRecords(batch, header));
        Assert.Equal(5000, header.BaseTimestamp);
        Assert.Equal(5007, header.MaxTimestamp);

        var reader = new RecordReader(batch.AsSpan(RecordBatch.HeaderSize));
        Assert.True(reader.TryReadNext(out var first, out _));
        Assert.Equal("key"u8.ToArray(), first.Key.ToArray());
        Assert.Equal("value"u8.ToArray(), first.Value.ToArray());
        var h = first.ReadHeaders();
        Assert.Equal(["h1", "h2"], h.Select(x => x.Key));
        Assert.Null(h[1].Value);
        Assert.True(reader.TryReadNext(out var second, out _));
        Assert.True(second.KeyIsNull && second.ValueIsNull);
        Assert.Equal(7, second.TimestampDelta);
        Assert.Equal(1, second.OffsetDelta);
        Assert.False(reader.TryReadNext(out _, out _));
        Assert.False(reader.Malformed);
    }

    [Fact]
    public void Rewriting_offset_and_epoch_keeps_the_crc_valid()
    {
        var batch = Batches.Make("x", 3);
        RecordBatch.Rewrite(batch, 12345, 7);
        Assert.Equal(BatchValidation.Ok, RecordBatch.Validate(batch, out var header));
        Assert.Equal((12345L, 7, 12347L), (header.BaseOffset, header.PartitionLeaderEpoch, header.LastOffset));
    }

    [Fact]
    public void Every_single_bit_flip_in_the_crc_covered_range_is_detected()
    {
        var batch = Batches.Make("flip", 2);
        for (int i = RecordBatch.AttributesOffset; i < batch.Length; i++)
        {
            for (int bit = 0; bit < 8; bit++)
            {
                var copy = (byte[])batch.Clone();
                copy[i] ^= (byte)(1 << bit);
                Assert.NotEqual(BatchValidation.Ok, RecordBatch.Validate(copy, out _));
            }
        }
    }

    [Fact]
    public void Malformed_batches_get_specific_answers()
    {
        var batch = Batches.Make("m", 1);
        Assert.Equal(BatchValidation.Truncated, RecordBatch.Validate(batch.AsSpan(0, 40), out _));
        Assert.Equal(BatchValidation.Truncated, RecordBatch.Validate(batch.AsSpan(0, batch.Length - 1), out _));

        var badMagic = (byte[])batch.Clone();
        badMagic[RecordBatch.MagicOffset] = 1;
        Assert.Equal(BatchValidation.BadMagic, RecordBatch.Validate(badMagic, out _));

        var badLength = (byte[])batch.Clone();
        BinaryPrimitives.WriteInt32BigEndian(badLength.AsSpan(RecordBatch.BatchLengthOffset), 10);
        Assert.Equal(BatchValidation.BadLength, RecordBatch.Validate(badLength, out _));

        var badCrc = (byte[])batch.Clone();
        badCrc[^1] ^= 0xFF;
        Assert.Equal(BatchValidation.CrcMismatch, RecordBatch.Validate(badCrc, out _));
    }

    [Fact]
    public void Record_structure_that_disagrees_with_the_header_is_invalid()
    {
        // Claim two records while holding one; the CRC is recomputed so only the deep check can notice.
        var batch = Batches.Make("r", 1);
        BinaryPrimitives.WriteInt32BigEndian(batch.AsSpan(RecordBatch.RecordsCountOffset), 2);
        RecordBatch.UpdateCrc(batch);
        Assert.Equal(BatchValidation.Ok, RecordBatch.Validate(batch, out var header));
        Assert.Equal(BatchValidation.BadRecords, RecordBatch.ValidateRecords(batch, header));
    }

    [Fact]
    public void Random_bytes_never_throw_from_validation_or_iteration()
    {
        Prop.ForAll<byte[]>(bytes =>
        {
            var result = RecordBatch.Validate(bytes, out var header);
            if (result == BatchValidation.Ok)
            {
                RecordBatch.ValidateRecords(bytes, header);
            }
            var reader = new RecordReader(bytes);
            while (reader.TryReadNext(out _, out _)) { }
            return true;
        }).QuickCheckThrowOnFailure();
    }
}
