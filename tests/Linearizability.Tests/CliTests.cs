using Kraft.Linearizability.Cli;

namespace Kraft.Linearizability.Tests;

/// <summary>The console's exit codes and output, called in-process.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("kraft-lin-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = ConsoleApp.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private const string Good = "[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1} {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 1}]";
    private const string Bad = "[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1} {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 2}]";

    [Fact]
    public void All_files_passing_exits_0_with_one_line_per_file()
    {
        var a = Write("a.edn", Good);
        var (code, output, _) = Run("check", "--model", "cas-register", a);
        Assert.Equal(ExitCodes.Pass, code);
        Assert.Equal($"{a}\tlinearizable\n", output.Replace("\r", "", StringComparison.Ordinal));
    }

    [Fact]
    public void A_failing_file_exits_1_explains_and_writes_html()
    {
        var a = Write("a.edn", Good);
        var b = Write("b.edn", Bad);
        var html = Path.Combine(dir, "report.html");
        var (code, output, error) = Run("check", "--model", "cas-register", "--html", html, a, b);
        Assert.Equal(ExitCodes.Fail, code);
        Assert.Contains($"{b}\tnot-linearizable", output, StringComparison.Ordinal);
        Assert.Contains("longest linearizable prefix", error, StringComparison.Ordinal);
        var page = File.ReadAllText(html);
        Assert.Contains("class=\"op ok\"", page, StringComparison.Ordinal); // the write, in the prefix
        Assert.Contains("class=\"op bad bound\"", page, StringComparison.Ordinal); // the read of 2
        Assert.DoesNotContain("<script src", page, StringComparison.Ordinal);
    }

    [Fact]
    public void Unreadable_input_exits_2_naming_file_and_line()
    {
        var broken = Write("broken.edn", "[{:process 0 :type :invoke :f :read}\n {:process 0 :type :ok :f :read :value }");
        var (code, _, error) = Run("check", "--model", "cas-register", broken);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains($"{broken}:2:", error, StringComparison.Ordinal);

        var missing = Path.Combine(dir, "missing.edn");
        Assert.Equal(ExitCodes.BadInput, Run("check", "--model", "cas-register", missing).Code);
        var unpaired = Write("unpaired.edn", "[{:process 0 :type :ok :f :read :value 1}]");
        Assert.Equal(ExitCodes.BadInput, Run("check", "--model", "cas-register", unpaired).Code);
    }

    [Fact]
    public void Format_can_be_forced_and_a_wrong_one_is_unreadable_input()
    {
        var log = Write("h.log", "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n");
        Assert.Equal(ExitCodes.Pass, Run("check", "--model", "etcd-register", "--format", "etcd-log", log).Code);
        Assert.Equal(ExitCodes.Pass, Run("check", "--model", "etcd-register", log).Code);
        Assert.Equal(ExitCodes.BadInput, Run("check", "--model", "etcd-register", "--format", "edn", log).Code);
    }

    [Fact]
    public void Bad_command_lines_exit_2()
    {
        Assert.Equal(ExitCodes.BadInput, Run().Code);
        Assert.Equal(ExitCodes.BadInput, Run("frobnicate").Code);
        Assert.Equal(ExitCodes.BadInput, Run("check", "--model", "no-such-model", "x").Code);
        Assert.Equal(ExitCodes.BadInput, Run("check", "--model", "kv").Code);
    }

    [Fact]
    public void Kafka_queue_model_prints_ok_or_the_anomalies()
    {
        var clean = Write("q1.edn", "{:type :invoke, :f :send, :value [0 1], :process 0}\n{:type :ok, :f :send, :value [0 [0 1]], :process 0}\n{:type :invoke, :f :poll, :process 1}\n{:type :ok, :f :poll, :value {0 [[0 1]]}, :process 1}\n");
        var dirty = Write("q2.edn", "{:type :invoke, :f :send, :value [0 1], :process 0}\n{:type :ok, :f :send, :value [0 [0 1]], :process 0}\n");
        var (code, output, _) = Run("check", "--model", "kafka-queue", clean, dirty);
        Assert.Equal(ExitCodes.Fail, code);
        Assert.Contains($"{clean}\tok", output, StringComparison.Ordinal);
        Assert.Contains($"{dirty}\tunseen", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Subcommands_can_be_added_by_the_harness()
    {
        ConsoleApp.Register(new EchoCommand());
        Assert.Equal(7, Run("echo-test").Code);
    }

    private sealed class EchoCommand : ICommand
    {
        public string Name => "echo-test";

        public string Summary => "test only";

        public int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error) => 7;
    }
}
