using Syllabus.Api;
using Syllabus.Operator.DriftPolicies;
using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.Tests.DriftPolicies;

public sealed class DriftDetectorsTests
{
    private static readonly ServingPod PodA = new("digits-stable-a", "10.0.0.1:8080");
    private static readonly ServingPod PodB = new("digits-stable-b", "10.0.0.2:8080");
    private static readonly ServingPod PodC = new("digits-stable-c", "10.0.0.3:8080");

    private static DriftTest Distance(string feature, double distance, string detector = DriftDetectorNames.Wasserstein) => new()
    {
        Feature = feature, Kind = "Numeric", Detector = detector, Statistic = distance, Score = distance, Threshold = 0.1, Drifted = distance >= 0.1,
    };

    private static DriftTest PValue(string feature, double p) => new()
    {
        Feature = feature, Kind = "Numeric", Detector = DriftDetectorNames.KolmogorovSmirnov, Statistic = 0.2, PValue = p, AdjustedPValue = p, Score = p, Threshold = 0.05, Drifted = p <= 0.05,
    };

    private static DriftReport Report(long rows, params DriftTest[] features) => new()
    {
        CurrentRows = rows,
        Features = features,
        PredictionDrift = new DriftTest { Feature = "prediction", Kind = "Prediction", Detector = DriftDetectorNames.JensenShannon, Statistic = 0.2, Score = 0.2, Threshold = 0.1, Drifted = true },
        Confidence = new ConfidenceDrop { BaselineMean = 0.95, CurrentMean = 0.80, Drop = 0.15, Threshold = 0.05, Drifted = true },
        Performance = new PerformanceEstimate { ExpectedAccuracy = 0.82, BaselineExpectedAccuracy = 0.94, BaselineAccuracy = 0.96 },
    };

    private static DriftInputs Inputs(string stattest, params DriftReading[] readings) => new()
    {
        Readings = new Dictionary<string, IReadOnlyList<DriftReading>> { [stattest] = readings },
    };

    [Fact]
    public void Feature_drift_is_dataset_drift_by_the_drifted_share_with_the_worst_feature_and_the_top_features_named()
    {
        var detector = new DriftDetector { Name = "pixels", Type = DetectorTypes.FeatureDrift, DriftShare = 0.5 };
        var report = Report(500, Distance("p1", 0.05), Distance("p2", 0.3), Distance("p3", 0.12), Distance("p4", 0.01));
        var outcome = DriftDetectors.Evaluate(detector, Inputs(DriftDetectorNames.Auto, DriftReading.Of(PodA, report)));

        Assert.False(outcome.IsError);
        var r = outcome.Result;
        Assert.Equal((2, 4, 0.5, true), (r.DriftedFeatures, r.TestedFeatures, r.Score, r.Breached));
        Assert.Equal(("p2", 0.3), (r.Feature, r.Statistic));
        Assert.Equal(["p2", "p3"], r.TopFeatures);
        Assert.Equal(DriftDetectorNames.Wasserstein, r.Stattest);
        Assert.Contains(("p3", 0.12), outcome.Scores);
        Assert.Contains(("", 0.5), outcome.Scores);

        // One drifted feature of four is below a driftShare of 0.5: no breach.
        var calm = DriftDetectors.Evaluate(detector, Inputs(DriftDetectorNames.Auto, DriftReading.Of(PodA, Report(500, Distance("p1", 0.05), Distance("p2", 0.3), Distance("p3", 0.02), Distance("p4", 0.01)))));
        Assert.Equal((0.25, false), (calm.Result.Score, calm.Result.Breached));
    }

    [Fact]
    public void The_correction_runs_over_the_tested_features_only()
    {
        // Raw p-values 0.01, 0.02, 0.04 (three tested of four): Bonferroni makes them 0.03, 0.06, 0.12; BH 0.03, 0.03, 0.04.
        var report = Report(500, PValue("a", 0.01), PValue("b", 0.02), PValue("c", 0.04), PValue("d", 0.9));
        var subset = new List<string> { "a", "b", "c" };
        var bonferroni = DriftDetectors.Evaluate(
            new DriftDetector { Name = "ks", Type = DetectorTypes.FeatureDrift, Stattest = DriftDetectorNames.KolmogorovSmirnov, Features = subset, Correction = MultipleTestCorrections.Bonferroni, DriftShare = 0.5 },
            Inputs(DriftDetectorNames.KolmogorovSmirnov, DriftReading.Of(PodA, report)));
        Assert.Equal(1, bonferroni.Result.DriftedFeatures);
        Assert.Equal(3, bonferroni.Result.TestedFeatures);
        Assert.Equal(0.03, bonferroni.Scores.Single(s => s.Feature == "a").Score, 12);
        Assert.Equal(0.12, bonferroni.Scores.Single(s => s.Feature == "c").Score, 12);
        Assert.False(bonferroni.Result.Breached);

        var bh = DriftDetectors.Evaluate(
            new DriftDetector { Name = "ks", Type = DetectorTypes.FeatureDrift, Stattest = DriftDetectorNames.KolmogorovSmirnov, Features = subset, Correction = MultipleTestCorrections.BenjaminiHochberg, DriftShare = 0.5 },
            Inputs(DriftDetectorNames.KolmogorovSmirnov, DriftReading.Of(PodA, report)));
        Assert.Equal((3, true), (bh.Result.DriftedFeatures, bh.Result.Breached));
        Assert.Equal([0.03, 0.03, 0.04], bh.Scores.Where(s => s.Feature.Length > 0).Select(s => Math.Round(s.Score, 12)));
    }

    [Fact]
    public void A_detector_breaches_when_more_than_half_of_the_replicas_breach_and_shows_the_largest_window()
    {
        var detector = new DriftDetector { Name = "pixels", Type = DetectorTypes.FeatureDrift, DriftShare = 0.5 };
        var drifted = Report(300, Distance("p1", 0.5), Distance("p2", 0.5));
        var calm = Report(900, Distance("p1", 0.01), Distance("p2", 0.01));
        var one = DriftDetectors.Evaluate(detector, Inputs(DriftDetectorNames.Auto, DriftReading.Of(PodA, drifted), DriftReading.Of(PodB, calm)));
        Assert.Equal((1, false, 0.0), (one.Result.ReplicasBreached, one.Result.Breached, one.Result.Score));

        var two = DriftDetectors.Evaluate(detector, Inputs(DriftDetectorNames.Auto, DriftReading.Of(PodA, drifted), DriftReading.Of(PodB, calm), DriftReading.Of(PodC, drifted)));
        Assert.Equal((2, true), (two.Result.ReplicasBreached, two.Result.Breached));
    }

    [Fact]
    public void Input_problems_are_errors_with_the_pods_message_never_breaches()
    {
        var detector = new DriftDetector { Name = "pixels", Type = DetectorTypes.FeatureDrift };
        var noProfile = DriftDetectors.Evaluate(detector, Inputs(DriftDetectorNames.Auto,
            DriftReading.Failed(PodA, "pod digits-stable-a answered 409: this server has no training profile (profile.json beside the model, or --profile), so drift cannot be evaluated")));
        Assert.True(noProfile.IsError);
        Assert.False(noProfile.Result.Breached);
        Assert.Contains("no training profile", noProfile.Result.Message, StringComparison.Ordinal);

        var unknown = DriftDetectors.Evaluate(new DriftDetector { Name = "pixels", Type = DetectorTypes.FeatureDrift, Features = ["p1", "nope"] },
            Inputs(DriftDetectorNames.Auto, DriftReading.Of(PodA, Report(500, Distance("p1", 0.5)))));
        Assert.True(unknown.IsError);
        Assert.Contains("nope", unknown.Result.Message, StringComparison.Ordinal);

        // One replica failing while another answers: judged on the one, the other named.
        var partial = DriftDetectors.Evaluate(detector, Inputs(DriftDetectorNames.Auto, DriftReading.Of(PodA, Report(500, Distance("p1", 0.5))), DriftReading.Failed(PodB, "pod digits-stable-b is unreachable")));
        Assert.False(partial.IsError);
        Assert.True(partial.Result.Breached);
        Assert.Contains("digits-stable-b is unreachable", partial.Result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prediction_confidence_and_estimated_performance_are_judged_against_their_thresholds()
    {
        var inputs = new DriftInputs
        {
            Readings = new Dictionary<string, IReadOnlyList<DriftReading>> { [DriftDetectorNames.Auto] = [DriftReading.Of(PodA, Report(500))] },
            OnlineAccuracy = new Dictionary<int, MeasuredValue> { [1] = MeasuredValue.Of(0.61) },
        };
        var prediction = DriftDetectors.Evaluate(new DriftDetector { Name = "pred", Type = DetectorTypes.PredictionDrift }, inputs);
        Assert.Equal((0.2, 0.1, true), (prediction.Result.Score, prediction.Result.Threshold, prediction.Result.Breached));
        var strict = DriftDetectors.Evaluate(new DriftDetector { Name = "pred", Type = DetectorTypes.PredictionDrift, Threshold = 0.25 }, inputs);
        Assert.False(strict.Result.Breached);

        var confidence = DriftDetectors.Evaluate(new DriftDetector { Name = "conf", Type = DetectorTypes.ConfidenceDrop, Threshold = 0.1 }, inputs);
        Assert.Equal(0.15, confidence.Result.Score!.Value, 12);
        Assert.True(confidence.Result.Breached);
        Assert.Equal((0.8, 0.95), (confidence.Result.Statistic, confidence.Result.Baseline));

        var estimated = DriftDetectors.Evaluate(new DriftDetector { Name = "cbpe", Type = DetectorTypes.EstimatedPerformanceDrop, Threshold = 0.2 }, inputs);
        Assert.Equal(0.12, estimated.Result.Score!.Value, 12);
        Assert.False(estimated.Result.Breached);
        Assert.Contains("online accuracy from feedback 0.61", estimated.Result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Performance_drop_compares_online_accuracy_with_the_held_out_accuracy_and_waits_for_feedback()
    {
        var detector = new DriftDetector { Name = "acc", Type = DetectorTypes.PerformanceDrop, Threshold = 0.05, MinSamples = 100 };
        DriftInputs With(MeasuredValue accuracy) => new()
        {
            Readings = new Dictionary<string, IReadOnlyList<DriftReading>> { [DriftDetectorNames.Auto] = [DriftReading.Of(PodA, Report(500))] },
            OnlineAccuracy = new Dictionary<int, MeasuredValue> { [100] = accuracy },
        };

        var dropped = DriftDetectors.Evaluate(detector, With(MeasuredValue.Of(0.90)));
        Assert.Equal((0.96, 0.90, true), (dropped.Result.Baseline, dropped.Result.Statistic, dropped.Result.Breached));
        Assert.Equal(0.06, dropped.Result.Score!.Value, 12);
        Assert.False(DriftDetectors.Evaluate(detector, With(MeasuredValue.Of(0.95))).Result.Breached);

        var waiting = DriftDetectors.Evaluate(detector, With(MeasuredValue.NoData("12 feedback labels on 2 pods, fewer than minSamples 100")));
        Assert.False(waiting.IsError);
        Assert.False(waiting.Result.Breached);
        Assert.Contains("fewer than minSamples 100", waiting.Result.Message, StringComparison.Ordinal);

        Assert.True(DriftDetectors.Evaluate(detector, With(MeasuredValue.Failed("pod x is unreachable"))).IsError);
    }

    [Fact]
    public void PromQL_breaches_past_its_bound_and_an_unreachable_server_is_an_error()
    {
        var atMost = new DriftDetector { Name = "errors", Type = DetectorTypes.PromQL, Query = "q", AtMost = 0.01 };
        DriftInputs With(MeasuredValue value) => new() { Readings = new Dictionary<string, IReadOnlyList<DriftReading>>(), PromQL = new Dictionary<string, MeasuredValue> { ["errors"] = value } };
        Assert.True(DriftDetectors.Evaluate(atMost, With(MeasuredValue.Of(0.02))).Result.Breached);
        Assert.False(DriftDetectors.Evaluate(atMost, With(MeasuredValue.Of(0.01))).Result.Breached);
        var atLeast = new DriftDetector { Name = "errors", Type = DetectorTypes.PromQL, Query = "q", AtLeast = 0.9 };
        Assert.True(DriftDetectors.Evaluate(atLeast, With(MeasuredValue.Of(0.8))).Result.Breached);
        var down = DriftDetectors.Evaluate(atMost, With(MeasuredValue.Failed("Prometheus at http://x is unreachable: refused")));
        Assert.True(down.IsError);
        Assert.Contains("unreachable", down.Result.Message, StringComparison.Ordinal);
        Assert.False(DriftDetectors.Evaluate(atMost, With(MeasuredValue.NoData("empty result"))).IsError);
    }
}
