namespace Syllabus.Api.Validation;

/// <summary>One broken rule: the field path as the API server's validator names it, and the rule's message.</summary>
public sealed record ValidationError(string Path, string Message)
{
    public override string ToString() => Message.Contains(Path, StringComparison.Ordinal) ? Message : $"{Path}: {Message}";
}

/// <summary>
/// The rules of a spec, shared by the operator and the trainer. <see cref="Validate(TrainingRunSpec, string)"/>: the
/// cross-field rules the CRDs express in CEL (x-kubernetes-validations), enforced by the operator because a
/// server older than 1.25 ignores them, and by the trainer for local runs that no server checks. Each rule is a small pure function with the CEL rule's message, so the
/// operator and a CEL-capable server report the same thing; a test runs both over the same invalid manifests.
/// C# "has(x)" is "x is not null" (fields with schema defaults are always present after defaulting).
/// </summary>
public static partial class SpecValidation
{
    public static IReadOnlyList<ValidationError> Validate(TrainingRunSpec spec, string path = "spec")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var errors = new List<ValidationError>();
        Check(errors, path, !(spec.CurriculumRef is not null && spec.Curriculum is not null), "set at most one of curriculumRef or curriculum");
        if (spec.Model is { } model)
        {
            Check(errors, $"{path}.model", model.Architecture != ModelArchitectures.Cnn || model.InputShape is not null, "model.inputShape is required for a CNN");
            Check(errors, $"{path}.model", model.Architecture != ModelArchitectures.Custom || model.Image is not null, "model.image is required for a Custom model");
        }

        if (spec.BaseModel is { } baseModel)
        {
            Check(errors, $"{path}.baseModel", (baseModel.TrainingRun is not null ? 1 : 0) + (baseModel.Uri is not null ? 1 : 0) == 1, "a base model has exactly one source: trainingRun or uri");
        }

        if (spec.Data is { } data)
        {
            Check(errors, $"{path}.data", !(data.Validation is not null && data.ValidationFraction is not null), "set at most one of validation or validationFraction");
            Check(errors, $"{path}.data", data.Normalization != Normalizations.Scale || data.Scale is not null, "data.scale is required when normalization is Scale");
            if (data.MissingValues is { } missing)
            {
                Check(errors, $"{path}.data.missingValues", missing.Policy != MissingValuePolicies.Impute || missing.Impute is not null, "missingValues.impute is required when policy is Impute");
            }
        }

        if (spec.Optimizer is { } optimizer)
        {
            Check(errors, $"{path}.optimizer", !optimizer.Nesterov || (optimizer.Type == OptimizerTypes.Sgd && optimizer.Momentum > 0.0), "nesterov needs type SGD and momentum > 0");
        }

        if (spec.LrSchedule is { } schedule)
        {
            ValidateSchedule(errors, $"{path}.lrSchedule", schedule);
        }

        for (var i = 0; i < (spec.Gates?.Count ?? 0); i++)
        {
            ValidateGate(errors, $"{path}.gates[{i}]", spec.Gates![i]);
        }

        if (spec.Curriculum is { } curriculum)
        {
            errors.AddRange(Validate(curriculum, $"{path}.curriculum"));
        }

        return errors;
    }

    public static IReadOnlyList<ValidationError> Validate(CurriculumSpec spec, string path = "spec")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var errors = new List<ValidationError>();
        Check(errors, path, (spec.Pacing is not null) != (spec.Stages is not null), "exactly one of pacing or stages must be set");
        if (spec.Difficulty is { } difficulty)
        {
            Check(errors, $"{path}.difficulty", difficulty.Source != DifficultySources.Column || difficulty.Column is not null, "difficulty.column is required when source is Column");
            Check(errors, $"{path}.difficulty", difficulty.Source == DifficultySources.Column || difficulty.Teacher is not null, "difficulty.teacher is required when source is TeacherLoss or TeacherConfidence");
            if (difficulty.Teacher is { } teacher)
            {
                Check(errors, $"{path}.difficulty.teacher", (teacher.TrainingRun is not null ? 1 : 0) + (teacher.Uri is not null ? 1 : 0) == 1, "exactly one of trainingRun or uri must be set");
            }
        }

        if (spec.Pacing is { } pacing)
        {
            Check(errors, $"{path}.pacing", pacing.Function != PacingFunctions.Step || pacing.Steps is not null, "pacing.steps is required for the Step function");
            Check(errors, $"{path}.pacing", pacing.Steps is null || pacing.Function == PacingFunctions.Step, "pacing.steps is only used by the Step function");
        }

        for (var i = 0; i < (spec.Stages?.Count ?? 0); i++)
        {
            var stage = spec.Stages![i];
            var stagePath = $"{path}.stages[{i}]";
            Check(errors, stagePath, stage.MaxEpochs is null || stage.MaxEpochs >= stage.MinEpochs, "maxEpochs must be at least minEpochs");
            if (stage.AdvanceWhen is { } gate)
            {
                ValidateGate(errors, $"{stagePath}.advanceWhen", gate);
            }
        }

        return errors;
    }

    /// <summary>The ModelDeployment rules: the CEL rules of its CRD (the operator enforces them on servers without CEL) and the cross-field ones.</summary>
    public static IReadOnlyList<ValidationError> Validate(ModelDeploymentSpec spec, string path = "spec")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var errors = new List<ValidationError>(ValidateSchema(spec, path));
        Check(errors, $"{path}.source", (spec.Source.TrainingRun is not null) != (spec.Source.Selector is not null), "source needs exactly one of trainingRun or selector");
        if (spec.Analysis is { } analysis)
        {
            for (var i = 0; i < analysis.Metrics.Count; i++)
            {
                var metric = analysis.Metrics[i];
                var metricPath = $"{path}.analysis.metrics[{i}]";
                Check(errors, metricPath, (metric.AtLeast is not null) != (metric.AtMost is not null), "an analysis metric needs exactly one of atLeast or atMost");
                Check(errors, metricPath, metric.Source != AnalysisSources.Prometheus || metric.Query is not null, "query is required for a Prometheus metric");
                Check(errors, metricPath, metric.Source != AnalysisSources.Server || metric.Metric is not null, "metric is required for a Server metric");
                Check(errors, $"{path}.analysis", metric.Source != AnalysisSources.Prometheus || analysis.PrometheusAddress is not null, $"prometheusAddress is required for the Prometheus metric {metric.Name}");
            }

            Check(errors, $"{path}.analysis.metrics", analysis.Metrics.Select(m => m.Name).Distinct(StringComparer.Ordinal).Count() == analysis.Metrics.Count, "metric names must be unique");
            Check(errors, $"{path}.analysis.interval", !Durations.TryParse(analysis.Interval, out var interval) || interval >= TimeSpan.FromSeconds(1), "interval must be at least 1s");
            foreach (var metric in analysis.Metrics.Where(m => m.Query is not null))
            {
                var unknown = System.Text.RegularExpressions.Regex.Matches(metric.Query!, @"\{\{[^}]*\}\}").Select(m => m.Value)
                    .Where(p => p is not ("{{arm}}" or "{{revision}}" or "{{name}}" or "{{namespace}}")).Distinct().ToList();
                Check(errors, $"{path}.analysis.metrics[{metric.Name}].query", unknown.Count == 0, $"unknown placeholder {string.Join(", ", unknown)} (known: {{{{arm}}}}, {{{{revision}}}}, {{{{name}}}}, {{{{namespace}}}})");
            }
        }

        if (spec.Promotion.Canary is { } canary)
        {
            Check(errors, $"{path}.promotion.canary.analysisDuration", !Durations.TryParse(canary.AnalysisDuration, out var duration) || duration > TimeSpan.Zero, "analysisDuration must be longer than 0");
            Check(errors, $"{path}.promotion.canary.analysisDuration",
                spec.Analysis is not { Count: null } a || !Durations.TryParse(a.Interval, out var every) || duration >= every,
                "analysisDuration must be at least analysis.interval when analysis.count is not set (the first measurement comes one interval after the canary is up)");
        }

        return errors;
    }

    /// <summary>The LabelingQueue rules: its CRD's CEL rules and what the operator can run.</summary>
    public static IReadOnlyList<ValidationError> Validate(LabelingQueueSpec spec, string path = "spec")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var errors = new List<ValidationError>(ValidateSchema(spec, path));
        Check(errors, $"{path}.labels", spec.Labels.Count >= 2, "a labelling task needs at least two labels");
        Check(errors, $"{path}.labels", spec.Labels.Distinct(StringComparer.Ordinal).Count() == spec.Labels.Count, "labels must be unique");
        Check(errors, $"{path}.labels", spec.Labels.All(l => l.Length > 0 && !l.Contains(',', StringComparison.Ordinal)), "a label must be non-empty and hold no comma");
        Check(errors, $"{path}.model", (spec.Model.TrainingRun is not null) != (spec.Model.Uri is not null), "model needs exactly one of trainingRun or uri");
        Check(errors, $"{path}.pool", spec.Pool.Dataset is not null || spec.Pool.DeploymentRef is not null, "pool needs a dataset, a deploymentRef, or both");
        Check(errors, $"{path}.pool.dataset.uri", spec.Pool.Dataset is null || spec.Pool.Dataset.Uri.StartsWith("pvc://", StringComparison.Ordinal), "the pool must be a file on a claim (pvc://CLAIM/path) for the scoring Jobs to mount");
        Check(errors, $"{path}.strategy.committee", spec.Strategy.Type != SelectionStrategies.QueryByCommittee || spec.Strategy.Committee is { Count: >= 1 }, "QueryByCommittee needs a committee: at least one TrainingRun besides spec.model");
        Check(errors, $"{path}.strategy.committee", spec.Strategy.Type == SelectionStrategies.QueryByCommittee || spec.Strategy.Committee is null, "committee is only for QueryByCommittee");
        Check(errors, $"{path}.strategy.committee", spec.Strategy.Committee is null || spec.Strategy.Committee.Select(m => m.Name).Distinct(StringComparer.Ordinal).Count() == spec.Strategy.Committee.Count
            && !spec.Strategy.Committee.Any(m => m.Name == spec.Model.TrainingRun?.Name), "committee members must be distinct TrainingRuns other than spec.model's");
        Check(errors, $"{path}.exportUri", spec.ExportUri is null || spec.ExportUri.StartsWith("pvc://", StringComparison.Ordinal), "exportUri must be a folder on a claim (pvc://CLAIM/path) for the export Jobs to mount");
        Check(errors, $"{path}.exportUri", spec.Retrain is null || spec.ExportUri is not null, "retrain needs exportUri: each round's labels are exported there and trained on");
        return errors;
    }

    /// <summary>The DriftPolicy rules: its CRD's CEL rules (the operator enforces them on servers without CEL) and the cross-field ones.</summary>
    public static IReadOnlyList<ValidationError> Validate(DriftPolicySpec spec, string path = "spec")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var errors = new List<ValidationError>(ValidateSchema(spec, path));
        for (var i = 0; i < spec.Detectors.Count; i++)
        {
            var d = spec.Detectors[i];
            var p = $"{path}.detectors[{i}]";
            Check(errors, p, d.Type is not (DetectorTypes.ConfidenceDrop or DetectorTypes.PerformanceDrop or DetectorTypes.EstimatedPerformanceDrop) || d.Threshold is not null, "threshold is required for this detector type");
            Check(errors, p, d.Type != DetectorTypes.PromQL || (d.Query is not null && (d.AtLeast is not null) != (d.AtMost is not null)), "a PromQL detector needs query and exactly one of atLeast or atMost");
            Check(errors, p, d.Correction is null || d.Type == DetectorTypes.FeatureDrift, "correction applies to FeatureDrift only");
            Check(errors, p, d.Features is null || d.Type == DetectorTypes.FeatureDrift, "features applies to FeatureDrift only");
            Check(errors, p, d.Stattest is null || d.Type is DetectorTypes.FeatureDrift or DetectorTypes.PredictionDrift, "stattest applies to FeatureDrift and PredictionDrift only");
            Check(errors, p, d.Stattest is null || d.Type != DetectorTypes.PredictionDrift || d.Stattest is DriftDetectorNames.Auto or DriftDetectorNames.Psi or DriftDetectorNames.JensenShannon or DriftDetectorNames.ChiSquare,
                "a PredictionDrift stattest is auto, psi, jensenshannon or chisquare");
            Check(errors, $"{p}.threshold", d.Threshold is null || d.Stattest is null || !DriftDetectorNames.IsPValue(d.Stattest) || d.Threshold is > 0 and <= 1,
                "the threshold of a p-value stattest (ks, chisquare, z) is a significance level in (0, 1]");
            Check(errors, $"{path}.prometheusAddress", d.Type != DetectorTypes.PromQL || spec.PrometheusAddress is not null, $"prometheusAddress is required for the PromQL detector {d.Name}");
            if (d.Query is not null)
            {
                var unknown = System.Text.RegularExpressions.Regex.Matches(d.Query, @"\{\{[^}]*\}\}").Select(m => m.Value).Where(v => v is not ("{{name}}" or "{{namespace}}")).Distinct().ToList();
                Check(errors, $"{p}.query", unknown.Count == 0, $"unknown placeholder {string.Join(", ", unknown)} (known: {{{{name}}}}, {{{{namespace}}}})");
            }
        }

        Check(errors, $"{path}.detectors", spec.Detectors.Select(d => d.Name).Distinct(StringComparer.Ordinal).Count() == spec.Detectors.Count, "detector names must be unique");
        for (var i = 0; i < spec.Actions.Count; i++)
        {
            var a = spec.Actions[i];
            Check(errors, $"{path}.actions[{i}]", a.Type != DriftActionTypes.Retrain || a.Retrain is not null, "a Retrain action needs retrain");
            Check(errors, $"{path}.actions[{i}]", a.Type != DriftActionTypes.Label || a.LabelingQueueRef is not null, "a Label action needs labelingQueueRef");
            if (a.Retrain is { } retrain)
            {
                errors.AddRange(Validate(retrain.Template.Spec, $"{path}.actions[{i}].retrain.template.spec"));
            }
        }

        Check(errors, $"{path}.actions", spec.Actions.Select(a => a.Type).Distinct(StringComparer.Ordinal).Count() == spec.Actions.Count, "each action type may appear once");
        Check(errors, $"{path}.interval", !Durations.TryParse(spec.Interval, out var interval) || interval >= TimeSpan.FromSeconds(1), "interval must be at least 1s");
        return errors;
    }

    /// <summary>All errors as one message for a condition, e.g. "spec.gates[0]: a gate needs ...; spec: ...".</summary>
    public static string Describe(IReadOnlyList<ValidationError> errors) => string.Join("; ", errors);

    private static void ValidateGate(List<ValidationError> errors, string path, Gate gate)
    {
        var exactlyOne = (gate.AtLeast is not null) != (gate.AtMost is not null);
        Check(errors, path, exactlyOne, "a gate needs exactly one of atLeast or atMost");
        Check(errors, path, !exactlyOne || MetricDirection.BoundsTheRightSide(gate.Metric ?? "", gate.AtLeast is not null, gate.AtMost is not null),
            MetricDirection.GateCelMessage);
    }

    private static void ValidateSchedule(List<ValidationError> errors, string path, LrScheduleSpec s)
    {
        Check(errors, path, s.Type != LrScheduleTypes.Step || s.StepSize is not null, "lrSchedule.stepSize is required for Step");
        Check(errors, path, s.Type != LrScheduleTypes.MultiStep || s.Milestones is not null, "lrSchedule.milestones is required for MultiStep");
        Check(errors, path, s.Type != LrScheduleTypes.Exponential || s.Gamma is not null, "lrSchedule.gamma is required for Exponential");
        Check(errors, path, s.Type != LrScheduleTypes.CosineWarmRestarts || s.T0 is not null, "lrSchedule.t0 is required for CosineWarmRestarts");
        Check(errors, path, s.Type is not (LrScheduleTypes.Cyclic or LrScheduleTypes.OneCycle) || s.MaxLearningRate is not null, "lrSchedule.maxLearningRate is required for Cyclic and OneCycle");
        Check(errors, path, s.Mode is null || s.Type == LrScheduleTypes.Cyclic, "lrSchedule.mode applies to Cyclic only");
        Check(errors, path, s.Milestones is null || s.Type == LrScheduleTypes.MultiStep, "lrSchedule.milestones applies to MultiStep only");
        Check(errors, path, s.StepSize is null || s.Type == LrScheduleTypes.Step, "lrSchedule.stepSize applies to Step only");
        Check(errors, path, s.T0 is null || s.Type == LrScheduleTypes.CosineWarmRestarts, "lrSchedule.t0 applies to CosineWarmRestarts only");
        Check(errors, path, s.Patience is null || s.Type == LrScheduleTypes.ReduceOnPlateau, "lrSchedule.patience applies to ReduceOnPlateau only");
        Check(errors, path, s.Type != LrScheduleTypes.OneCycle || s.Warmup is null, "OneCycle has its own warm-up phase; do not add warmup");
        Check(errors, path, (s.BaseMomentum is null && s.MaxMomentum is null) || s.Type is LrScheduleTypes.Cyclic or LrScheduleTypes.OneCycle,
            "lrSchedule.baseMomentum and maxMomentum apply to Cyclic and OneCycle only");
    }

    private static void Check(List<ValidationError> errors, string path, bool ok, string message)
    {
        if (!ok)
        {
            errors.Add(new ValidationError(path, message));
        }
    }
}
