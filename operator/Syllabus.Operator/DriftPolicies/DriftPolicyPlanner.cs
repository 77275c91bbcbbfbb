using System.Globalization;
using System.Text.Json;
using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>What one look at the stable replicas found.</summary>
public sealed record DriftLook
{
    /// <summary>The detectors' inputs when at least one replica could be evaluated (or every replica failed); null otherwise.</summary>
    public DriftInputs? Inputs { get; init; }

    /// <summary>Replicas evaluated (their windows hold at least minWindowSize rows, or they answered with an error).</summary>
    public int Replicas { get; init; }

    /// <summary>Rows tested (over the evaluated replicas), or, when none was evaluated, rows waiting below the minimum.</summary>
    public long WindowSize { get; init; }

    /// <summary>Rows served after a replica's mark that left its window before this look could test them.</summary>
    public long UntestedRows { get; init; }

    /// <summary>Per stable replica, the newest row this look tested (or the old mark of one it did not): status.windowMarks once the evaluation counts.</summary>
    public IReadOnlyList<DriftWindowMark>? Marks { get; init; }

    /// <summary>Why nothing was evaluated: (reason, message), e.g. WaitingForWindow, WindowTooSmall or NoReadyReplica.</summary>
    public (string Reason, string Message)? NotEvaluated { get; init; }
}

/// <summary>Everything the planner decides from, gathered from the caches and (when an evaluation is due) the stable replicas.</summary>
public sealed record DriftPolicyObservation
{
    public required DriftPolicy Policy { get; init; }

    public ModelDeployment? Deployment { get; init; }

    /// <summary>The TrainingRun that produced the stable model, if it still exists.</summary>
    public TrainingRun? ServedRun { get; init; }

    /// <summary>The policy's latest retraining run (status.lastRetrainRun), if it still exists.</summary>
    public TrainingRun? LastRetrainRun { get; init; }

    /// <summary>This policy's run already holding the next retrain name: created by a reconcile whose status write was lost.</summary>
    public TrainingRun? NextRetrainRun { get; init; }

    /// <summary>The next retrain name when a run not owned by this policy holds it.</summary>
    public string? ForeignRun { get; init; }

    /// <summary>This reconcile's look at the replicas; null when no evaluation was due.</summary>
    public DriftLook? Look { get; init; }

    public required DateTimeOffset Now { get; init; }
}

/// <summary>What the reconciler applies.</summary>
public sealed record DriftPolicyPlan
{
    public required DriftPolicyStatus Status { get; init; }

    public TrainingRun? CreateRun { get; init; }

    public List<(string Type, string Reason, string Message)> Events { get; } = [];

    /// <summary>The scores to export (syllabus_drift_score), by detector and feature; null leaves the last ones.</summary>
    public IReadOnlyList<(string Detector, string Feature, double Score)>? Scores { get; init; }

    public TimeSpan? RequeueAfter { get; init; }
}

/// <summary>
/// The DriftPolicy state machine as a pure function (README "Drift policies"): evaluate every interval once a stable
/// replica's window holds minWindowSize rows; count breaching evaluations in a row (an evaluation that could not run
/// leaves the count alone, a clean one resets it, and so does a new stable model); at consecutiveBreaches, act in the
/// spec's order unless the cooldown since the last action holds; Retrain creates at most maxRetrainsPerDay runs in any
/// 24 hours and never a second while one is still training. Cooldown, cap and counts live in status, so they hold
/// across operator restarts.
/// </summary>
public static class DriftPolicyPlanner
{
    private static readonly TimeSpan Day = TimeSpan.FromDays(1);

    /// <summary>When the next evaluation is due (now when none ran yet).</summary>
    public static DateTimeOffset NextEvaluationAt(DriftPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Status?.LastEvaluationTime is { } last
            ? new DateTimeOffset(DateTime.SpecifyKind(last, DateTimeKind.Utc)) + Durations.Parse(policy.Spec.Interval)
            : DateTimeOffset.MinValue;
    }

    public static DriftPolicyPlan Plan(DriftPolicyObservation o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var policy = o.Policy;
        var spec = policy.Spec;
        var status = SyllabusJson.Copy<DriftPolicyStatus>(policy.Status ?? new DriftPolicyStatus());
        status.Conditions ??= [];
        status.ObservedGeneration = policy.Metadata.Generation;
        var now = o.Now;
        var interval = Durations.Parse(spec.Interval);
        void Set(string type, string value, string reason, string message) =>
            Conditions.SetCondition(status.Conditions!, type, value, reason, message, policy.Metadata.Generation, now);

        Set(ConditionTypes.Valid, Conditions.True, "Valid", "The spec is valid");
        status.Retrains = [.. (status.Retrains ?? []).Where(r => Utc(r.CreatedAt) > now - Day)];
        status.RetrainsToday = status.Retrains.Count;
        if (status.Retrains.Count == 0)
        {
            status.Retrains = null;
        }

        if (o.NextRetrainRun is { } lost)
        {
            // Created by a reconcile whose status write was lost: recorded now, whatever this reconcile decides.
            var created = lost.Metadata.CreationTimestamp ?? now.UtcDateTime;
            status.RetrainCount = (status.RetrainCount ?? 0) + 1;
            status.LastRetrainRun = lost.Metadata.Name;
            status.Retrains = [.. status.Retrains ?? [], new DriftRetrain { TrainingRun = lost.Metadata.Name, CreatedAt = created }];
            status.RetrainsToday = status.Retrains.Count;
            status.LastActionTime = status.LastActionTime is { } t && t > created ? t : created;
        }

        var deploymentName = spec.DeploymentRef.Name;
        if (o.Deployment is not { } deployment)
        {
            Set(ConditionTypes.Ready, Conditions.False, "DeploymentNotFound", $"ModelDeployment {deploymentName} does not exist");
            return new DriftPolicyPlan { Status = status, Scores = [] };
        }

        var stable = deployment.Status?.StableRevision is { } stableRevision ? deployment.Status.Revisions?.FirstOrDefault(r => r.Revision == stableRevision) : null;
        if (stable is null)
        {
            Set(ConditionTypes.Ready, Conditions.False, "NoStableModel", $"ModelDeployment {deploymentName} serves no stable revision yet");
            return new DriftPolicyPlan { Status = status, Scores = [] };
        }

        var revisionChanged = false;
        if (status.StableRevision != stable.Revision)
        {
            // A new model has its own profile and a fresh window: breaches of the old one say nothing about it.
            if (status.StableRevision is not null)
            {
                Set(ConditionTypes.Drifted, Conditions.False, "NewStableModel", $"Revision {stable.Revision} is stable now (was {status.StableRevision}); breaches are counted again");
            }

            status.StableRevision = stable.Revision;
            status.ConsecutiveBreaches = 0;
            status.Rollback = null;
            status.WindowMarks = null;
            revisionChanged = true;
        }

        var nextAt = NextEvaluationAt(policy);
        if (o.Look is not { } look)
        {
            return new DriftPolicyPlan { Status = status, RequeueAfter = Positive(nextAt - now, interval), Scores = revisionChanged ? [] : null };
        }

        status.WindowSize = look.WindowSize;
        if (look.Inputs is not { } inputs)
        {
            var (reason, message) = look.NotEvaluated ?? ("NotEvaluated", "no replica was evaluated");
            Set(ConditionTypes.Ready, reason == "WaitingForWindow" ? Conditions.True : Conditions.False, reason, message);
            if (Conditions.Find(status.Conditions, ConditionTypes.Drifted) is null)
            {
                Set(ConditionTypes.Drifted, Conditions.Unknown, "NotEvaluated", message);
            }

            // Look again one interval later; a new ready replica or window rows are not events, so this is a poll. The
            // last scores were of another window (or model): exported no longer.
            return new DriftPolicyPlan { Status = status, RequeueAfter = interval, Scores = [] };
        }

        var outcomes = spec.Detectors.Select(d => (Detector: d, Outcome: DriftDetectors.Evaluate(d, inputs))).ToList();
        var breached = outcomes.Where(x => x.Outcome.Result.Breached).ToList();
        var errors = outcomes.Where(x => x.Outcome.IsError).ToList();
        // Clean needs a detector that measured and found nothing: no data (too few labels, an empty query) says nothing.
        var outcome = breached.Count > 0 ? DriftOutcomes.Breached
            : errors.Count > 0 ? DriftOutcomes.Error
            : outcomes.Any(x => x.Outcome.Measured) ? DriftOutcomes.Clean
            : DriftOutcomes.NoData;
        var streak = outcome switch
        {
            DriftOutcomes.Breached => (status.ConsecutiveBreaches ?? 0) + 1,
            DriftOutcomes.Clean => 0,
            _ => status.ConsecutiveBreaches ?? 0,
        };
        if (outcome == DriftOutcomes.Clean)
        {
            status.Rollback = null; // the drift that asked for it is over
        }
        status.ConsecutiveBreaches = streak;
        status.LastEvaluationTime = now.UtcDateTime;
        if (outcome is DriftOutcomes.Breached or DriftOutcomes.Clean && look.Marks is { } marks)
        {
            // Counted: the next evaluation tests rows served after these. One that failed or measured nothing leaves them
            // to be tested again.
            status.WindowMarks = marks.Count > 0 ? [.. marks] : null;
        }

        var evaluation = new DriftEvaluation
        {
            Time = now.UtcDateTime,
            Revision = stable.Revision,
            WindowSize = look.WindowSize,
            UntestedRows = look.UntestedRows > 0 ? look.UntestedRows : null,
            Replicas = look.Replicas,
            Outcome = outcome,
            Breached = breached.Count > 0,
            Detectors = [.. outcomes.Select(x => x.Outcome.Result)],
        };

        if (errors.Count > 0)
        {
            Set(ConditionTypes.Ready, Conditions.False, "EvaluationFailed", string.Join("; ", errors.Select(e => $"{e.Detector.Name}: {e.Outcome.Result.Message}")));
        }
        else
        {
            var untested = look.UntestedRows > 0 ? $"; {look.UntestedRows} rows served since the last evaluation left the windows untested (a shorter interval tests them)" : "";
            Set(ConditionTypes.Ready, Conditions.True, "Evaluated", $"{outcomes.Count} detectors evaluated on {look.Replicas} replica(s), {look.WindowSize} live rows{untested}");
        }

        var what = Describe(breached.Select(b => b.Outcome.Result));
        var events = new List<(string Type, string Reason, string Message)>();
        TrainingRun? create = null;
        if (outcome == DriftOutcomes.Breached && streak >= spec.ConsecutiveBreaches)
        {
            Set(ConditionTypes.Drifted, Conditions.True, "DriftDetected", $"{streak} breaching evaluations in a row of revision {stable.Revision}: {what}");
            var cooldownEnds = status.LastActionTime is { } last ? Utc(last) + Durations.Parse(spec.Cooldown) : DateTimeOffset.MinValue;
            if (now < cooldownEnds)
            {
                evaluation.Actions = [$"none: in cooldown until {cooldownEnds.UtcDateTime.ToString("u", CultureInfo.InvariantCulture)}"];
            }
            else
            {
                evaluation.Actions = [];
                var acted = false;
                events.Add((EventTypes.Warning, "DriftDetected", $"Revision {stable.Revision} of ModelDeployment {deploymentName}: {what}"));
                foreach (var action in spec.Actions)
                {
                    switch (action.Type)
                    {
                        case DriftActionTypes.Alert:
                            evaluation.Actions.Add("alerted");
                            acted = true;
                            break;
                        case DriftActionTypes.Retrain:
                            var (run, note) = Retrain(o, status, action.Retrain!, deployment, stable, what, now);
                            create = run ?? create;
                            acted |= note.StartsWith("retrained", StringComparison.Ordinal);
                            evaluation.Actions.Add(note);
                            events.Add(run is not null ? (EventTypes.Normal, "Retraining", note) : (EventTypes.Warning, "RetrainSkipped", note));
                            break;
                        case DriftActionTypes.Rollback:
                            status.Rollback = new DriftRollbackRequest { Revision = stable.Revision, RequestedAt = now.UtcDateTime, Reason = $"DriftPolicy {policy.Metadata.Name}: {what}" };
                            var asked = $"rollback of revision {stable.Revision} asked of ModelDeployment {deploymentName}";
                            evaluation.Actions.Add(asked);
                            events.Add((EventTypes.Warning, "RollbackRequested", asked));
                            acted = true;
                            break;
                        case DriftActionTypes.Label:
                            var queue = action.LabelingQueueRef!.Name;
                            status.LabelRequest = new DriftLabelRequest { LabelingQueue = queue, Samples = action.Samples, Revision = stable.Revision, RequestedAt = now.UtcDateTime, Reason = $"DriftPolicy {policy.Metadata.Name}: {what}" };
                            var label = $"label: {action.Samples} uncertain live samples of revision {stable.Revision} asked of LabelingQueue {queue}";
                            evaluation.Actions.Add(label);
                            events.Add((EventTypes.Normal, "LabelingRequested", label));
                            acted = true;
                            break;
                    }
                }

                // The cooldown starts with what was done: a retrain held back by the cap alone starts none.
                if (acted)
                {
                    status.LastActionTime = now.UtcDateTime;
                }
            }
        }
        else if (outcome == DriftOutcomes.Breached)
        {
            Set(ConditionTypes.Drifted, Conditions.False, "Breaching", $"{streak} of {spec.ConsecutiveBreaches} breaching evaluations in a row: {what}");
        }
        else if (outcome == DriftOutcomes.Clean)
        {
            Set(ConditionTypes.Drifted, Conditions.False, "NoDrift", $"No detector breached on {look.WindowSize} live rows of revision {stable.Revision}");
        }
        else if (outcome == DriftOutcomes.NoData && Conditions.Find(status.Conditions, ConditionTypes.Drifted) is null)
        {
            Set(ConditionTypes.Drifted, Conditions.Unknown, "NoData", string.Join("; ", outcomes.Select(x => $"{x.Detector.Name}: {x.Outcome.Result.Message}")));
        }
        else if (Conditions.Find(status.Conditions, ConditionTypes.Drifted) is null)
        {
            Set(ConditionTypes.Drifted, Conditions.Unknown, "EvaluationFailed", "The detectors could not be evaluated (see Ready)");
        }

        status.History = [evaluation, .. (status.History ?? []).Take(spec.HistoryLimit - 1)];
        var result = new DriftPolicyPlan
        {
            Status = status,
            CreateRun = create,
            Scores = [.. outcomes.SelectMany(x => x.Outcome.Scores.Select(s => (x.Detector.Name, s.Feature, s.Score)))],
            RequeueAfter = interval,
        };
        result.Events.AddRange(events);
        return result;
    }

    /// <summary>The retraining run, or why none is created (cap, a run still training, a template that cannot be completed).</summary>
    private static (TrainingRun? Run, string Note) Retrain(DriftPolicyObservation o, DriftPolicyStatus status, RetrainSpec retrain, ModelDeployment deployment, ModelRevision stable, string what, DateTimeOffset now)
    {
        var spec = o.Policy.Spec;
        var today = status.Retrains ?? [];
        if (today.Count >= spec.MaxRetrainsPerDay)
        {
            var next = today.Count > 0 ? (Utc(today[0].CreatedAt) + Day).UtcDateTime.ToString("u", CultureInfo.InvariantCulture) : "never (maxRetrainsPerDay is 0)";
            return (null, $"retrain skipped: maxRetrainsPerDay {spec.MaxRetrainsPerDay} reached (next allowed {next})");
        }

        if ((o.NextRetrainRun ?? o.LastRetrainRun) is { } previous && previous.Status?.Phase is not (TrainingRunPhases.Succeeded or TrainingRunPhases.Failed))
        {
            return (null, $"retrain skipped: TrainingRun {previous.Metadata.Name} is still {previous.Status?.Phase ?? "pending"}");
        }

        var number = (status.RetrainCount ?? 0) + 1;
        if (o.ForeignRun is { } foreign && foreign == DriftPolicyNames.RetrainRun(o.Policy.Metadata.Name, number))
        {
            return (null, $"retrain skipped: TrainingRun {foreign} exists and is not this policy's (delete it, or give the policy another name)");
        }

        var (run, problem) = DriftRetrainBuilder.Build(new RetrainSource
            {
                Policy = o.Policy,
                Retrain = retrain,
                Deployment = deployment,
                Served = stable,
                ServedRun = o.ServedRun,
                Number = number,
                Reason = what,
            });
        if (run is null)
        {
            return (null, $"retrain skipped: {problem}");
        }

        status.RetrainCount = number;
        status.LastRetrainRun = run.Metadata.Name;
        status.Retrains = [.. today, new DriftRetrain { TrainingRun = run.Metadata.Name, CreatedAt = now.UtcDateTime }];
        status.RetrainsToday = status.Retrains.Count;
        return (run, $"retrained: TrainingRun {run.Metadata.Name} from revision {stable.Revision}'s model");
    }

    /// <summary>The breached detectors with their values and the features that drifted.</summary>
    internal static string Describe(IEnumerable<DetectorResult> breached) => string.Join("; ", breached.Select(b =>
        b.Type == DetectorTypes.FeatureDrift
            ? $"{b.Name}: {b.DriftedFeatures} of {b.TestedFeatures} features drifted ({string.Join(", ", b.TopFeatures ?? [])}{((b.DriftedFeatures ?? 0) > (b.TopFeatures?.Count ?? 0) ? ", ..." : "")})"
            : $"{b.Name} {DriftDetectors.F(b.Score ?? double.NaN)} (threshold {DriftDetectors.F(b.Threshold ?? double.NaN)})"));

    private static DateTimeOffset Utc(DateTime time) => new(DateTime.SpecifyKind(time, DateTimeKind.Utc));

    private static TimeSpan Positive(TimeSpan wait, TimeSpan fallback) => wait > TimeSpan.Zero ? wait : fallback;
}
