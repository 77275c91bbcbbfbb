using System.Diagnostics.CodeAnalysis;
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
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
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
    [Description("Folder the labelled examples are exported to as a dataset (pvc://CLAIM/path; required by retrain): each retraining round writes its own export under it.")]
    [RegularExpression(SyllabusGroup.DataUriPattern)]
    public string? ExportUri { get; set; }

    [JsonPropertyName("storeUri")]
    [Description("Folder on a claim (pvc://CLAIM/path) holding the queue's durable label store (labels.db) and the scored batches (batches/). The labelling service and the scoring Jobs mount the claim; SQLite's WAL needs them on one node, so a ReadWriteOnce claim fits.")]
    [Required, MinLength(1), RegularExpression(@"^pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/.*)?$")]
    public string StoreUri { get; set; } = "";
}

[CelRule("has(self.dataset) || has(self.deploymentRef)", "pool needs a dataset, a deploymentRef, or both")]
public sealed class PoolSpec
{
    [JsonPropertyName("dataset")]
    [Description("An unlabelled dataset (its label column, if any, is ignored).")]
    public DatasetSource? Dataset { get; set; }

    [JsonPropertyName("deploymentRef")]
    [Description("A ModelDeployment whose uncertain live samples join the pool: each scoring Job fetches GET /v2/models/NAME/uncertain from its ready stable serve pods; rows whose inputs are not the queue's model's are rejected and reported.")]
    public LocalObjectReference? DeploymentRef { get; set; }
}

[CelRule("self.type != 'QueryByCommittee' || (has(self.committee) && size(self.committee) >= 1)", "QueryByCommittee needs a committee: at least one TrainingRun besides spec.model")]
[CelRule("self.type == 'QueryByCommittee' || !has(self.committee)", "committee is only for QueryByCommittee")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class StrategySpec
{
    [JsonPropertyName("type")]
    [Description("LeastConfidence, Margin, Entropy, QueryByCommittee (the disagreement of spec.model and the committee's models) or Random (baseline).")]
    [AllowedValues(SelectionStrategies.LeastConfidence, SelectionStrategies.Margin, SelectionStrategies.Entropy,
        SelectionStrategies.QueryByCommittee, SelectionStrategies.Random)]
    [DefaultValue(SelectionStrategies.Entropy)]
    public string Type { get; set; } = SelectionStrategies.Entropy;

    [JsonPropertyName("committee")]
    [Description("QueryByCommittee: TrainingRuns whose models join spec.model's in the committee (each must have Succeeded; all must take the same features and predict the same classes).")]
    [MaxLength(31)]
    public List<LocalObjectReference>? Committee { get; set; }

    [JsonPropertyName("disagreement")]
    [Description("QueryByCommittee's measure, as modAL defines it: VoteEntropy (of the members' votes), ConsensusEntropy (of their mean probabilities) or MaxDisagreement (the largest KL divergence of a member from the consensus).")]
    [AllowedValues(CommitteeDisagreements.VoteEntropy, CommitteeDisagreements.ConsensusEntropy, CommitteeDisagreements.MaxDisagreement)]
    [DefaultValue(CommitteeDisagreements.VoteEntropy)]
    public string Disagreement { get; set; } = CommitteeDisagreements.VoteEntropy;

    [JsonPropertyName("classBalance")]
    [Description("Spread each batch across predicted classes.")]
    [DefaultValue(false)]
    public bool ClassBalance { get; set; }
}

public static class CommitteeDisagreements
{
    public const string VoteEntropy = "VoteEntropy";
    public const string ConsensusEntropy = "ConsensusEntropy";
    public const string MaxDisagreement = "MaxDisagreement";
}

public sealed class LabelRetrainSpec
{
    [JsonPropertyName("afterLabels")]
    [Description("Create a TrainingRun every time this many new labels have arrived.")]
    [Required, Range(1, int.MaxValue)]
    public int AfterLabels { get; set; } = 100;

    [JsonPropertyName("template")]
    [Description("The TrainingRun to create, named QUEUE-retrain-N; the exported labels are its training data, and it writes under template.spec.artifacts.uri/QUEUE-retrain-N so no round overwrites a served model.")]
    [Required]
    public TrainingRunTemplate Template { get; set; } = new();
}

public static class LabelingQueuePhases
{
    public const string Pending = "Pending";
    public const string Scoring = "Scoring";
    public const string Labelling = "Labelling";
    public const string Exhausted = "Exhausted";
}

/// <summary>Condition types of a LabelingQueue (besides Ready and BudgetExhausted).</summary>
public static class LabelingQueueConditions
{
    /// <summary>True while a scoring Job runs; False with the reason why none runs (PoolExhausted, ScoringFailed, ...).</summary>
    public const string Scoring = "Scoring";

    /// <summary>True while a retraining round exports labels and creates its TrainingRun; False when idle or failed.</summary>
    public const string Retraining = "Retraining";

    /// <summary>True when the labelling service imported every scored batch; False naming the files it could not import and why.</summary>
    public const string BatchesImported = "BatchesImported";
}

/// <summary>The scoring round in progress: its batch number and attempt, the store's size when it started, and how it ended.</summary>
public sealed class LabelingScoringStatus
{
    [JsonPropertyName("batch")]
    [Description("The batch this round writes (batches/batch-NNNN.csv).")]
    public int Batch { get; set; }

    [JsonPropertyName("attempt")]
    [Description("Attempt of the round (a failed Job is retried with backoff under a new name).")]
    public int Attempt { get; set; }

    [JsonPropertyName("itemsBefore")]
    [Description("Items in the label store when the round started; the round ends when the store holds more.")]
    public long ItemsBefore { get; set; }

    [JsonPropertyName("driftRequestedAt")]
    [Description("Set when the round serves a DriftPolicy's label request (its requestedAt): only the drifted deployment's uncertain live rows are scored, and the request counts as handled when the round ends.")]
    public DateTime? DriftRequestedAt { get; set; }

    [JsonPropertyName("succeededAt")]
    [Description("When the scoring Job succeeded (the labelling service imports the batch on its next poll).")]
    public DateTime? SucceededAt { get; set; }

    [JsonPropertyName("failedAt")]
    [Description("When the attempt's Job failed; the next attempt starts after the backoff.")]
    public DateTime? FailedAt { get; set; }
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

    [JsonPropertyName("skipped")]
    [Description("Items skipped by labellers.")]
    public int? Skipped { get; set; }

    [JsonPropertyName("scoring")]
    [Description("The scoring round in progress, if any.")]
    public LabelingScoringStatus? Scoring { get; set; }

    [JsonPropertyName("tokenSecret")]
    [Description("The Secret holding the bearer token label writes need (key 'token'); created once and never rotated by the operator, but created again (with a new token) when it is deleted.")]
    public string? TokenSecret { get; set; }

    [JsonPropertyName("tokenHash")]
    [Description("The first 16 hex digits of the SHA-256 of the token the operator last put in the Secret; the labelling pod template carries it (annotation syllabus.dev/token-hash), so a re-created Secret restarts the pod onto the new token.")]
    public string? TokenHash { get; set; }

    [JsonPropertyName("retrainRounds")]
    [Description("Retraining rounds whose TrainingRun exists; a restarted operator continues after them.")]
    public int? RetrainRounds { get; set; }

    [JsonPropertyName("retrainedLabels")]
    [Description("Labels in the latest retraining round's export.")]
    public int? RetrainedLabels { get; set; }

    [JsonPropertyName("labelsSinceRetrain")]
    [Description("Labels since the last retrain.")]
    public int? LabelsSinceRetrain { get; set; }

    [JsonPropertyName("lastExportUri")]
    [Description("The latest export of the labelled examples.")]
    public string? LastExportUri { get; set; }

    [JsonPropertyName("lastRetrainRun")]
    [Description("The TrainingRun created by the latest retrain.")]
    public string? LastRetrainRun { get; set; }

    [JsonPropertyName("uncertainImported")]
    [Description("Uncertain live samples of pool.deploymentRef queued for labelling so far (rows of its serve pods selected into a batch).")]
    public int? UncertainImported { get; set; }

    [JsonPropertyName("driftRequestHandledAt")]
    [Description("The newest DriftPolicy label request (status.labelRequest.requestedAt of a policy naming this queue) a scoring round was started for, or passed over because the budget was spent; each request is handled once.")]
    public DateTime? DriftRequestHandledAt { get; set; }

    [JsonPropertyName("uncertainRejected")]
    [Description("Uncertain live samples of pool.deploymentRef the latest scoring round rejected (another schema, an unreadable row); see the Scoring condition.")]
    public int? UncertainRejected { get; set; }

    [JsonPropertyName("emptyRounds")]
    [Description("Scoring rounds in a row that added nothing (PoolExhausted) under this generation; with pool.deploymentRef the next round waits 1 minute, doubling with each such round up to 30 minutes. A round that adds items resets it.")]
    public int? EmptyRounds { get; set; }

    [JsonPropertyName("serviceUrl")]
    [Description("In-cluster URL of the labelling UI and API.")]
    public string? ServiceUrl { get; set; }
}
