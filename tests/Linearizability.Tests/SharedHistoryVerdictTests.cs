using Kraft.Linearizability.Checking;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Tests;

/// <summary>
/// The checker must agree with every known verdict in ../shared/histories (Porcupine's and Knossos'
/// test data). A timeout counts as disagreement.
/// </summary>
public class SharedHistoryVerdictTests
{
    [Fact]
    public void Every_porcupine_history_gets_its_known_verdict() => CheckFolder("porcupine", expectedRows: 109);

    [Fact]
    public void Every_knossos_history_gets_its_known_verdict() => CheckFolder("knossos", expectedRows: 23);

    private static void CheckFolder(string folder, int expectedRows)
    {
        var dir = Path.Combine(TestSupport.SharedHistories(), folder);
        var tsv = Path.Combine(dir, "VERDICTS.tsv");
        Assert.True(File.Exists(tsv), $"missing {tsv}");
        var rows = File.ReadAllLines(tsv).Skip(1).Where(l => l.Trim().Length > 0).Select(l => l.Split('\t')).ToList();
        Assert.Equal(expectedRows, rows.Count);
        var mismatches = new List<string>();
        foreach (var row in rows)
        {
            var (file, model, expected) = (row[0], row[1], row[2]);
            Assert.True(LinearizabilityChecker.Models.ContainsKey(model), $"no model named {model}");
            var history = HistoryParser.ParseFile(Path.Combine(dir, file));
            var result = LinearizabilityChecker.Check(history, LinearizabilityChecker.Models[model], TimeSpan.FromSeconds(20));
            var want = expected == "not" ? Verdict.NotLinearizable : Verdict.Linearizable;
            if (result.Verdict != want)
            {
                mismatches.Add($"{file}: expected {expected}, got {result.VerdictText}");
            }

            if (result.Verdict == Verdict.NotLinearizable)
            {
                Assert.NotEmpty(result.Explanations.SelectMany(e => e.Unplaceable));
            }
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }
}
