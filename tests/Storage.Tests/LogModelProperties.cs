using FsCheck;
using FsCheck.Fluent;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Storage.Tests;

/// <summary>
/// Random sequences of append / read / truncate / roll / retention / advance-start / flush / reopen /
/// crash-at-a-random-byte against a list-of-batches model. After each step the log must hold exactly the
/// model's batches from its log start; after a crash it must hold a prefix of the model that keeps every
/// batch that was fsynced before the crash.
/// </summary>
public class LogModelProperties
{
    private sealed record ModelBatch(long BaseOffset, long LastOffset, string[] Values);

    public enum OpKind : byte { Append, Append2, Read, Truncate, Roll, Retention, AdvanceStart, Flush, Reopen, Crash }

    public readonly record struct Op(OpKind Kind, ushort A, ushort B);

    private static readonly LogConfig Config = new()
    {
        SegmentBytes = 700,
        IndexIntervalBytes = 128,
        RetentionBytes = 2000,
        RetentionMs = -1,
    };

    /// <summary>The same log with preallocation on: small chunks so fills, rolls and zero tails happen often.</summary>
    private static readonly LogConfig PreallocatedConfig = Config with { Preallocate = true, PreallocateChunkBytes = 300 };

    [Fact]
    public void The_log_behaves_like_its_model_under_random_operations_and_crashes() => CheckAgainstModel(Config);

    [Fact]
    public void A_preallocated_log_behaves_like_its_model_under_random_operations_and_crashes() => CheckAgainstModel(PreallocatedConfig);

    private static void CheckAgainstModel(LogConfig config)
    {
        var opGen = from kind in Gen.Elements(Enum.GetValues<OpKind>())
                    from a in Gen.Choose(0, 1000)
                    from b in Gen.Choose(0, 1000)
                    select new Op(kind, (ushort)a, (ushort)b);
        var arb = Arb.From(Gen.ListOf(opGen).Select(l => l.ToArray()), Shrink);
        Prop.ForAll(arb, ops => Run(ops, config)).Check(FsCheck.Config.QuickThrowOnFailure.WithMaxTest(
            int.TryParse(Environment.GetEnvironmentVariable("KRAFT_PROPERTY_RUNS"), out int runs) ? runs : 120));
    }

    /// <summary>Shrinks a failing sequence by dropping halves, then single operations.</summary>
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

    private static bool Run(Op[] ops, LogConfig config)
    {
        using var dir = new TempDir();
        var time = new ManualTime();
        var log = SegmentedLog.Open(dir.Path, config, time);
        var model = new List<ModelBatch>();
        long modelStart = 0;
        int epoch = 0;
        int counter = 0;
        try
        {
            foreach (var op in ops)
            {
                switch (op.Kind)
                {
                    case OpKind.Append:
                    case OpKind.Append2:
                    {
                        int count = 1 + op.A % 4;
                        if (op.B % 7 == 0) epoch++;
                        var values = Enumerable.Range(0, count).Select(i => $"v{counter++}").ToArray();
                        var builder = new RecordBatchBuilder();
                        foreach (var v in values) builder.Add(null, System.Text.Encoding.UTF8.GetBytes(v), time.NowMs);
                        var result = log.AppendAsLeader(builder.Build(time.NowMs), epoch);
                        Assert.Equal(AppendError.None, result.Error);
                        long expectedBase = model.Count > 0 ? model[^1].LastOffset + 1 : log.LogStartOffset;
                        Assert.Equal(expectedBase, result.FirstOffset);
                        model.Add(new ModelBatch(result.FirstOffset, result.LastOffset, values));
                        time.Advance(op.B);
                        break;
                    }
                    case OpKind.Read:
                    {
                        long end = log.LogEndOffset;
                        long offset = modelStart + (op.A % (end - modelStart + 2));
                        var read = log.Read(offset, 50 + op.B);
                        if (offset > end)
                        {
                            Assert.Equal(LogReadError.OffsetOutOfRange, read.Error);
                            break;
                        }
                        Assert.Equal(LogReadError.None, read.Error);
                        var expected = model.Where(b => b.LastOffset >= offset).ToList();
                        var got = Batches.Values(read.Records);
                        if (expected.Count == 0)
                        {
                            Assert.Empty(got);
                            break;
                        }
                        Assert.NotEmpty(got); // at least one batch
                        var flat = expected.SelectMany(b => b.Values.Select((v, i) => (b.BaseOffset + i, v))).ToList();
                        Assert.Equal(flat.Take(got.Count), got.Select(g => (g.Offset, g.Value)));
                        break;
                    }
                    case OpKind.Truncate:
                    {
                        long end = log.LogEndOffset;
                        long target = modelStart + (op.A % (end - modelStart + 1));
                        long newEnd = log.TruncateTo(target);
                        if (target <= log.LogStartOffset && target < end)
                        {
                            model.Clear();
                            modelStart = log.LogStartOffset;
                        }
                        else
                        {
                            model.RemoveAll(b => b.LastOffset >= target);
                        }
                        long modelEnd = model.Count > 0 ? model[^1].LastOffset + 1 : log.LogStartOffset;
                        Assert.Equal(modelEnd, newEnd);
                        break;
                    }
                    case OpKind.Roll:
                        log.RollNow();
                        break;
                    case OpKind.Retention:
                        log.EnforceRetention();
                        Assert.True(log.LogStartOffset >= modelStart);
                        modelStart = log.LogStartOffset;
                        model.RemoveAll(b => b.LastOffset < modelStart);
                        Assert.True(model.Count == 0 || model[0].BaseOffset == modelStart, "retention deletes whole batches");
                        break;
                    case OpKind.AdvanceStart:
                    {
                        var boundaries = model.Select(b => b.BaseOffset).ToList();
                        if (boundaries.Count == 0) break;
                        long to = boundaries[op.A % boundaries.Count];
                        log.AdvanceLogStartOffset(to);
                        modelStart = Math.Max(modelStart, to);
                        model.RemoveAll(b => b.LastOffset < modelStart);
                        break;
                    }
                    case OpKind.Flush:
                        log.Flush();
                        break;
                    case OpKind.Reopen:
                        log.Dispose();
                        log = SegmentedLog.Open(dir.Path, config, time);
                        break;
                    case OpKind.Crash:
                    {
                        long durable = log.RecoveryPoint;
                        log.SimulateCrash();
                        TearUnsyncedTail(dir.Path, durable, op.A / 1000.0, zeroInsteadOfCut: op.B % 2 == 1);
                        log = SegmentedLog.Open(dir.Path, config, time);
                        Assert.True(log.LogEndOffset >= durable, $"fsynced data lost: end {log.LogEndOffset} < recovery point {durable}");
                        model.RemoveAll(b => b.LastOffset >= log.LogEndOffset);
                        long modelEnd = model.Count > 0 ? model[^1].LastOffset + 1 : log.LogStartOffset;
                        Assert.Equal(modelEnd, log.LogEndOffset);
                        break;
                    }
                }
                CheckContents(log, model, modelStart);
            }
            return true;
        }
        finally
        {
            log.Dispose();
        }
    }

    /// <summary>
    /// Cuts the newest segment at a random byte after the last fsynced batch (a torn write), or zeroes everything from
    /// there to the end of the file instead (unsynced pages of a preallocated or extended file read back as zeros).
    /// </summary>
    private static void TearUnsyncedTail(string directory, long durableOffset, double fraction, bool zeroInsteadOfCut)
    {
        var last = Directory.GetFiles(directory, "*.log").Order().Last();
        var bytes = File.ReadAllBytes(last);
        int durableBytes = 0;
        var walker = new BatchWalker(bytes);
        while (walker.TryNext(out var header, out int at, out _))
        {
            if (header.BaseOffset >= durableOffset) break;
            durableBytes = at + header.SizeInBytes;
        }
        int cut = durableBytes + (int)((bytes.Length - durableBytes) * fraction);
        using var f = new FileStream(last, FileMode.Open);
        if (zeroInsteadOfCut)
        {
            f.Position = cut;
            f.Write(new byte[bytes.Length - cut]);
        }
        else
        {
            f.SetLength(cut);
        }
    }

    private static void CheckContents(SegmentedLog log, List<ModelBatch> model, long modelStart)
    {
        Assert.Equal(modelStart, log.LogStartOffset);
        long modelEnd = model.Count > 0 ? model[^1].LastOffset + 1 : log.LogStartOffset;
        Assert.Equal(modelEnd, log.LogEndOffset);
        var expected = model.SelectMany(b => b.Values.Select((v, i) => (b.BaseOffset + i, v))).ToList();
        var actual = new List<(long, string)>();
        long offset = log.LogStartOffset;
        while (offset < log.LogEndOffset)
        {
            var read = log.Read(offset, 1 << 20);
            Assert.Equal(LogReadError.None, read.Error);
            var values = Batches.Values(read.Records);
            Assert.NotEmpty(values);
            actual.AddRange(values.Select(v => (v.Offset, v.Value)));
            offset = values[^1].Offset + 1;
        }
        Assert.Equal(expected, actual);
    }
}
