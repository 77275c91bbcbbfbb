using System.Globalization;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>Everything the planner decides from, gathered from the caches (and the serving pods, for measurements).</summary>
public sealed record ModelDeploymentObservation
{
    public required ModelDeployment Deployment { get; init; }

    /// <summary>The TrainingRuns of the namespace (the candidate selector filters them).</summary>
    public required IReadOnlyList<TrainingRun> Runs { get; init; }

    public V1Deployment? StableDeployment { get; init; }

    public V1Deployment? CanaryDeployment { get; init; }

    /// <summary>The serving image when the spec names none.</summary>
    public required string DefaultImage { get; init; }

    /// <summary>The value of the syllabus.dev/action annotation, if any.</summary>
    public string? Action { get; init; }

    /// <summary>This reconcile's measurements of <see cref="MeasuredArm"/>, by metric name; null when none were due.</summary>
    public IReadOnlyDictionary<string, Measurement>? Round { get; init; }

    /// <summary>Which arm <see cref="Round"/> measured.</summary>
    public string? MeasuredArm { get; init; }

    /// <summary>Online accuracy of each arm, measured with the round when mustBeat has to be judged online.</summary>
    public IReadOnlyDictionary<string, MeasuredValue>? ArmAccuracy { get; init; }

    /// <summary>Rollbacks asked by the DriftPolicies that watch this deployment (status.rollback), by policy name.</summary>
    public IReadOnlyList<(string Policy, DriftRollbackRequest Request)> DriftRollbacks { get; init; } = [];

    public required DateTimeOffset Now { get; init; }
}

/// <summary>What the reconciler applies: both arms (null: leave absent), the status, Events, and when to look again.</summary>
public sealed record ModelDeploymentPlan
{
    public ArmPlan? Stable { get; init; }

    public ArmPlan? Canary { get; init; }

    public required ModelDeploymentStatus Status { get; init; }

    public List<(string Type, string Reason, string Message)> Events { get; } = [];

    /// <summary>Rollbacks and aborts this reconcile made, by reason (the syllabus_rollbacks_total counter).</summary>
    public List<string> Rollbacks { get; } = [];

    public bool ActionHandled { get; init; }

    public TimeSpan? RequeueAfter { get; init; }
}

/// <summary>
/// The ModelDeployment state machine as a pure function (see README "Serving and rollback"): a first model is served at
/// once; a later candidate is judged offline (mustBeat on the same test data), then canaried with analysis (Argo
/// Rollouts' semantics) and promoted, or aborted and recorded as rejected; the stable model keeps being analysed and is
/// rolled back to the last good revision when it fails; spec.pinnedRevision serves exactly that revision.
/// </summary>
public static class ModelDeploymentPlanner
{
    public static readonly TimeSpan RolloutPoll = TimeSpan.FromSeconds(5);

    /// <summary>The reason a revision restored by a rollback carries (it is not rolled back again).</summary>
    internal const string RollbackTargetReason = "rollback target";

    /// <summary>Which arm (and revision) is due a measurement now, if any; the reconciler measures it before planning.</summary>
    public static (string Arm, int Revision)? MeasurementDue(ModelDeployment deployment, V1Deployment? stable, V1Deployment? canary, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var status = deployment.Status;
        if (deployment.Spec.Analysis is not { } analysis || deployment.Spec.PinnedRevision is not null || status is null)
        {
            return null;
        }

        var interval = Durations.Parse(analysis.Interval);
        if (status.CanaryRevision is { } canaryRevision)
        {
            if (!ArmReady(canary, canaryRevision))
            {
                return null;
            }

            // The planner starts the run when the canary is rolled out; measurements follow every interval.
            var run = status.Analysis is { Arm: AnalysisArms.Canary } a && a.Revision == canaryRevision ? a : null;
            return run is { Phase: AnalysisPhases.Running } && AnalysisEvaluator.NextMeasurementAt(run, interval) <= now
                ? (AnalysisArms.Canary, canaryRevision)
                : null;
        }

        if (status.StableRevision is { } stableRevision && analysis.Stable && ArmReady(stable, stableRevision))
        {
            // A finished stable run (count reached, or inconclusive) is followed by a new one at the next interval.
            var run = status.Analysis is { Arm: AnalysisArms.Stable } a && a.Revision == stableRevision ? a : null;
            return run is not null && AnalysisEvaluator.NextMeasurementAt(run, interval) <= now ? (AnalysisArms.Stable, stableRevision) : null;
        }

        return null;
    }

    public static ModelDeploymentPlan Plan(ModelDeploymentObservation o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var md = o.Deployment;
        var spec = md.Spec;
        var status = Clone(md.Status) ?? new ModelDeploymentStatus();
        status.Conditions ??= [];
        status.Revisions ??= [];
        var ctx = new Context(md, status, o);

        var plan = spec.PinnedRevision is { } pin ? Pinned(ctx, pin) : Progress(ctx);
        Trim(status, spec.RevisionHistoryLimit, spec.PinnedRevision);
        return plan;
    }

    /// <summary>spec.pinnedRevision: that revision on the stable arm, canary off, no analysis; promotion waits for the pin to go.</summary>
    private static ModelDeploymentPlan Pinned(Context ctx, int pin)
    {
        var s = ctx.Status;
        var target = s.Revisions!.FirstOrDefault(r => r.Revision == pin);
        if (target is null)
        {
            var kept = string.Join(", ", s.Revisions!.Select(r => r.Revision.ToString(CultureInfo.InvariantCulture)));
            ctx.Set(ConditionTypes.Degraded, Conditions.True, "PinnedRevisionNotFound", $"spec.pinnedRevision {pin} is not in the revision history (kept: {(kept.Length == 0 ? "none" : kept)}); still serving revision {s.StableRevision?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
            s.Phase = ModelDeploymentPhases.Degraded;
            s.CanaryRevision = null;
            s.CanaryWeight = null;
            s.CanaryStartTime = null;
            if (ctx.Observation.Action is { } pending)
            {
                ctx.ActionHandled = true;
                ctx.Event(EventTypes.Warning, "ActionIgnored", $"{ModelDeploymentActions.Annotation}={pending} ignored: spec.pinnedRevision {pin} is set");
            }

            return ctx.Finish(ctx.CurrentStable(), canary: ctx.CanaryOff(), requeue: null);
        }

        if (ctx.Observation.Action is { } ignored)
        {
            ctx.ActionHandled = true;
            ctx.Event(EventTypes.Warning, "ActionIgnored", $"{ModelDeploymentActions.Annotation}={ignored} ignored: revision {pin} is pinned (spec.pinnedRevision)");
        }

        if (s.CanaryRevision is { } canaryRevision)
        {
            if (canaryRevision != pin)
            {
                var canary = ctx.Revision(canaryRevision)!;
                canary.Outcome = RevisionOutcomes.Superseded;
                canary.Reason = $"{CandidateSelector.DisplacedByPin} {pin} during its canary";
            }

            s.CanaryRevision = null;
            s.CanaryWeight = null;
            s.CanaryStartTime = null;
        }

        if (s.StableRevision != pin)
        {
            if (ctx.Revision(s.StableRevision) is { } previous)
            {
                previous.Outcome = RevisionOutcomes.Superseded;
                previous.Reason = $"{CandidateSelector.DisplacedByPin} {pin}";
            }

            target.Outcome = RevisionOutcomes.Stable;
            target.PromotedAt = ctx.Now.UtcDateTime;
            target.RollbackTo = null; // chosen by the user: never rolled back automatically
            target.Reason = "pinned by spec.pinnedRevision";
            s.StableRevision = pin;
            s.Analysis = null;
            ctx.Event(EventTypes.Normal, "Pinned", $"Serving revision {pin} ({target.TrainingRun}) as pinned by spec.pinnedRevision");
        }

        var stable = ctx.ArmOf(target, ctx.Spec.Replicas);
        var rolledOut = ArmRolledOut(ctx.Observation.StableDeployment, stable);
        ctx.Set(ConditionTypes.Progressing, rolledOut ? Conditions.False : Conditions.True, "Pinned", $"Serving revision {pin} pinned by spec.pinnedRevision; automatic promotion resumes when the pin is removed");
        ctx.Set(ConditionTypes.Degraded, Conditions.False, "Pinned", "Serving the pinned revision");
        s.Phase = rolledOut ? ModelDeploymentPhases.Healthy : ModelDeploymentPhases.Progressing;
        return ctx.Finish(stable, ctx.HeldCanary(stable, rolledOut), rolledOut ? null : RolloutPoll);
    }

    private static ModelDeploymentPlan Progress(Context ctx)
    {
        var s = ctx.Status;
        var o = ctx.Observation;
        var action = o.Action;
        // Retry: the newest refused model (status.refused outlives the history) may be a candidate once more; it leaves
        // the refused list only when it actually starts.
        var retrying = action == ModelDeploymentActions.Retry ? s.Refused?.LastOrDefault()?.TrainingRun : null;
        if (action == ModelDeploymentActions.Retry && retrying is null)
        {
            ctx.Event(EventTypes.Warning, "ActionIgnored", $"{ModelDeploymentActions.Annotation}=retry ignored: no model was rejected or rolled back here");
        }

        var (candidate, whyNone) = CandidateSelector.Select(ctx.Deployment, o.Runs, retrying);
        if (retrying is not null && candidate?.Metadata.Name != retrying)
        {
            ctx.Event(EventTypes.Warning, "ActionIgnored", $"{ModelDeploymentActions.Annotation}=retry: TrainingRun {retrying} is not the candidate ({(candidate is null ? whyNone : $"TrainingRun {candidate.Metadata.Name} is newer")}); it stays refused");
            retrying = null;
        }
        ctx.ActionHandled = action is not null;

        // A pin removed: the pinned revision stays stable; the rest is normal promotion.
        if (s.StableRevision is null)
        {
            if (candidate is null)
            {
                s.Phase = ModelDeploymentPhases.Pending;
                ctx.Set(ConditionTypes.Available, Conditions.False, "NoCandidate", $"Nothing to serve yet: {whyNone}");
                ctx.Set(ConditionTypes.Progressing, Conditions.False, "NoCandidate", whyNone ?? "");
                return ctx.Finish(null, null, null);
            }

            var first = ctx.NewRevision(candidate, RevisionOutcomes.Stable, "first model served");
            first.PromotedAt = ctx.Now.UtcDateTime;
            s.StableRevision = first.Revision;
            ctx.Event(EventTypes.Normal, "Promoted", $"Serving revision {first.Revision} from TrainingRun {candidate.Metadata.Name} (the first model)");
            return ctx.Steady(ctx.ArmOf(first, ctx.Spec.Replicas));
        }

        var stableRevision = ctx.Revision(s.StableRevision)!;
        if (s.CanaryRevision is { } canaryRevision)
        {
            var canary = ctx.Revision(canaryRevision)!;
            if (action == ModelDeploymentActions.Abort)
            {
                return ctx.Abort(stableRevision, canary, "Aborted", "aborted by the user (syllabus.dev/action=abort)");
            }

            if (action == ModelDeploymentActions.Promote)
            {
                return ctx.Promote(stableRevision, canary, "promoted by the user (syllabus.dev/action=promote)");
            }

            if (candidate is not null && candidate.Metadata.Name != canary.TrainingRun && !ctx.IsServed(candidate)
                && candidate.Status?.CompletionTime > canary.CreatedAt)
            {
                // A newer candidate replaces the one under analysis, as a new Rollout revision restarts Argo's canary.
                canary.Outcome = RevisionOutcomes.Superseded;
                canary.Reason = $"replaced during its canary by the newer TrainingRun {candidate.Metadata.Name} (never judged)";
                s.CanaryRevision = null;
                return ctx.StartCandidate(stableRevision, candidate);
            }

            return ctx.ContinueCanary(stableRevision, canary);
        }

        // Only a run that completed after the stable revision's run: deleting the newest run never brings back an older one.
        if (candidate is not null && !ctx.IsServed(candidate)
            && (stableRevision.CompletedAt is null || candidate.Status?.CompletionTime > stableRevision.CompletedAt || candidate.Metadata.Name == retrying))
        {
            return ctx.StartCandidate(stableRevision, candidate);
        }

        return ctx.AnalyseStable(stableRevision);
    }

    /// <summary>Keeps at most <paramref name="limit"/> revisions, newest first, never dropping the stable, canary or pinned one.</summary>
    private static void Trim(ModelDeploymentStatus status, int limit, int? pinned)
    {
        var ordered = status.Revisions!.OrderByDescending(r => r.Revision).ToList();
        var keep = new List<ModelRevision>();
        foreach (var r in ordered)
        {
            var essential = r.Revision == status.StableRevision || r.Revision == status.CanaryRevision || r.Revision == pinned;
            if (essential || keep.Count(k => k.Revision != status.StableRevision && k.Revision != status.CanaryRevision && k.Revision != pinned) < Math.Max(0, limit - 1 - (status.CanaryRevision is null ? 0 : 1)))
            {
                keep.Add(r);
            }
        }

        status.Revisions = keep;
    }

    /// <summary>The arm's Deployment has the revision's template and all its replicas updated and available.</summary>
    internal static bool ArmRolledOut(V1Deployment? deployment, ArmPlan? arm)
    {
        if (arm is null)
        {
            return true;
        }

        return deployment is not null
            && ArmReady(deployment, arm.Revision)
            && deployment.Spec?.Replicas == arm.Replicas
            && (deployment.Status?.UpdatedReplicas ?? 0) >= arm.Replicas
            && (deployment.Status?.AvailableReplicas ?? 0) >= arm.Replicas
            && (deployment.Status?.Replicas ?? 0) == arm.Replicas;
    }

    /// <summary>The Deployment observed its current spec, serves the revision, and has at least one available replica.</summary>
    internal static bool ArmReady(V1Deployment? deployment, int revision) =>
        deployment is not null
        && (deployment.Status?.ObservedGeneration ?? 0) >= (deployment.Metadata.Generation ?? 0)
        && deployment.Spec?.Template?.Metadata?.Labels?.TryGetValue(ModelDeploymentNames.RevisionLabel, out var label) == true
        && label == revision.ToString(CultureInfo.InvariantCulture)
        && (deployment.Status?.AvailableReplicas ?? 0) > 0
        && (deployment.Status?.UpdatedReplicas ?? 0) >= (deployment.Spec.Replicas ?? 0);

    private static ModelDeploymentStatus? Clone(ModelDeploymentStatus? status) =>
        status is null ? null : SyllabusJson.Copy<ModelDeploymentStatus>(status);

    private sealed class Context(ModelDeployment deployment, ModelDeploymentStatus status, ModelDeploymentObservation observation)
    {
        private readonly List<(string, string, string)> events = [];
        private readonly List<string> rollbacks = [];

        public ModelDeployment Deployment { get; } = deployment;

        public ModelDeploymentSpec Spec => Deployment.Spec;

        public ModelDeploymentStatus Status { get; } = status;

        public ModelDeploymentObservation Observation { get; } = observation;

        public DateTimeOffset Now => Observation.Now;

        public bool ActionHandled { get; set; }

        public void Set(string type, string conditionStatus, string reason, string message) =>
            Conditions.SetCondition(Status.Conditions!, type, conditionStatus, reason, message, Deployment.Metadata.Generation, Now);

        public void Event(string type, string reason, string message) => events.Add((type, reason, message));

        public ModelRevision? Revision(int? number) => number is { } n ? Status.Revisions!.FirstOrDefault(r => r.Revision == n) : null;

        public bool IsServed(TrainingRun run) =>
            Revision(Status.StableRevision) is { } stable && stable.TrainingRun == run.Metadata.Name && stable.ModelUri == run.Status?.Result?.ModelUri;

        public ModelRevision NewRevision(TrainingRun run, string outcome, string reason)
        {
            var number = Math.Max(Status.NextRevision ?? 1, (Status.Revisions!.Count == 0 ? 0 : Status.Revisions.Max(r => r.Revision)) + 1);
            Status.NextRevision = number + 1;
            var metricName = Spec.Promotion.MustBeat?.Metric ?? "accuracy";
            var revision = new ModelRevision
            {
                Revision = number,
                TrainingRun = run.Metadata.Name,
                ModelUri = run.Status!.Result!.ModelUri,
                Image = Spec.Image ?? Observation.DefaultImage,
                Metric = run.Status.Result.Metrics?.TryGetValue(metricName, out var value) == true ? value : null,
                TestData = run.Status.Result.TestData,
                CompletedAt = run.Status.CompletionTime,
                CreatedAt = Now.UtcDateTime,
                Outcome = outcome,
                Reason = reason,
            };
            Status.Revisions!.Insert(0, revision);
            Status.Refused?.RemoveAll(r => r.TrainingRun == revision.TrainingRun && r.ModelUri == revision.ModelUri);
            return revision;
        }

        /// <summary>Records a revision as rejected or rolled back, and its model as refused (status.refused, at most 50).</summary>
        public void Refuse(ModelRevision revision, string outcome, string reason)
        {
            revision.Outcome = outcome;
            revision.RejectedAt = Now.UtcDateTime;
            revision.Reason = reason;
            Status.Refused ??= [];
            Status.Refused.RemoveAll(r => r.TrainingRun == revision.TrainingRun && r.ModelUri == revision.ModelUri);
            Status.Refused.Add(new RefusedModel { TrainingRun = revision.TrainingRun, ModelUri = revision.ModelUri, Revision = revision.Revision });
            if (Status.Refused.Count > 50)
            {
                Status.Refused.RemoveRange(0, Status.Refused.Count - 50);
            }
        }

        public ArmPlan ArmOf(ModelRevision revision, int replicas) =>
            new(revision.Revision, revision.ModelUri!, revision.Image ?? Spec.Image ?? Observation.DefaultImage, replicas);

        public ArmPlan? CurrentStable() => Revision(Status.StableRevision) is { } r ? ArmOf(r, Spec.Replicas) : null;

        /// <summary>
        /// The canary arm once the stable one takes all traffic: it keeps its pods until the stable Deployment has rolled
        /// (Argo scales the canary down only after a promotion completes), so capacity never dips; then zero.
        /// </summary>
        public ArmPlan? HeldCanary(ArmPlan stable, bool stableRolledOut)
        {
            var canary = CanaryOff();
            return !stableRolledOut && !Aborting && canary is not null && Observation.CanaryDeployment?.Spec?.Replicas is > 0 and var serving
                ? canary with { Replicas = serving }
                : canary;
        }

        /// <summary>A failed canary goes at once: its model is the problem, so it is not held for capacity.</summary>
        public bool Aborting { get; private set; }

        /// <summary>The canary arm scaled to zero when it exists (its template kept), else left absent.</summary>
        public ArmPlan? CanaryOff()
        {
            if (Observation.CanaryDeployment is null)
            {
                return null;
            }

            var label = (Observation.CanaryDeployment.Spec?.Template?.Metadata?.Labels is { } canaryLabels && canaryLabels.TryGetValue(ModelDeploymentNames.RevisionLabel, out var revisionLabel) ? revisionLabel : null);
            var revision = int.TryParse(label, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? Revision(n) : null;
            // A revision no longer in the history: the canary keeps the stable revision's template at zero replicas.
            return revision is null ? CurrentStable() is { } stable ? stable with { Replicas = 0 } : null : ArmOf(revision, 0);
        }

        public ModelDeploymentPlan Finish(ArmPlan? stable, ArmPlan? canary, TimeSpan? requeue)
        {
            var plan = new ModelDeploymentPlan { Stable = stable, Canary = canary, Status = Status, ActionHandled = ActionHandled, RequeueAfter = requeue };
            plan.Events.AddRange(events);
            plan.Rollbacks.AddRange(rollbacks);
            return plan;
        }

        /// <summary>A stable arm with no canary: roll it out, then Healthy (stable analysis goes on in AnalyseStable).</summary>
        public ModelDeploymentPlan Steady(ArmPlan stable, TimeSpan? requeue = null, (string Reason, string Message)? degraded = null)
        {
            var rolledOut = ArmRolledOut(Observation.StableDeployment, stable);
            var available = Observation.StableDeployment?.Status?.AvailableReplicas ?? 0;
            Set(ConditionTypes.Available, available > 0 ? Conditions.True : Conditions.False, available > 0 ? "MinimumReplicasAvailable" : "NoReplicasAvailable",
                $"{available} of {stable.Replicas} stable replicas available, serving revision {stable.Revision}");
            Set(ConditionTypes.Progressing, rolledOut ? Conditions.False : Conditions.True, rolledOut ? "RolloutComplete" : "RollingOut",
                rolledOut ? $"Revision {stable.Revision} is rolled out" : $"Rolling out revision {stable.Revision}");
            if (degraded is { } d)
            {
                Set(ConditionTypes.Degraded, Conditions.True, d.Reason, d.Message);
            }
            else if (Conditions.Find(Status.Conditions, ConditionTypes.RolledBack)?.Status != Conditions.True)
            {
                Set(ConditionTypes.Degraded, Conditions.False, "Serving", $"Serving revision {stable.Revision}");
            }

            Status.CanaryRevision = null;
            Status.CanaryWeight = null;
            Status.CanaryStartTime = null;
            Status.Phase = degraded is not null || Conditions.Find(Status.Conditions, ConditionTypes.RolledBack)?.Status == Conditions.True
                ? ModelDeploymentPhases.Degraded
                : rolledOut ? ModelDeploymentPhases.Healthy : ModelDeploymentPhases.Progressing;

            return Finish(stable, HeldCanary(stable, rolledOut), rolledOut ? requeue : RolloutPoll);
        }

        /// <summary>A new candidate while a stable model serves: judged offline, then canaried or promoted.</summary>
        public ModelDeploymentPlan StartCandidate(ModelRevision stable, TrainingRun candidate)
        {
            var result = candidate.Status!.Result!;
            if (Spec.Promotion.MustBeat is { } mustBeat)
            {
                var candidateValue = result.Metrics?.TryGetValue(mustBeat.Metric, out var v) == true ? v : (double?)null;
                if (candidateValue is { } c && stable.Metric is { } st && result.TestData is { Length: > 0 } testData && testData == stable.TestData)
                {
                    if (!MetricDirection.Improves(mustBeat.Metric, c, st, mustBeat.Margin))
                    {
                        var rejected = NewRevision(candidate, RevisionOutcomes.Rejected, "");
                        Refuse(rejected, RevisionOutcomes.Rejected, $"{mustBeat.Metric} {F(c)} does not beat the stable revision {stable.Revision}'s {F(st)} by {F(mustBeat.Margin)} on the same test data");
                        Event(EventTypes.Warning, "CandidateRejected", $"Revision {rejected.Revision} (TrainingRun {candidate.Metadata.Name}): {rejected.Reason}");
                        return Steady(ArmOf(stable, Spec.Replicas));
                    }
                }
                else if (Spec.Promotion.Canary is null)
                {
                    var rejected = NewRevision(candidate, RevisionOutcomes.Rejected, "");
                    Refuse(rejected, RevisionOutcomes.Rejected, $"mustBeat cannot be judged: the two reports do not share test data and there is no canary to compare {mustBeat.Metric} online");
                    Event(EventTypes.Warning, "CandidateRejected", $"Revision {rejected.Revision} (TrainingRun {candidate.Metadata.Name}): {rejected.Reason}");
                    return Steady(ArmOf(stable, Spec.Replicas));
                }
            }

            if (Spec.Promotion.Canary is null)
            {
                var promoted = NewRevision(candidate, RevisionOutcomes.Canary, "candidate");
                return Promote(stable, promoted, "promoted without a canary (no promotion.canary)");
            }

            var canary = NewRevision(candidate, RevisionOutcomes.Canary, "under canary analysis");
            Status.CanaryRevision = canary.Revision;
            Status.CanaryStartTime = Now.UtcDateTime;
            Status.Analysis = null;
            Event(EventTypes.Normal, "CanaryStarted", $"Revision {canary.Revision} (TrainingRun {candidate.Metadata.Name}) gets {Spec.Promotion.Canary.Weight}% of the replicas for analysis");
            return ContinueCanary(stable, canary);
        }

        public ModelDeploymentPlan ContinueCanary(ModelRevision stable, ModelRevision canary)
        {
            var canarySpec = Spec.Promotion.Canary!;
            var (stableReplicas, canaryReplicas) = CanarySplit.Replicas(Spec.Replicas, canarySpec.Weight);
            var stableArm = ArmOf(stable, stableReplicas);
            var canaryArm = ArmOf(canary, canaryReplicas);
            Status.CanaryRevision = canary.Revision;
            Status.CanaryWeight = CanarySplit.ActualWeight(stableReplicas, canaryReplicas);
            Status.Phase = ModelDeploymentPhases.Progressing;
            Set(ConditionTypes.Progressing, Conditions.True, "CanaryAnalysis", $"Revision {canary.Revision} serves {Status.CanaryWeight}% of the replicas under analysis");
            var available = Observation.StableDeployment?.Status?.AvailableReplicas ?? 0;
            Set(ConditionTypes.Available, available > 0 ? Conditions.True : Conditions.False, available > 0 ? "MinimumReplicasAvailable" : "NoReplicasAvailable", $"{available} stable replicas available, serving revision {stable.Revision}");

            if (!ArmRolledOut(Observation.CanaryDeployment, canaryArm))
            {
                return Finish(stableArm, canaryArm, RolloutPoll);
            }

            // The analysis (and its duration) starts when the canary's pods are rolled out, not when they were asked for.
            var run = Status.Analysis is { Arm: AnalysisArms.Canary } a && a.Revision == canary.Revision ? a : AnalysisEvaluator.Start(AnalysisArms.Canary, canary.Revision, Now);
            var started = new DateTimeOffset(DateTime.SpecifyKind(run.StartedAt ?? Now.UtcDateTime, DateTimeKind.Utc));
            var timeUp = Now >= started + Durations.Parse(canarySpec.AnalysisDuration);
            var verdict = AnalysisPhases.Successful;
            string? message = null;
            Status.Analysis = run;
            if (Spec.Analysis is { } analysis)
            {
                if (Observation.Round is { } round && Observation.MeasuredArm == AnalysisArms.Canary)
                {
                    run = AnalysisEvaluator.Record(analysis, run, round, timeUp);
                }
                else if (run.Phase == AnalysisPhases.Running)
                {
                    (run.Phase, run.Message) = AnalysisEvaluator.Assess(analysis, run, timeUp);
                }

                Status.Analysis = run;
                verdict = run.Phase ?? AnalysisPhases.Running;
                message = run.Message;
                if (verdict == AnalysisPhases.Running)
                {
                    var next = AnalysisEvaluator.NextMeasurementAt(run, Durations.Parse(analysis.Interval)) - Now;
                    return Finish(stableArm, canaryArm, next > TimeSpan.Zero ? next : TimeSpan.FromSeconds(1));
                }
            }
            else if (!timeUp)
            {
                return Finish(stableArm, canaryArm, started + Durations.Parse(canarySpec.AnalysisDuration) - Now);
            }

            switch (verdict)
            {
                case AnalysisPhases.Failed:
                case AnalysisPhases.Error:
                    return Abort(stable, canary, verdict == AnalysisPhases.Failed ? "AnalysisFailed" : "AnalysisError", message ?? verdict);
                case AnalysisPhases.Inconclusive:
                    // Argo pauses an inconclusive rollout for a person to decide: the canary keeps its share.
                    Set(ConditionTypes.Progressing, Conditions.True, "InconclusiveAnalysis", $"Revision {canary.Revision}'s analysis was inconclusive ({message}); promote or abort it (kubectl syllabus promote|abort)");
                    if (Conditions.Find(Deployment.Status?.Conditions, ConditionTypes.Progressing)?.Reason != "InconclusiveAnalysis")
                    {
                        Event(EventTypes.Warning, "AnalysisInconclusive", $"Revision {canary.Revision}: {message}");
                    }

                    return Finish(stableArm, canaryArm, null);
            }

            // Successful: mustBeat online when it could not be judged offline.
            if (Spec.Promotion.MustBeat is { } mustBeat && !(canary.TestData is { Length: > 0 } t && t == stable.TestData && canary.Metric is not null && stable.Metric is not null))
            {
                // The reconciler measures both arms' live accuracy on every reconcile of a canary with mustBeat.
                var accuracy = Observation.ArmAccuracy;
                if (accuracy is null || !accuracy.TryGetValue(AnalysisArms.Canary, out var c) || !accuracy.TryGetValue(AnalysisArms.Stable, out var st) || c.Value is not { } cv || st.Value is not { } sv)
                {
                    var why = accuracy is null ? "not measured yet" : string.Join("; ", accuracy.Select(x => $"{x.Key}: {x.Value.Value?.ToString("0.####", CultureInfo.InvariantCulture) ?? x.Value.Problem}"));
                    Set(ConditionTypes.Progressing, Conditions.True, "InconclusiveAnalysis", $"Revision {canary.Revision} passed its analysis but mustBeat needs both arms' live accuracy ({why}); it is judged when feedback arrives, or promote or abort it");
                    return Finish(stableArm, canaryArm, Spec.Analysis is { } a2 ? Durations.Parse(a2.Interval) : RolloutPoll);
                }

                if (!MetricDirection.Improves(ServerMetrics.Accuracy, cv, sv, mustBeat.Margin))
                {
                    return Abort(stable, canary, "MustBeatFailed", $"live accuracy {F(cv)} does not beat the stable revision {stable.Revision}'s {F(sv)} by {F(mustBeat.Margin)}");
                }

                message = $"{message}; live accuracy {F(cv)} beats stable {F(sv)} by at least {F(mustBeat.Margin)}";
            }

            return Promote(stable, canary, $"analysis Successful: {message}");
        }

        public ModelDeploymentPlan Promote(ModelRevision stable, ModelRevision canary, string reason)
        {
            stable.Outcome = RevisionOutcomes.Superseded;
            canary.Outcome = RevisionOutcomes.Stable;
            canary.PromotedAt = Now.UtcDateTime;
            canary.RollbackTo = stable.Revision;
            canary.Reason = reason;
            Status.StableRevision = canary.Revision;
            Status.Analysis = null;
            Set(ConditionTypes.RolledBack, Conditions.False, "Promoted", $"Revision {canary.Revision} was promoted");
            Set(ConditionTypes.Degraded, Conditions.False, "Promoted", $"Revision {canary.Revision} was promoted");
            Event(EventTypes.Normal, "Promoted", $"Revision {canary.Revision} (TrainingRun {canary.TrainingRun}) is stable: {reason}");
            return Steady(ArmOf(canary, Spec.Replicas));
        }

        /// <summary>The canary failed: traffic back to stable, canary to zero, the candidate rejected until a new one or a retry.</summary>
        public ModelDeploymentPlan Abort(ModelRevision stable, ModelRevision canary, string reason, string message)
        {
            Aborting = true;
            Refuse(canary, RevisionOutcomes.Rejected, message);
            rollbacks.Add(reason);
            Set(ConditionTypes.RolledBack, Conditions.True, reason, $"Revision {canary.Revision} rolled back to {stable.Revision}: {message}");
            Set(ConditionTypes.Degraded, Conditions.True, reason, $"Revision {canary.Revision}: {message}");
            Event(EventTypes.Warning, "RolledBack", $"Revision {canary.Revision} (TrainingRun {canary.TrainingRun}) aborted, traffic back to revision {stable.Revision}: {message}");
            return Steady(ArmOf(stable, Spec.Replicas));
        }

        /// <summary>
        /// No candidate: the stable model is analysed. A Failed analysis rolls back once, to the revision this one was
        /// promoted over (the newest Superseded one); a revision that is itself a rollback target is not rolled back
        /// again, and an analysis that could not measure (Error) never rolls back: both leave it Degraded, saying why.
        /// </summary>
        public ModelDeploymentPlan AnalyseStable(ModelRevision stable)
        {
            var arm = ArmOf(stable, Spec.Replicas);
            (string Reason, string Message)? driftHeld = null;
            if (Observation.DriftRollbacks.FirstOrDefault(r => r.Request.Revision == stable.Revision) is { Request: not null } drift)
            {
                if (DriftRollback(stable, drift.Policy, drift.Request) is { } rolledBack)
                {
                    return rolledBack;
                }

                // Nothing to return to: it keeps serving, Degraded, and its own analysis goes on.
                var why = stable.RollbackTo is null ? "it has no revision to return to (the first model, a pinned revision or itself a rollback target)" : $"revision {stable.RollbackTo} is no longer in the history";
                driftHeld = ("DriftRollbackImpossible", $"DriftPolicy {drift.Policy} asks to roll back revision {stable.Revision}, which keeps serving: {why}. {drift.Request.Reason}");
            }

            if (Spec.Analysis is not { Stable: true } analysis || !ArmRolledOut(Observation.StableDeployment, arm))
            {
                return Steady(arm, null, driftHeld);
            }

            var interval = Durations.Parse(analysis.Interval);
            var current = Status.Analysis is { Arm: AnalysisArms.Stable } a && a.Revision == stable.Revision ? a : null;
            var run = current ?? AnalysisEvaluator.Start(AnalysisArms.Stable, stable.Revision, Now);
            if (Observation.Round is { } round && Observation.MeasuredArm == AnalysisArms.Stable)
            {
                // A finished run (count reached, or inconclusive) is followed by a fresh one starting with this round.
                if (run.Phase != AnalysisPhases.Running)
                {
                    run = AnalysisEvaluator.Start(AnalysisArms.Stable, stable.Revision, Now);
                }

                run = AnalysisEvaluator.Record(analysis, run, round, timeUp: false);
                if (analysis.Metrics.FirstOrDefault(m => m.Source == AnalysisSources.Server && m.Metric == ServerMetrics.Accuracy) is { } accuracyMetric
                    && round.TryGetValue(accuracyMetric.Name, out var accuracy) && accuracy.Value is { } value)
                {
                    Status.LiveAccuracy = value;
                }
            }

            Status.Analysis = run;
            var next = AnalysisEvaluator.NextMeasurementAt(run, interval) - Now;
            var requeue = next > TimeSpan.Zero ? next : interval;

            // A stable model found failing stays Degraded until a later analysis run ends Successful (no flapping).
            var degraded = Conditions.Find(Status.Conditions, ConditionTypes.Degraded);
            (string, string)? stillDegraded = degraded is { Status: Conditions.True, Reason: "StableAnalysisFailed" or "StableAnalysisError" } && run.Phase != AnalysisPhases.Successful
                ? (degraded.Reason, degraded.Message)
                : null;
            if (run.Phase is AnalysisPhases.Failed or AnalysisPhases.Error)
            {
                // Back to the revision this one replaced, if it is still in the history and a different model.
                var target = stable.RollbackTo is { } to
                    ? Status.Revisions!.FirstOrDefault(r => r.Revision == to && r.Outcome == RevisionOutcomes.Superseded && r.ModelUri != stable.ModelUri)
                    : null;
                var failed = run.Phase == AnalysisPhases.Failed;
                var reason = failed ? "StableAnalysisFailed" : "StableAnalysisError";
                if (!failed || target is null)
                {
                    var why = !failed ? "it could not be measured, which is no reason to roll back"
                        : stable.RollbackTo is null ? "it has no revision to return to (the first model, a pinned revision or itself a rollback target)"
                        : $"revision {stable.RollbackTo} is no longer in the history";
                    return Steady(arm, requeue, (reason, $"Revision {stable.Revision} fails its analysis ({run.Message}) and keeps serving: {why}"));
                }

                Refuse(stable, RevisionOutcomes.RolledBack, run.Message ?? reason);
                target.Outcome = RevisionOutcomes.Stable;
                target.PromotedAt = Now.UtcDateTime;
                target.Reason = $"{RollbackTargetReason}: revision {stable.Revision} failed its analysis";
                target.RollbackTo = null; // a rollback target is never rolled back further
                Status.StableRevision = target.Revision;
                Status.Analysis = null;
                rollbacks.Add(reason);
                Set(ConditionTypes.RolledBack, Conditions.True, reason, $"Revision {stable.Revision} rolled back to {target.Revision}: {run.Message}");
                Set(ConditionTypes.Degraded, Conditions.True, reason, $"Revision {stable.Revision}: {run.Message}");
                Event(EventTypes.Warning, "RolledBack", $"Revision {stable.Revision} (TrainingRun {stable.TrainingRun}) failed in production, traffic back to revision {target.Revision}: {run.Message}");
                return Steady(ArmOf(target, Spec.Replicas));
            }

            return Steady(arm, requeue, stillDegraded ?? driftHeld);
        }

        /// <summary>
        /// A DriftPolicy found the stable model drifting and asks for a rollback: to the revision this one was promoted
        /// over, as a failed stable analysis would (once; a rollback target is not rolled back further). Null without such
        /// a revision (the caller keeps it serving, Degraded, saying why, with its analysis going on).
        /// </summary>
        private ModelDeploymentPlan? DriftRollback(ModelRevision stable, string policy, DriftRollbackRequest request)
        {
            var target = stable.RollbackTo is { } to
                ? Status.Revisions!.FirstOrDefault(r => r.Revision == to && r.Outcome == RevisionOutcomes.Superseded && r.ModelUri != stable.ModelUri)
                : null;
            if (target is null)
            {
                return null;
            }

            Refuse(stable, RevisionOutcomes.RolledBack, request.Reason);
            target.Outcome = RevisionOutcomes.Stable;
            target.PromotedAt = Now.UtcDateTime;
            target.Reason = $"{RollbackTargetReason}: revision {stable.Revision} drifted (DriftPolicy {policy})";
            target.RollbackTo = null; // a rollback target is never rolled back further
            Status.StableRevision = target.Revision;
            Status.Analysis = null;
            rollbacks.Add("DriftDetected");
            Set(ConditionTypes.RolledBack, Conditions.True, "DriftDetected", $"Revision {stable.Revision} rolled back to {target.Revision}: {request.Reason}");
            Set(ConditionTypes.Degraded, Conditions.True, "DriftDetected", $"Revision {stable.Revision}: {request.Reason}");
            Event(EventTypes.Warning, "RolledBack", $"Revision {stable.Revision} (TrainingRun {stable.TrainingRun}) drifted, traffic back to revision {target.Revision}: {request.Reason}");
            return Steady(ArmOf(target, Spec.Replicas));
        }

        private static string F(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);
    }
}
