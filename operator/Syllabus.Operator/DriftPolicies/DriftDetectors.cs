using System.Globalization;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>What the detectors of one evaluation read: the replicas' reports (by the stattest asked for), the online accuracy and the PromQL values.</summary>
public sealed record DriftInputs
{
    /// <summary>Per stattest query, one reading per evaluated replica (each window has at least minWindowSize rows).</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<DriftReading>> Readings { get; init; }

    /// <summary>Accuracy on feedback labels over all stable replicas, by the minSamples it was measured with (PerformanceDrop).</summary>
    public IReadOnlyDictionary<int, MeasuredValue> OnlineAccuracy { get; init; } = new Dictionary<int, MeasuredValue>();

    /// <summary>PromQL detectors' values, by detector name.</summary>
    public IReadOnlyDictionary<string, MeasuredValue> PromQL { get; init; } = new Dictionary<string, MeasuredValue>();
}

/// <summary>
/// One detector's verdict and the scores it exports (syllabus_drift_score; feature "" for the detector's own score).
/// Not <paramref name="Measured"/>: an error, or no data yet (too few feedback labels, an empty query result).
/// </summary>
public sealed record DetectorOutcome(DetectorResult Result, bool IsError, IReadOnlyList<(string Feature, double Score)> Scores, bool Measured = true);

/// <summary>
/// Each detector of a DriftPolicy as a pure function of what the stable replicas reported. Every replica's window is a
/// sample of the Service's traffic and is judged on its own; a detector breaches when it breaches on more than half of
/// them (one replica: that one), and reports the values of the replica with the largest window.
/// </summary>
public static class DriftDetectors
{
    /// <summary>The most drifted features listed in status and Events.</summary>
    public const int TopFeatures = 10;

    /// <summary>The stattest whose report the detector reads: its own for FeatureDrift and PredictionDrift, auto for the others.</summary>
    public static string StattestOf(DriftDetector detector)
    {
        ArgumentNullException.ThrowIfNull(detector);
        return detector.Type is DetectorTypes.FeatureDrift or DetectorTypes.PredictionDrift ? detector.Stattest ?? DriftDetectorNames.Auto : DriftDetectorNames.Auto;
    }

    /// <summary>Whether the detector reads the replicas' drift reports (all but PromQL).</summary>
    public static bool ReadsReports(DriftDetector detector) => detector.Type != DetectorTypes.PromQL;

    public static DetectorOutcome Evaluate(DriftDetector detector, DriftInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(detector);
        ArgumentNullException.ThrowIfNull(inputs);
        return detector.Type switch
        {
            DetectorTypes.PromQL => PromQL(detector, inputs),
            DetectorTypes.PerformanceDrop => PerformanceDrop(detector, inputs),
            _ => FromReports(detector, inputs),
        };
    }

    private static DetectorOutcome FromReports(DriftDetector detector, DriftInputs inputs)
    {
        var readings = inputs.Readings.GetValueOrDefault(StattestOf(detector)) ?? [];
        var reports = readings.Where(r => r.Report is not null).OrderByDescending(r => r.Report!.CurrentRows).ToList();
        var failures = readings.Where(r => r.Problem is not null).Select(r => r.Problem!).ToList();
        if (reports.Count == 0)
        {
            return Error(detector, failures.Count > 0 ? string.Join("; ", failures) : "no replica's window was evaluated");
        }

        var perReplica = new List<DetectorOutcome>();
        foreach (var reading in reports)
        {
            var outcome = detector.Type switch
            {
                DetectorTypes.FeatureDrift => FeatureDrift(detector, reading.Report!),
                DetectorTypes.PredictionDrift => PredictionDrift(detector, reading.Report!),
                DetectorTypes.ConfidenceDrop => ConfidenceDrop(detector, reading.Report!),
                DetectorTypes.EstimatedPerformanceDrop => EstimatedPerformanceDrop(detector, reading.Report!, inputs.OnlineAccuracy.Values.FirstOrDefault(v => v.Value is not null)),
                _ => Error(detector, $"unknown detector type {detector.Type}"),
            };
            if (outcome.IsError)
            {
                // The same model and profile on every replica: one replica's input error is everyone's.
                return outcome;
            }

            perReplica.Add(outcome);
        }

        var breached = perReplica.Count(o => o.Result.Breached);
        var shown = perReplica[0];
        shown.Result.ReplicasBreached = breached;
        shown.Result.Breached = 2 * breached > perReplica.Count;
        if (failures.Count > 0)
        {
            shown.Result.Message = Join(shown.Result.Message, $"not evaluated on {failures.Count} replica(s): {string.Join("; ", failures)}");
        }

        return shown;
    }

    private static DetectorOutcome FeatureDrift(DriftDetector detector, DriftReport report)
    {
        var byName = report.Features.ToDictionary(f => f.Feature, StringComparer.Ordinal);
        var tests = new List<DriftTest>();
        if (detector.Features is { } names)
        {
            var unknown = names.Where(n => !byName.ContainsKey(n)).ToList();
            if (unknown.Count > 0)
            {
                return Error(detector, $"features {string.Join(", ", unknown.Take(TopFeatures))} are not inputs of the served model (its profile has {report.Features.Count} features, e.g. {string.Join(", ", report.Features.Take(3).Select(f => f.Feature))})");
            }

            tests.AddRange(names.Distinct(StringComparer.Ordinal).Select(n => byName[n]));
        }
        else
        {
            tests.AddRange(report.Features);
        }

        if (tests.Count == 0)
        {
            return Error(detector, "the served model's profile has no features to test");
        }

        // The correction runs over the features this detector tests (the pod reports raw p-values).
        var pIndexes = tests.Select((t, i) => (t, i)).Where(p => p.t.PValue is not null).Select(p => p.i).ToArray();
        var adjusted = MultipleTestCorrections.Adjust([.. pIndexes.Select(i => tests[i].PValue!.Value)], detector.Correction ?? MultipleTestCorrections.None);
        var scores = new double[tests.Count];
        for (var i = 0; i < tests.Count; i++)
        {
            scores[i] = tests[i].Score;
        }

        for (var k = 0; k < pIndexes.Length; k++)
        {
            scores[pIndexes[k]] = adjusted[k];
        }

        var judged = tests.Select((t, i) =>
        {
            var threshold = detector.Threshold ?? DriftDetectorNames.DefaultThreshold(t.Detector);
            return (Test: t, Score: scores[i], Threshold: threshold, Drifted: DriftDetectorNames.IsDrifted(t.Detector, scores[i], threshold),
                Severity: DriftDetectorNames.Severity(t.Detector, scores[i], threshold));
        }).ToList();
        var drifted = judged.Count(j => j.Drifted);
        var share = (double)drifted / judged.Count;
        var worst = judged.MaxBy(j => j.Severity);
        var top = judged.Where(j => j.Drifted).OrderByDescending(j => j.Severity).Take(TopFeatures).Select(j => j.Test.Feature).ToList();
        var stattest = judged.GroupBy(j => j.Test.Detector).MaxBy(g => g.Count())!.Key;
        var result = new DetectorResult
        {
            Name = detector.Name,
            Type = detector.Type,
            Stattest = stattest,
            Score = share,
            Threshold = detector.DriftShare,
            Statistic = worst.Test.Statistic,
            Feature = worst.Test.Feature,
            DriftedFeatures = drifted,
            TestedFeatures = judged.Count,
            TopFeatures = top.Count > 0 ? top : null,
            Breached = share >= detector.DriftShare && drifted > 0,
            Message = $"{drifted} of {judged.Count} features drifted ({F(share)} >= {F(detector.DriftShare)} is dataset drift); worst {worst.Test.Feature}: {worst.Test.Detector} {(DriftDetectorNames.IsPValue(worst.Test.Detector) ? "p" : "distance")} {F(worst.Score)} against {F(worst.Threshold)}",
        };
        return new DetectorOutcome(result, false, [("", share), .. judged.Select(j => (j.Test.Feature, j.Score))]);
    }

    private static DetectorOutcome PredictionDrift(DriftDetector detector, DriftReport report)
    {
        if (report.PredictionDrift is not { } test)
        {
            return Error(detector, "the replica's window has no predictions to compare (its report has no predictionDrift)");
        }

        var threshold = detector.Threshold ?? DriftDetectorNames.DefaultThreshold(test.Detector);
        var breached = DriftDetectorNames.IsDrifted(test.Detector, test.Score, threshold);
        var result = new DetectorResult
        {
            Name = detector.Name,
            Type = detector.Type,
            Stattest = test.Detector,
            Score = test.Score,
            Threshold = threshold,
            Statistic = test.Statistic,
            Breached = breached,
        };
        return new DetectorOutcome(result, false, [("", test.Score)]);
    }

    private static DetectorOutcome ConfidenceDrop(DriftDetector detector, DriftReport report)
    {
        if (report.Confidence is not { } confidence)
        {
            return Error(detector, "the replica's window has no confidences (its report has no confidence)");
        }

        var drop = confidence.BaselineMean - confidence.CurrentMean;
        return Drop(detector, drop, confidence.CurrentMean, confidence.BaselineMean,
            $"mean confidence {F(confidence.CurrentMean)}, held-out {F(confidence.BaselineMean)}");
    }

    private static DetectorOutcome EstimatedPerformanceDrop(DriftDetector detector, DriftReport report, MeasuredValue? online)
    {
        if (report.Performance is not { } performance)
        {
            return Error(detector, "the replica's window has no performance estimate (its report has no performance)");
        }

        var drop = performance.BaselineExpectedAccuracy - performance.ExpectedAccuracy;
        var beside = online?.Value is { } accuracy ? $"; online accuracy from feedback {F(accuracy)}" : "";
        return Drop(detector, drop, performance.ExpectedAccuracy, performance.BaselineExpectedAccuracy,
            $"expected accuracy (mean max probability{(performance.Calibrated ? ", calibrated" : ", uncalibrated")}) {F(performance.ExpectedAccuracy)}, held-out {F(performance.BaselineExpectedAccuracy)} (held-out accuracy {F(performance.BaselineAccuracy)}){beside}");
    }

    private static DetectorOutcome PerformanceDrop(DriftDetector detector, DriftInputs inputs)
    {
        var baseline = inputs.Readings.Values.SelectMany(r => r).Select(r => r.Report?.Performance?.BaselineAccuracy).FirstOrDefault(a => a is not null);
        if (baseline is null)
        {
            var problems = inputs.Readings.Values.SelectMany(r => r).Where(r => r.Problem is not null).Select(r => r.Problem!).Distinct().ToList();
            return Error(detector, $"no held-out accuracy to compare with{(problems.Count > 0 ? ": " + string.Join("; ", problems) : " (no replica reported a profile)")}");
        }

        switch (inputs.OnlineAccuracy.GetValueOrDefault(detector.MinSamples))
        {
            case null:
                return Error(detector, "the online accuracy was not measured");
            case { IsError: true } failed:
                return Error(detector, failed.Problem ?? "the online accuracy could not be measured");
            case { Value: null } noData:
                return NotEvaluated(detector, noData.Problem ?? "no feedback labels yet");
            case { Value: { } accuracy }:
                return Drop(detector, baseline.Value - accuracy, accuracy, baseline.Value, $"online accuracy from feedback {F(accuracy)}, held-out {F(baseline.Value)}");
        }
    }

    private static DetectorOutcome PromQL(DriftDetector detector, DriftInputs inputs)
    {
        if (!inputs.PromQL.TryGetValue(detector.Name, out var measured))
        {
            return Error(detector, "the query was not run");
        }

        if (measured.IsError)
        {
            return Error(detector, measured.Problem ?? "the query failed");
        }

        if (measured.Value is not { } value)
        {
            return NotEvaluated(detector, measured.Problem ?? "the query returned no data");
        }

        var breached = (detector.AtLeast is { } atLeast && value < atLeast) || (detector.AtMost is { } atMost && value > atMost);
        var bound = detector.AtLeast is { } lo ? $"atLeast {F(lo)}" : $"atMost {F(detector.AtMost!.Value)}";
        var result = new DetectorResult
        {
            Name = detector.Name,
            Type = detector.Type,
            Score = value,
            Threshold = detector.AtLeast ?? detector.AtMost,
            Breached = breached,
            Message = $"{F(value)} against {bound}",
        };
        return new DetectorOutcome(result, false, [("", value)]);
    }

    private static DetectorOutcome Drop(DriftDetector detector, double drop, double current, double baseline, string message)
    {
        var threshold = detector.Threshold!.Value;
        var result = new DetectorResult
        {
            Name = detector.Name,
            Type = detector.Type,
            Score = drop,
            Threshold = threshold,
            Statistic = current,
            Baseline = baseline,
            Breached = drop >= threshold,
            Message = $"fell by {F(drop)} (breach at {F(threshold)}): {message}",
        };
        return new DetectorOutcome(result, false, [("", drop)]);
    }

    private static DetectorOutcome NotEvaluated(DriftDetector detector, string why) =>
        new(new DetectorResult { Name = detector.Name, Type = detector.Type, Breached = false, Message = $"no data: {why}" }, false, [], Measured: false);

    private static DetectorOutcome Error(DriftDetector detector, string message) =>
        new(new DetectorResult { Name = detector.Name, Type = detector.Type, Breached = false, Message = message }, true, [], Measured: false);

    private static string? Join(string? a, string b) => string.IsNullOrEmpty(a) ? b : $"{a}; {b}";

    internal static string F(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
}
