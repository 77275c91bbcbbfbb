using System.Text.Json.Serialization;

namespace Syllabus.Api;

/// <summary>Detector names in a <see cref="DriftReport"/> (Evidently's stattest names).</summary>
public static class DriftDetectorNames
{
    /// <summary>Evidently's default choice per feature (by reference size, kind and distinct values).</summary>
    public const string Auto = "auto";
    public const string KolmogorovSmirnov = "ks";
    public const string Wasserstein = "wasserstein";
    public const string Psi = "psi";
    public const string JensenShannon = "jensenshannon";
    public const string ChiSquare = "chisquare";
    public const string ZTest = "z";

    public static IReadOnlyList<string> All { get; } = [Auto, KolmogorovSmirnov, Wasserstein, Psi, JensenShannon, ChiSquare, ZTest];

    /// <summary>Detectors whose score is a p-value (drift when it is at most the threshold); the others score a distance (drift at or above it).</summary>
    public static bool IsPValue(string detector) => detector is KolmogorovSmirnov or ChiSquare or ZTest;

    /// <summary>Evidently's default thresholds: 0.05 for p-values, 0.1 for the normed Wasserstein distance, PSI and Jensen–Shannon.</summary>
    public static double DefaultThreshold(string detector) => IsPValue(detector) ? 0.05 : 0.1;

    /// <summary>How serve's <c>GET /v2/models/NAME/drift</c> answers (409) while its live window is empty: a DriftPolicy waits, it is no error.</summary>
    public const string EmptyWindowMessage = "the live window has no rows yet";

    /// <summary>Evidently's verdict: a p-value at or below the threshold, or a distance at or above it.</summary>
    public static bool IsDrifted(string detector, double score, double threshold) => IsPValue(detector) ? score <= threshold : score >= threshold;

    /// <summary>How far beyond its threshold a score is (1 at the threshold): distance / threshold, or log p / log threshold.</summary>
    public static double Severity(string detector, double score, double threshold) => IsPValue(detector)
        ? Math.Log(Math.Max(score, 1e-300)) / Math.Log(Math.Clamp(threshold, 1e-300, 1 - 1e-12))
        : score / Math.Max(threshold, 1e-12);
}

/// <summary>
/// One drift evaluation of a data window against a model's training profile: what `syllabus-trainer drift` prints and
/// writes as drift.json, and what a DriftPolicy records. A plain DTO shared by the trainer and the operator.
/// </summary>
public sealed class DriftReport
{
    /// <summary>The model (URI or folder) whose profile was the reference.</summary>
    [JsonPropertyName("model")]
    public string Model { get; init; } = "";

    [JsonPropertyName("schemaFingerprint")]
    public string SchemaFingerprint { get; init; } = "";

    [JsonPropertyName("evaluatedAt")]
    public DateTimeOffset EvaluatedAt { get; init; }

    /// <summary>Training rows behind the profile.</summary>
    [JsonPropertyName("referenceRows")]
    public long ReferenceRows { get; init; }

    /// <summary>Rows in the evaluated window.</summary>
    [JsonPropertyName("currentRows")]
    public long CurrentRows { get; init; }

    /// <summary>Where the evaluated rows sit in a serving window's numbering (absent for a file).</summary>
    [JsonPropertyName("window")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DriftWindowSequence? Window { get; init; }

    /// <summary>The detector asked for (<see cref="DriftDetectorNames"/>); each feature says which ran.</summary>
    [JsonPropertyName("detector")]
    public string Detector { get; init; } = DriftDetectorNames.Auto;

    /// <summary>Multiple-test correction of the p-value detectors (<see cref="MultipleTestCorrections"/>).</summary>
    [JsonPropertyName("correction")]
    public string Correction { get; init; } = MultipleTestCorrections.None;

    /// <summary>Dataset drift when at least this share of the features drifted.</summary>
    [JsonPropertyName("driftShare")]
    public double DriftShare { get; init; } = 0.5;

    [JsonPropertyName("driftedFeatures")]
    public int DriftedFeatures { get; init; }

    [JsonPropertyName("featureCount")]
    public int FeatureCount { get; init; }

    /// <summary>DriftedFeatures / FeatureCount.</summary>
    [JsonPropertyName("driftedShare")]
    public double DriftedShare { get; init; }

    [JsonPropertyName("datasetDrift")]
    public bool DatasetDrift { get; init; }

    /// <summary>Every feature's test, in the model's column order.</summary>
    [JsonPropertyName("features")]
    public IReadOnlyList<DriftTest> Features { get; init; } = [];

    /// <summary>The predicted-class distribution of the window against the model's held-out predictions.</summary>
    [JsonPropertyName("predictionDrift")]
    public DriftTest? PredictionDrift { get; init; }

    [JsonPropertyName("confidence")]
    public ConfidenceDrop? Confidence { get; init; }

    [JsonPropertyName("performance")]
    public PerformanceEstimate? Performance { get; init; }
}

/// <summary>
/// A serving window's row numbering: rows are numbered from 1 in the order a server instance served them; ask
/// <c>GET .../drift?since=RowsSeen&amp;instance=Instance</c> for the rows served after these.
/// </summary>
public sealed class DriftWindowSequence
{
    /// <summary>The server instance (a restarted server numbers its rows from 1 again under a new one).</summary>
    [JsonPropertyName("instance")]
    public string Instance { get; init; } = "";

    /// <summary>The number of the newest evaluated row: rows this instance had served up to it.</summary>
    [JsonPropertyName("rowsSeen")]
    public long RowsSeen { get; init; }

    /// <summary>The most rows the window holds: a window never reaches a larger minimum.</summary>
    [JsonPropertyName("capacity")]
    public int Capacity { get; init; }
}

/// <summary>One detector on one column.</summary>
public sealed class DriftTest
{
    /// <summary>The feature column, or "prediction".</summary>
    [JsonPropertyName("feature")]
    public string Feature { get; init; } = "";

    /// <summary>Numeric, Categorical or Prediction.</summary>
    [JsonPropertyName("kind")]
    public string Kind { get; init; } = "";

    /// <summary>The detector that ran (<see cref="DriftDetectorNames"/>, never auto).</summary>
    [JsonPropertyName("detector")]
    public string Detector { get; init; } = "";

    /// <summary>The test statistic: KS D, χ², z, PSI, the Jensen–Shannon distance or the normed Wasserstein distance.</summary>
    [JsonPropertyName("statistic")]
    public double Statistic { get; init; }

    /// <summary>The p-value of a hypothesis test (null for distances).</summary>
    [JsonPropertyName("pValue")]
    public double? PValue { get; init; }

    /// <summary>The p-value after the multiple-test correction (equal to pValue without one).</summary>
    [JsonPropertyName("adjustedPValue")]
    public double? AdjustedPValue { get; init; }

    /// <summary>What is compared with the threshold: the adjusted p-value, or the distance.</summary>
    [JsonPropertyName("score")]
    public double Score { get; init; }

    [JsonPropertyName("threshold")]
    public double Threshold { get; init; }

    /// <summary>p-value tests: score ≤ threshold; distances: score ≥ threshold (Evidently's rule).</summary>
    [JsonPropertyName("drifted")]
    public bool Drifted { get; init; }

    /// <summary>KS only: exact or asymp (scipy's method after 'auto').</summary>
    [JsonPropertyName("method")]
    public string? Method { get; init; }

    /// <summary>Reference values the test used (the reservoir sample for KS and Wasserstein, all training values otherwise).</summary>
    [JsonPropertyName("referenceCount")]
    public long ReferenceCount { get; init; }

    /// <summary>Present values of the window.</summary>
    [JsonPropertyName("currentCount")]
    public long CurrentCount { get; init; }

    /// <summary>Missing values of the window (not tested).</summary>
    [JsonPropertyName("currentMissing")]
    public long CurrentMissing { get; init; }
}

/// <summary>Mean confidence (maximum class probability) on the window against the held-out baseline.</summary>
public sealed class ConfidenceDrop
{
    [JsonPropertyName("baselineMean")]
    public double BaselineMean { get; init; }

    [JsonPropertyName("currentMean")]
    public double CurrentMean { get; init; }

    /// <summary>baselineMean − currentMean.</summary>
    [JsonPropertyName("drop")]
    public double Drop { get; init; }

    [JsonPropertyName("threshold")]
    public double Threshold { get; init; }

    /// <summary>drop ≥ threshold.</summary>
    [JsonPropertyName("drifted")]
    public bool Drifted { get; init; }

    /// <summary>Held-out confidence histogram (equal bins over [0, 1]).</summary>
    [JsonPropertyName("baselineHistogram")]
    public IReadOnlyList<long> BaselineHistogram { get; init; } = [];

    [JsonPropertyName("currentHistogram")]
    public IReadOnlyList<long> CurrentHistogram { get; init; } = [];
}

/// <summary>
/// Label-free performance estimate (NannyML's CBPE idea): expected accuracy = mean maximum probability, beside the
/// held-out baseline, and the real accuracy where the window carries labels.
/// </summary>
public sealed class PerformanceEstimate
{
    /// <summary>Mean maximum probability on the window.</summary>
    [JsonPropertyName("expectedAccuracy")]
    public double ExpectedAccuracy { get; init; }

    /// <summary>Mean maximum probability on the held-out split.</summary>
    [JsonPropertyName("baselineExpectedAccuracy")]
    public double BaselineExpectedAccuracy { get; init; }

    /// <summary>Accuracy on the held-out split.</summary>
    [JsonPropertyName("baselineAccuracy")]
    public double BaselineAccuracy { get; init; }

    /// <summary>Accuracy on the window's labelled rows; null without labels.</summary>
    [JsonPropertyName("accuracy")]
    public double? Accuracy { get; init; }

    [JsonPropertyName("labelledRows")]
    public long LabelledRows { get; init; }

    /// <summary>Whether the probabilities were calibrated after training (temperature scaling on the validation split); false for the raw softmax.</summary>
    [JsonPropertyName("calibrated")]
    public bool Calibrated { get; init; }
}
