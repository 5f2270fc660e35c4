using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Kraft.Storage.Records;

namespace Kraft.Cli.Commands;

/// <summary>
/// <c>kraft log dump DIR</c>: reads a log directory's segment files (read-only, no recovery) and prints
/// each record batch: offsets, leader epoch, record count, size, position, and whether its CRC holds.
/// Stops at the first damaged batch of a segment, naming file and byte position, and exits 3.
/// The operator's equivalent of Kafka's kafka-dump-log.
/// </summary>
public static class LogCommand
{
    public static Command Build()
    {
        var directory = new Argument<DirectoryInfo>("DIR") { Description = "A log directory (holds NNNNNNNNNNNNNNNNNNNN.log segments)" };
        var records = new Option<bool>("--records") { Description = "Also print every record's offset, key and value (UTF-8, truncated)" };
        var maxBatches = new Option<int>("--max-batches") { Description = "Stop after this many batches", DefaultValueFactory = _ => int.MaxValue };
        var dump = new Command("dump", "Print the record batches of a log directory and check their CRCs (read-only)")
        {
            directory, records, maxBatches,
        };
        dump.SetAction(parse => Dump(
            parse.GetRequiredValue(directory), parse.GetValue(records), parse.GetValue(maxBatches),
            parse.GetValue(KraftCommand.Output) == "json", parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error));
        return new Command("log", "Inspect log directories on this machine") { dump };
    }

    private static int Dump(DirectoryInfo directory, bool withRecords, int maxBatches, bool json, TextWriter output, TextWriter error)
    {
        if (!directory.Exists)
        {
            error.WriteLine($"kraft: no such directory: {directory.FullName}");
            return ExitCodes.Failure;
        }
        var segments = directory.GetFiles("*.log").OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
        if (segments.Count == 0)
        {
            error.WriteLine($"kraft: {directory.FullName} holds no .log segment files");
            return ExitCodes.Failure;
        }
        using var jsonBuffer = new MemoryStream();
        using var jsonWriter = json ? new Utf8JsonWriter(jsonBuffer, new JsonWriterOptions { Indented = true }) : null;
        jsonWriter?.WriteStartArray();
        int printed = 0;
        bool damaged = false;
        foreach (var segment in segments)
        {
            byte[] bytes = File.ReadAllBytes(segment.FullName);
            if (!json)
            {
                output.WriteLine($"segment {segment.Name} ({bytes.Length} bytes)");
            }
            var walker = new BatchWalker(bytes);
            while (printed < maxBatches && walker.TryNext(out var header, out int position, out _))
            {
                printed++;
                if (json)
                {
                    jsonWriter!.WriteStartObject();
                    jsonWriter.WriteString("segment", segment.Name);
                    jsonWriter.WriteNumber("position", position);
                    jsonWriter.WriteNumber("baseOffset", header.BaseOffset);
                    jsonWriter.WriteNumber("lastOffset", header.LastOffset);
                    jsonWriter.WriteNumber("leaderEpoch", header.PartitionLeaderEpoch);
                    jsonWriter.WriteNumber("records", header.RecordsCount);
                    jsonWriter.WriteNumber("sizeBytes", header.SizeInBytes);
                    jsonWriter.WriteNumber("maxTimestamp", header.MaxTimestamp);
                    jsonWriter.WriteString("compression", header.Compression.ToString().ToLowerInvariant());
                    jsonWriter.WriteBoolean("crcValid", true);
                    jsonWriter.WriteEndObject();
                }
                else
                {
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  offset {header.BaseOffset}..{header.LastOffset} epoch {header.PartitionLeaderEpoch} records {header.RecordsCount} size {header.SizeInBytes} position {position} crc ok"));
                    if (withRecords && header.Compression == CompressionType.None)
                    {
                        var reader = new RecordReader(bytes.AsSpan(position + RecordBatch.HeaderSize, header.SizeInBytes - RecordBatch.HeaderSize));
                        while (reader.TryReadNext(out var record, out _))
                        {
                            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                $"    {header.BaseOffset + record.OffsetDelta}: key={Show(record.Key, record.KeyIsNull)} value={Show(record.Value, record.ValueIsNull)}"));
                        }
                    }
                }
            }
            if (printed < maxBatches && walker.Position < bytes.Length && !bytes.AsSpan(walker.Position).ContainsAnyExcept((byte)0))
            {
                // The active segment of a preallocated log (log.preallocate, the Raft log) is zero-filled ahead of its data.
                if (!json)
                {
                    output.WriteLine($"  ({bytes.Length - walker.Position} zero bytes preallocated after the data)");
                }
            }
            else if (printed < maxBatches && walker.Position < bytes.Length)
            {
                var reason = RecordBatch.Validate(bytes.AsSpan(walker.Position), out _);
                damaged = true;
                error.WriteLine($"kraft: damaged batch in {segment.FullName} at byte position {walker.Position}: {reason} ({bytes.Length - walker.Position} bytes from there to the end of the file)");
            }
        }
        jsonWriter?.WriteEndArray();
        jsonWriter?.Flush();
        if (json)
        {
            output.WriteLine(System.Text.Encoding.UTF8.GetString(jsonBuffer.ToArray()));
        }
        return damaged ? ExitCodes.DataError : ExitCodes.Ok;
    }

    private static string Show(ReadOnlySpan<byte> bytes, bool isNull)
    {
        if (isNull) return "null";
        string text = System.Text.Encoding.UTF8.GetString(bytes[..Math.Min(bytes.Length, 60)]);
        return bytes.Length > 60 ? text + "..." : text;
    }
}
