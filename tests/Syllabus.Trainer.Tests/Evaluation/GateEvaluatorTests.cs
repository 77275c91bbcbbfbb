using Syllabus.Api;
using Syllabus.Trainer.Evaluation;

namespace Syllabus.Trainer.Tests.Evaluation;

public sealed class GateEvaluatorTests
{
    // accuracy .75 overall; slice "eu" 1.0, slice "us" .5.
    private static readonly EvaluationResult Result = Metrics.Evaluate(
        [0, 1, 1, 0],
        [0.9f, 0.1f, 0.2f, 0.8f, 0.3f, 0.7f, 0.4f, 0.6f],
        ["neg", "pos"],
        ["eu", "eu", "us", "us"]);

    [Fact]
    public void Gates_pass_and_fail_against_their_bounds()
    {
        var results = GateEvaluator.Evaluate(
            [
                new Gate { Metric = "accuracy", AtLeast = 0.75 },
                new Gate { Metric = "accuracy", AtLeast = 0.8 },
                new Gate { Metric = "ece", AtMost = 0.5 },
                new Gate { Metric = "recall/neg", AtLeast = 0.6 },
                new Gate { Metric = "accuracy", Slice = "us", AtLeast = 0.6 },
                new Gate { Metric = "accuracy", Slice = "eu", AtLeast = 0.99 },
            ],
            Result);

        Assert.Equal([true, false, true, false, false, true], results.Select(r => r.Passed));
        Assert.Equal(0.75, results[0].Value!.Value, 12);
        Assert.Null(results[0].Message);
        Assert.Equal("accuracy 0.75 < atLeast 0.8", results[1].Message);
        Assert.Equal(0.5, results[3].Value!.Value, 12); // neg: 1 of 2 recalled
        Assert.Equal("accuracy on slice 'us' 0.5 < atLeast 0.6", results[4].Message);
        Assert.Equal("us", results[4].Slice);
        Assert.Equal(0.6, results[4].AtLeast);
    }

    [Fact]
    public void At_most_gates_fail_above_the_bound()
    {
        var result = Assert.Single(GateEvaluator.Evaluate([new Gate { Metric = "loss", AtMost = 0.1 }], Result));

        Assert.False(result.Passed);
        Assert.StartsWith("loss ", result.Message, StringComparison.Ordinal);
        Assert.Contains("> atMost 0.1", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_metric_or_slice_fails_the_gate_with_a_message()
    {
        var results = GateEvaluator.Evaluate(
            [
                new Gate { Metric = "auc", AtLeast = 0.5 },
                new Gate { Metric = "accuracy", Slice = "asia", AtLeast = 0.5 },
                new Gate { Metric = "precision/cat", AtLeast = 0.5 },
                new Gate { Metric = "accuracy" },
            ],
            Result);

        Assert.All(results, r => Assert.False(r.Passed));
        Assert.All(results, r => Assert.Null(r.Value));
        Assert.StartsWith("metric 'auc' not found (metrics: accuracy, macroF1, weightedF1, ece, loss", results[0].Message, StringComparison.Ordinal);
        Assert.Equal("slice 'asia' not found (slices: eu, us)", results[1].Message);
        Assert.StartsWith("metric 'precision/cat' not found", results[2].Message, StringComparison.Ordinal);
        Assert.Contains("exactly one of atLeast or atMost", results[3].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_slice_gate_without_slices_says_so()
    {
        var plain = Metrics.Evaluate([0], [1f, 0f], ["a", "b"], null);

        var result = Assert.Single(GateEvaluator.Evaluate([new Gate { Metric = "accuracy", Slice = "eu", AtLeast = 0.1 }], plain));

        Assert.False(result.Passed);
        Assert.Contains("data.sliceColumn", result.Message, StringComparison.Ordinal);
    }
}
