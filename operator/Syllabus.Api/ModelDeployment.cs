using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using k8s.Models;
using Syllabus.Api.Schema;

namespace Syllabus.Api;

/// <summary>Serves a model with stable and canary Deployments, promotes candidates and rolls back bad ones.</summary>
[KubernetesEntity(Group = SyllabusGroup.Name, ApiVersion = SyllabusGroup.Version, Kind = KindName, PluralName = Plural)]
[CustomResource("modeldeployment", "md")]
[Description("ModelDeployment serves a trained model, promotes better candidates through a canary and rolls back when analysis fails.")]
[PrinterColumn(0, "Phase", "string", ".status.phase")]
[PrinterColumn(1, "Stable", "integer", ".status.stableRevision", Description = "Revision serving most traffic")]
[PrinterColumn(2, "Canary", "integer", ".status.canaryRevision", Description = "Revision under analysis")]
[PrinterColumn(3, "Weight", "integer", ".status.canaryWeight", Description = "Share of traffic on the canary (percent)")]
[PrinterColumn(4, "Accuracy", "number", ".status.stableMetric", Priority = 1)]
[PrinterColumn(5, "Age", "date", ".metadata.creationTimestamp")]
public sealed class ModelDeployment : SyllabusResource<ModelDeploymentSpec, ModelDeploymentStatus>
{
    public const string KindName = "ModelDeployment";
    public const string Plural = "modeldeployments";

    [JsonPropertyName("kind")]
    public override string Kind { get; set; } = KindName;
}

public static class ModelDeploymentPhases
{
    public const string Pending = "Pending";
    public const string Progressing = "Progressing";
    public const string Healthy = "Healthy";
    public const string Degraded = "Degraded";
}

public sealed class ModelDeploymentSpec
{
    [JsonPropertyName("source")]
    [Description("Which model to serve.")]
    [Required]
    public ModelSourceSpec Source { get; set; } = new();

    [JsonPropertyName("replicas")]
    [Description("Replicas of the stable Deployment.")]
    [Range(0, 1000), DefaultValue(1)]
    public int Replicas { get; set; } = 1;

    [JsonPropertyName("resources")]
    [Description("Compute resources and placement of the serving pods.")]
    public ComputeResources? Resources { get; set; }

    [JsonPropertyName("image")]
    [Description("Serving image; defaults to the operator's configured trainer image (serve mode).")]
    public string? Image { get; set; }

    [JsonPropertyName("promotion")]
    [Description("When a candidate model replaces the stable one.")]
    public PromotionSpec Promotion { get; set; } = new();

    [JsonPropertyName("analysis")]
    [Description("Online analysis of the canary and of the stable model; failing it rolls back.")]
    public AnalysisSpec? Analysis { get; set; }

    [JsonPropertyName("revisionHistoryLimit")]
    [Description("Old revisions kept in status for rollback.")]
    [Range(1, 100), DefaultValue(10)]
    public int RevisionHistoryLimit { get; set; } = 10;

    [JsonPropertyName("pinnedRevision")]
    [Description("Serve exactly this revision from the history (declarative rollback); automatic promotion pauses while set.")]
    [Range(1, int.MaxValue)]
    public int? PinnedRevision { get; set; }
}

[CelRule("has(self.trainingRun) != has(self.selector)", "source needs exactly one of trainingRun or selector")]
public sealed class ModelSourceSpec
{
    [JsonPropertyName("trainingRun")]
    [Description("Serve this TrainingRun's model.")]
    public LocalObjectReference? TrainingRun { get; set; }

    [JsonPropertyName("selector")]
    [Description("Serve the newest succeeded TrainingRun with these labels whose gates passed.")]
    public V1LabelSelector? Selector { get; set; }
}

public sealed class PromotionSpec
{
    [JsonPropertyName("requireGates")]
    [Description("Only candidates whose gates all passed are considered.")]
    [DefaultValue(true)]
    public bool RequireGates { get; set; } = true;

    [JsonPropertyName("mustBeat")]
    [Description("A candidate must beat the stable model's offline metric by a margin.")]
    public MustBeatSpec? MustBeat { get; set; }

    [JsonPropertyName("canary")]
    [Description("Send a share of traffic to the candidate for an analysis period before promoting; without it candidates are promoted at once.")]
    public CanarySpec? Canary { get; set; }
}

public sealed class MustBeatSpec
{
    [JsonPropertyName("metric")]
    [Description("Offline metric from the TrainingRuns' results (higher is better, except loss and ece).")]
    [Required, MinLength(1)]
    public string Metric { get; set; } = "accuracy";

    [JsonPropertyName("margin")]
    [Description("How much better the candidate must be.")]
    [Range(0.0, 1e6), DefaultValue(0.0)]
    public double Margin { get; set; }
}

public sealed class CanarySpec
{
    [JsonPropertyName("weight")]
    [Description("Percent of traffic the canary receives (by replica ratio behind one Service).")]
    [Range(1, 99), DefaultValue(10)]
    public int Weight { get; set; } = 10;

    [JsonPropertyName("analysisDuration")]
    [Description("How long the canary is analysed before promotion, e.g. 10m.")]
    [RegularExpression(SyllabusGroup.DurationPattern), DefaultValue("10m")]
    public string AnalysisDuration { get; set; } = "10m";
}

public static class AnalysisSources
{
    public const string Server = "Server";
    public const string Prometheus = "Prometheus";
}

public sealed class AnalysisSpec
{
    [JsonPropertyName("metrics")]
    [Description("Metrics checked at every interval.")]
    [Required, MinLength(1)]
    [ListMapKeys("name")]
    public List<AnalysisMetric> Metrics { get; set; } = [];

    [JsonPropertyName("interval")]
    [Description("How often the metrics are checked, e.g. 1m.")]
    [RegularExpression(SyllabusGroup.DurationPattern), DefaultValue("1m")]
    public string Interval { get; set; } = "1m";

    [JsonPropertyName("failureLimit")]
    [Description("Failed checks in a row that trigger a rollback.")]
    [Range(1, 1000), DefaultValue(3)]
    public int FailureLimit { get; set; } = 3;

    [JsonPropertyName("prometheusAddress")]
    [Description("Base URL of the Prometheus server for Prometheus metrics.")]
    public string? PrometheusAddress { get; set; }
}

[CelRule("has(self.atLeast) != has(self.atMost)", "an analysis metric needs exactly one of atLeast or atMost")]
[CelRule("self.source != 'Prometheus' || has(self.query)", "query is required for a Prometheus metric")]
[CelRule("self.source != 'Server' || has(self.metric)", "metric is required for a Server metric")]
public sealed class AnalysisMetric
{
    [JsonPropertyName("name")]
    [Description("Name of the check.")]
    [Required, MinLength(1), MaxLength(63)]
    public string Name { get; set; } = "";

    [JsonPropertyName("source")]
    [Description("Server: a metric the serving pods compute from feedback (accuracy, errorRate, meanConfidence, p95LatencySeconds). Prometheus: a PromQL query returning one number.")]
    [AllowedValues(AnalysisSources.Server, AnalysisSources.Prometheus)]
    [DefaultValue(AnalysisSources.Server)]
    public string Source { get; set; } = AnalysisSources.Server;

    [JsonPropertyName("metric")]
    [Description("Server metric name.")]
    public string? Metric { get; set; }

    [JsonPropertyName("query")]
    [Description("PromQL query (Prometheus source).")]
    public string? Query { get; set; }

    [JsonPropertyName("atLeast")]
    [Description("The check passes when the value is at least this.")]
    public double? AtLeast { get; set; }

    [JsonPropertyName("atMost")]
    [Description("The check passes when the value is at most this.")]
    public double? AtMost { get; set; }
}

public sealed class ModelDeploymentStatus : ResourceStatus
{
    [JsonPropertyName("phase")]
    [Description("Pending, Progressing (canary under analysis), Healthy or Degraded.")]
    public string? Phase { get; set; }

    [JsonPropertyName("stableRevision")]
    [Description("Revision serving the stable Deployment.")]
    public int? StableRevision { get; set; }

    [JsonPropertyName("canaryRevision")]
    [Description("Revision under canary analysis.")]
    public int? CanaryRevision { get; set; }

    [JsonPropertyName("canaryWeight")]
    [Description("Percent of traffic on the canary.")]
    public int? CanaryWeight { get; set; }

    [JsonPropertyName("stableMetric")]
    [Description("The stable model's value of the promotion metric.")]
    public double? StableMetric { get; set; }

    [JsonPropertyName("canaryStartTime")]
    [Description("When the current canary started.")]
    public DateTime? CanaryStartTime { get; set; }

    [JsonPropertyName("analysisFailures")]
    [Description("Failed analysis checks in a row.")]
    public int? AnalysisFailures { get; set; }

    [JsonPropertyName("revisions")]
    [Description("Revision history, newest first, at most revisionHistoryLimit.")]
    [ListMapKeys("revision")]
    public List<ModelRevision>? Revisions { get; set; }
}

public sealed class ModelRevision
{
    [JsonPropertyName("revision")]
    [Description("Revision number, increasing.")]
    public int Revision { get; set; }

    [JsonPropertyName("trainingRun")]
    [Description("The TrainingRun that produced the model.")]
    public string? TrainingRun { get; set; }

    [JsonPropertyName("modelUri")]
    [Description("The model artifact.")]
    public string? ModelUri { get; set; }

    [JsonPropertyName("metric")]
    [Description("The model's offline promotion metric.")]
    public double? Metric { get; set; }

    [JsonPropertyName("promotedAt")]
    [Description("When the revision became stable.")]
    public DateTime? PromotedAt { get; set; }

    [JsonPropertyName("outcome")]
    [Description("Promoted, Rejected or RolledBack.")]
    public string? Outcome { get; set; }
}
