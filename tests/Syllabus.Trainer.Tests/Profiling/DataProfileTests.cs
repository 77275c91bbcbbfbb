using Syllabus.Trainer.Profiling;

namespace Syllabus.Trainer.Tests.Profiling;

public sealed class DataProfileTests
{
    [Fact]
    public void Numeric_statistics_quantiles_and_histogram_match_hand_values()
    {
        float[] x = [1, 2, 3, 4, float.NaN, 10];

        var profile = DataProfile.Build(["x"], [x], [], [], ["a", "b"], [0, 1, 1, 1, 0, -1], histogramBins: 3);

        var p = Assert.Single(profile.Numeric);
        Assert.Equal(5, p.Count);
        Assert.Equal(1, p.Missing);
        Assert.Equal(4.0, p.Mean, 12);
        Assert.Equal(Math.Sqrt((9 + 4 + 1 + 0 + 36) / 5.0), p.Std, 12);
        Assert.Equal(1.0, p.Min);
        Assert.Equal(10.0, p.Max);
        // Linear interpolation over [1,2,3,4,10]: q.5 = 3, q.25 = 2, q.9 = 4 + .6*6 = 7.6.
        Assert.Equal(3.0, p.Quantiles.Single(q => q.Level == 0.5).Value, 12);
        Assert.Equal(2.0, p.Quantiles.Single(q => q.Level == 0.25).Value, 12);
        Assert.Equal(7.6, p.Quantiles.Single(q => q.Level == 0.9).Value, 12);
        // Bins of width 3 over [1, 10]: [1,4) [4,7) [7,10].
        Assert.Equal([1.0, 4.0, 7.0, 10.0], p.BinEdges);
        Assert.Equal([3L, 1, 1], p.BinCounts);
        Assert.Equal(["a", "b"], profile.Labels.Select(l => l.Value));
        Assert.Equal([2L, 3], profile.Labels.Select(l => l.Count));
        Assert.Equal(6, profile.RowCount);
    }

    [Fact]
    public void Constant_and_empty_columns_are_profiled_without_dividing_by_zero()
    {
        var profile = DataProfile.Build(["c", "e"], [[5, 5, 5], [float.NaN, float.NaN, float.NaN]], [], [], ["a"], [0, 0, 0]);

        Assert.Equal([5.0, 6.0], profile.Numeric[0].BinEdges);
        Assert.Equal([3L], profile.Numeric[0].BinCounts);
        Assert.Equal(0.0, profile.Numeric[0].Std);
        Assert.Equal(0, profile.Numeric[1].Count);
        Assert.Equal(3, profile.Numeric[1].Missing);
    }

    [Fact]
    public void Categorical_frequencies_and_json_round_trip()
    {
        var profile = DataProfile.Build(["x"], [[1, 2, 3]], ["colour"], [["red", null, "blue", "red"]], ["a"], [0, 0, 0]);
        var path = Path.Combine(Path.GetTempPath(), $"profile-{Guid.NewGuid():N}", "profile.json");
        try
        {
            profile.Save(path);
            var loaded = DataProfile.Load(path);

            var colour = Assert.Single(loaded.Categorical);
            Assert.Equal(3, colour.Count);
            Assert.Equal(1, colour.Missing);
            Assert.Equal(["red", "blue"], colour.Categories.Select(c => c.Value));
            Assert.Equal([2L, 1], colour.Categories.Select(c => c.Count));
            Assert.Equal(profile.Numeric[0].Quantiles.Select(q => q.Value), loaded.Numeric[0].Quantiles.Select(q => q.Value));
            Assert.Equal(profile.Numeric[0].BinCounts, loaded.Numeric[0].BinCounts);
            Assert.Contains("\"binEdges\"", File.ReadAllText(path), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void Loading_something_else_is_an_invalid_data_error()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "[1,2");
            Assert.Throws<InvalidDataException>(() => DataProfile.Load(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
