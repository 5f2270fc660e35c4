using Kraft.Storage.Checkpoints;
using Kraft.Storage.Log;

namespace Kraft.Storage.Tests;

public class CheckpointTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string FilePath(string name) => Path.Combine(_dir.Path, name);

    [Fact]
    public void Offsets_round_trip_and_a_missing_file_reads_as_the_default()
    {
        var file = Checkpoint.Offset(FilePath("hw"));
        Assert.Equal(-7, Checkpoint.ReadSingle(file, -7));
        Checkpoint.WriteSingle(file, 123456789012);
        Assert.Equal(123456789012, Checkpoint.ReadSingle(file, 0));
        Assert.Equal("0\n1\n123456789012\n", File.ReadAllText(FilePath("hw")));
        Assert.False(File.Exists(FilePath("hw.tmp")));
    }

    [Theory]
    [InlineData("1\n1\n5\n", 1, "unknown version 1")]
    [InlineData("x\n1\n5\n", 1, "version")]
    [InlineData("0\nz\n", 2, "count")]
    [InlineData("0\n2\n5\n", 4, "expected 2 entries")]
    [InlineData("0\n1\nabc\n", 3, "malformed entry")]
    [InlineData("0\n1\n5\n6\n", 4, "more entries")]
    [InlineData("", 1, "version")]
    public void A_bad_checkpoint_is_a_clear_error_naming_file_and_line(string contents, int line, string reason)
    {
        File.WriteAllText(FilePath("cp"), contents);
        var error = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Offset(FilePath("cp")).Read());
        Assert.Equal(line, error.Line);
        Assert.Contains(reason, error.Message);
        Assert.Contains(FilePath("cp"), error.Message);
    }

    [Fact]
    public void Leader_epoch_entries_round_trip()
    {
        var file = Checkpoint.LeaderEpochs(FilePath("leader-epoch-checkpoint"));
        file.Write([new EpochEntry(0, 0), new EpochEntry(3, 100)]);
        Assert.Equal([new EpochEntry(0, 0), new EpochEntry(3, 100)], file.Read());
    }

    [Fact]
    public void A_leftover_temporary_file_does_not_replace_the_checkpoint()
    {
        var file = Checkpoint.Offset(FilePath("rp"));
        Checkpoint.WriteSingle(file, 10);
        File.WriteAllText(FilePath("rp.tmp"), "0\n1\n99"); // a crash between write and rename
        Assert.Equal(10, Checkpoint.ReadSingle(file, 0));
    }
}

public class LeaderEpochCacheTests
{
    private static LeaderEpochCache With(params (int Epoch, long Start)[] entries)
    {
        var cache = new LeaderEpochCache(null);
        foreach (var (epoch, start) in entries)
        {
            Assert.True(cache.Assign(epoch, start));
        }
        return cache;
    }

    [Fact]
    public void End_offset_of_the_latest_epoch_is_the_log_end()
    {
        Assert.Equal((4, 50L), With((1, 0), (4, 20)).EndOffsetFor(4, 50));
    }

    [Fact]
    public void End_offset_of_an_older_epoch_is_the_start_of_the_next_one()
    {
        var cache = With((1, 0), (4, 20), (6, 35));
        Assert.Equal((1, 20L), cache.EndOffsetFor(1, 50));
        Assert.Equal((4, 35L), cache.EndOffsetFor(4, 50));
    }

    [Fact]
    public void An_unknown_epoch_between_known_ones_maps_to_the_largest_epoch_below_it()
    {
        // KIP-279: the follower asked for epoch 3, which this leader never had; answer with epoch 1 ending at 20.
        Assert.Equal((1, 20L), With((1, 0), (4, 20)).EndOffsetFor(3, 50));
    }

    [Fact]
    public void An_epoch_below_all_known_ones_ends_where_the_first_starts()
    {
        Assert.Equal((0, 10L), With((2, 10), (4, 20)).EndOffsetFor(0, 50));
    }

    [Fact]
    public void An_epoch_newer_than_all_known_ones_is_undefined()
    {
        Assert.Equal((-1, -1L), With((2, 10)).EndOffsetFor(7, 50));
        Assert.Equal((-1, -1L), new LeaderEpochCache(null).EndOffsetFor(1, 50));
    }

    [Fact]
    public void Older_or_equal_epochs_are_not_assigned()
    {
        var cache = With((3, 10));
        Assert.False(cache.Assign(3, 20));
        Assert.False(cache.Assign(2, 30));
        Assert.Single(cache.Entries);
    }

    [Fact]
    public void Truncating_from_the_start_keeps_the_covering_epoch()
    {
        var cache = With((1, 0), (2, 10), (3, 20));
        cache.TruncateFromStart(15);
        Assert.Equal([new EpochEntry(2, 15), new EpochEntry(3, 20)], cache.Entries);
    }

    [Fact]
    public void Truncating_from_the_end_forgets_epochs_that_started_at_or_after_it()
    {
        var cache = With((1, 0), (2, 10), (3, 20));
        cache.TruncateFromEnd(20);
        Assert.Equal([1, 2], cache.Entries.Select(e => e.Epoch));
    }
}
