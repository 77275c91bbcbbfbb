using Syllabus.Api;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Profiling;

namespace Syllabus.Trainer.Drift;

/// <summary>What the evaluation is asked to do.</summary>
public sealed record DriftOptions
{
    /// <summary>One of <see cref="DriftDetectorNames.All"/>.</summary>
    public string Detector { get; init; } = DriftDetectorNames.Auto;

    /// <summary>A threshold for every feature test instead of each detector's default.</summary>
    public double? Threshold { get; init; }

    /// <summary>One of <see cref="MultipleTestCorrections"/>.</summary>
    public string Correction { get; init; } = MultipleTestCorrections.None;

    public double DriftShare { get; init; } = 0.5;

    /// <summary>Drop of mean confidence (absolute) that counts as drift.</summary>
    public double ConfidenceDropThreshold { get; init; } = 0.05;
}

/// <summary>The window as the evaluation needs it: raw feature columns and, when the model ran on it, its outputs.</summary>
public sealed record DriftWindow(
    IReadOnlyList<string> NumericNames,
    IReadOnlyList<float[]> Numeric,
    IReadOnlyList<string> CategoricalNames,
    IReadOnlyList<string?[]> Categorical,
    int Rows)
{
    /// <summary>Class probabilities, rows x classes row-major, in the profile's class order; null when the model did not run.</summary>
    public float[]? Probabilities { get; init; }

    /// <summary>
    /// The fitted temperature <see cref="Probabilities"/> were computed at (the model bundle's), null for the raw
    /// softmax; it must be the one the profile's held-out confidences were computed at.
    /// </summary>
    public double? Temperature { get; init; }

    /// <summary>Class index per row, −1 unlabelled; null without labels.</summary>
    public IReadOnlyList<long>? Labels { get; init; }

    /// <summary>Where the rows sit in a serving window's numbering (null for a file).</summary>
    public DriftWindowSequence? Sequence { get; init; }

    public static DriftWindow Of(WindowData data) =>
        new(data.NumericNames, data.Numeric, data.CategoricalNames, data.Categorical, data.Encoded.Count) { Labels = data.Encoded.Labels };
}

/// <summary>Reference and current shares per bin of one tested feature, for the histogram plot.</summary>
public sealed record FeatureHistogram(string Feature, string Detector, IReadOnlyList<string> Bins, IReadOnlyList<double> Reference, IReadOnlyList<double> Current);

/// <summary>The report and the histograms behind it.</summary>
public sealed record DriftOutcome(DriftReport Report, IReadOnlyList<FeatureHistogram> Histograms);

/// <summary>Drift needs a field an older profile does not have, or the window cannot be compared with it.</summary>
public sealed class DriftInputException(string message) : Exception(message);

/// <summary>
/// Compares a window with a training profile feature by feature (Evidently's detectors and their default choice),
/// corrects the p-values for multiple tests, decides dataset drift, and adds prediction drift, the confidence drop and
/// the label-free expected accuracy when the model's outputs on the window are given.
/// </summary>
public static class DriftEvaluator
{
    public const string Numeric = "Numeric";
    public const string Categorical = "Categorical";
    public const string Prediction = "Prediction";

    /// <summary>Evidently's 'auto': KS, chi-squared and z for references of at most this many rows, Wasserstein and Jensen–Shannon above.</summary>
    public const int SmallReferenceRows = 1000;

    public static DriftOutcome Evaluate(DataProfile profile, DriftWindow window, DriftOptions options, string model, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(window);
        ArgumentNullException.ThrowIfNull(options);
        if (!DriftDetectorNames.All.Contains(options.Detector))
        {
            throw new DriftInputException($"detector '{options.Detector}' is not one of {string.Join(", ", DriftDetectorNames.All)}");
        }

        if (options.DriftShare is <= 0 or > 1)
        {
            throw new DriftInputException($"driftShare {options.DriftShare} is not in (0, 1]");
        }

        if (window.Rows == 0)
        {
            throw new DriftInputException("the window has no rows");
        }

        var schemaFingerprint = profile.SchemaFingerprint
            ?? throw new DriftInputException("the profile has no schemaFingerprint (it was written by a trainer from before drift detection; retrain the model to get a drift profile)");

        var numericProfiles = profile.Numeric.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var categoricalProfiles = profile.Categorical.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var numericReferences = window.NumericNames.Select(name => numericProfiles.GetValueOrDefault(name)
            ?? throw new DriftInputException($"the profile has no numeric feature '{name}' (is it this model's profile?)")).ToArray();
        var categoricalReferences = window.CategoricalNames.Select(name => categoricalProfiles.GetValueOrDefault(name)
            ?? throw new DriftInputException($"the profile has no categorical feature '{name}' (is it this model's profile?)")).ToArray();

        // Features are independent: test them in parallel, keep them in column order, report the first column's error.
        var numericCount = numericReferences.Length;
        var results = new (DriftTest Test, FeatureHistogram Histogram)[numericCount + categoricalReferences.Length];
        var errors = new Exception?[results.Length];
        Parallel.For(0, results.Length, i =>
        {
            try
            {
                results[i] = i < numericCount
                    ? NumericTest(numericReferences[i], window.Numeric[i], options)
                    : CategoricalTest(categoricalReferences[i - numericCount], window.Categorical[i - numericCount], options);
            }
            catch (Exception e) when (e is DriftInputException or ArgumentException)
            {
                errors[i] = e;
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first)
        {
            throw first is DriftInputException ? first : new DriftInputException(first.Message);
        }

        var tests = results.ToList();

        var features = Correct([.. tests.Select(t => t.Test)], options.Correction);
        var drifted = features.Count(f => f.Drifted);
        var share = features.Count > 0 ? (double)drifted / features.Count : 0;

        DriftTest? predictionDrift = null;
        ConfidenceDrop? confidence = null;
        PerformanceEstimate? performance = null;
        if (window.Probabilities is { } probabilities)
        {
            var predictions = profile.Predictions is { Rows: > 0 } p ? p
                : throw new DriftInputException("the profile has no predictions on held-out data (written by a trainer from before drift detection, or trained without a validation split); retrain the model");
            if (predictions.Temperature != window.Temperature)
            {
                throw new DriftInputException(
                    $"the profile's held-out confidences were computed at {Describe(predictions.Temperature)}, the window's at {Describe(window.Temperature)}: they cannot be compared (give this model's profile)");
            }

            (predictionDrift, confidence, performance) = ModelTests(predictions, probabilities, window, options);
        }

        var report = new DriftReport
        {
            Model = model,
            SchemaFingerprint = schemaFingerprint,
            EvaluatedAt = now,
            ReferenceRows = profile.RowCount,
            CurrentRows = window.Rows,
            Window = window.Sequence,
            Detector = options.Detector,
            Correction = options.Correction,
            DriftShare = options.DriftShare,
            DriftedFeatures = drifted,
            FeatureCount = features.Count,
            DriftedShare = share,
            DatasetDrift = features.Count > 0 && share >= options.DriftShare,
            Features = features,
            PredictionDrift = predictionDrift,
            Confidence = confidence,
            Performance = performance,
        };
        var histograms = tests.Zip(features, (t, f) => (t.Histogram, f)).Where(p => p.f.Drifted).OrderByDescending(p => Severity(p.f)).Select(p => p.Histogram).ToList();
        return new DriftOutcome(report, histograms);
    }

    /// <summary>How far beyond its threshold a test is: distance / threshold, or log p / log threshold.</summary>
    public static double Severity(DriftTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        return DriftDetectorNames.Severity(test.Detector, test.Score, test.Threshold);
    }

    /// <summary>
    /// Evidently's _get_default_stattest: reference of at most 1,000 rows → KS for a numeric feature with more than 5
    /// distinct values (reference ∪ current), chi-squared for 3–5 values or a categorical feature with more than 2,
    /// z-test for 2 or fewer; larger references → normed Wasserstein for numeric with more than 5 values, Jensen–Shannon otherwise.
    /// </summary>
    public static string AutoDetector(string kind, long referenceRows, int distinctValues)
    {
        if (referenceRows <= SmallReferenceRows)
        {
            if (kind == Numeric && distinctValues > 5)
            {
                return DriftDetectorNames.KolmogorovSmirnov;
            }

            return distinctValues > 2 ? DriftDetectorNames.ChiSquare : DriftDetectorNames.ZTest;
        }

        return kind == Numeric && distinctValues > 5 ? DriftDetectorNames.Wasserstein : DriftDetectorNames.JensenShannon;
    }

    private static (DriftTest, FeatureHistogram) NumericTest(NumericFeatureProfile reference, float[] column, DriftOptions options)
    {
        var name = reference.Name;
        var present = 0;
        foreach (var v in column)
        {
            present += float.IsNaN(v) ? 0 : 1;
        }

        var current = new float[present];
        var k = 0;
        foreach (var v in column)
        {
            if (!float.IsNaN(v))
            {
                current[k++] = v;
            }
        }

        var missing = column.Length - current.Length;
        if (current.Length == 0)
        {
            throw new DriftInputException($"column '{name}' has no values in the window ({missing} missing)");
        }

        if (reference.Count == 0)
        {
            throw new DriftInputException($"column '{name}' had no values in training, so the profile has nothing to compare it with");
        }

        var detector = options.Detector;
        if (detector == DriftDetectorNames.Auto)
        {
            // Distinct values of reference ∪ current; more than 20 in the reference alone is more than 5.
            var distinct = reference.ValueCounts is { } counts
                ? counts.Select(v => v.Value).Concat(current.Select(v => (double)v)).Distinct().Count()
                : (int)Math.Min(reference.DistinctCount ?? int.MaxValue, int.MaxValue);
            detector = AutoDetector(Numeric, reference.Count + reference.Missing, distinct);
        }

        var threshold = options.Threshold ?? DriftDetectorNames.DefaultThreshold(detector);
        switch (detector)
        {
            case DriftDetectorNames.KolmogorovSmirnov:
            case DriftDetectorNames.Wasserstein:
            {
                var sample = reference.Sample is { Length: > 0 } s ? SortedSample.Of(s)
                    : throw new DriftInputException($"the profile has no reservoir sample for numeric feature '{name}' (the '{detector}' test needs it; written by a trainer from before drift detection — retrain the model)");
                FloatRadixSort.Sort(current);
                var histogram = SampleHistogram(name, detector, sample.Values, current);
                if (detector == DriftDetectorNames.KolmogorovSmirnov)
                {
                    var ks = KolmogorovSmirnov.TwoSample(sample, current);
                    return (PValueTest(name, Numeric, detector, ks.Statistic, ks.PValue, threshold, sample.Count, current.Length, missing, ks.Method), histogram);
                }

                var distance = DriftStatistics.WassersteinNormed(sample, current);
                return (DistanceTest(name, Numeric, detector, distance, threshold, sample.Count, current.Length, missing), histogram);
            }

            case DriftDetectorNames.Psi:
            case DriftDetectorNames.JensenShannon:
            case DriftDetectorNames.ChiSquare:
            case DriftDetectorNames.ZTest:
            {
                (string[] Bins, double[] Reference, double[] Current) binned;
                if (reference.ValueCounts is { } counts)
                {
                    // Few distinct values: Evidently counts each value of reference ∪ current.
                    var keys = counts.Select(v => v.Value).Concat(current.Select(v => (double)v)).Distinct().Order().ToArray();
                    var referenceByValue = counts.ToDictionary(v => v.Value, v => (double)v.Count);
                    var currentByValue = current.GroupBy(v => (double)v).ToDictionary(g => g.Key, g => (double)g.Count());
                    binned = ([.. keys.Select(k => k.ToString("G6", System.Globalization.CultureInfo.InvariantCulture))],
                        [.. keys.Select(k => referenceByValue.GetValueOrDefault(k))], [.. keys.Select(k => currentByValue.GetValueOrDefault(k))]);
                }
                else if (detector is DriftDetectorNames.Psi or DriftDetectorNames.JensenShannon)
                {
                    var edges = reference.QuantileBinEdges ?? throw new DriftInputException(
                        $"the profile has no quantile bins for numeric feature '{name}' (the '{detector}' test needs them; written by a trainer from before drift detection — retrain the model)");
                    var referenceCounts = reference.QuantileBinCounts?.Select(n => (double)n).ToArray() ?? throw new DriftInputException($"the profile has quantile bin edges but no counts for '{name}'");
                    var currentCounts = NumericFeatureProfile.CountQuantileBins(edges, current).Select(n => (double)n).ToArray();
                    binned = (BinLabels(edges), referenceCounts, currentCounts);
                }
                else
                {
                    throw new DriftInputException(
                        $"the '{detector}' test compares values as categories, but numeric feature '{name}' has {reference.DistinctCount} distinct training values (at most {DataProfile.MaxValueCounts} are counted); use ks, wasserstein, psi or jensenshannon");
                }

                var test = BinnedTest(name, Numeric, detector, binned.Reference, binned.Current, threshold, reference.Count, current.Length, missing);
                return (test, new FeatureHistogram(name, detector, binned.Bins, Shares(binned.Reference), Shares(binned.Current)));
            }

            default:
                throw new DriftInputException($"detector '{detector}' is not one of {string.Join(", ", DriftDetectorNames.All)}");
        }
    }

    private static (DriftTest, FeatureHistogram) CategoricalTest(CategoricalFeatureProfile reference, string?[] column, DriftOptions options)
    {
        var name = reference.Name;
        var present = column.Where(v => v is not null).Select(v => v!).ToArray();
        var missing = column.Length - present.Length;
        if (present.Length == 0)
        {
            throw new DriftInputException($"column '{name}' has no values in the window ({missing} missing)");
        }

        var referenceByValue = reference.Categories.ToDictionary(c => c.Value, c => (double)c.Count, StringComparer.Ordinal);
        var currentByValue = present.GroupBy(v => v, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (double)g.Count(), StringComparer.Ordinal);
        var keys = referenceByValue.Keys.Concat(currentByValue.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var detector = options.Detector == DriftDetectorNames.Auto ? AutoDetector(Categorical, reference.Count + reference.Missing, keys.Length) : options.Detector;
        if (detector is DriftDetectorNames.KolmogorovSmirnov or DriftDetectorNames.Wasserstein)
        {
            throw new DriftInputException($"the '{detector}' test is for numeric features; '{name}' is categorical (use auto, psi, jensenshannon, chisquare or z)");
        }

        double[] referenceCounts = [.. keys.Select(k => referenceByValue.GetValueOrDefault(k))];
        double[] currentCounts = [.. keys.Select(k => currentByValue.GetValueOrDefault(k))];
        var threshold = options.Threshold ?? DriftDetectorNames.DefaultThreshold(detector);
        var test = BinnedTest(name, Categorical, detector, referenceCounts, currentCounts, threshold, reference.Count, present.Length, missing);
        return (test, new FeatureHistogram(name, detector, keys, Shares(referenceCounts), Shares(currentCounts)));
    }

    private static DriftTest BinnedTest(string name, string kind, string detector, double[] reference, double[] current, double threshold, long referenceCount, long currentCount, long missing)
    {
        switch (detector)
        {
            case DriftDetectorNames.Psi:
                return DistanceTest(name, kind, detector, DriftStatistics.Psi(reference, current), threshold, referenceCount, currentCount, missing);
            case DriftDetectorNames.JensenShannon:
                return DistanceTest(name, kind, detector, DriftStatistics.JensenShannon(reference, current), threshold, referenceCount, currentCount, missing);
            case DriftDetectorNames.ChiSquare:
            {
                var chi = DriftStatistics.ChiSquare(reference, current);
                return PValueTest(name, kind, detector, chi.Statistic, chi.PValue, threshold, referenceCount, currentCount, missing);
            }

            case DriftDetectorNames.ZTest:
            {
                if (reference.Length > 2)
                {
                    throw new DriftInputException($"the z-test compares the shares of two values, but '{name}' has {reference.Length} (use chisquare)");
                }

                // Evidently tests the share of one of the values; for two values either gives the same two-sided p.
                var z = DriftStatistics.ZTest((long)reference[0], (long)reference.Sum(), (long)current[0], (long)current.Sum());
                return PValueTest(name, kind, detector, z.Statistic, z.PValue, threshold, referenceCount, currentCount, missing);
            }

            default:
                throw new DriftInputException($"the '{detector}' test does not apply to binned values of '{name}'");
        }
    }

    private static DriftTest PValueTest(string name, string kind, string detector, double statistic, double p, double threshold, long referenceCount, long currentCount, long missing, string? method = null) => new()
    {
        Feature = name,
        Kind = kind,
        Detector = detector,
        Statistic = statistic,
        PValue = p,
        AdjustedPValue = p,
        Score = p,
        Threshold = threshold,
        Drifted = p <= threshold,
        Method = method,
        ReferenceCount = referenceCount,
        CurrentCount = currentCount,
        CurrentMissing = missing,
    };

    private static DriftTest DistanceTest(string name, string kind, string detector, double distance, double threshold, long referenceCount, long currentCount, long missing) => new()
    {
        Feature = name,
        Kind = kind,
        Detector = detector,
        Statistic = distance,
        Score = distance,
        Threshold = threshold,
        Drifted = distance >= threshold,
        ReferenceCount = referenceCount,
        CurrentCount = currentCount,
        CurrentMissing = missing,
    };

    /// <summary>Adjusts the p-values of the p-value tests together (Bonferroni or Benjamini–Hochberg) and re-decides them.</summary>
    internal static List<DriftTest> Correct(List<DriftTest> tests, string correction)
    {
        if (correction is not (MultipleTestCorrections.None or MultipleTestCorrections.Bonferroni or MultipleTestCorrections.BenjaminiHochberg))
        {
            throw new DriftInputException($"correction '{correction}' is not one of {MultipleTestCorrections.None}, {MultipleTestCorrections.Bonferroni}, {MultipleTestCorrections.BenjaminiHochberg}");
        }

        var indices = tests.Select((t, i) => (t, i)).Where(p => p.t.PValue is not null).Select(p => p.i).ToArray();
        if (correction == MultipleTestCorrections.None || indices.Length == 0)
        {
            return tests;
        }

        var p = indices.Select(i => tests[i].PValue!.Value).ToArray();
        var adjusted = correction == MultipleTestCorrections.Bonferroni ? DriftStatistics.Bonferroni(p) : DriftStatistics.BenjaminiHochberg(p);
        var result = tests.ToList();
        for (var k = 0; k < indices.Length; k++)
        {
            var t = tests[indices[k]];
            result[indices[k]] = new DriftTest
            {
                Feature = t.Feature,
                Kind = t.Kind,
                Detector = t.Detector,
                Statistic = t.Statistic,
                PValue = t.PValue,
                AdjustedPValue = adjusted[k],
                Score = adjusted[k],
                Threshold = t.Threshold,
                Drifted = adjusted[k] <= t.Threshold,
                Method = t.Method,
                ReferenceCount = t.ReferenceCount,
                CurrentCount = t.CurrentCount,
                CurrentMissing = t.CurrentMissing,
            };
        }

        return result;
    }

    private static string Describe(double? temperature) =>
        temperature is { } t ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"temperature {t:R}") : "the raw softmax (not calibrated)";

    private static (DriftTest, ConfidenceDrop, PerformanceEstimate) ModelTests(PredictionProfile baseline, float[] probabilities, DriftWindow window, DriftOptions options)
    {
        var classes = baseline.PredictedClasses.Count;
        if (probabilities.Length != (long)window.Rows * classes)
        {
            throw new DriftInputException($"{probabilities.Length} probabilities are not {window.Rows} rows of the profile's {classes} classes");
        }

        var predicted = new double[classes];
        var histogram = new long[PredictionProfile.ConfidenceBins];
        double confidenceSum = 0;
        long correct = 0, labelled = 0;
        for (var r = 0; r < window.Rows; r++)
        {
            var row = probabilities.AsSpan(r * classes, classes);
            var best = 0;
            for (var c = 1; c < classes; c++)
            {
                if (row[c] > row[best])
                {
                    best = c;
                }
            }

            predicted[best]++;
            histogram[PredictionProfile.ConfidenceBin(row[best])]++;
            confidenceSum += row[best];
            if (window.Labels is { } labels && labels[r] >= 0)
            {
                labelled++;
                correct += labels[r] == best ? 1 : 0;
            }
        }

        // Classes neither side predicted are not values of either sample (Evidently counts the values present).
        var keep = Enumerable.Range(0, classes).Where(c => predicted[c] > 0 || baseline.PredictedClasses[c].Count > 0).ToArray();
        double[] referenceCounts = [.. keep.Select(c => (double)baseline.PredictedClasses[c].Count)];
        double[] currentCounts = [.. keep.Select(c => predicted[c])];
        var detector = options.Detector is DriftDetectorNames.Psi or DriftDetectorNames.JensenShannon or DriftDetectorNames.ChiSquare
            ? options.Detector
            : AutoDetector(Categorical, baseline.Rows, keep.Length);
        var threshold = DriftDetectorNames.DefaultThreshold(detector);
        var predictionTest = BinnedTest("prediction", Prediction, detector, referenceCounts, currentCounts, threshold, baseline.Rows, window.Rows, 0);

        var mean = confidenceSum / window.Rows;
        var drop = baseline.MeanConfidence - mean;
        var confidence = new ConfidenceDrop
        {
            BaselineMean = baseline.MeanConfidence,
            CurrentMean = mean,
            Drop = drop,
            Threshold = options.ConfidenceDropThreshold,
            Drifted = drop >= options.ConfidenceDropThreshold,
            BaselineHistogram = baseline.ConfidenceHistogram,
            CurrentHistogram = histogram,
        };
        var performance = new PerformanceEstimate
        {
            ExpectedAccuracy = mean,
            BaselineExpectedAccuracy = baseline.MeanConfidence,
            BaselineAccuracy = baseline.Accuracy,
            Accuracy = labelled > 0 ? (double)correct / labelled : null,
            LabelledRows = labelled,
            // Both sides at the same fitted temperature (checked by the caller): CBPE on calibrated confidences.
            Calibrated = baseline.Temperature is not null,
        };
        return (predictionTest, confidence, performance);
    }

    /// <summary>
    /// Equal-width bins over the range of both samples (what a KS or Wasserstein test compares: the values
    /// themselves). A value's bin, min(⌊(v − lo)/width⌋, bins − 1), never decreases as v grows, so on the sorted samples
    /// each bin's count is found by binary search instead of a division per value.
    /// </summary>
    private static FeatureHistogram SampleHistogram(string name, string detector, ReadOnlySpan<float> sortedReference, ReadOnlySpan<float> sortedCurrent)
    {
        const int bins = 20;
        double lo = Math.Min(sortedReference[0], sortedCurrent[0]);
        double hi = Math.Max(sortedReference[^1], sortedCurrent[^1]);
        if (hi <= lo)
        {
            return new FeatureHistogram(name, detector, [lo.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)], [1.0], [1.0]);
        }

        var width = (hi - lo) / bins;
        int Bin(float v) => Math.Min((int)((v - lo) / width), bins - 1);
        double[] Count(ReadOnlySpan<float> sorted)
        {
            var counts = new double[bins];
            var start = 0;
            for (var b = 0; b < bins - 1; b++)
            {
                // The first value past bin b.
                int low = start, high = sorted.Length;
                while (low < high)
                {
                    var mid = (low + high) >>> 1;
                    if (Bin(sorted[mid]) > b)
                    {
                        high = mid;
                    }
                    else
                    {
                        low = mid + 1;
                    }
                }

                counts[b] = low - start;
                start = low;
            }

            counts[bins - 1] = sorted.Length - start;
            return Shares(counts);
        }

        string[] labels = [.. Enumerable.Range(0, bins).Select(b => (lo + (b * width)).ToString("G4", System.Globalization.CultureInfo.InvariantCulture))];
        return new FeatureHistogram(name, detector, labels, Count(sortedReference), Count(sortedCurrent));
    }

    private static string[] BinLabels(IReadOnlyList<double> edges)
    {
        static string F(double v) => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
        if (edges.Count == 0)
        {
            return ["all"];
        }

        return [.. Enumerable.Range(0, edges.Count + 1).Select(i => i == 0 ? $"<{F(edges[0])}" : i == edges.Count ? $"≥{F(edges[^1])}" : $"[{F(edges[i - 1])},{F(edges[i])})")];
    }

    private static double[] Shares(double[] counts)
    {
        var total = counts.Sum();
        return [.. counts.Select(c => total > 0 ? c / total : 0)];
    }
}
