using System.Text.Json.Serialization;

namespace Syllabus.Trainer.Evaluation;

/// <summary>Metrics of a model on one dataset (or one slice of it).</summary>
public sealed class EvaluationResult
{
    /// <summary>Labelled examples evaluated.</summary>
    [JsonPropertyName("count")]
    public int Count { get; init; }

    [JsonPropertyName("accuracy")]
    public double Accuracy { get; init; }

    /// <summary>Unweighted mean F1 over the classes present in the labels or the predictions (as scikit-learn).</summary>
    [JsonPropertyName("macroF1")]
    public double MacroF1 { get; init; }

    /// <summary>Support-weighted mean F1.</summary>
    [JsonPropertyName("weightedF1")]
    public double WeightedF1 { get; init; }

    /// <summary>Expected calibration error with equal-width confidence bins (Guo et al. 2017).</summary>
    [JsonPropertyName("ece")]
    public double ExpectedCalibrationError { get; init; }

    /// <summary>The loss given by the caller, else the mean cross-entropy of the probabilities.</summary>
    [JsonPropertyName("loss")]
    public double? Loss { get; init; }

    [JsonPropertyName("classes")]
    public IReadOnlyList<ClassMetrics> Classes { get; init; } = [];

    /// <summary>Rows are true classes, columns predicted classes.</summary>
    [JsonPropertyName("confusionMatrix")]
    public int[][] ConfusionMatrix { get; init; } = [];

    /// <summary>The confidence bins behind the ECE (a reliability diagram).</summary>
    [JsonPropertyName("calibration")]
    public IReadOnlyList<CalibrationBin> Calibration { get; init; } = [];

    /// <summary>The same metrics per value of the slice column.</summary>
    [JsonPropertyName("slices")]
    public IReadOnlyDictionary<string, EvaluationResult> Slices { get; init; } = new Dictionary<string, EvaluationResult>();

    /// <summary>
    /// A metric by its gate name (accuracy, macroF1, weightedF1, ece, loss, precision/&lt;class&gt;, recall/&lt;class&gt;,
    /// f1/&lt;class&gt;, support/&lt;class&gt;), overall or for a slice.
    /// </summary>
    public bool TryGetMetric(string metric, string? slice, out double value)
    {
        ArgumentNullException.ThrowIfNull(metric);
        if (slice is not null)
        {
            value = double.NaN;
            return Slices.TryGetValue(slice, out var sliced) && sliced.TryGetMetric(metric, null, out value);
        }

        return ToMetricMap().TryGetValue(metric, out value);
    }

    /// <summary>Every overall metric by its gate name.</summary>
    public IReadOnlyDictionary<string, double> ToMetricMap()
    {
        var map = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [MetricNames.Accuracy] = Accuracy,
            [MetricNames.MacroF1] = MacroF1,
            [MetricNames.WeightedF1] = WeightedF1,
            [MetricNames.Ece] = ExpectedCalibrationError,
        };
        if (Loss is { } loss)
        {
            map[MetricNames.Loss] = loss;
        }

        foreach (var c in Classes)
        {
            map[$"{MetricNames.Precision}/{c.Class}"] = c.Precision;
            map[$"{MetricNames.Recall}/{c.Class}"] = c.Recall;
            map[$"{MetricNames.F1}/{c.Class}"] = c.F1;
            map[$"{MetricNames.Support}/{c.Class}"] = c.Support;
        }

        return map;
    }

    /// <summary>
    /// <see cref="ToMetricMap"/> plus every slice's metrics under <c>metric@slice</c> (the key gates with a slice use,
    /// e.g. a curriculum stage's advanceWhen).
    /// </summary>
    public Dictionary<string, double> ToMetricMapWithSlices()
    {
        var map = ToMetricMap().ToDictionary(StringComparer.Ordinal);
        foreach (var (slice, result) in Slices)
        {
            foreach (var (metric, value) in result.ToMetricMap())
            {
                map[Syllabus.Api.TrainerSummary.GateKey(metric, slice)] = value;
            }
        }

        return map;
    }
}

/// <summary>Metric names as gates and the report use them.</summary>
public static class MetricNames
{
    public const string Accuracy = "accuracy";
    public const string MacroF1 = "macroF1";
    public const string WeightedF1 = "weightedF1";
    public const string Ece = "ece";
    public const string Loss = "loss";
    public const string Precision = "precision";
    public const string Recall = "recall";
    public const string F1 = "f1";
    public const string Support = "support";
}

public sealed class ClassMetrics
{
    [JsonPropertyName("class")]
    public string Class { get; init; } = "";

    [JsonPropertyName("precision")]
    public double Precision { get; init; }

    [JsonPropertyName("recall")]
    public double Recall { get; init; }

    [JsonPropertyName("f1")]
    public double F1 { get; init; }

    /// <summary>Examples whose true class this is.</summary>
    [JsonPropertyName("support")]
    public int Support { get; init; }
}

public sealed class CalibrationBin
{
    /// <summary>Confidences in (Lower, Upper]; the first bin also holds 0.</summary>
    [JsonPropertyName("lower")]
    public double Lower { get; init; }

    [JsonPropertyName("upper")]
    public double Upper { get; init; }

    [JsonPropertyName("count")]
    public int Count { get; init; }

    /// <summary>Mean confidence of the bin (0 when empty).</summary>
    [JsonPropertyName("confidence")]
    public double Confidence { get; init; }

    /// <summary>Accuracy of the bin (0 when empty).</summary>
    [JsonPropertyName("accuracy")]
    public double Accuracy { get; init; }
}
