using Syllabus.Api;
using Syllabus.Trainer.Drift;
using Syllabus.Trainer.Profiling;

namespace Syllabus.Trainer.Tests.Drift;

public sealed class DriftEvaluatorTests
{
    private static float[] Normal(int seed, int n, double shift = 0, double scale = 1)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ =>
        {
            // Box–Muller: enough for test data.
            var u = 1 - random.NextDouble();
            var v = random.NextDouble();
            return (float)((Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v) * scale) + shift);
        })];
    }

    private static DataProfile Profile(int rows, float[][] numeric, string?[][]? categorical = null)
    {
        var names = numeric.Select((_, i) => $"x{i}").ToArray();
        var categoricalNames = (categorical ?? []).Select((_, i) => $"c{i}").ToArray();
        var profile = DataProfile.Build(names, numeric, categoricalNames, categorical ?? [], ["a", "b"], [.. Enumerable.Range(0, rows).Select(i => (long)(i % 2))], seed: 3);
        var probabilities = Enumerable.Range(0, 100).SelectMany(i => i % 2 == 0 ? new[] { 0.9f, 0.1f } : [0.2f, 0.8f]).ToArray();
        return profile.WithModel("fingerprint", PredictionProfile.Build("validation", probabilities, ["a", "b"], [.. Enumerable.Range(0, 100).Select(i => (long)(i % 2))]));
    }

    private static DriftWindow Window(float[][] numeric, string?[][]? categorical = null) =>
        new([.. numeric.Select((_, i) => $"x{i}")], numeric, [.. (categorical ?? []).Select((_, i) => $"c{i}")], categorical ?? [], numeric.Length > 0 ? numeric[0].Length : categorical![0].Length);

    [Fact]
    public void Auto_follows_evidentlys_rules()
    {
        Assert.Equal("ks", DriftEvaluator.AutoDetector(DriftEvaluator.Numeric, 1000, 6));
        Assert.Equal("chisquare", DriftEvaluator.AutoDetector(DriftEvaluator.Numeric, 1000, 5));
        Assert.Equal("z", DriftEvaluator.AutoDetector(DriftEvaluator.Numeric, 1000, 2));
        Assert.Equal("chisquare", DriftEvaluator.AutoDetector(DriftEvaluator.Categorical, 1000, 3));
        Assert.Equal("z", DriftEvaluator.AutoDetector(DriftEvaluator.Categorical, 10, 2));
        Assert.Equal("wasserstein", DriftEvaluator.AutoDetector(DriftEvaluator.Numeric, 1001, 6));
        Assert.Equal("jensenshannon", DriftEvaluator.AutoDetector(DriftEvaluator.Numeric, 1001, 5));
        Assert.Equal("jensenshannon", DriftEvaluator.AutoDetector(DriftEvaluator.Categorical, 5000, 40));
    }

    [Fact]
    public void Histograms_of_value_tests_count_every_value_in_its_equal_width_bin()
    {
        var profile = Profile(5000, [Normal(1, 5000)]);
        // A window with NaNs (left out), repeated values and values beyond the reference on both sides.
        var current = Normal(2, 4000, 0.8, 1.5);
        current[7] = float.NaN;
        current[8] = current[9] = current[10];
        var outcome = DriftEvaluator.Evaluate(profile, Window([current]), new DriftOptions { Detector = "wasserstein" }, "m", DateTimeOffset.UnixEpoch);

        var histogram = Assert.Single(outcome.Histograms);
        var sample = profile.Numeric[0].Sample!;
        var present = current.Where(v => !float.IsNaN(v)).ToArray();
        // The plain computation: one division per value.
        double lo = Math.Min(sample.Min(), present.Min()), hi = Math.Max(sample.Max(), present.Max());
        var width = (hi - lo) / 20;
        double[] Shares(float[] values)
        {
            var counts = new double[20];
            foreach (var v in values)
            {
                counts[Math.Min((int)((v - lo) / width), 19)]++;
            }

            return [.. counts.Select(c => c / values.Length)];
        }

        Assert.Equal(Shares(sample), histogram.Reference);
        Assert.Equal(Shares(present), histogram.Current);
        Assert.Equal(3000, outcome.Report.Features[0].ReferenceCount);
        Assert.Equal(1, outcome.Report.Features[0].CurrentMissing);
    }

    [Fact]
    public void A_shifted_window_drifts_and_a_window_from_the_same_distribution_does_not()
    {
        var profile = Profile(800, [Normal(1, 800), Normal(2, 800, 5, 2)]);

        var same = DriftEvaluator.Evaluate(profile, Window([Normal(10, 500), Normal(11, 500, 5, 2)]), new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report;
        var shifted = DriftEvaluator.Evaluate(profile, Window([Normal(12, 500, 1.0), Normal(11, 500, 5, 2)]), new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report;

        // 800 training rows: KS on the reservoir sample (all 800 rows, under its capacity).
        Assert.All(same.Features, f => Assert.Equal("ks", f.Detector));
        Assert.Equal(800, same.Features[0].ReferenceCount);
        Assert.Equal(0, same.DriftedFeatures);
        Assert.False(same.DatasetDrift);
        Assert.True(shifted.Features[0].Drifted);
        Assert.False(shifted.Features[1].Drifted);
        Assert.Equal(0.5, shifted.DriftedShare);
        Assert.True(shifted.DatasetDrift); // 1 of 2 ≥ driftShare 0.5
        Assert.False(DriftEvaluator.Evaluate(profile, Window([Normal(12, 500, 1.0), Normal(11, 500, 5, 2)]), new DriftOptions { DriftShare = 0.6 }, "m", DateTimeOffset.UnixEpoch).Report.DatasetDrift);
        // The KS statistic is the one on the stored sample, recomputed independently here.
        var sample = profile.Numeric[0].Sample!.Select(v => (double)v).ToArray();
        var window = Normal(12, 500, 1.0).Select(v => (double)v).ToArray();
        Assert.Equal(KolmogorovSmirnov.TwoSampleUnsorted(sample, window).PValue, shifted.Features[0].PValue);
    }

    [Fact]
    public void Large_references_use_wasserstein_and_every_detector_can_be_forced()
    {
        var profile = Profile(5000, [Normal(1, 5000)]);
        var window = Window([Normal(2, 2000, 0.5)]);

        var auto = DriftEvaluator.Evaluate(profile, window, new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report.Features.Single();
        Assert.Equal("wasserstein", auto.Detector);
        Assert.True(auto.Drifted);
        Assert.InRange(auto.Score, 0.3, 0.7); // a shift of half a standard deviation

        foreach (var detector in new[] { "ks", "psi", "jensenshannon" })
        {
            var test = DriftEvaluator.Evaluate(profile, window, new DriftOptions { Detector = detector }, "m", DateTimeOffset.UnixEpoch).Report.Features.Single();
            Assert.Equal(detector, test.Detector);
            Assert.True(test.Drifted, detector);
        }

        // PSI on the profile's 20 quantile bins: the training counts, not a sample.
        var psi = DriftEvaluator.Evaluate(profile, window, new DriftOptions { Detector = "psi" }, "m", DateTimeOffset.UnixEpoch).Report.Features.Single();
        Assert.Equal(5000, psi.ReferenceCount);
        var edges = profile.Numeric[0].QuantileBinEdges!;
        var current = new double[edges.Count + 1];
        foreach (var v in Normal(2, 2000, 0.5))
        {
            current[NumericFeatureProfile.QuantileBin(edges, v)]++;
        }

        Assert.Equal(DriftStatistics.Psi([.. profile.Numeric[0].QuantileBinCounts!.Select(n => (double)n)], current), psi.Statistic, 12);
        var error = Assert.Throws<DriftInputException>(() => DriftEvaluator.Evaluate(profile, window, new DriftOptions { Detector = "chisquare" }, "m", DateTimeOffset.UnixEpoch));
        Assert.Contains("'x0'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Corrections_adjust_only_p_values_and_decide_on_the_adjusted_value()
    {
        var profile = Profile(600, [.. Enumerable.Range(0, 10).Select(i => Normal(i, 600))]);
        // Feature 0 shifted a little: significant alone, not after Bonferroni over 10 tests.
        var columns = Enumerable.Range(0, 10).Select(i => Normal(100 + i, 300, i == 0 ? 0.2 : 0)).ToArray();
        var none = DriftEvaluator.Evaluate(profile, Window(columns), new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report;
        var bonferroni = DriftEvaluator.Evaluate(profile, Window(columns), new DriftOptions { Correction = MultipleTestCorrections.Bonferroni }, "m", DateTimeOffset.UnixEpoch).Report;
        var bh = DriftEvaluator.Evaluate(profile, Window(columns), new DriftOptions { Correction = MultipleTestCorrections.BenjaminiHochberg }, "m", DateTimeOffset.UnixEpoch).Report;

        var p = none.Features.Select(f => f.PValue!.Value).ToArray();
        Assert.Equal(DriftStatistics.Bonferroni(p), bonferroni.Features.Select(f => f.AdjustedPValue!.Value));
        Assert.Equal(DriftStatistics.BenjaminiHochberg(p), bh.Features.Select(f => f.AdjustedPValue!.Value));
        Assert.Equal(p, bonferroni.Features.Select(f => f.PValue!.Value));
        Assert.All(bonferroni.Features, f => Assert.Equal(f.AdjustedPValue <= f.Threshold, f.Drifted));
        Assert.True(none.Features.Count(f => f.Drifted) >= bonferroni.Features.Count(f => f.Drifted));
    }

    [Fact]
    public void Categorical_features_use_the_category_counts_and_unseen_categories_count_as_drift()
    {
        var training = Enumerable.Range(0, 2000).Select(i => (string?)(i % 4 == 0 ? "red" : i % 4 == 1 ? "green" : "blue")).ToArray();
        var profile = Profile(2000, [], [training]);
        var same = Enumerable.Range(0, 400).Select(i => (string?)(i % 4 == 0 ? "red" : i % 4 == 1 ? "green" : "blue")).ToArray();
        var unseen = Enumerable.Range(0, 400).Select(i => (string?)(i % 2 == 0 ? "purple" : "blue")).ToArray();

        var ok = DriftEvaluator.Evaluate(profile, Window([], [same]), new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report.Features.Single();
        var drift = DriftEvaluator.Evaluate(profile, Window([], [unseen]), new DriftOptions { Detector = "chisquare" }, "m", DateTimeOffset.UnixEpoch).Report.Features.Single();

        Assert.Equal(("c0", "Categorical", "jensenshannon", false), (ok.Feature, ok.Kind, ok.Detector, ok.Drifted));
        Assert.Equal(0.0, ok.Score, 12);
        Assert.Equal(0, drift.PValue);
        Assert.True(drift.Drifted);
        var error = Assert.Throws<DriftInputException>(() => DriftEvaluator.Evaluate(profile, Window([], [same]), new DriftOptions { Detector = "ks" }, "m", DateTimeOffset.UnixEpoch));
        Assert.Contains("'c0' is categorical", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constant_columns_and_few_values_are_compared_by_value_as_evidently_does()
    {
        var constant = Enumerable.Repeat(0f, 3000).ToArray();
        var profile = Profile(3000, [constant]);
        Assert.Equal([(0.0, 3000L)], profile.Numeric[0].ValueCounts!.Select(v => (v.Value, v.Count)));

        var still = DriftEvaluator.Evaluate(profile, Window([Enumerable.Repeat(0f, 300).ToArray()]), new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report.Features.Single();
        var moved = DriftEvaluator.Evaluate(profile, Window([[.. Enumerable.Repeat(0f, 200), .. Enumerable.Repeat(255f, 100)]]), new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report.Features.Single();

        Assert.Equal(("jensenshannon", 0.0, false), (still.Detector, still.Score, still.Drifted));
        Assert.Equal("jensenshannon", moved.Detector);
        Assert.Equal(DriftStatistics.JensenShannon([3000, 0], [200, 100]), moved.Score, 12);
        Assert.True(moved.Drifted);
    }

    [Fact]
    public void Model_outputs_give_prediction_drift_the_confidence_drop_and_expected_accuracy()
    {
        var profile = Profile(800, [Normal(1, 800)]);
        // The window: every row predicted "a" with confidence 0.6; half of them labelled "a".
        var probabilities = Enumerable.Range(0, 200).SelectMany(_ => new[] { 0.6f, 0.4f }).ToArray();
        var window = Window([Normal(2, 200)]) with { Probabilities = probabilities, Labels = [.. Enumerable.Range(0, 200).Select(i => (long)(i % 2))] };

        var report = DriftEvaluator.Evaluate(profile, window, new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report;

        Assert.Equal("z", report.PredictionDrift!.Detector); // 100 held-out rows, two classes
        Assert.True(report.PredictionDrift.Drifted);
        Assert.Equal(0.85, report.Confidence!.BaselineMean, 6);
        Assert.Equal(0.6, report.Confidence.CurrentMean, 6);
        Assert.Equal(0.25, report.Confidence.Drop, 6);
        Assert.True(report.Confidence.Drifted);
        Assert.Equal(0.6, report.Performance!.ExpectedAccuracy, 6);
        Assert.Equal(1.0, report.Performance.BaselineAccuracy);
        Assert.Equal(0.5, report.Performance.Accuracy);
        Assert.Equal(200, report.Performance.LabelledRows);
        Assert.Equal(200, report.Confidence.CurrentHistogram.Sum());
    }

    [Fact]
    public void Older_profiles_fail_naming_what_drift_needs()
    {
        var old = new DataProfile
        {
            RowCount = 10,
            Numeric = [new NumericFeatureProfile { Name = "x0", Count = 10, Mean = 0, Std = 1, Min = -1, Max = 1, BinEdges = [-1, 1], BinCounts = [10] }],
        };
        var withFingerprint = new DataProfile { RowCount = old.RowCount, Numeric = old.Numeric, SchemaFingerprint = "f" };

        var noFingerprint = Assert.Throws<DriftInputException>(() => DriftEvaluator.Evaluate(old, Window([Normal(1, 50)]), new DriftOptions(), "m", DateTimeOffset.UnixEpoch));
        var noSample = Assert.Throws<DriftInputException>(() => DriftEvaluator.Evaluate(withFingerprint, Window([Normal(1, 50)]), new DriftOptions { Detector = "ks" }, "m", DateTimeOffset.UnixEpoch));
        var noBins = Assert.Throws<DriftInputException>(() => DriftEvaluator.Evaluate(withFingerprint, Window([Normal(1, 50)]), new DriftOptions { Detector = "psi" }, "m", DateTimeOffset.UnixEpoch));
        var noPredictions = Assert.Throws<DriftInputException>(() => DriftEvaluator.Evaluate(
            Profile(100, [Normal(1, 100)]) is var p ? new DataProfile { RowCount = p.RowCount, Numeric = p.Numeric, SchemaFingerprint = "f" } : null!,
            Window([Normal(1, 50)]) with { Probabilities = new float[100] }, new DriftOptions(), "m", DateTimeOffset.UnixEpoch));

        Assert.Contains("schemaFingerprint", noFingerprint.Message, StringComparison.Ordinal);
        Assert.Contains("reservoir sample for numeric feature 'x0'", noSample.Message, StringComparison.Ordinal);
        Assert.Contains("quantile bins for numeric feature 'x0'", noBins.Message, StringComparison.Ordinal);
        Assert.Contains("no predictions on held-out data", noPredictions.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_column_in_the_window_is_named()
    {
        var profile = Profile(100, [Normal(1, 100)]);
        var error = Assert.Throws<DriftInputException>(() => DriftEvaluator.Evaluate(profile, Window([[float.NaN, float.NaN]]), new DriftOptions(), "m", DateTimeOffset.UnixEpoch));
        Assert.Contains("column 'x0' has no values in the window (2 missing)", error.Message, StringComparison.Ordinal);
    }
}
