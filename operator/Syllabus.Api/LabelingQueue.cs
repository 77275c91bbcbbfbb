using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using k8s.Models;
using Syllabus.Api.Schema;

namespace Syllabus.Api;

/// <summary>Active learning: picks the most informative unlabelled examples, collects labels, triggers retraining.</summary>
[KubernetesEntity(Group = SyllabusGroup.Name, ApiVersion = SyllabusGroup.Version, Kind = KindName, PluralName = Plural)]
[CustomResource("labelingqueue", "lq")]
[Description("LabelingQueue selects the most informative unlabelled examples with a model, serves a labelling UI and retrains on the new labels.")]
[PrinterColumn(0, "Strategy", "string", ".spec.strategy.type")]
[PrinterColumn(1, "Pending", "integer", ".status.pending", Description = "Selected examples awaiting a label")]
[PrinterColumn(2, "Labelled", "integer", ".status.labelled")]
[PrinterColumn(3, "Budget", "integer", ".status.budgetRemaining", Description = "Labels left in the budget")]
[PrinterColumn(4, "Age", "date", ".metadata.creationTimestamp")]
public sealed class LabelingQueue : SyllabusResource<LabelingQueueSpec, LabelingQueueStatus>
{
    public const string KindName = "LabelingQueue";
    public const string Plural = "labelingqueues";

    [JsonPropertyName("kind")]
    public override string Kind { get; set; } = KindName;
}

public static class SelectionStrategies
{
    public const string LeastConfidence = "LeastConfidence";
    public const string Margin = "Margin";
    public const string Entropy = "Entropy";
    public const string QueryByCommittee = "QueryByCommittee";
    public const string Random = "Random";
}

[CelRule("self.labels.size() >= 2", "a labelling task needs at least two labels")]
public sealed class LabelingQueueSpec
{
    [JsonPropertyName("model")]
    [Description("The model that scores the pool.")]
    [Required]
    public ModelReference Model { get; set; } = new();

    [JsonPropertyName("pool")]
    [Description("Where unlabelled examples come from.")]
    [Required]
    public PoolSpec Pool { get; set; } = new();

    [JsonPropertyName("strategy")]
    [Description("How the next batch is chosen.")]
    public StrategySpec Strategy { get; set; } = new();

    [JsonPropertyName("batchSize")]
    [Description("Examples selected per scoring round.")]
    [Range(1, 100000), DefaultValue(100)]
    public int BatchSize { get; set; } = 100;

    [JsonPropertyName("labels")]
    [Description("The label set offered to labellers.")]
    [Required, MaxLength(10000)]
    public List<string> Labels { get; set; } = [];

    [JsonPropertyName("budget")]
    [Description("Total labels to collect; selection stops when it is spent.")]
    [Required, Range(1, int.MaxValue)]
    public int Budget { get; set; } = 1000;

    [JsonPropertyName("retrain")]
    [Description("Create a TrainingRun on the labels collected so far.")]
    public LabelRetrainSpec? Retrain { get; set; }

    [JsonPropertyName("exportUri")]
    [Description("Folder the labelled examples are exported to as a dataset.")]
    [RegularExpression(SyllabusGroup.DataUriPattern)]
    public string? ExportUri { get; set; }
}

[CelRule("has(self.dataset) || has(self.deploymentRef)", "pool needs a dataset, a deploymentRef, or both")]
public sealed class PoolSpec
{
    [JsonPropertyName("dataset")]
    [Description("An unlabelled dataset (its label column, if any, is ignored).")]
    public DatasetSource? Dataset { get; set; }

    [JsonPropertyName("deploymentRef")]
    [Description("A ModelDeployment whose uncertain live samples join the pool.")]
    public LocalObjectReference? DeploymentRef { get; set; }
}

[CelRule("self.type != 'QueryByCommittee' || self.committeeSize >= 2", "QueryByCommittee needs committeeSize of at least 2")]
public sealed class StrategySpec
{
    [JsonPropertyName("type")]
    [Description("LeastConfidence, Margin, Entropy, QueryByCommittee (vote entropy over a committee) or Random (baseline).")]
    [AllowedValues(SelectionStrategies.LeastConfidence, SelectionStrategies.Margin, SelectionStrategies.Entropy,
        SelectionStrategies.QueryByCommittee, SelectionStrategies.Random)]
    [DefaultValue(SelectionStrategies.Entropy)]
    public string Type { get; set; } = SelectionStrategies.Entropy;

    [JsonPropertyName("committeeSize")]
    [Description("Committee members (QueryByCommittee), trained on bootstrap samples.")]
    [Range(2, 32), DefaultValue(5)]
    public int CommitteeSize { get; set; } = 5;

    [JsonPropertyName("classBalance")]
    [Description("Spread each batch across predicted classes.")]
    [DefaultValue(false)]
    public bool ClassBalance { get; set; }
}

public sealed class LabelRetrainSpec
{
    [JsonPropertyName("afterLabels")]
    [Description("Create a TrainingRun every time this many new labels have arrived.")]
    [Required, Range(1, int.MaxValue)]
    public int AfterLabels { get; set; } = 100;

    [JsonPropertyName("template")]
    [Description("The TrainingRun to create; the exported labels are added to its training data.")]
    [Required]
    public TrainingRunTemplate Template { get; set; } = new();
}

public sealed class LabelingQueueStatus : ResourceStatus
{
    [JsonPropertyName("phase")]
    [Description("Pending, Scoring, Labelling or Exhausted.")]
    public string? Phase { get; set; }

    [JsonPropertyName("pending")]
    [Description("Selected examples awaiting a label.")]
    public int? Pending { get; set; }

    [JsonPropertyName("labelled")]
    [Description("Labels collected.")]
    public int? Labelled { get; set; }

    [JsonPropertyName("budgetRemaining")]
    [Description("Labels left in the budget.")]
    public int? BudgetRemaining { get; set; }

    [JsonPropertyName("batches")]
    [Description("Scoring rounds completed.")]
    public int? Batches { get; set; }

    [JsonPropertyName("labelsSinceRetrain")]
    [Description("Labels since the last retrain.")]
    public int? LabelsSinceRetrain { get; set; }

    [JsonPropertyName("lastExportUri")]
    [Description("The latest export of the labelled examples.")]
    public string? LastExportUri { get; set; }

    [JsonPropertyName("lastRetrainRun")]
    [Description("The TrainingRun created by the latest retrain.")]
    public string? LastRetrainRun { get; set; }

    [JsonPropertyName("serviceUrl")]
    [Description("In-cluster URL of the labelling UI and API.")]
    public string? ServiceUrl { get; set; }
}
