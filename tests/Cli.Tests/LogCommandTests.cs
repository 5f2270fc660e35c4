using System.Text.Json;
using Kraft.Storage.Log;
using Kraft.Storage.Records;

namespace Kraft.Cli.Tests;

/// <summary>Real command lines through the real parser: exit codes, stdout and stderr.</summary>
public class LogCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kraft-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = KraftCommand.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private void WriteLog(int batches)
    {
        using var log = SegmentedLog.Open(_dir);
        for (int i = 0; i < batches; i++)
        {
            log.AppendAsLeader(new RecordBatchBuilder().Add("k"u8.ToArray(), System.Text.Encoding.UTF8.GetBytes($"value-{i}"), 1000).Build(), 3);
        }
    }

    [Fact]
    public void Dump_prints_every_batch_and_exits_zero()
    {
        WriteLog(3);
        var (code, output, error) = Run("log", "dump", _dir, "--records");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("offset 2..2 epoch 3 records 1", output);
        Assert.Contains("value=value-1", output);
        Assert.Equal("", error);
    }

    [Fact]
    public void Dump_as_json_is_parseable()
    {
        WriteLog(2);
        var (code, output, _) = Run("log", "dump", _dir, "--output", "json");
        Assert.Equal(ExitCodes.Ok, code);
        var batches = JsonDocument.Parse(output).RootElement;
        Assert.Equal(2, batches.GetArrayLength());
        Assert.Equal(1, batches[1].GetProperty("baseOffset").GetInt64());
        Assert.True(batches[0].GetProperty("crcValid").GetBoolean());
    }

    [Fact]
    public void Damage_is_named_with_file_and_position_and_exits_three()
    {
        WriteLog(2);
        var segment = Directory.GetFiles(_dir, "*.log").Single();
        var bytes = File.ReadAllBytes(segment);
        bytes[^2] ^= 0xFF;
        File.WriteAllBytes(segment, bytes);
        var (code, _, error) = Run("log", "dump", _dir);
        Assert.Equal(ExitCodes.DataError, code);
        Assert.Contains(segment, error);
        Assert.Contains("CrcMismatch", error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void A_missing_directory_is_one_clear_line_and_a_failure()
    {
        var (code, _, error) = Run("log", "dump", Path.Combine(_dir, "nope"));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.StartsWith("kraft: no such directory", error);
    }

    [Fact]
    public void An_unknown_flag_is_a_usage_error()
    {
        var (code, _, error) = Run("log", "dump", _dir, "--bogus");
        Assert.Equal(ExitCodes.UsageError, code);
        Assert.Contains("--bogus", error);
    }

    [Fact]
    public void A_bad_output_format_is_a_usage_error()
    {
        var (code, _, _) = Run("log", "dump", _dir, "--output", "xml");
        Assert.Equal(ExitCodes.UsageError, code);
    }
}
