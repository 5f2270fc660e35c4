using System.Text.Json;

namespace Kraft.Cli.Tests.EndToEnd;

/// <summary>
/// The Python clients Debian 12 ships (python3-kafka 2.0.2, python3-confluent-kafka 1.7.0 on librdkafka 2.0.2;
/// installed by .ci/install) against a real three-node cluster: each creates a topic with its admin API, produces with
/// acks=all and consumes everything back in a consumer group (tests/Compat/python-clients.py).
/// The system interpreter /usr/bin/python3 is used on purpose: a pyenv python3 earlier on PATH lacks these packages.
/// </summary>
[Trait("Category", "EndToEnd")]
[Collection(LocalCluster.Collection)]
public class PythonClientsTests
{
    private static string Script([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kraft.sln"))) dir = dir.Parent;
        string root = dir?.FullName ?? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(sourceFile)!, "..", "..", ".."));
        return Path.Combine(root, "tests", "Compat", "python-clients.py");
    }

    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task Kafka_python_and_confluent_kafka_create_a_topic_produce_with_acks_all_and_consume_everything_in_a_group()
    {
        var (check, _, missing) = await LocalCluster.Run(Python, ["-c", "import kafka, confluent_kafka"], "", TimeSpan.FromSeconds(30));
        Assert.True(check == 0, "python3-kafka / python3-confluent-kafka are not installed for /usr/bin/python3: run .ci/install\n" + missing);
        await using var cluster = new LocalCluster();
        await cluster.StartAsync();

        foreach (string client in new[] { "kafka-python", "confluent-kafka" })
        {
            var (code, output, error) = await LocalCluster.Run(Python, [Script(), client, cluster.Bootstrap, $"from-{client}", "500"], "", TimeSpan.FromSeconds(150));
            Assert.True(code == 0, $"{client}: {output}\n{error}\n{cluster.Logs()}");
            var result = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
            Assert.True(result.GetProperty("created").GetBoolean(), client);
            Assert.Equal(500, result.GetProperty("acknowledged").GetInt32());
            Assert.Equal(500, result.GetProperty("distinct").GetInt32());
            Assert.Equal(0, result.GetProperty("missing").GetInt32());

            // The group's committed offsets cover every partition's log end.
            var (gcode, described, gerr) = await cluster.Kraft("groups", "describe", $"from-{client}-group", "-o", "json", "-b", cluster.Bootstrap);
            Assert.True(gcode == 0, gerr);
            var offsets = JsonDocument.Parse(described).RootElement.GetProperty("offsets").EnumerateArray().ToList();
            Assert.Equal(3, offsets.Count);
            Assert.All(offsets, o => Assert.Equal(0, o.GetProperty("lag").GetInt64()));
            Console.WriteLine($"{client}: {output.Trim().Split('\n')[^1]}; group: {described.ReplaceLineEndings(" ")}");
        }
    }
}
