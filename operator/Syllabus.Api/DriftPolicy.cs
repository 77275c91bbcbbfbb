using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using k8s.Models;
using Syllabus.Api.Schema;

namespace Syllabus.Api;

/// <summary>Watches a ModelDeployment for drift and retrains, rolls back, sends samples to label, or alerts.</summary>
[KubernetesEntity(Group = SyllabusGroup.Name, ApiVersion = SyllabusGroup.Version, Kind = KindName, PluralName = Plural)]
[CustomResource("driftpolicy", "dp")]
[Description("DriftPolicy compares a ModelDeployment's live traffic with its training data profile and acts on drift.")]
[PrinterColumn(0, "Deployment", "string", ".spec.deploymentRef.name")]
[PrinterColumn(1, "Drifted", "string", ".status.conditions[?(@.type==\"Drifted\")].status")]
[PrinterColumn(2, "Breaches", "integer", ".status.consecutiveBreaches", Description = "Breaching evaluations in a row")]
[PrinterColumn(3, "Retrains", "integer", ".status.retrainsToday", Description = "Retrains started in the last 24 hours")]
[PrinterColumn(4, "Age", "date", ".metadata.creationTimestamp")]
public sealed class DriftPolicy : SyllabusResource<DriftPolicySpec, DriftPolicyStatus>
{
    public const string KindName = "DriftPolicy";
    public const string Plural = "driftpolicies";

    [JsonPropertyName("kind")]
    public override string Kind { get; set; } = KindName;
}

public static class DetectorTypes
{
    public const string Psi = "PSI";
    public const string KolmogorovSmirnov = "KS";
    public const string PredictionDrift = "PredictionDrift";
    public const string LabelDrift = "LabelDrift";
    public const string ConfidenceDrop = "ConfidenceDrop";
    public const string PerformanceDrop = "PerformanceDrop";
    public const string PromQL = "PromQL";
}

public static class MultipleTestCorrections
{
    public const string None = "None";
    public const string Bonferroni = "Bonferroni";
    public const string BenjaminiHochberg = "BenjaminiHochberg";
}

public static class DriftActionTypes
{
    public const string Retrain = "Retrain";
    public const string Rollback = "Rollback";
    public const string Label = "Label";
    public const string Alert = "Alert";
}

public sealed class DriftPolicySpec
{
    [JsonPropertyName("deploymentRef")]
    [Description("The ModelDeployment to watch.")]
    [Required]
    public LocalObjectReference DeploymentRef { get; set; } = new();

    [JsonPropertyName("interval")]
    [Description("How often to evaluate the detectors, e.g. 5m.")]
    [RegularExpression(SyllabusGroup.DurationPattern), DefaultValue("5m")]
    public string Interval { get; set; } = "5m";

    [JsonPropertyName("minWindowSize")]
    [Description("Live samples needed before an evaluation counts.")]
    [Range(1, int.MaxValue), DefaultValue(500)]
    public int MinWindowSize { get; set; } = 500;

    [JsonPropertyName("detectors")]
    [Description("Drift detectors; the evaluation breaches when any detector does.")]
    [Required, MinLength(1), MaxLength(32)]
    [ListMapKeys("name")]
    public List<DriftDetector> Detectors { get; set; } = [];

    [JsonPropertyName("consecutiveBreaches")]
    [Description("Breaching evaluations in a row before acting.")]
    [Range(1, 1000), DefaultValue(3)]
    public int ConsecutiveBreaches { get; set; } = 3;

    [JsonPropertyName("actions")]
    [Description("What to do on drift, in order.")]
    [Required, MinLength(1), MaxLength(8)]
    public List<DriftAction> Actions { get; set; } = [];

    [JsonPropertyName("cooldown")]
    [Description("Minimum time between actions, e.g. 1h.")]
    [RegularExpression(SyllabusGroup.DurationPattern), DefaultValue("1h")]
    public string Cooldown { get; set; } = "1h";

    [JsonPropertyName("maxRetrainsPerDay")]
    [Description("Cap on TrainingRuns created in any 24 hours.")]
    [Range(0, 1000), DefaultValue(2)]
    public int MaxRetrainsPerDay { get; set; } = 2;

    [JsonPropertyName("historyLimit")]
    [Description("Evaluations kept in status.")]
    [Range(1, 100), DefaultValue(20)]
    public int HistoryLimit { get; set; } = 20;
}

[CelRule("!(self.type in ['PSI', 'KS', 'ConfidenceDrop', 'PerformanceDrop', 'PredictionDrift', 'LabelDrift']) || has(self.threshold)", "threshold is required for this detector type")]
[CelRule("self.type != 'PromQL' || (has(self.query) && (has(self.atLeast) != has(self.atMost)))", "a PromQL detector needs query and exactly one of atLeast or atMost")]
[CelRule("!has(self.correction) || self.type == 'KS'", "correction applies to the KS detector only")]
public sealed class DriftDetector
{
    [JsonPropertyName("name")]
    [Description("Name of the detector.")]
    [Required, MinLength(1), MaxLength(63)]
    public string Name { get; set; } = "";

    [JsonPropertyName("type")]
    [Description("PSI per feature; KS (Kolmogorov-Smirnov per feature, p-values corrected for multiple tests); PredictionDrift (PSI of predicted classes); LabelDrift (PSI of feedback labels); ConfidenceDrop (mean confidence fell by threshold); PerformanceDrop (accuracy on feedback fell by threshold); PromQL (a query with a bound).")]
    [Required, AllowedValues(DetectorTypes.Psi, DetectorTypes.KolmogorovSmirnov, DetectorTypes.PredictionDrift, DetectorTypes.LabelDrift,
        DetectorTypes.ConfidenceDrop, DetectorTypes.PerformanceDrop, DetectorTypes.PromQL)]
    public string Type { get; set; } = DetectorTypes.Psi;

    [JsonPropertyName("features")]
    [Description("Features to test (PSI, KS); all by default.")]
    public List<string>? Features { get; set; }

    [JsonPropertyName("threshold")]
    [Description("PSI value, KS significance level (alpha), or absolute drop (ConfidenceDrop, PerformanceDrop) that counts as a breach.")]
    [Range(0.0, 1e6)]
    public double? Threshold { get; set; }

    [JsonPropertyName("correction")]
    [Description("Multiple-test correction across features (KS).")]
    [AllowedValues(MultipleTestCorrections.None, MultipleTestCorrections.Bonferroni, MultipleTestCorrections.BenjaminiHochberg)]
    public string? Correction { get; set; }

    [JsonPropertyName("query")]
    [Description("PromQL query returning one number (PromQL).")]
    public string? Query { get; set; }

    [JsonPropertyName("atLeast")]
    [Description("PromQL: breach when the value falls below this.")]
    public double? AtLeast { get; set; }

    [JsonPropertyName("atMost")]
    [Description("PromQL: breach when the value rises above this.")]
    public double? AtMost { get; set; }
}

[CelRule("self.type != 'Retrain' || has(self.retrain)", "a Retrain action needs retrain")]
[CelRule("self.type != 'Label' || has(self.labelingQueueRef)", "a Label action needs labelingQueueRef")]
public sealed class DriftAction
{
    [JsonPropertyName("type")]
    [Description("Retrain, Rollback, Label (send samples to a LabelingQueue) or Alert (condition and Event only).")]
    [Required, AllowedValues(DriftActionTypes.Retrain, DriftActionTypes.Rollback, DriftActionTypes.Label, DriftActionTypes.Alert)]
    public string Type { get; set; } = DriftActionTypes.Alert;

    [JsonPropertyName("retrain")]
    [Description("The TrainingRun to create.")]
    public RetrainSpec? Retrain { get; set; }

    [JsonPropertyName("labelingQueueRef")]
    [Description("The LabelingQueue that receives drifted and uncertain samples.")]
    public LocalObjectReference? LabelingQueueRef { get; set; }

    [JsonPropertyName("samples")]
    [Description("Samples sent to the LabelingQueue per action.")]
    [Range(1, 100000), DefaultValue(100)]
    public int Samples { get; set; } = 100;
}

public sealed class RetrainSpec
{
    [JsonPropertyName("template")]
    [Description("The TrainingRun to create.")]
    [Required]
    public TrainingRunTemplate Template { get; set; } = new();

    [JsonPropertyName("warmStart")]
    [Description("Start from the currently served model.")]
    [DefaultValue(true)]
    public bool WarmStart { get; set; } = true;

    [JsonPropertyName("replayFraction")]
    [Description("Share of the served model's training data replayed with the new data.")]
    [Range(0.0, 10.0), DefaultValue(0.2)]
    public double ReplayFraction { get; set; } = 0.2;
}

public sealed class DriftPolicyStatus : ResourceStatus
{
    [JsonPropertyName("lastEvaluationTime")]
    [Description("When the detectors last ran.")]
    public DateTime? LastEvaluationTime { get; set; }

    [JsonPropertyName("consecutiveBreaches")]
    [Description("Breaching evaluations in a row.")]
    public int? ConsecutiveBreaches { get; set; }

    [JsonPropertyName("retrainsToday")]
    [Description("TrainingRuns created in the last 24 hours.")]
    public int? RetrainsToday { get; set; }

    [JsonPropertyName("lastActionTime")]
    [Description("When the policy last acted.")]
    public DateTime? LastActionTime { get; set; }

    [JsonPropertyName("lastRetrainRun")]
    [Description("The TrainingRun created by the latest retrain.")]
    public string? LastRetrainRun { get; set; }

    [JsonPropertyName("history")]
    [Description("Recent evaluations, newest first (bounded by historyLimit).")]
    public List<DriftEvaluation>? History { get; set; }
}

public sealed class DriftEvaluation
{
    [JsonPropertyName("time")]
    [Description("When the evaluation ran.")]
    public DateTime Time { get; set; }

    [JsonPropertyName("windowSize")]
    [Description("Live samples in the window.")]
    public int WindowSize { get; set; }

    [JsonPropertyName("breached")]
    [Description("Whether any detector breached.")]
    public bool Breached { get; set; }

    [JsonPropertyName("detectors")]
    [Description("Each detector's result.")]
    public List<DetectorResult>? Detectors { get; set; }
}

public sealed class DetectorResult
{
    [JsonPropertyName("name")]
    [Description("Detector name.")]
    public string Name { get; set; } = "";

    [JsonPropertyName("feature")]
    [Description("The worst feature, for per-feature detectors.")]
    public string? Feature { get; set; }

    [JsonPropertyName("value")]
    [Description("The statistic (PSI, corrected p-value, drop, query value).")]
    public double? Value { get; set; }

    [JsonPropertyName("breached")]
    [Description("Whether the detector breached.")]
    public bool Breached { get; set; }
}
