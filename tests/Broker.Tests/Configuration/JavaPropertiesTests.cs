using Kraft.Broker.Configuration;

namespace Kraft.Broker.Tests.Configuration;

/// <summary>The java.util.Properties syntax that server.properties files use.</summary>
public sealed class JavaPropertiesTests
{
    private static Dictionary<string, string> Read(string text) =>
        JavaProperties.Parse(text, "test").GroupBy(e => e.Key).ToDictionary(g => g.Key, g => g.Last().Value);

    [Fact]
    public void Separators_comments_and_blank_lines_follow_java()
    {
        var p = Read("# comment\n! also a comment\n\n  a=1\nb: 2\nc 3\nd = spaced value  \ne\n   f\t=\t\tx=y\n");

        Assert.Equal("1", p["a"]);
        Assert.Equal("2", p["b"]);
        Assert.Equal("3", p["c"]);
        Assert.Equal("spaced value  ", p["d"]);
        Assert.Equal("", p["e"]);
        Assert.Equal("x=y", p["f"]);
        Assert.Equal(6, p.Count);
    }

    [Fact]
    public void Backslash_continuations_join_lines_and_drop_leading_blanks()
    {
        var p = Read("listeners=PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\nkey=ends with escaped backslash\\\\\nnext=1\r\nwin=2\rmac=3");

        Assert.Equal("PLAINTEXT://:9092,CONTROLLER://:9093", p["listeners"]);
        Assert.Equal("ends with escaped backslash\\", p["key"]);
        Assert.Equal("1", p["next"]);
        Assert.Equal("2", p["win"]);
        Assert.Equal("3", p["mac"]);
    }

    [Fact]
    public void Escapes_in_keys_and_values_are_decoded()
    {
        var p = Read("a\\=b\\:c=tab\\there\\nnew\\u00e9\\q\n# a comment with a trailing backslash \\\nafter=comment");

        Assert.Equal("tab\there\nnewéq", p["a=b:c"]);
        Assert.Equal("comment", p["after"]);
    }

    [Fact]
    public void Later_duplicates_win_and_lines_are_reported()
    {
        var entries = JavaProperties.Parse("a=1\n\n# x\na=2\n", "f");

        Assert.Equal([("a", "1", 1), ("a", "2", 4)], entries.Select(e => (e.Key, e.Value, e.Line)));
        Assert.Equal("2", Read("a=1\na=2")["a"]);
    }

    [Fact]
    public void A_malformed_unicode_escape_names_the_line()
    {
        var e = Assert.Throws<ConfigException>(() => JavaProperties.Parse("ok=1\nbad=\\u12G4\n", "server.properties"));

        Assert.Equal("server.properties:2: malformed \\uXXXX escape", e.Message);
    }
}
