using System.Diagnostics.CodeAnalysis;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using k8s.Models;
using Syllabus.Api.Schema;

namespace Syllabus.Api;

/// <summary>Condition types shared by several kinds (Kubernetes API conventions: adjectives or past-tense verbs).</summary>
public static class ConditionTypes
{
    public const string Valid = "Valid";
    public const string Ready = "Ready";
    public const string Available = "Available";
    public const string Scheduled = "Scheduled";
    public const string Running = "Running";
    public const string Completed = "Completed";
    public const string GatesPassed = "GatesPassed";
    public const string Failed = "Failed";
    public const string Suspended = "Suspended";
    public const string Progressing = "Progressing";
    public const string Degraded = "Degraded";
    public const string RolledBack = "RolledBack";
    public const string Drifted = "Drifted";
    public const string BudgetExhausted = "BudgetExhausted";
}

/// <summary>A reference to another object of a known kind in the same namespace.</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class LocalObjectReference
{
    [JsonPropertyName("name")]
    [Description("Name of the object in the same namespace.")]
    [Required, MinLength(1), MaxLength(253)]
    [RegularExpression(@"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")]
    public string Name { get; set; } = "";
}

/// <summary>Data file formats the trainer reads.</summary>
public static class DataFormats
{
    public const string Csv = "Csv";
    public const string Parquet = "Parquet";
}

/// <summary>One dataset: where it is and how it is stored.</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class DatasetSource
{
    [JsonPropertyName("uri")]
    [Description("Location of the data: pvc://CLAIM/path in a cluster, file:///path or a relative path locally. A folder means every file of the format in it.")]
    [Required, MinLength(1), RegularExpression(SyllabusGroup.DataUriPattern)]
    public string Uri { get; set; } = "";

    [JsonPropertyName("format")]
    [Description("File format of the data.")]
    [AllowedValues(DataFormats.Csv, DataFormats.Parquet)]
    [DefaultValue(DataFormats.Csv)]
    public string Format { get; set; } = DataFormats.Csv;
}

/// <summary>An evaluation gate: a metric that must be at least or at most a bound.</summary>
[CelRule("has(self.atLeast) != has(self.atMost)", "a gate needs exactly one of atLeast or atMost")]
[CelRule(MetricDirection.GateCelRule, MetricDirection.GateCelMessage)]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class Gate
{
    [JsonPropertyName("metric")]
    [Description("Metric name from the evaluation report: accuracy, macroF1, weightedF1, ece, loss, precision/<class>, recall/<class>, f1/<class>, support/<class>; with continual.previousTasks also forgetting and backwardTransfer. loss, ece and forgetting are bounded with atMost (lower is better), the others with atLeast.")]
    // The length bound keeps the CEL direction rule's estimated cost small (API servers reject CRDs whose rules may cost too much).
    [Required, MinLength(1), MaxLength(253), RegularExpression(@"^[A-Za-z][A-Za-z0-9_]*(/[^/]+)?$")]
    public string Metric { get; set; } = "";

    [JsonPropertyName("slice")]
    [Description("Evaluate the metric on this slice only (a value of the data's slice column).")]
    public string? Slice { get; set; }

    [JsonPropertyName("atLeast")]
    [Description("The gate passes when the metric is at least this value.")]
    public double? AtLeast { get; set; }

    [JsonPropertyName("atMost")]
    [Description("The gate passes when the metric is at most this value.")]
    public double? AtMost { get; set; }
}

/// <summary>The outcome of one gate.</summary>
public sealed class GateResult
{
    [JsonPropertyName("metric")]
    [Description("Metric the gate checked.")]
    public string Metric { get; set; } = "";

    [JsonPropertyName("slice")]
    [Description("Slice the gate checked, if any.")]
    public string? Slice { get; set; }

    [JsonPropertyName("atLeast")]
    [Description("Lower bound, if the gate had one.")]
    public double? AtLeast { get; set; }

    [JsonPropertyName("atMost")]
    [Description("Upper bound, if the gate had one.")]
    public double? AtMost { get; set; }

    [JsonPropertyName("value")]
    [Description("Measured value; absent when the metric or slice was not found.")]
    public double? Value { get; set; }

    [JsonPropertyName("passed")]
    [Description("Whether the gate passed.")]
    public bool Passed { get; set; }

    [JsonPropertyName("message")]
    [Description("Why the gate failed, when it did.")]
    public string? Message { get; set; }
}

/// <summary>Compute resources and placement of a pod the operator creates.</summary>
public sealed class ComputeResources
{
    [JsonPropertyName("gpus")]
    [Description("Number of GPUs (the limit of gpuResourceName).")]
    [Range(0, 64), DefaultValue(0)]
    public int Gpus { get; set; }

    [JsonPropertyName("gpuResourceName")]
    [Description("Extended resource name of the GPUs.")]
    [DefaultValue("nvidia.com/gpu"), RegularExpression(@"^[a-z0-9.-]+/[a-z0-9.-]+$")]
    public string GpuResourceName { get; set; } = "nvidia.com/gpu";

    [JsonPropertyName("cpu")]
    [Description("CPU request and limit (a Kubernetes quantity, e.g. 2 or 500m).")]
    [IntOrString]
    public ResourceQuantity? Cpu { get; set; }

    [JsonPropertyName("memory")]
    [Description("Memory request and limit (a Kubernetes quantity, e.g. 4Gi).")]
    [IntOrString]
    public ResourceQuantity? Memory { get; set; }

    [JsonPropertyName("nodeSelector")]
    [Description("Node labels the pod must match.")]
    public Dictionary<string, string>? NodeSelector { get; set; }

    [JsonPropertyName("tolerations")]
    [Description("Tolerations for tainted (e.g. GPU) nodes.")]
    public List<V1Toleration>? Tolerations { get; set; }

    [JsonPropertyName("priorityClassName")]
    [Description("PriorityClass of the pod.")]
    public string? PriorityClassName { get; set; }

    [JsonPropertyName("queueName")]
    [Description("Kueue LocalQueue to submit the workload to (sets the kueue.x-k8s.io/queue-name label).")]
    public string? QueueName { get; set; }
}

/// <summary>A model to start from, score with or serve: exactly one source.</summary>
[CelRule("(has(self.trainingRun) ? 1 : 0) + (has(self.uri) ? 1 : 0) == 1", "exactly one of trainingRun or uri must be set")]
public sealed class ModelReference
{
    [JsonPropertyName("trainingRun")]
    [Description("A TrainingRun in the same namespace whose model artifact to use; it must have succeeded with its gates passed.")]
    public LocalObjectReference? TrainingRun { get; set; }

    [JsonPropertyName("uri")]
    [Description("Location of a model artifact folder (model.safetensors + model.json).")]
    [RegularExpression(SyllabusGroup.DataUriPattern)]
    public string? Uri { get; set; }
}

/// <summary>A TrainingRun to create: labels for it and its spec.</summary>
public sealed class TrainingRunTemplate
{
    [JsonPropertyName("metadata")]
    [Description("Labels and annotations for the TrainingRuns created from this template.")]
    public TemplateMetadata? Metadata { get; set; }

    [JsonPropertyName("spec")]
    [Description("The spec of the TrainingRuns created from this template.")]
    [Required]
    public TrainingRunSpec Spec { get; set; } = new();
}

/// <summary>The metadata a template may set.</summary>
public sealed class TemplateMetadata
{
    [JsonPropertyName("labels")]
    [Description("Labels for created objects.")]
    public Dictionary<string, string>? Labels { get; set; }

    [JsonPropertyName("annotations")]
    [Description("Annotations for created objects.")]
    public Dictionary<string, string>? Annotations { get; set; }
}
