using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Storage.CrashWriter;

/// <summary>
/// Usage: CrashWriter DIR START_SEQ. Opens the log in DIR with fsync on every append and appends batches
/// of values "seq-N" forever (with preallocation on odd rounds). After each append returns (so after its fsync) it prints "ACK N OFFSET" on
/// stdout. The parent test SIGKILLs it at a random moment and checks that every acknowledged value survived.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string dir = args[0];
        long seq = long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
        // Odd rounds (START_SEQ = round * 1,000,000) preallocate, so the same directory is reopened with and without
        // zero-filled tails, as a node does when log.preallocate changes.
        bool preallocate = seq / 1_000_000 % 2 == 1;
        var config = new LogConfig { FsyncEveryAppend = true, SegmentBytes = 16 * 1024, IndexIntervalBytes = 512, Preallocate = preallocate, PreallocateChunkBytes = 4096 };
        using var log = SegmentedLog.Open(dir, config);
        var stdout = Console.Out;
        var random = new Random((int)seq);
        Console.WriteLine($"READY {log.LogEndOffset}");
        Console.Out.Flush();
        while (true)
        {
            int count = 1 + random.Next(5);
            var builder = new RecordBatchBuilder();
            long first = seq;
            for (int i = 0; i < count; i++)
            {
                builder.Add(null, System.Text.Encoding.UTF8.GetBytes($"seq-{seq++}".PadRight(20 + random.Next(200), '.')), 0);
            }
            var result = log.AppendAsLeader(builder.Build(), 0);
            if (result.Error != AppendError.None)
            {
                Console.Error.WriteLine($"append failed: {result.Error}");
                return 1;
            }
            stdout.WriteLine($"ACK {first} {count} {result.FirstOffset}");
            stdout.Flush();
        }
    }
}
