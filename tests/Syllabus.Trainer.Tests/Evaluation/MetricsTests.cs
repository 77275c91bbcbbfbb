using Syllabus.Trainer.Evaluation;

namespace Syllabus.Trainer.Tests.Evaluation;

public sealed class MetricsTests
{
    // Four examples, three classes (hand-worked):
    //   e1 p=[.9,.05,.05] y=0 -> predicts 0, right, confidence .9
    //   e2 p=[.75,.15,.1] y=1 -> predicts 0, wrong, confidence .75
    //   e3 p=[.1,.7,.2]   y=1 -> predicts 1, right, confidence .7
    //   e4 p=[.38,.35,.27] y=2 -> predicts 0, wrong, confidence .38
    private static readonly long[] Labels = [0, 1, 1, 2];
    private static readonly float[] Probabilities = [0.9f, 0.05f, 0.05f, 0.75f, 0.15f, 0.1f, 0.1f, 0.7f, 0.2f, 0.38f, 0.35f, 0.27f];
    private static readonly string[] Classes = ["a", "b", "c"];

    [Fact]
    public void Accuracy_per_class_and_averaged_f1_match_hand_values()
    {
        var r = Metrics.Evaluate(Labels, Probabilities, Classes, null);

        Assert.Equal(4, r.Count);
        Assert.Equal(0.5, r.Accuracy, 12);
        // a: tp 1, predicted 3, support 1 -> P 1/3, R 1, F1 .5
        Assert.Equal(1.0 / 3, r.Classes[0].Precision, 12);
        Assert.Equal(1.0, r.Classes[0].Recall, 12);
        Assert.Equal(0.5, r.Classes[0].F1, 12);
        // b: tp 1, predicted 1, support 2 -> P 1, R .5, F1 2/3
        Assert.Equal(1.0, r.Classes[1].Precision, 12);
        Assert.Equal(0.5, r.Classes[1].Recall, 12);
        Assert.Equal(2.0 / 3, r.Classes[1].F1, 12);
        Assert.Equal(2, r.Classes[1].Support);
        // c: never predicted, never right.
        Assert.Equal(0.0, r.Classes[2].F1);
        Assert.Equal((0.5 + (2.0 / 3)) / 3, r.MacroF1, 12);
        Assert.Equal(((0.5 * 1) + (2.0 / 3 * 2)) / 4, r.WeightedF1, 12);
        Assert.Equal([[1, 0, 0], [1, 1, 0], [1, 0, 0]], r.ConfusionMatrix);
        Assert.Equal(-(Math.Log(0.9) + Math.Log(0.15) + Math.Log(0.7) + Math.Log(0.27)) / 4, r.Loss!.Value, 6);
    }

    [Fact]
    public void Expected_calibration_error_uses_equal_width_bins()
    {
        // 5 bins of width .2: (.8,1] holds e1 (acc 1, conf .9), (.6,.8] holds e2 and e3 (acc .5, conf .725),
        // (.2,.4] holds e4 (acc 0, conf .38). ECE = 1/4*.1 + 2/4*.225 + 1/4*.38 = .2325.
        var r = Metrics.Evaluate(Labels, Probabilities, Classes, null, calibrationBins: 5);

        Assert.Equal(0.2325, r.ExpectedCalibrationError, 6);
        Assert.Equal([0, 1, 0, 2, 1], r.Calibration.Select(b => b.Count));
        Assert.Equal(0.725, r.Calibration[3].Confidence, 6);
        Assert.Equal(0.5, r.Calibration[3].Accuracy, 12);
    }

    [Fact]
    public void A_perfectly_calibrated_model_has_zero_ece()
    {
        // Two examples at confidence .5 in a two-class problem, one right and one wrong.
        var r = Metrics.Evaluate([0, 1], [0.5f, 0.5f, 0.5f, 0.5f], ["x", "y"], null);

        Assert.Equal(0.0, r.ExpectedCalibrationError, 12);
        Assert.Equal(0.5, r.Accuracy);
    }

    [Fact]
    public void Metrics_are_also_computed_per_slice()
    {
        var r = Metrics.Evaluate(Labels, Probabilities, Classes, ["eu", "eu", "us", null], calibrationBins: 5);

        Assert.Equal(["eu", "us"], r.Slices.Keys);
        var eu = r.Slices["eu"];
        Assert.Equal(2, eu.Count);
        Assert.Equal(0.5, eu.Accuracy, 12);
        // eu: e1 (.9, right) and e2 (.75, wrong) fall in different bins: 1/2*.1 + 1/2*.75 = .425
        Assert.Equal(0.425, eu.ExpectedCalibrationError, 6);
        var us = r.Slices["us"];
        Assert.Equal(1.0, us.Accuracy);
        Assert.Equal([[0, 0, 0], [0, 1, 0], [0, 0, 0]], us.ConfusionMatrix);
        Assert.True(r.TryGetMetric("accuracy", "us", out var v));
        Assert.Equal(1.0, v);
        Assert.False(r.TryGetMetric("accuracy", "asia", out _));
        Assert.Empty(eu.Slices);
    }

    [Fact]
    public void Unlabelled_examples_are_left_out_and_bad_inputs_rejected()
    {
        var r = Metrics.Evaluate([0, -1], [0.9f, 0.1f, 0.2f, 0.8f], ["x", "y"], null);
        Assert.Equal(1, r.Count);
        Assert.Equal(1.0, r.Accuracy);

        Assert.Throws<ArgumentException>(() => Metrics.Evaluate([0, 2], [0.9f, 0.1f, 0.2f, 0.8f], ["x", "y"], null));
        Assert.Throws<ArgumentException>(() => Metrics.Evaluate([0], [0.9f, 0.1f, 0.2f], ["x", "y"], null));
    }

    [Fact]
    public void Metric_map_uses_gate_names_and_a_given_loss_wins()
    {
        var r = Metrics.Evaluate(Labels, Probabilities, Classes, null, loss: 0.123);
        var map = r.ToMetricMap();

        Assert.Equal(0.123, map["loss"]);
        Assert.Equal(0.5, map["accuracy"], 12);
        Assert.Equal(1.0 / 3, map["precision/a"], 12);
        Assert.Equal(0.5, map["recall/b"], 12);
        Assert.Equal(2.0 / 3, map["f1/b"], 12);
        Assert.True(map.ContainsKey("macroF1") && map.ContainsKey("weightedF1") && map.ContainsKey("ece"));
        Assert.False(r.TryGetMetric("precision/zebra", null, out _));
    }
}
