using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Storage.Tests;

/// <summary>
/// Random sequences of keyed appends (with tombstones), rolls, time steps, cleaning passes (with a random high
/// watermark and a small offset map, so passes are bounded), reopens, crashes and crashes in the middle of a
/// segment swap, against a model that remembers every record ever appended. After every step: every batch
/// validates, offsets strictly increase, every record read is one that was appended at that offset, for every
/// key the last record read is the model's latest (a tombstoned key may have vanished entirely), and records at
/// or above the high watermark of the last pass are all still there. At the end, after delete.retention.ms and
/// passes until everything is clean: each live key appears exactly once with its latest value at its latest
/// offset, and tombstoned keys are gone.
/// </summary>
public class LogCleanerProperties
{
    public enum OpKind : byte { Append, Append2, Append3, Tombstone, Roll, Time, Clean, Clean2, Reopen, Crash, CrashInClean }

    public readonly record struct Op(OpKind Kind, ushort A, ushort B);

    private const long DeleteRetentionMs = 1000;

    private static readonly LogConfig Config = new()
    {
        SegmentBytes = 500,
        IndexIntervalBytes = 100,
        Compact = true,
        DeleteByRetention = false,
        DeleteRetentionMs = DeleteRetentionMs,
        MinCleanableDirtyRatio = 0.3,
    };

    [Fact]
    public void Cleaning_keeps_the_latest_value_per_key_under_random_operations_and_crashes()
    {
        var opGen = from kind in Gen.Elements(Enum.GetValues<OpKind>())
                    from a in Gen.Choose(0, 1000)
                    from b in Gen.Choose(0, 1000)
                    select new Op(kind, (ushort)a, (ushort)b);
        var arb = Arb.From(Gen.ListOf(opGen).Select(l => l.ToArray()), Shrink);
        Prop.ForAll(arb, ops => Run(ops)).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(
            int.TryParse(Environment.GetEnvironmentVariable("KRAFT_PROPERTY_RUNS"), out int runs) ? runs : 40));
    }

    private static IEnumerable<Op[]> Shrink(Op[] ops)
    {
        if (ops.Length > 1)
        {
            yield return ops[..(ops.Length / 2)];
            yield return ops[(ops.Length / 2)..];
        }
        for (int i = 0; i < ops.Length; i++)
        {
            yield return [.. ops[..i], .. ops[(i + 1)..]];
        }
    }

    private sealed record Appended(string Key, string? Value, long TimestampMs);

    private static bool Run(Op[] ops)
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        var log = SegmentedLog.Open(dir.Path, Config, time);
        var history = new Dictionary<long, Appended>();
        var latest = new Dictionary<string, long>(); // key -> offset of its latest record
        int counter = 0;
        try
        {
            foreach (var op in ops)
            {
                switch (op.Kind)
                {
                    case OpKind.Append:
                    case OpKind.Append2:
                    case OpKind.Append3:
                    case OpKind.Tombstone:
                    {
                        int count = 1 + op.A % 3;
                        var builder = new RecordBatchBuilder();
                        var records = new List<Appended>();
                        for (int i = 0; i < count; i++)
                        {
                            string key = "k" + ((op.B + i * 7) % 6);
                            string? value = op.Kind == OpKind.Tombstone && i == 0 ? null : $"v{counter++}";
                            builder.Add(Encoding.UTF8.GetBytes(key), value is null ? null : Encoding.UTF8.GetBytes(value), time.NowMs);
                            records.Add(new Appended(key, value, time.NowMs));
                        }
                        var result = log.AppendAsLeader(builder.Build(time.NowMs), 1 + op.A % 2);
                        Assert.Equal(AppendError.None, result.Error);
                        for (int i = 0; i < records.Count; i++)
                        {
                            history[result.FirstOffset + i] = records[i];
                            latest[records[i].Key] = result.FirstOffset + i;
                        }
                        break;
                    }
                    case OpKind.Roll:
                        log.RollNow();
                        break;
                    case OpKind.Time:
                        time.Advance(op.A * 2);
                        break;
                    case OpKind.Clean:
                    case OpKind.Clean2:
                    {
                        if (op.B % 4 != 0) log.Flush(); // usually everything is below the recovery point
                        long hw = log.LogStartOffset + op.A % (log.LogEndOffset - log.LogStartOffset + 1);
                        var above = ReadAll(log).Where(r => r.Offset >= hw).ToList();
                        log.Clean(hw, mapCapacity: 1 + op.B % 8, force: op.B % 3 == 0);
                        Assert.Equal(above, ReadAll(log).Where(r => r.Offset >= hw).ToList()); // nothing above the high watermark is touched
                        break;
                    }
                    case OpKind.Reopen:
                        log.Dispose();
                        log = SegmentedLog.Open(dir.Path, Config, time);
                        break;
                    case OpKind.Crash:
                        log.Flush();
                        log.SimulateCrash();
                        log = SegmentedLog.Open(dir.Path, Config, time);
                        break;
                    case OpKind.CrashInClean:
                    {
                        log.Flush();
                        var steps = Enum.GetValues<CleanerStep>();
                        var step = steps[op.A % steps.Length];
                        log.CleanerStepHook = s => { if (s == step) throw new SimulatedCrash(); };
                        try
                        {
                            log.Clean(log.LogEndOffset, mapCapacity: 1 + op.B % 8, force: true);
                        }
                        catch (SimulatedCrash)
                        {
                        }
                        log.SimulateCrash();
                        log = SegmentedLog.Open(dir.Path, Config, time);
                        Assert.Empty(Directory.GetFiles(dir.Path, "*.swap"));
                        Assert.Empty(Directory.GetFiles(dir.Path, "*.cleaned"));
                        break;
                    }
                }
                Check(log, history, latest, final: false);
            }

            // Let every tombstone pass delete.retention.ms, then clean until nothing is dirty.
            log.RollNow();
            log.Flush();
            time.Advance(DeleteRetentionMs + 1);
            for (int pass = 0; pass < 100 && log.FirstDirtyOffset < log.LogEndOffset - 0 && log.Clean(log.LogEndOffset, 3, force: true).Ran; pass++)
            {
            }
            log.Clean(log.LogEndOffset, 3, force: true); // one pass with nothing dirty drops expired tombstones everywhere
            Check(log, history, latest, final: true);
            return true;
        }
        finally
        {
            log.Dispose();
        }
    }

    private sealed class SimulatedCrash : Exception
    {
    }

    private static List<(long Offset, string? Key, string? Value)> ReadAll(SegmentedLog log)
    {
        var all = new List<(long, string?, string?)>();
        long offset = log.LogStartOffset;
        while (offset < log.LogEndOffset)
        {
            var read = log.Read(offset, 1 << 20); // Read validates every batch's CRC
            Assert.Equal(LogReadError.None, read.Error);
            if (read.Records.Length == 0)
            {
                // Compaction removed everything from here to the end (a gap before the log end offset): then no
                // later offset may hold data either, or the gap would hide it.
                for (long later = offset + 1; later < log.LogEndOffset; later++)
                {
                    Assert.Empty(log.Read(later, 1 << 20).Records);
                }
                break;
            }
            all.AddRange(LogCleanerTests.Records(read.Records));
            var walker = new BatchWalker(read.Records);
            long next = offset;
            while (walker.TryNext(out var header, out _, out _))
            {
                Assert.True(header.BaseOffset >= offset || next == offset, "batches go forward");
                next = header.NextOffset;
            }
            Assert.True(next > offset);
            offset = next;
        }
        return all;
    }

    private static void Check(SegmentedLog log, Dictionary<long, Appended> history, Dictionary<string, long> latest, bool final)
    {
        var records = ReadAll(log);
        for (int i = 1; i < records.Count; i++)
        {
            Assert.True(records[i].Offset > records[i - 1].Offset, $"offsets must strictly increase: {records[i - 1].Offset} then {records[i].Offset}");
        }
        foreach (var (offset, key, value) in records)
        {
            Assert.True(history.TryGetValue(offset, out var appended), $"offset {offset} was never appended");
            Assert.Equal(appended.Key, key);
            Assert.Equal(appended.Value, value);
        }
        var lastSeen = records.GroupBy(r => r.Key!).ToDictionary(g => g.Key, g => g.Last());
        foreach (var (key, offset) in latest)
        {
            var model = history[offset];
            if (model.Value is null)
            {
                // A deleted key: its tombstone may remain, or the key may be gone entirely, but no older value may show.
                Assert.True(!lastSeen.TryGetValue(key, out var seen) || (seen.Offset == offset && seen.Value is null), $"key {key} resurrected");
                if (final)
                {
                    Assert.False(lastSeen.ContainsKey(key), $"tombstone of {key} outlived delete.retention.ms");
                }
            }
            else
            {
                Assert.True(lastSeen.TryGetValue(key, out var seen), $"live key {key} lost");
                Assert.Equal((offset, model.Value), (seen.Offset, seen.Value));
                if (final)
                {
                    Assert.Single(records, r => r.Key == key);
                }
            }
        }
    }
}
