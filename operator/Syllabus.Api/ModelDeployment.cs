using System.Diagnostics.CodeAnalysis;
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
[PrinterColumn(0, "Stable", "integer", ".status.stableRevision", Description = "Revision serving the stable Deployment")]
[PrinterColumn(1, "Canary", "integer", ".status.canaryRevision", Description = "Revision under canary analysis")]
[PrinterColumn(2, "Weight", "integer", ".status.canaryWeight", Description = "Share of traffic on the canary (percent, by replicas)")]
[PrinterColumn(3, "Phase", "string", ".status.phase")]
[PrinterColumn(4, "Live-Accuracy", "number", ".status.liveAccuracy", Description = "Online accuracy of the stable model from feedback labels")]
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

[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
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

/// <summary>Measurement and analysis phases, as Argo Rollouts' AnalysisRun.</summary>
public static class AnalysisPhases
{
    public const string Running = "Running";
    public const string Successful = "Successful";
    public const string Failed = "Failed";
    public const string Inconclusive = "Inconclusive";
    public const string Error = "Error";
}

/// <summary>Which model an analysis measures.</summary>
public static class AnalysisArms
{
    public const string Canary = "canary";
    public const string Stable = "stable";
}

/// <summary>
/// Online analysis with Argo Rollouts' semantics: every <c>interval</c> each metric is measured once (Successful, Failed,
/// Inconclusive when there is no data yet, or Error when it cannot be measured); the analysis fails when a metric's
/// failed measurements exceed <c>failureLimit</c> or its consecutive errors exceed <c>consecutiveErrorLimit</c>, is
/// inconclusive when its inconclusive measurements exceed <c>inconclusiveLimit</c>, and succeeds after <c>count</c>
/// measurements (or at the end of the canary's <c>analysisDuration</c> without a count).
/// </summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class AnalysisSpec
{
    [JsonPropertyName("metrics")]
    [Description("Metrics measured at every interval.")]
    [Required, MinLength(1)]
    [ListMapKeys("name")]
    public List<AnalysisMetric> Metrics { get; set; } = [];

    [JsonPropertyName("interval")]
    [Description("Time between measurements, e.g. 1m.")]
    [RegularExpression(SyllabusGroup.DurationPattern), DefaultValue("1m")]
    public string Interval { get; set; } = "1m";

    [JsonPropertyName("count")]
    [Description("Measurements of each metric after which a canary's analysis is Successful; without it the analysis lasts promotion.canary.analysisDuration.")]
    [Range(1, 10000)]
    public int? Count { get; set; }

    [JsonPropertyName("failureLimit")]
    [Description("Failed measurements of a metric tolerated; one more fails the analysis (Argo Rollouts' failureLimit, default 0).")]
    [Range(0, 10000), DefaultValue(0)]
    public int FailureLimit { get; set; }

    [JsonPropertyName("inconclusiveLimit")]
    [Description("Inconclusive measurements (no data yet) of a metric tolerated; one more makes the analysis Inconclusive, which holds the canary until someone promotes or aborts it.")]
    [Range(0, 10000), DefaultValue(0)]
    public int InconclusiveLimit { get; set; }

    [JsonPropertyName("consecutiveErrorLimit")]
    [Description("Measurement errors in a row tolerated (an unreachable pod or Prometheus); one more fails the analysis (Argo Rollouts' default 4).")]
    [Range(0, 10000), DefaultValue(4)]
    public int ConsecutiveErrorLimit { get; set; } = 4;

    [JsonPropertyName("stable")]
    [Description("Also analyse the stable model after promotion; when that analysis fails, traffic returns to the previous good revision.")]
    [DefaultValue(true)]
    public bool Stable { get; set; } = true;

    [JsonPropertyName("prometheusAddress")]
    [Description("Base URL of the Prometheus server for Prometheus metrics, e.g. http://prometheus.monitoring:9090.")]
    [RegularExpression("^https?://.+")]
    public string? PrometheusAddress { get; set; }
}

[CelRule("has(self.atLeast) != has(self.atMost)", "an analysis metric needs exactly one of atLeast or atMost")]
[CelRule("self.source != 'Prometheus' || has(self.query)", "query is required for a Prometheus metric")]
[CelRule("self.source != 'Server' || has(self.metric)", "metric is required for a Server metric")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class AnalysisMetric
{
    [JsonPropertyName("name")]
    [Description("Name of the check.")]
    [Required, MinLength(1), MaxLength(63)]
    public string Name { get; set; } = "";

    [JsonPropertyName("source")]
    [Description("Server: a metric the serving pods of the analysed arm report (accuracy, errorRate, meanConfidence, p95LatencySeconds). Prometheus: a PromQL query returning one number, with {{arm}}, {{revision}}, {{name}} and {{namespace}} replaced.")]
    [AllowedValues(AnalysisSources.Server, AnalysisSources.Prometheus)]
    [DefaultValue(AnalysisSources.Server)]
    public string Source { get; set; } = AnalysisSources.Server;

    [JsonPropertyName("metric")]
    [Description("Server metric name.")]
    [AllowedValues(ServerMetrics.Accuracy, ServerMetrics.ErrorRate, ServerMetrics.MeanConfidence, ServerMetrics.P95LatencySeconds)]
    public string? Metric { get; set; }

    [JsonPropertyName("minSamples")]
    [Description("Server metrics: the fewest feedback labels (accuracy) or requests (the others) behind a value; fewer make the measurement Inconclusive.")]
    [Range(1, 1_000_000), DefaultValue(1)]
    public int MinSamples { get; set; } = 1;

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

/// <summary>The metrics the serving pods report for analysis (from their /metrics and feedback).</summary>
public static class ServerMetrics
{
    public const string Accuracy = "accuracy";
    public const string ErrorRate = "errorRate";
    public const string MeanConfidence = "meanConfidence";
    public const string P95LatencySeconds = "p95LatencySeconds";
}

/// <summary>What happened to a revision.</summary>
public static class RevisionOutcomes
{
    /// <summary>Under canary analysis.</summary>
    public const string Canary = "Canary";

    /// <summary>Serving as the stable model.</summary>
    public const string Stable = "Stable";

    /// <summary>Was stable, replaced by a newer promotion; a rollback target.</summary>
    public const string Superseded = "Superseded";

    /// <summary>Failed as a candidate (analysis or mustBeat); not retried until asked.</summary>
    public const string Rejected = "Rejected";

    /// <summary>Was stable, failed in production; traffic went back to an earlier revision.</summary>
    public const string RolledBack = "RolledBack";
}

/// <summary>The user's requests, as annotations (kubectl annotate, or the kubectl syllabus plugin); the operator removes each once handled.</summary>
public static class ModelDeploymentActions
{
    /// <summary>Value promote: promote the canary now, skipping the rest of its analysis.</summary>
    public const string Annotation = "syllabus.dev/action";
    public const string Promote = "promote";
    public const string Abort = "abort";
    public const string Retry = "retry";
}

public sealed class ModelDeploymentStatus : ResourceStatus
{
    [JsonPropertyName("phase")]
    [Description("Pending (nothing to serve yet), Progressing (rolling out or canary under analysis), Healthy or Degraded.")]
    public string? Phase { get; set; }

    [JsonPropertyName("stableRevision")]
    [Description("Revision serving the stable Deployment.")]
    public int? StableRevision { get; set; }

    [JsonPropertyName("canaryRevision")]
    [Description("Revision under canary analysis.")]
    public int? CanaryRevision { get; set; }

    [JsonPropertyName("canaryWeight")]
    [Description("Percent of traffic on the canary: its share of the serving replicas.")]
    public int? CanaryWeight { get; set; }

    [JsonPropertyName("liveAccuracy")]
    [Description("Online accuracy of the stable model from feedback labels, at the last measurement.")]
    public double? LiveAccuracy { get; set; }

    [JsonPropertyName("canaryStartTime")]
    [Description("When the current canary started.")]
    public DateTime? CanaryStartTime { get; set; }

    [JsonPropertyName("analysis")]
    [Description("The current (or last) analysis run.")]
    public AnalysisStatus? Analysis { get; set; }

    [JsonPropertyName("nextRevision")]
    [Description("The number the next new revision gets (revisions are never reused, even after they leave the history).")]
    public int? NextRevision { get; set; }

    [JsonPropertyName("refused")]
    [Description("Models rejected or rolled back here, newest last (at most 50): not candidates again until retried, even after their revision left the history.")]
    public List<RefusedModel>? Refused { get; set; }

    [JsonPropertyName("revisions")]
    [Description("Revision history, newest first, at most revisionHistoryLimit (the stable revision is always kept).")]
    [ListMapKeys("revision")]
    public List<ModelRevision>? Revisions { get; set; }
}

public sealed class RefusedModel
{
    [JsonPropertyName("trainingRun")]
    public string? TrainingRun { get; set; }

    [JsonPropertyName("modelUri")]
    public string? ModelUri { get; set; }

    [JsonPropertyName("revision")]
    public int Revision { get; set; }
}

public sealed class AnalysisStatus
{
    [JsonPropertyName("arm")]
    [Description("canary or stable.")]
    public string? Arm { get; set; }

    [JsonPropertyName("revision")]
    [Description("The revision analysed.")]
    public int? Revision { get; set; }

    [JsonPropertyName("phase")]
    [Description("Running, Successful, Failed, Inconclusive or Error.")]
    public string? Phase { get; set; }

    [JsonPropertyName("message")]
    [Description("Why the analysis ended as it did, with the measured values.")]
    public string? Message { get; set; }

    [JsonPropertyName("startedAt")]
    public DateTime? StartedAt { get; set; }

    [JsonPropertyName("metrics")]
    [Description("Per metric: counts and the latest measurements.")]
    [ListMapKeys("name")]
    public List<MetricResult>? Metrics { get; set; }
}

public sealed class MetricResult
{
    [JsonPropertyName("name")]
    public string Name { get; set; } = "";

    [JsonPropertyName("count")]
    public int Count { get; set; }

    [JsonPropertyName("successful")]
    public int Successful { get; set; }

    [JsonPropertyName("failed")]
    public int Failed { get; set; }

    [JsonPropertyName("inconclusive")]
    public int Inconclusive { get; set; }

    [JsonPropertyName("error")]
    public int Error { get; set; }

    [JsonPropertyName("consecutiveError")]
    public int ConsecutiveError { get; set; }

    [JsonPropertyName("measurements")]
    [Description("The latest measurements, oldest first (at most 10).")]
    public List<Measurement>? Measurements { get; set; }
}

public sealed class Measurement
{
    [JsonPropertyName("phase")]
    public string Phase { get; set; } = AnalysisPhases.Successful;

    [JsonPropertyName("value")]
    public double? Value { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }

    [JsonPropertyName("measuredAt")]
    public DateTime? MeasuredAt { get; set; }
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
    [Description("The model artifact, served from here even after the TrainingRun is gone.")]
    public string? ModelUri { get; set; }

    [JsonPropertyName("image")]
    [Description("The serving image.")]
    public string? Image { get; set; }

    [JsonPropertyName("metric")]
    [Description("The model's offline promotion metric (mustBeat.metric, else accuracy).")]
    public double? Metric { get; set; }

    [JsonPropertyName("testData")]
    [Description("Fingerprint of the test data the offline metric was measured on.")]
    public string? TestData { get; set; }

    [JsonPropertyName("completedAt")]
    [Description("When its TrainingRun completed: a later candidate must have completed after the stable revision's run.")]
    public DateTime? CompletedAt { get; set; }

    [JsonPropertyName("rollbackTo")]
    [Description("The revision this one replaced when it was promoted: where traffic returns if it fails in production. Empty for the first model, a pinned revision and a rollback target (never rolled back further).")]
    public int? RollbackTo { get; set; }

    [JsonPropertyName("createdAt")]
    [Description("When the revision was first served.")]
    public DateTime? CreatedAt { get; set; }

    [JsonPropertyName("promotedAt")]
    [Description("When the revision became stable.")]
    public DateTime? PromotedAt { get; set; }

    [JsonPropertyName("rejectedAt")]
    [Description("When the revision was rejected or rolled back.")]
    public DateTime? RejectedAt { get; set; }

    [JsonPropertyName("outcome")]
    [Description("Canary, Stable, Superseded, Rejected or RolledBack.")]
    public string? Outcome { get; set; }

    [JsonPropertyName("reason")]
    [Description("Why it was promoted, rejected or rolled back, with the measured values.")]
    public string? Reason { get; set; }
}
