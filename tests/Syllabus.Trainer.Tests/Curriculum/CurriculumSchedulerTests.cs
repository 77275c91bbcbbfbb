using Syllabus.Api;
using Syllabus.Trainer.Curriculum;

namespace Syllabus.Trainer.Tests.Curriculum;

public sealed class CurriculumSchedulerTests
{
    private static readonly double[] Difficulty = [0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0];

    [Fact]
    public void NoCurriculumUsesAllDataInOneStage()
    {
        var scheduler = new CurriculumScheduler(null, null, 5, 1, exampleCount: 4);
        var epoch = scheduler.NextEpoch(null);
        Assert.Equal(new CurriculumEpoch(0, "all", 0, 1.0, epoch.Indices), epoch);
        Assert.Equal([0, 1, 2, 3], epoch.Indices);
        Assert.Throws<ArgumentException>(() => new CurriculumScheduler(null, null, 5, 1));
    }

    [Fact]
    public void OrdersEasiestFirstOrHardestFirstForAntiCurriculum()
    {
        var easy = new CurriculumScheduler(Paced(anti: false), Difficulty, 10, 7);
        Assert.Equal([9, 1, 5, 3, 7, 0, 8, 4, 6, 2], easy.Order());
        var anti = new CurriculumScheduler(Paced(anti: true), Difficulty, 10, 7);
        Assert.Equal([2, 6, 4, 8, 0, 7, 3, 5, 1, 9], anti.Order());
        // The first epoch of the anti-curriculum takes the hardest 20%.
        Assert.Equal([2, 6], anti.NextEpoch(null).Indices);
    }

    [Fact]
    public void TiesAreBrokenBySeedDeterministically()
    {
        double[] tied = [1, 0, 1, 0, 1, 0, 1, 0];
        var a = new CurriculumScheduler(Paced(false), tied, 10, 42).Order();
        var b = new CurriculumScheduler(Paced(false), tied, 10, 42).Order();
        Assert.Equal(a, b);
        Assert.Equal([1, 3, 5, 7], a.Take(4).Order());
        var orders = Enumerable.Range(0, 6).Select(seed => string.Join(",", new CurriculumScheduler(Paced(false), tied, 10, seed).Order())).Distinct();
        Assert.True(orders.Count() > 1, "different seeds should break ties differently");
    }

    [Fact]
    public void NaNDifficultyCountsAsHardest()
    {
        var order = new CurriculumScheduler(Paced(false), [double.NaN, 0.5, 0.1], 10, 1).Order();
        Assert.Equal([2, 1, 0], order);
    }

    [Fact]
    public void PacingReportsFractionAndTakesTheEasiestShare()
    {
        var scheduler = new CurriculumScheduler(Paced(false), Difficulty, 10, 7);
        var e0 = scheduler.NextEpoch(null);
        Assert.Equal(("pacing", 0, 0.2), (e0.Stage, e0.StageIndex, e0.DataFraction));
        Assert.Equal([9, 1], e0.Indices);
        var e1 = scheduler.NextEpoch(null);
        Assert.Equal(0.36, e1.DataFraction, 12);
        Assert.Equal(4, e1.Indices.Length); // ceil(3.6)
        for (var e = 2; e < 5; e++)
        {
            scheduler.NextEpoch(null);
        }

        var e5 = scheduler.NextEpoch(null);
        Assert.Equal((5, "full", 1, 1.0, 10), (e5.Epoch, e5.Stage, e5.StageIndex, e5.DataFraction, e5.Indices.Length));
    }

    [Fact]
    public void StagesAdvanceAfterMinEpochsWhenTheGateHolds()
    {
        var scheduler = new CurriculumScheduler(Staged(), Difficulty, 20, 1);
        var good = Metrics(0.9);
        Assert.Equal("easy", scheduler.NextEpoch(null).Stage);
        Assert.Equal("easy", scheduler.NextEpoch(good).Stage); // 1 epoch done < minEpochs 2
        var mid = scheduler.NextEpoch(good); // 2 epochs done and accuracy >= 0.8
        Assert.Equal(("mid", 1, 0.6, 6), (mid.Stage, mid.StageIndex, mid.DataFraction, mid.Indices.Length));
        Assert.Equal("all", scheduler.NextEpoch(null).Stage); // mid: no gate, minEpochs 1
        Assert.Equal("all", scheduler.NextEpoch(good).Stage); // last stage stays
    }

    [Fact]
    public void StagesAdvanceAtMaxEpochsWhenTheGateNeverHolds()
    {
        var scheduler = new CurriculumScheduler(Staged(), Difficulty, 20, 1);
        var poor = Metrics(0.5);
        var stages = Enumerable.Range(0, 6).Select(e => scheduler.NextEpoch(e == 0 ? null : poor).Stage).ToArray();
        Assert.Equal(["easy", "easy", "easy", "easy", "mid", "all"], stages);
    }

    [Fact]
    public void AnUnvalidatedEpochDoesNotAdvanceAndAMissingMetricIsAnError()
    {
        var scheduler = new CurriculumScheduler(Staged(), Difficulty, 20, 1);
        scheduler.NextEpoch(null);
        scheduler.NextEpoch(null);
        Assert.Equal("easy", scheduler.NextEpoch(null).Stage);
        var e = Assert.Throws<InvalidOperationException>(() => scheduler.NextEpoch(new Dictionary<string, double> { ["loss"] = 0.1 }));
        Assert.Contains("accuracy", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SlicedGatesReadMetricAtSlice()
    {
        var spec = new CurriculumSpec
        {
            Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "d" },
            Stages =
            [
                new CurriculumStage { Name = "day", DataFraction = 0.5, MinEpochs = 1, AdvanceWhen = new Gate { Metric = "recall/cat", Slice = "night", AtLeast = 0.7 } },
                new CurriculumStage { Name = "night", DataFraction = 1.0 },
            ],
        };
        var scheduler = new CurriculumScheduler(spec, Difficulty, 10, 1);
        scheduler.NextEpoch(null);
        Assert.Equal("day", scheduler.NextEpoch(new Dictionary<string, double> { ["recall/cat@night"] = 0.6, ["recall/cat"] = 0.9 }).Stage);
        Assert.Equal("night", scheduler.NextEpoch(new Dictionary<string, double> { ["recall/cat@night"] = 0.75 }).Stage);
    }

    [Fact]
    public void AResumedSchedulerContinuesWhereItStopped()
    {
        var whole = new CurriculumScheduler(Staged(), Difficulty, 20, 3);
        var metrics = new[] { null, Metrics(0.5), Metrics(0.9), Metrics(0.9), Metrics(0.9), Metrics(0.9) };
        var expected = metrics.Select(m => whole.NextEpoch(m)).ToArray();

        var first = new CurriculumScheduler(Staged(), Difficulty, 20, 3);
        var got = metrics.Take(2).Select(m => first.NextEpoch(m)).ToList();
        var state = System.Text.Json.Nodes.JsonNode.Parse(first.SaveState().ToJsonString())!.AsObject();
        var resumed = new CurriculumScheduler(Staged(), Difficulty, 20, 3);
        resumed.LoadState(state);
        got.AddRange(metrics.Skip(2).Select(m => resumed.NextEpoch(m)));

        Assert.Equal(expected.Select(e => (e.Epoch, e.Stage, e.DataFraction)), got.Select(e => (e.Epoch, e.Stage, e.DataFraction)));
        Assert.Equal(expected.Select(e => string.Join(",", e.Indices)), got.Select(e => string.Join(",", e.Indices)));
        Assert.Throws<InvalidDataException>(() => new CurriculumScheduler(Staged(), [0.1, 0.2], 20, 3).LoadState(state));
    }

    private static Dictionary<string, double> Metrics(double accuracy) => new() { ["accuracy"] = accuracy, ["loss"] = 1 - accuracy };

    private static CurriculumSpec Paced(bool anti) => new()
    {
        Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "d" },
        Pacing = new PacingSpec { Function = PacingFunctions.Linear, StartFraction = 0.2, FullDataAt = 0.5 },
        AntiCurriculum = anti,
    };

    private static CurriculumSpec Staged() => new()
    {
        Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "d" },
        Stages =
        [
            new CurriculumStage { Name = "easy", DataFraction = 0.3, MinEpochs = 2, MaxEpochs = 4, AdvanceWhen = new Gate { Metric = "accuracy", AtLeast = 0.8 } },
            new CurriculumStage { Name = "mid", DataFraction = 0.6, MinEpochs = 1 },
            new CurriculumStage { Name = "all", DataFraction = 1.0 },
        ],
    };
}
