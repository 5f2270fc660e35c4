using Kraft.Linearizability.Checking;
using Kraft.Linearizability.History;

namespace Kraft.Linearizability.Tests;

/// <summary>Shared helpers: locating the repository and the shared histories, parsing and checking inline EDN.</summary>
internal static class TestSupport
{
    /// <summary>The folder holding Kraft.sln, found by walking up from the test assembly.</summary>
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kraft.sln")))
        {
            dir = dir.Parent;
        }

        // Test builds may live outside the tree (--artifacts-path /tmp/...); fall back to the source folder
        // recorded at build time.
        if (dir is null)
        {
            var source = typeof(TestSupport).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
                .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "SourceDirectory")?.Value;
            dir = source is null ? null : new DirectoryInfo(source);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kraft.sln")))
            {
                dir = dir.Parent;
            }
        }

        Assert.True(dir is not null, $"cannot find Kraft.sln above {AppContext.BaseDirectory} or the test project's source folder");
        return dir!.FullName;
    }

    /// <summary><c>&lt;root&gt;/../shared/histories</c>; the test fails (does not skip) when it is missing.</summary>
    public static string SharedHistories()
    {
        var path = Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "histories"));
        Assert.True(Directory.Exists(path), $"the shared test histories are missing: expected the folder {path} (see ../shared/histories/README.md)");
        return path;
    }

    public static History.History Edn(string text) => HistoryParser.Parse(text, HistoryFormat.Edn, "inline");

    public static Verdict Check(string model, string edn) =>
        LinearizabilityChecker.Check(Edn(edn), LinearizabilityChecker.Models[model], TimeSpan.FromSeconds(10)).Verdict;

    public static CheckResult CheckResult(string model, string edn) =>
        LinearizabilityChecker.Check(Edn(edn), LinearizabilityChecker.Models[model], TimeSpan.FromSeconds(10));
}
