using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Tests.Data;

public sealed class TabularDataTests
{
    [Fact]
    public void Subset_takes_rows_in_the_given_order()
    {
        var data = new TabularData(2, [1, 2, 3, 4, 5, 6], [0, 1, 2], weights: [1, 2, 3], slices: ["a", null, "c"]);

        var subset = data.Subset([2, 0, 2]);

        Assert.Equal([5f, 6f, 1f, 2f, 5f, 6f], subset.Features);
        Assert.Equal([2L, 0, 2], subset.Labels);
        Assert.Equal([3f, 1f, 3f], subset.Weights!);
        Assert.Equal(["c", "a", "c"], subset.Slices!);
        Assert.Null(subset.Difficulty);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Subset([3]));
    }

    [Fact]
    public void Concat_fills_optional_columns_missing_on_one_side()
    {
        var a = new TabularData(1, [1, 2], [0, 1], weights: [0.5f, 0.25f]);
        var b = new TabularData(1, [3], [1], difficulty: [0.7]);

        var both = TabularData.Concat(a, b);

        Assert.Equal(3, both.Count);
        Assert.Equal([1f, 2f, 3f], both.Features);
        Assert.Equal([0.5f, 0.25f, 1f], both.Weights!);
        Assert.True(double.IsNaN(both.Difficulty![0]));
        Assert.Equal(0.7, both.Difficulty[2]);
        Assert.Throws<ArgumentException>(() => TabularData.Concat(a, new TabularData(2, [1, 2], [0])));
    }

    [Fact]
    public void Mismatched_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new TabularData(2, [1, 2, 3], [0, 1]));
        Assert.Throws<ArgumentException>(() => new TabularData(1, [1, 2], [0, 1], weights: [1]));
    }
}
