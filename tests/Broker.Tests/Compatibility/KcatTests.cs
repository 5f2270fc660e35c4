using System.Diagnostics;

namespace Kraft.Broker.Tests.Compatibility;

/// <summary>
/// librdkafka through kcat (Debian's package, installed by .ci/install) against a real Kraft listener:
/// metadata, keyed produce with acks=all, and consume back in order per partition.
/// </summary>
public class KcatTests
{
    private static async Task<(int Code, string Out, string Err)> Kcat(string input, params string[] args)
    {
        var start = new ProcessStartInfo("kcat", args) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException("kcat is not installed: run .ci/install (apt-get install kcat)");
        }
        using (process)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"kcat {string.Join(' ', args)} did not finish: {await stderr}");
            }
            return (process.ExitCode, await stdout, await stderr);
        }
    }

    [Fact]
    public async Task Kcat_lists_metadata_produces_keyed_messages_with_acks_all_and_consumes_them_in_order()
    {
        await using var broker = new SingleBrokerFixture(("orders", 3));

        var (code, metadata, err) = await Kcat("", "-b", broker.Bootstrap, "-L", "-J");
        Assert.True(code == 0, err);
        Assert.Contains("\"topic\":\"orders\"", metadata.Replace(" ", ""));
        Assert.Contains("\"id\":1", metadata.Replace(" ", ""));

        var lines = Enumerable.Range(0, 1000).Select(i => $"key{i % 17}:value-{i}").ToList();
        (code, _, err) = await Kcat(string.Join('\n', lines) + "\n", "-b", broker.Bootstrap, "-P", "-t", "orders", "-K", ":", "-X", "acks=all", "-X", "linger.ms=5");
        Assert.True(code == 0, err);

        (code, var consumed, err) = await Kcat("", "-b", broker.Bootstrap, "-C", "-t", "orders", "-o", "beginning", "-e", "-f", "%p %o %k %s\\n");
        Assert.True(code == 0, err);
        var records = consumed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToList();
        Assert.Equal(1000, records.Count);
        foreach (var partition in records.GroupBy(r => r[0]))
        {
            var offsets = partition.Select(r => long.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(0, offsets.Count).Select(i => (long)i), offsets);
            // Keys stay on one partition, and per key the values come back in the order they were produced.
            foreach (var key in partition.GroupBy(r => r[2]))
            {
                var values = key.Select(r => int.Parse(r[3]["value-".Length..], System.Globalization.CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(values.Order(), values);
            }
        }
        Assert.Equal(17, records.Select(r => r[2]).Distinct().Count());
        Assert.All(records.GroupBy(r => r[2]), g => Assert.Single(g.Select(r => r[0]).Distinct()));
    }
}
