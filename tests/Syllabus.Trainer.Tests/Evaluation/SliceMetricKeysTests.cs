using Syllabus.Api;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Evaluation;

namespace Syllabus.Trainer.Tests.Evaluation;

public sealed class SliceMetricKeysTests
{
    [Fact]
    public void Slice_metrics_are_keyed_metric_at_slice_and_advance_a_sliced_stage_gate()
    {
        // Two slices: "day" all right, "night" half right.
        long[] labels = [0, 1, 0, 1, 0, 1];
        float[] probabilities = [0.9f, 0.1f, 0.2f, 0.8f, 0.8f, 0.2f, 0.3f, 0.7f, 0.4f, 0.6f, 0.6f, 0.4f];
        string?[] slices = ["day", "day", "day", "day", "night", "night"];
        var map = Metrics.Evaluate(labels, probabilities, ["a", "b"], slices).ToMetricMapWithSlices();

        Assert.Equal(4.0 / 6, map["accuracy"], 6);
        Assert.Equal(1.0, map["accuracy@day"], 6);
        Assert.Equal(0.0, map["accuracy@night"], 6);
        Assert.Equal(0.0, map["recall/b@night"], 6);

        var curriculum = new CurriculumSpec
        {
            Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "difficulty" },
            Stages =
            [
                new CurriculumStage { Name = "easy", DataFraction = 0.5, MinEpochs = 1, AdvanceWhen = new Gate { Metric = "accuracy", Slice = "night", AtLeast = 0.5 } },
                new CurriculumStage { Name = "all", DataFraction = 1.0 },
            ],
        };
        var scheduler = new CurriculumScheduler(curriculum, [0.1, 0.2, 0.3, 0.4], totalEpochs: 5, seed: 1);
        Assert.Equal("easy", scheduler.NextEpoch(null).Stage);
        Assert.Equal("easy", scheduler.NextEpoch(map).Stage);
        map["accuracy@night"] = 0.75;
        Assert.Equal("all", scheduler.NextEpoch(map).Stage);
    }
}
