using System.Diagnostics.CodeAnalysis;
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
    /// <summary>Every input feature tested with a stattest; breaches on dataset drift (drifted share ≥ driftShare).</summary>
    public const string FeatureDrift = "FeatureDrift";

    /// <summary>The predicted-class distribution against the model's held-out predictions.</summary>
    public const string PredictionDrift = "PredictionDrift";

    /// <summary>Mean confidence (maximum class probability) fell from the held-out baseline by at least the threshold.</summary>
    public const string ConfidenceDrop = "ConfidenceDrop";

    /// <summary>Online accuracy from feedback labels fell from the held-out accuracy by at least the threshold.</summary>
    public const string PerformanceDrop = "PerformanceDrop";

    /// <summary>The label-free expected accuracy (mean maximum probability, CBPE) fell from its held-out value by at least the threshold.</summary>
    public const string EstimatedPerformanceDrop = "EstimatedPerformanceDrop";

    /// <summary>A PromQL query's value crossed a bound.</summary>
    public const string PromQL = "PromQL";
}

public static class MultipleTestCorrections
{
    public const string None = "None";
    public const string Bonferroni = "Bonferroni";
    public const string BenjaminiHochberg = "BenjaminiHochberg";

    /// <summary>The p-values adjusted by <paramref name="correction"/> (None returns them as they are).</summary>
    public static double[] Adjust(IReadOnlyList<double> pValues, string correction)
    {
        ArgumentNullException.ThrowIfNull(pValues);
        return correction switch
        {
            None => [.. pValues],
            Bonferroni => AdjustBonferroni(pValues),
            BenjaminiHochberg => AdjustBenjaminiHochberg(pValues),
            _ => throw new ArgumentException($"correction '{correction}' is not one of {None}, {Bonferroni}, {BenjaminiHochberg}", nameof(correction)),
        };
    }

    /// <summary>Bonferroni: each p-value times the number of tests, at most 1.</summary>
    public static double[] AdjustBonferroni(IReadOnlyList<double> pValues)
    {
        ArgumentNullException.ThrowIfNull(pValues);
        return [.. pValues.Select(p => Math.Min(1.0, p * pValues.Count))];
    }

    /// <summary>
    /// Benjamini–Hochberg adjusted p-values (the step-up "q-values" of statsmodels' fdr_bh and R's p.adjust "BH"):
    /// the p-value of rank i (ascending) times m / i, made monotone from the largest down, at most 1.
    /// </summary>
    public static double[] AdjustBenjaminiHochberg(IReadOnlyList<double> pValues)
    {
        ArgumentNullException.ThrowIfNull(pValues);
        var m = pValues.Count;
        var order = Enumerable.Range(0, m).OrderBy(i => pValues[i]).ToArray();
        var adjusted = new double[m];
        var running = 1.0;
        for (var rank = m; rank >= 1; rank--)
        {
            var index = order[rank - 1];
            running = Math.Min(running, pValues[index] * m / rank);
            adjusted[index] = Math.Min(1.0, running);
        }

        return adjusted;
    }
}

public static class DriftActionTypes
{
    public const string Retrain = "Retrain";
    public const string Rollback = "Rollback";
    public const string Label = "Label";
    public const string Alert = "Alert";
}

[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
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

    [JsonPropertyName("prometheusAddress")]
    [Description("Base URL of the Prometheus server for PromQL detectors, e.g. http://prometheus.monitoring:9090.")]
    [RegularExpression("^https?://.+")]
    public string? PrometheusAddress { get; set; }

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
    [Required, MinLength(1), MaxLength(4)]
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

[CelRule("!(self.type in ['ConfidenceDrop', 'PerformanceDrop', 'EstimatedPerformanceDrop']) || has(self.threshold)", "threshold is required for this detector type")]
[CelRule("self.type != 'PromQL' || (has(self.query) && (has(self.atLeast) != has(self.atMost)))", "a PromQL detector needs query and exactly one of atLeast or atMost")]
[CelRule("!has(self.correction) || self.type == 'FeatureDrift'", "correction applies to FeatureDrift only")]
[CelRule("!has(self.features) || self.type == 'FeatureDrift'", "features applies to FeatureDrift only")]
[CelRule("!has(self.stattest) || self.type in ['FeatureDrift', 'PredictionDrift']", "stattest applies to FeatureDrift and PredictionDrift only")]
[CelRule("!has(self.stattest) || self.type != 'PredictionDrift' || self.stattest in ['auto', 'psi', 'jensenshannon', 'chisquare']", "a PredictionDrift stattest is auto, psi, jensenshannon or chisquare")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class DriftDetector
{
    [JsonPropertyName("name")]
    [Description("Name of the detector (a label of syllabus_drift_score).")]
    [Required, MinLength(1), MaxLength(63)]
    public string Name { get; set; } = "";

    [JsonPropertyName("type")]
    [Description("FeatureDrift (every input feature tested with stattest; breaches on dataset drift: drifted share of features >= driftShare); PredictionDrift (predicted classes against the held-out predictions); ConfidenceDrop (mean confidence fell by threshold); PerformanceDrop (accuracy on feedback labels fell below the held-out accuracy by threshold); EstimatedPerformanceDrop (expected accuracy from confidences, CBPE, fell by threshold); PromQL (a query with a bound).")]
    [Required, AllowedValues(DetectorTypes.FeatureDrift, DetectorTypes.PredictionDrift, DetectorTypes.ConfidenceDrop, DetectorTypes.PerformanceDrop,
        DetectorTypes.EstimatedPerformanceDrop, DetectorTypes.PromQL)]
    public string Type { get; set; } = DetectorTypes.FeatureDrift;

    [JsonPropertyName("stattest")]
    [Description("FeatureDrift and PredictionDrift: the statistical test, with Evidently's names and defaults (auto: KS, chi-squared or Z for a reference of at most 1,000 rows, normed Wasserstein and Jensen-Shannon above).")]
    [AllowedValues(DriftDetectorNames.Auto, DriftDetectorNames.KolmogorovSmirnov, DriftDetectorNames.Wasserstein, DriftDetectorNames.Psi,
        DriftDetectorNames.JensenShannon, DriftDetectorNames.ChiSquare, DriftDetectorNames.ZTest)]
    public string? Stattest { get; set; }

    [JsonPropertyName("features")]
    [Description("FeatureDrift: the features to test; all the model's inputs by default.")]
    [MaxLength(10000)]
    public List<string>? Features { get; set; }

    [JsonPropertyName("threshold")]
    [Description("FeatureDrift and PredictionDrift: a p-value at or below which (ks, chisquare, z), or a distance at or above which (wasserstein, psi, jensenshannon), a feature drifted; the stattest's default (0.05 or 0.1) when unset. The drops: the absolute fall that breaches.")]
    [Range(0.0, 1e6)]
    public double? Threshold { get; set; }

    [JsonPropertyName("correction")]
    [Description("FeatureDrift: multiple-test correction of p-values across the tested features.")]
    [AllowedValues(MultipleTestCorrections.None, MultipleTestCorrections.Bonferroni, MultipleTestCorrections.BenjaminiHochberg)]
    public string? Correction { get; set; }

    [JsonPropertyName("driftShare")]
    [Description("FeatureDrift: dataset drift when at least this share of the tested features drifted.")]
    [Range(0.0, 1.0), DefaultValue(0.5)]
    public double DriftShare { get; set; } = 0.5;

    [JsonPropertyName("minSamples")]
    [Description("PerformanceDrop: judged predictions (feedback labels) needed before the accuracy counts.")]
    [Range(1, int.MaxValue), DefaultValue(100)]
    public int MinSamples { get; set; } = 100;

    [JsonPropertyName("query")]
    [Description("PromQL: a query returning one number; {{name}} (the ModelDeployment) and {{namespace}} are replaced.")]
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
    [Description("Samples sent to the LabelingQueue per action: the batch size of the scoring round it starts over the deployment's uncertain live rows.")]
    [Range(1, 100000), DefaultValue(100)]
    public int Samples { get; set; } = 100;
}

public sealed class RetrainSpec
{
    [JsonPropertyName("template")]
    [Description("The TrainingRun to create, named POLICY-retrain-N; it writes under template.spec.artifacts.uri/POLICY-retrain-N, so no retrain overwrites a served model. baseModel (warmStart) and data.replay (replayFraction) are filled in unless set here; continual.ewc and gates (e.g. forgetting atMost with continual.previousTasks) are the template's.")]
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

public static class DriftOutcomes
{
    /// <summary>At least one detector breached.</summary>
    public const string Breached = "Breached";

    /// <summary>Every detector ran and none breached.</summary>
    public const string Clean = "Clean";

    /// <summary>A detector could not be evaluated (and none breached): the breach count is unchanged.</summary>
    public const string Error = "Error";

    /// <summary>No detector had data yet (too few feedback labels, an empty query result): the breach count is unchanged.</summary>
    public const string NoData = "NoData";
}

public sealed class DriftPolicyStatus : ResourceStatus
{
    [JsonPropertyName("stableRevision")]
    [Description("The ModelDeployment's stable revision the breaches were counted on (a new stable model starts the count again).")]
    public int? StableRevision { get; set; }

    [JsonPropertyName("windowSize")]
    [Description("Live rows at the last look: those the last evaluation tested, or, while waiting for minWindowSize, those served since the marks.")]
    public long? WindowSize { get; set; }

    [JsonPropertyName("windowMarks")]
    [Description("Per stable replica, the last row of its window an evaluation tested: the next evaluation tests only rows served after it, so no row is tested twice.")]
    public List<DriftWindowMark>? WindowMarks { get; set; }

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
    [Description("When the policy last acted: the cooldown counts from here, across operator restarts.")]
    public DateTime? LastActionTime { get; set; }

    [JsonPropertyName("lastRetrainRun")]
    [Description("The TrainingRun created by the latest retrain.")]
    public string? LastRetrainRun { get; set; }

    [JsonPropertyName("retrainCount")]
    [Description("TrainingRuns created by this policy, ever (the next one is named NAME-retrain-<retrainCount+1>).")]
    public int? RetrainCount { get; set; }

    [JsonPropertyName("retrains")]
    [Description("The TrainingRuns created in the last 24 hours, oldest first: maxRetrainsPerDay counts these, across operator restarts.")]
    public List<DriftRetrain>? Retrains { get; set; }

    [JsonPropertyName("rollback")]
    [Description("The latest rollback asked of the ModelDeployment, which watches this policy and acts on it when that revision is still stable.")]
    public DriftRollbackRequest? Rollback { get; set; }

    [JsonPropertyName("labelRequest")]
    [Description("The latest request for samples to label: the LabelingQueue, which watches the policies that name it, scores the ModelDeployment's uncertain live rows into a batch of this size once per request.")]
    public DriftLabelRequest? LabelRequest { get; set; }

    [JsonPropertyName("history")]
    [Description("Recent evaluations, newest first (bounded by historyLimit).")]
    public List<DriftEvaluation>? History { get; set; }
}

/// <summary>How far into one serving pod's window the evaluations have read.</summary>
public sealed class DriftWindowMark
{
    [JsonPropertyName("pod")]
    [Description("The serving pod.")]
    [Required]
    public string Pod { get; set; } = "";

    [JsonPropertyName("instance")]
    [Description("Its server instance (a restarted server numbers its rows from 1 again under a new instance).")]
    [Required]
    public string Instance { get; set; } = "";

    [JsonPropertyName("rowsSeen")]
    [Description("The number of the newest row the last evaluation tested.")]
    public long RowsSeen { get; set; }
}

public sealed class DriftLabelRequest
{
    [JsonPropertyName("labelingQueue")]
    [Description("The LabelingQueue asked.")]
    public string LabelingQueue { get; set; } = "";

    [JsonPropertyName("samples")]
    [Description("Samples to send: the batch size of the scoring round the request starts.")]
    public int Samples { get; set; }

    [JsonPropertyName("revision")]
    [Description("The ModelDeployment revision that drifted (whose serve pods kept the uncertain rows).")]
    public int Revision { get; set; }

    [JsonPropertyName("requestedAt")]
    [Description("When it was asked: a queue handles each request once.")]
    public DateTime RequestedAt { get; set; }

    [JsonPropertyName("reason")]
    [Description("What drifted, with the measured values.")]
    public string Reason { get; set; } = "";
}

public sealed class DriftRetrain
{
    [JsonPropertyName("trainingRun")]
    public string TrainingRun { get; set; } = "";

    [JsonPropertyName("createdAt")]
    public DateTime CreatedAt { get; set; }
}

public sealed class DriftRollbackRequest
{
    [JsonPropertyName("revision")]
    [Description("The ModelDeployment revision found drifting: rolled back only while it is the stable one.")]
    public int Revision { get; set; }

    [JsonPropertyName("requestedAt")]
    public DateTime RequestedAt { get; set; }

    [JsonPropertyName("reason")]
    [Description("What drifted, with the measured values.")]
    public string Reason { get; set; } = "";
}

public sealed class DriftEvaluation
{
    [JsonPropertyName("time")]
    [Description("When the evaluation ran.")]
    public DateTime Time { get; set; }

    [JsonPropertyName("revision")]
    [Description("The stable revision evaluated.")]
    public int? Revision { get; set; }

    [JsonPropertyName("windowSize")]
    [Description("Live rows tested: those the evaluated replicas served since their marks.")]
    public long WindowSize { get; set; }

    [JsonPropertyName("untestedRows")]
    [Description("Rows served since the last evaluation that left the replicas' windows before this one could test them (a shorter interval tests them).")]
    public long? UntestedRows { get; set; }

    [JsonPropertyName("replicas")]
    [Description("Stable replicas whose window was evaluated (each is a sample of the Service's traffic).")]
    public int Replicas { get; set; }

    [JsonPropertyName("outcome")]
    [Description("Breached, Clean, Error or NoData.")]
    public string Outcome { get; set; } = DriftOutcomes.Clean;

    [JsonPropertyName("breached")]
    [Description("Whether any detector breached.")]
    public bool Breached { get; set; }

    [JsonPropertyName("actions")]
    [Description("What the policy did after this evaluation, or why it did not act.")]
    public List<string>? Actions { get; set; }

    [JsonPropertyName("detectors")]
    [Description("Each detector's result.")]
    public List<DetectorResult>? Detectors { get; set; }
}

public sealed class DetectorResult
{
    [JsonPropertyName("name")]
    [Description("Detector name.")]
    public string Name { get; set; } = "";

    [JsonPropertyName("type")]
    [Description("Detector type.")]
    public string Type { get; set; } = "";

    [JsonPropertyName("stattest")]
    [Description("The test that ran (FeatureDrift: the most common one across features).")]
    public string? Stattest { get; set; }

    [JsonPropertyName("score")]
    [Description("What is compared with the threshold: the drifted share of features (FeatureDrift), the p-value or distance (PredictionDrift), the drop, or the query value.")]
    public double? Score { get; set; }

    [JsonPropertyName("threshold")]
    [Description("The bound the score was compared with (FeatureDrift: driftShare).")]
    public double? Threshold { get; set; }

    [JsonPropertyName("statistic")]
    [Description("The underlying statistic: the worst feature's (FeatureDrift), the test statistic (PredictionDrift), the current value (drops: mean confidence, online or expected accuracy).")]
    public double? Statistic { get; set; }

    [JsonPropertyName("baseline")]
    [Description("The held-out value a drop is measured from.")]
    public double? Baseline { get; set; }

    [JsonPropertyName("feature")]
    [Description("FeatureDrift: the most drifted feature.")]
    public string? Feature { get; set; }

    [JsonPropertyName("driftedFeatures")]
    [Description("FeatureDrift: how many of the tested features drifted.")]
    public int? DriftedFeatures { get; set; }

    [JsonPropertyName("testedFeatures")]
    [Description("FeatureDrift: how many features were tested.")]
    public int? TestedFeatures { get; set; }

    [JsonPropertyName("topFeatures")]
    [Description("FeatureDrift: the most drifted features, worst first (at most 10).")]
    public List<string>? TopFeatures { get; set; }

    [JsonPropertyName("replicasBreached")]
    [Description("Evaluated replicas on which the detector breached; it breaches when more than half did.")]
    public int? ReplicasBreached { get; set; }

    [JsonPropertyName("breached")]
    [Description("Whether the detector breached.")]
    public bool Breached { get; set; }

    [JsonPropertyName("message")]
    [Description("Why the detector could not be evaluated, or a note on its value.")]
    public string? Message { get; set; }
}
