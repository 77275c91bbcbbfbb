using Syllabus.Api;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Tests.Data;

public sealed class ReservoirTests : IDisposable
{
    private readonly TempFolder dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Every_item_of_the_stream_is_kept_with_the_same_probability()
    {
        // 20 items, capacity 5, 20,000 independently seeded reservoirs: item i is kept k/n = 1/4 of the time. Inclusions
        // are sampling without replacement, so Σ(O−E)² / (T p (1−p) n/(n−1)) is chi-squared with n−1 = 19 degrees of
        // freedom; 43.82 is its 0.999 quantile (standard chi-squared tables). A reservoir that favours early or late
        // items (an off-by-one in k/t, say) lands far above it.
        const int n = 20, k = 5, trials = 20_000;
        var kept = new long[n];
        for (var seed = 0; seed < trials; seed++)
        {
            foreach (var i in Reservoir<int>.SampleIndices(n, k, seed))
            {
                kept[i]++;
            }
        }

        var p = (double)k / n;
        var expected = trials * p;
        var statistic = kept.Sum(o => (o - expected) * (o - expected)) / (trials * p * (1 - p) * n / (n - 1));
        Assert.True(statistic < 43.82, $"chi-squared {statistic:F2} ≥ 43.82 (p < 0.001): inclusion counts {string.Join(", ", kept)}");
    }

    [Fact]
    public void The_same_seed_keeps_the_same_items_and_the_stream_may_be_shorter_than_the_capacity()
    {
        var a = new Reservoir<string>(3, 42);
        var b = new Reservoir<string>(3, 42);
        var c = new Reservoir<string>(3, 43);
        foreach (var item in Enumerable.Range(0, 1000).Select(i => $"row{i}"))
        {
            a.Add(item);
            b.Add(item);
            c.Add(item);
        }

        Assert.Equal(a.Items, b.Items);
        Assert.NotEqual(a.Items, c.Items);
        Assert.Equal(1000, a.Seen);
        Assert.Equal(3, a.Items.Count);
        Assert.Equal([0, 1, 2, 3], Reservoir<int>.SampleIndices(4, 10, 1));
        Assert.Empty(Reservoir<int>.SampleIndices(0, 10, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Reservoir<int>(0, 1));
    }

    [Fact]
    public void A_replay_buffer_keeps_a_seeded_reservoir_of_the_older_rows()
    {
        var train = dir.Csv("train.csv", "x,label", "0,a", "10,b");
        var replay = dir.Csv("old.csv", ["x,label", .. Enumerable.Range(0, 100).Select(i => $"{i},{(i % 2 == 0 ? "a" : "b")}")]);
        var spec = Specs.Csv(train, train, Normalizations.None);
        spec.Replay = new ReplaySpec { Data = new DatasetSource { Uri = replay }, BufferSize = 10 };

        var first = DataLoader.Load(spec, dir.Path, 7);
        var again = DataLoader.Load(spec, dir.Path, 7);
        var other = DataLoader.Load(spec, dir.Path, 8);

        Assert.Equal(10, first.Replay!.Count);
        Assert.Equal(Reservoir<int>.SampleIndices(100, 10, 7).Select(i => (float)i), first.Replay.Features);
        Assert.Equal(first.Replay.Features, again.Replay!.Features);
        Assert.NotEqual(first.Replay.Features, other.Replay!.Features);
        Assert.Contains(first.Report.Notes, n => n.Contains("replay buffer of 10 of the 100 older rows", StringComparison.Ordinal));

        spec.Replay.BufferSize = 1000; // larger than the data: every row
        Assert.Equal(100, DataLoader.Load(spec, dir.Path, 7).Replay!.Count);
    }
}
