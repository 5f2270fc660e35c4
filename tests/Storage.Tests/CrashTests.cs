using System.Diagnostics;
using Kraft.Storage.Log;

namespace Kraft.Storage.Tests;

/// <summary>
/// Real crashes: a child process appends with fsync and reports each acknowledged batch; the test SIGKILLs
/// it at a random moment, reopens the log, and requires every acknowledged value at its offset and a clean
/// log that accepts appends. Repeated so that recovery runs on logs that were themselves recovered.
/// </summary>
public class CrashTests
{
    [Fact]
    public async Task Every_acknowledged_append_survives_SIGKILL_of_the_writer()
    {
        using var dir = new TempDir();
        var acknowledged = new Dictionary<long, string>(); // offset -> value prefix
        var random = new Random(Environment.GetEnvironmentVariable("KRAFT_CRASH_SEED") is { } s ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : 7);
        long seq = 0;
        for (int round = 0; round < 8; round++)
        {
            int killAfterAcks = 1 + random.Next(150);
            int acks = await RunAndKill(dir.Path, seq, killAfterAcks, acknowledged);
            Assert.True(acks >= killAfterAcks, $"round {round}: child acknowledged only {acks} appends");
            seq = acknowledged.Count == 0 ? 0 : 1_000_000L * (round + 1);

            using var log = SegmentedLog.Open(dir.Path, new LogConfig { SegmentBytes = 16 * 1024, IndexIntervalBytes = 512 });
            var present = new Dictionary<long, string>();
            long offset = log.LogStartOffset;
            while (offset < log.LogEndOffset)
            {
                var read = log.Read(offset, 1 << 20);
                var values = Batches.Values(read.Records);
                foreach (var (o, v) in values) present[o] = v.TrimEnd('.');
                offset = values[^1].Offset + 1;
            }
            foreach (var (o, v) in acknowledged)
            {
                Assert.True(present.TryGetValue(o, out var found), $"round {round}: acknowledged offset {o} ({v}) lost; log end {log.LogEndOffset}");
                Assert.Equal(v, found);
            }
        }
    }

    private static async Task<int> RunAndKill(string dir, long seq, int killAfterAcks, Dictionary<long, string> acknowledged)
    {
        string writer = Path.Combine(AppContext.BaseDirectory, "Kraft.Storage.CrashWriter.dll");
        var start = new ProcessStartInfo("dotnet", [writer, dir, seq.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int acks = 0;
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                var parts = line.Split(' ');
                if (parts[0] != "ACK") continue;
                long first = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                int count = int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture);
                long offset = long.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture);
                for (int i = 0; i < count; i++)
                {
                    acknowledged[offset + i] = $"seq-{first + i}";
                }
                if (++acks >= killAfterAcks)
                {
                    break;
                }
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true); // SIGKILL on Linux
            await process.WaitForExitAsync(CancellationToken.None);
        }
        if (acks < killAfterAcks)
        {
            throw new InvalidOperationException("writer exited early: " + await process.StandardError.ReadToEndAsync());
        }
        return acks;
    }
}
