using System.Globalization;
using System.Text.Json;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.LabelingQueues;

/// <summary>A DriftPolicy's label request and the uncertain-rows URLs of its drifted deployment's ready stable serve pods.</summary>
public sealed record DriftLabelWork(string Policy, DriftLabelRequest Request, string Deployment, IReadOnlyList<string> Uncertain);

/// <summary>Everything the planner decides from, gathered from the caches and the labelling pod.</summary>
public sealed record LabelingQueueObservation
{
    public required LabelingQueue Queue { get; init; }

    /// <summary>The model that scores the pool, or null with <see cref="ModelProblem"/> saying why none is usable yet.</summary>
    public string? ModelUri { get; init; }

    public string? ModelProblem { get; init; }

    /// <summary>QueryByCommittee: the models of strategy.committee's runs (each Succeeded; the reconciler reports Valid=False before).</summary>
    public IReadOnlyList<string> Committee { get; init; } = [];

    /// <summary>The uncertain-rows URLs of pool.deploymentRef's ready stable serve pods (none without a deploymentRef).</summary>
    public IReadOnlyList<string> Uncertain { get; init; } = [];

    /// <summary>Why strategy.committee cannot score yet (reason, message): Valid=False, scoring held back, the rest goes on.</summary>
    public (string Reason, string Message)? CommitteeProblem { get; init; }

    /// <summary>The oldest DriftPolicy label request for this queue not handled yet.</summary>
    public DriftLabelWork? DriftRequest { get; init; }

    /// <summary>Why pool.deploymentRef adds no serve pod (no such ModelDeployment, no ready stable pod), if it adds none.</summary>
    public string? UncertainProblem { get; init; }

    /// <summary>
    /// The token hash of the Secret the reconciler created (first, or again after it was deleted by hand) and no written
    /// status has recorded yet; null when there is none.
    /// </summary>
    public string? CreatedTokenHash { get; init; }

    /// <summary>The labelling pod's counts; null with <see cref="StatsProblem"/> when no ready pod answered.</summary>
    public LabelStats? Stats { get; init; }

    public string? StatsProblem { get; init; }

    /// <summary>The queue's Jobs (scoring and export), by name.</summary>
    public required IReadOnlyDictionary<string, V1Job> Jobs { get; init; }

    /// <summary>The termination message of each finished Job's pod, by Job name (the export summary; a failure's log tail).</summary>
    public required IReadOnlyDictionary<string, string> JobMessages { get; init; }

    /// <summary>
    /// The scheduler's message for each unfinished Job whose pod is not scheduled (PodScheduled=False), by Job name: a
    /// Job waiting for the labelling pod's node (its required pod affinity) or for room says so in the status.
    /// </summary>
    public IReadOnlyDictionary<string, string> JobsUnscheduled { get; init; } = new Dictionary<string, string>();

    /// <summary>The TrainingRun of the next retraining round, if it exists (a status write lost after its creation).</summary>
    public TrainingRun? NextRetrainRun { get; init; }

    public required DateTimeOffset Now { get; init; }
}

/// <summary>What the reconciler does: create the token Secret, start a scoring or export Job, create a TrainingRun; the status.</summary>
public sealed record LabelingQueuePlan
{
    /// <summary>Whether the labelling Deployment and Service are applied: once the first batch is scored.</summary>
    public bool ServeLabels { get; init; }

    public ScoringRound? StartScoring { get; init; }

    /// <summary>The retraining round whose export Job to create.</summary>
    public int? StartExport { get; init; }

    public RetrainRound? CreateRetrainRun { get; init; }

    /// <summary>Finished scoring and export Jobs beyond the newest <see cref="LabelingQueuePlanner.KeepFinishedJobs"/> of each kind, to delete.</summary>
    public IReadOnlyList<V1Job> DeleteJobs { get; init; } = [];

    public required LabelingQueueStatus Status { get; init; }

    public List<(string Type, string Reason, string Message)> Events { get; } = [];

    public TimeSpan? RequeueAfter { get; init; }
}

/// <summary>
/// The LabelingQueue loop as a pure function (see README "Active learning"): keep the labelling service running; when
/// fewer than a batch of items are pending and the budget is not covered, score the next batch (one Job at a time; the
/// round ends once the service has imported it, or, after <see cref="ImportGrace"/>, as PoolExhausted when it added
/// nothing; a failed Job is retried with doubling backoff); after every <c>retrain.afterLabels</c> new labels, export
/// them and create exactly one TrainingRun for the round (deterministic names; rounds counted in status).
/// </summary>
public static class LabelingQueuePlanner
{
    /// <summary>How often the labelling service's counts are read (labels arrive without any Kubernetes event).</summary>
    public static readonly TimeSpan StatsPoll = TimeSpan.FromSeconds(5);

    /// <summary>How long a succeeded scoring round waits for the service to import its batch before it counts as empty.</summary>
    public static readonly TimeSpan ImportGrace = TimeSpan.FromSeconds(LabelingWorkloadBuilder.PoolPollSeconds * 6);

    /// <summary>How long after an empty round a queue with pool.deploymentRef scores again (live traffic refills the serve pods' rows).</summary>
    public static readonly TimeSpan UncertainRescore = TimeSpan.FromSeconds(60);

    /// <summary>The longest wait between empty rounds of an idle deploymentRef queue.</summary>
    public static readonly TimeSpan UncertainRescoreCap = TimeSpan.FromMinutes(30);

    /// <summary>
    /// The wait after the <paramref name="emptyRounds"/>-th empty round in a row: 1 minute doubling, at most 30, so an
    /// idle deployment's queue does not run a scoring Job every minute forever.
    /// </summary>
    public static TimeSpan UncertainRescoreAfter(int emptyRounds) =>
        TimeSpan.FromTicks(Math.Min(UncertainRescoreCap.Ticks, UncertainRescore.Ticks * (1L << Math.Clamp(emptyRounds - 1, 0, 20))));

    /// <summary>Finished Jobs kept of each kind (scoring, export), newest first, for their logs and termination messages.</summary>
    public const int KeepFinishedJobs = 3;

    public static readonly TimeSpan BackoffBase = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan BackoffCap = TimeSpan.FromMinutes(10);

    /// <summary>The wait before attempt <paramref name="failedAttempt"/> + 1: 10 s doubling, at most 10 minutes.</summary>
    public static TimeSpan Backoff(int failedAttempt) =>
        TimeSpan.FromTicks(Math.Min(BackoffCap.Ticks, BackoffBase.Ticks * (1L << Math.Clamp(failedAttempt - 1, 0, 20))));

    private static string Ordinal(int n) => n.ToString(CultureInfo.InvariantCulture) + ((n % 100) is 11 or 12 or 13 ? "th" : (n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" });

    public static LabelingQueuePlan Plan(LabelingQueueObservation o)
    {
        ArgumentNullException.ThrowIfNull(o);
        var queue = o.Queue;
        var name = queue.Metadata.Name;
        var status = Clone(queue.Status);
        status.Conditions ??= [];
        var generation = queue.Metadata.Generation;
        if (status.ObservedGeneration != generation)
        {
            // A spec edit scores again at once (the PoolExhausted condition is of the old generation): the backoff restarts.
            status.EmptyRounds = null;
        }

        var events = new List<(string, string, string)>();
        var requeue = StatsPoll;
        void Set(string type, string value, string reason, string message) =>
            Conditions.SetCondition(status.Conditions, type, value, reason, message, generation, o.Now);
        void Soon(TimeSpan after) => requeue = after < requeue ? after : requeue;
        ScoringRound Round(int batch, int attempt, int count, string model) =>
            status.Scoring?.DriftRequestedAt is { } asked && o.DriftRequest is { } drift && drift.Request.RequestedAt == asked
                ? new(batch, attempt, Math.Min(count, drift.Request.Samples), model) { Uncertain = [.. o.Uncertain.Union(drift.Uncertain, StringComparer.Ordinal)], Committee = o.Committee }
                : new(batch, attempt, count, model) { Uncertain = o.Uncertain, Committee = o.Committee };

        // Without a dataset, the pool is the serve pods' uncertain rows: no round starts while no serve pod is ready.
        var noPool = queue.Spec.Pool.Dataset is null && o.Uncertain.Count == 0
            ? $"pool.deploymentRef {queue.Spec.Pool.DeploymentRef?.Name}: {o.UncertainProblem ?? "no ready stable serve pod"}; the pool has no dataset, so scoring waits for one"
            : null;

        // A committee member not ready only holds scoring back: labelling, counts, the budget and retraining go on.
        if (o.CommitteeProblem is { } committeeProblem)
        {
            Set(ConditionTypes.Valid, Conditions.False, committeeProblem.Reason, committeeProblem.Message);
        }
        else
        {
            Set(ConditionTypes.Valid, Conditions.True, "Valid", "The spec is valid");
        }
        if (o.CreatedTokenHash is { } tokenHash && tokenHash != status.TokenHash)
        {
            if (status.TokenSecret is not null)
            {
                events.Add((EventTypes.Warning, "TokenSecretRecreated", $"Secret {LabelingQueueNames.TokenSecret(name)} was gone: created again with a new token; the labelling pod restarts onto it (labellers need the new token)"));
            }

            status.TokenHash = tokenHash;
        }

        status.TokenSecret = LabelingQueueNames.TokenSecret(name);
        status.ServiceUrl = LabelingWorkloadBuilder.ServiceUrl(queue);

        var stats = o.Stats;
        if (stats is not null)
        {
            status.Pending = Int(stats.Pending);
            status.Labelled = Int(stats.Labelled);
            status.Skipped = Int(stats.Skipped);
            status.BudgetRemaining = stats.BudgetLeft is { } left ? Int(left) : null;
            Set(ConditionTypes.Ready, Conditions.True, "Serving", $"The labelling service answers at {status.ServiceUrl}");
            if (stats.BatchesNotImportedCount > 0)
            {
                // The files stay in the store's batch folder; the service imports each again once it changes.
                Set(LabelingQueueConditions.BatchesImported, Conditions.False, "BatchNotImported",
                    $"The labelling service could not import {stats.BatchesNotImportedCount} scored batch(es) of {LabelingQueueNames.BatchFolder}/ on the store's claim (kept there; imported again once changed): "
                    + string.Join("; ", stats.BatchesNotImported.Take(3).Select(b => $"{b.File}: {b.Reason}")) + (stats.BatchesNotImportedCount > 3 ? "; ..." : ""));
            }
            else
            {
                Set(LabelingQueueConditions.BatchesImported, Conditions.True, "AllImported", "The labelling service imported every scored batch");
            }
            Set(ConditionTypes.BudgetExhausted, stats.BudgetExhausted ? Conditions.True : Conditions.False,
                stats.BudgetExhausted ? "BudgetSpent" : "BudgetLeft",
                stats.BudgetExhausted ? $"All {queue.Spec.Budget} labels of the budget are collected; no more scoring" : $"{stats.BudgetLeft} of {queue.Spec.Budget} labels left");
        }
        else
        {
            Set(ConditionTypes.Ready, Conditions.False, "LabelServiceNotReady", o.StatsProblem ?? "the labelling service has no ready pod yet");
        }

        // Scoring: one round at a time, ending when the service has imported the batch.
        ScoringRound? start = null;
        if (status.Scoring is { } round)
        {
            var jobName = LabelingQueueNames.ScoreJob(name, round.Batch, round.Attempt);
            var job = o.Jobs.GetValueOrDefault(jobName);
            if (round.FailedAt is { } failedAt)
            {
                var retryAt = new DateTimeOffset(DateTime.SpecifyKind(failedAt, DateTimeKind.Utc)) + Backoff(round.Attempt);
                if (o.Now >= retryAt && o.ModelUri is { } model && noPool is null)
                {
                    round.Attempt++;
                    round.FailedAt = null;
                    // A round whose Job succeeded but whose batch was not imported starts over: the new Job's success counts.
                    round.SucceededAt = null;
                    start = Round(round.Batch, round.Attempt, BatchCount(queue, stats), model);
                    Set(LabelingQueueConditions.Scoring, Conditions.True, "Retrying", $"Scoring batch {round.Batch}, attempt {round.Attempt} (Job {LabelingQueueNames.ScoreJob(name, round.Batch, round.Attempt)})");
                }
                else
                {
                    Soon(retryAt > o.Now ? retryAt - o.Now : StatsPoll);
                }
            }
            else if (job is null)
            {
                // Created by a reconcile whose status write was lost, or not in the cache yet: create-if-absent either way.
                if (o.ModelUri is { } model && noPool is null)
                {
                    start = Round(round.Batch, round.Attempt, BatchCount(queue, stats), model);
                }

                Set(LabelingQueueConditions.Scoring, Conditions.True, "Started", $"Scoring batch {round.Batch} (Job {jobName})");
            }
            else if (JobFailed(job, o.Now) is { } failedTime)
            {
                round.FailedAt = failedTime.UtcDateTime;
                var message = o.JobMessages.GetValueOrDefault(jobName) is { Length: > 0 } m ? m.Trim() : "no message";
                var wait = Backoff(round.Attempt);
                Set(LabelingQueueConditions.Scoring, Conditions.False, "ScoringFailed", $"Job {jobName} (batch {round.Batch}, attempt {round.Attempt}) failed: {message}; retrying in {wait.TotalSeconds:0}s");
                events.Add((EventTypes.Warning, "ScoringFailed", $"Job {jobName} failed: {message}"));
                Soon(wait);
            }
            else if (JobSucceeded(job, o.Now) is { } succeededTime)
            {
                round.SucceededAt ??= succeededTime.UtcDateTime;
                var summary = ScoreSummary.Parse(o.JobMessages.GetValueOrDefault(jobName));
                var since = o.Now - new DateTimeOffset(DateTime.SpecifyKind(round.SucceededAt.Value, DateTimeKind.Utc));
                if (stats is not null && stats.Total > round.ItemsBefore)
                {
                    status.Batches = round.Batch;
                    status.Scoring = null;
                    status.DriftRequestHandledAt = round.DriftRequestedAt ?? status.DriftRequestHandledAt;
                    status.EmptyRounds = null;
                    events.Add((EventTypes.Normal, "BatchImported", $"Batch {round.Batch}: {stats.Total - round.ItemsBefore} items queued for labelling{UncertainPart(summary)}"));
                    Set(LabelingQueueConditions.Scoring, Conditions.False, "BatchImported", $"Batch {round.Batch} added {stats.Total - round.ItemsBefore} items{UncertainPart(summary)}{RejectedPart(summary)}");
                    RecordUncertain(queue, status, summary, round.Batch, events, imported: true);
                }
                else if (stats is not null && since >= ImportGrace
                    && stats.BatchesNotImported.FirstOrDefault(b => b.File == LabelingQueueNames.BatchFileName(round.Batch)) is { } notImported)
                {
                    // The service tried this round's batch (it polls well within the grace) and could not import it: a
                    // failed round, retried with backoff; the next attempt writes the file again and the service rereads it.
                    round.FailedAt = o.Now.UtcDateTime;
                    var wait = Backoff(round.Attempt);
                    Set(LabelingQueueConditions.Scoring, Conditions.False, "BatchNotImported",
                        $"The labelling service could not import batch {round.Batch} ({notImported.File}, from Job {jobName}): {notImported.Reason}; scoring it again in {wait.TotalSeconds:0}s");
                    events.Add((EventTypes.Warning, "BatchNotImported", $"Batch {round.Batch} ({notImported.File}) was not imported: {notImported.Reason}"));
                    Soon(wait);
                }
                else if (stats is not null && since >= ImportGrace)
                {
                    status.Batches = round.Batch;
                    status.Scoring = null;
                    status.DriftRequestHandledAt = round.DriftRequestedAt ?? status.DriftRequestHandledAt;
                    status.EmptyRounds = (status.EmptyRounds ?? 0) + 1;
                    var again = queue.Spec.Pool.DeploymentRef is null ? "edit the spec to score again"
                        : $"the serve pods' rows are scored again in {UncertainRescoreAfter(status.EmptyRounds.Value).TotalSeconds:0}s ({Ordinal(status.EmptyRounds.Value)} empty round in a row; the wait doubles up to {UncertainRescoreCap.TotalMinutes:0} minutes and resets when a round adds items)";
                    Set(LabelingQueueConditions.Scoring, Conditions.False, "PoolExhausted", $"Batch {round.Batch} selected nothing new within {ImportGrace.TotalSeconds:0}s of its Job's success: every pool row is queued, labelled or skipped, or could not be scored (see batches/{LabelingQueueNames.BatchFileName(round.Batch)[..^4]}.rejects.csv on the store's claim){RejectedPart(summary)}; {again}");
                    RecordUncertain(queue, status, summary, round.Batch, events, imported: false);
                    events.Add((EventTypes.Normal, "PoolExhausted", $"Batch {round.Batch} added no item to the queue"));
                }
                else
                {
                    Set(LabelingQueueConditions.Scoring, Conditions.True, "Importing", $"Batch {round.Batch} is scored; waiting for the labelling service to import it");
                    Soon(TimeSpan.FromSeconds(LabelingWorkloadBuilder.PoolPollSeconds));
                }
            }
            else if (o.JobsUnscheduled.GetValueOrDefault(jobName) is { } unscheduled)
            {
                Set(LabelingQueueConditions.Scoring, Conditions.True, "PodUnschedulable", $"Scoring batch {round.Batch} (Job {jobName}): its pod is not scheduled yet: {unscheduled}");
            }
            else
            {
                Set(LabelingQueueConditions.Scoring, Conditions.True, "Running", $"Scoring batch {round.Batch} (Job {jobName})");
            }
        }

        var exhaustedCondition = Conditions.Find(status.Conditions, LabelingQueueConditions.Scoring) is { Reason: "PoolExhausted" } c && c.ObservedGeneration == generation ? c : null;
        var poolExhausted = exhaustedCondition is not null;
        if (exhaustedCondition is { LastTransitionTime: { } exhaustedAt } && queue.Spec.Pool.DeploymentRef is not null)
        {
            // Live traffic refills the serve pods' uncertain rows: score again after a while.
            var rescoreAt = new DateTimeOffset(DateTime.SpecifyKind(exhaustedAt, DateTimeKind.Utc)) + UncertainRescoreAfter(status.EmptyRounds ?? 1);
            poolExhausted = o.Now < rescoreAt;
            if (poolExhausted)
            {
                Soon(rescoreAt - o.Now);
            }
        }

        if (status.Scoring is null && (status.Batches ?? 0) == 0)
        {
            // The store is created from the first batch: score it before the labelling service starts.
            if (o.ModelUri is not { } model)
            {
                Set(LabelingQueueConditions.Scoring, Conditions.False, "ModelNotReady", o.ModelProblem ?? "no model to score with");
            }
            else if (noPool is not null)
            {
                Set(LabelingQueueConditions.Scoring, Conditions.False, "NoServePods", noPool);
            }
            else
            {
                status.Scoring = new LabelingScoringStatus { Batch = 1, Attempt = 1, ItemsBefore = 0 };
                start = Round(1, 1, BatchCount(queue, null), model);
                Set(LabelingQueueConditions.Scoring, Conditions.True, "Started", $"Scoring the first batch of {start.Count} items (Job {LabelingQueueNames.ScoreJob(name, 1, 1)})");
                events.Add((EventTypes.Normal, "Scoring", $"Scoring batch 1 ({start.Count} items) with {Models(start)}"));
            }
        }
        else if (status.Scoring is null && stats is not null && o.DriftRequest is { } drift && !(drift.Request.RequestedAt <= status.DriftRequestHandledAt)
            && (stats.BudgetExhausted || (stats.BudgetLeft ?? long.MaxValue) <= stats.Pending || (o.ModelUri is not null && drift.Uncertain.Count > 0)))
        {
            // A DriftPolicy asks for its drifted deployment's uncertain live rows: one round of that many, scored with the
            // queue's own pool (so every batch has the store's columns), ahead of the usual rounds (the pending items and
            // an exhausted pool do not hold it back; the budget does). Until its pods are ready or the model is, the usual
            // rounds go on.
            var room = (stats.BudgetLeft ?? long.MaxValue) - stats.Pending;
            var asked = $"DriftPolicy {drift.Policy} asks for {drift.Request.Samples} uncertain live samples of ModelDeployment {drift.Deployment} (revision {drift.Request.Revision})";
            if (room <= 0 || stats.BudgetExhausted)
            {
                status.DriftRequestHandledAt = drift.Request.RequestedAt;
                events.Add((EventTypes.Warning, "DriftRequestPassedOver", $"{asked}: {(stats.BudgetExhausted ? "the budget is spent" : $"the {stats.Pending} pending items cover the {stats.BudgetLeft} labels left")}"));
            }
            else
            {
                var batch = (status.Batches ?? 0) + 1;
                status.Scoring = new LabelingScoringStatus { Batch = batch, Attempt = 1, ItemsBefore = stats.Total, DriftRequestedAt = drift.Request.RequestedAt };
                start = Round(batch, 1, (int)Math.Min(int.MaxValue, room), o.ModelUri!);
                Set(LabelingQueueConditions.Scoring, Conditions.True, "DriftRequested", $"Scoring batch {batch} of {start.Count} items with the serve pods' uncertain live rows (Job {LabelingQueueNames.ScoreJob(name, batch, 1)}): {asked}");
                events.Add((EventTypes.Normal, "Scoring", $"Scoring batch {batch} ({start.Count} items) for DriftPolicy {drift.Policy}: {drift.Request.Reason}"));
            }
        }
        else if (status.Scoring is null && stats is not null && !poolExhausted)
        {
            var budgetLeft = stats.BudgetLeft ?? long.MaxValue;
            if (stats.BudgetExhausted || budgetLeft <= stats.Pending)
            {
                Set(LabelingQueueConditions.Scoring, Conditions.False, stats.BudgetExhausted ? "BudgetExhausted" : "BudgetCovered",
                    stats.BudgetExhausted ? "The budget is spent" : $"The {stats.Pending} pending items cover the {budgetLeft} labels left in the budget");
            }
            else if (stats.Pending >= queue.Spec.BatchSize)
            {
                Set(LabelingQueueConditions.Scoring, Conditions.False, "EnoughPending", $"{stats.Pending} items pending, at least a batch ({queue.Spec.BatchSize})");
            }
            else if (o.ModelUri is not { } model)
            {
                Set(LabelingQueueConditions.Scoring, Conditions.False, "ModelNotReady", o.ModelProblem ?? "no model to score with");
            }
            else if (noPool is not null)
            {
                Set(LabelingQueueConditions.Scoring, Conditions.False, "NoServePods", noPool);
            }
            else
            {
                var batch = (status.Batches ?? 0) + 1;
                status.Scoring = new LabelingScoringStatus { Batch = batch, Attempt = 1, ItemsBefore = stats.Total };
                start = Round(batch, 1, BatchCount(queue, stats), model);
                Set(LabelingQueueConditions.Scoring, Conditions.True, "Started", $"Scoring batch {batch} of {start.Count} items (Job {LabelingQueueNames.ScoreJob(name, batch, 1)}): {stats.Pending} pending, fewer than a batch");
                events.Add((EventTypes.Normal, "Scoring", $"Scoring batch {batch} ({start.Count} items) with {Models(start)}"));
            }
        }

        var (startExport, retrain) = Retrain(o, status, stats, Set, events);
        var serve = status.Batches >= 1 || status.Scoring is { Batch: 1, SucceededAt: not null };
        if (!serve && stats is null)
        {
            Set(ConditionTypes.Ready, Conditions.False, "FirstBatchPending", "The labelling service starts once the first batch is scored (its store is created from it)");
        }

        status.Phase = stats is null ? LabelingQueuePhases.Pending
            : stats.BudgetExhausted ? LabelingQueuePhases.Exhausted
            : status.Scoring is not null ? LabelingQueuePhases.Scoring
            : LabelingQueuePhases.Labelling;
        status.ObservedGeneration = generation;
        var plan = new LabelingQueuePlan
        {
            ServeLabels = serve,
            StartScoring = start,
            StartExport = startExport,
            CreateRetrainRun = retrain,
            DeleteJobs = FinishedJobsToDelete(o, status),
            Status = status,
            RequeueAfter = requeue,
        };
        plan.Events.AddRange(events);
        return plan;
    }

    /// <summary>The scheduler's "Reason: message" of a pod it has not placed (PodScheduled=False), or null.</summary>
    public static string? Unscheduled(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return pod.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled" && c.Status == "False") is { } waiting
            ? $"{waiting.Reason}: {waiting.Message}".Trim(' ', ':')
            : null;
    }

    /// <summary>
    /// Why the labelling service has no ready pod, from its pods: not scheduled (the scheduler's message), its container
    /// waiting (CrashLoopBackOff, an image pull, a claim being attached) or exited (its code and termination message: the
    /// service's error, e.g. a store it cannot open or no batch that can create it), so Ready=False says what is wrong
    /// rather than only "no ready pod".
    /// </summary>
    public static string LabelPodNotReady(IEnumerable<V1Pod> labelPods)
    {
        ArgumentNullException.ThrowIfNull(labelPods);
        const string none = "the labelling service has no ready pod yet";
        var pod = labelPods.Where(p => p.Metadata.DeletionTimestamp is null)
            .OrderByDescending(p => p.Metadata.CreationTimestamp ?? DateTime.MinValue)
            .ThenBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        if (pod is null)
        {
            return none;
        }

        if (Unscheduled(pod) is { } unscheduled)
        {
            return $"{none}: pod {pod.Metadata.Name} is not scheduled: {unscheduled}";
        }

        var container = pod.Status?.ContainerStatuses?.FirstOrDefault();
        static string Exited(V1ContainerStateTerminated t) =>
            $"exited with code {t.ExitCode.ToString(CultureInfo.InvariantCulture)}{(string.IsNullOrWhiteSpace(t.Message) ? t.Reason is { Length: > 0 } r ? $" ({r})" : "" : $": {t.Message.Trim()}")}";
        var parts = new List<string>();
        if (container?.State?.Waiting is { } waiting && !string.IsNullOrEmpty(waiting.Reason) && waiting.Reason != "ContainerCreating")
        {
            parts.Add($"{waiting.Reason}{(string.IsNullOrWhiteSpace(waiting.Message) ? "" : $": {waiting.Message.Trim()}")}");
        }

        if (container?.State?.Terminated is { } terminated)
        {
            parts.Add(Exited(terminated));
        }
        else if (container?.LastState?.Terminated is { } last)
        {
            parts.Add($"last {Exited(last)}");
        }

        return parts.Count == 0 ? $"{none} (pod {pod.Metadata.Name} is {pod.Status?.Phase ?? "Pending"})" : $"{none}: pod {pod.Metadata.Name}: {string.Join("; ", parts)}";
    }

    /// <summary>Retraining: round N+1 starts when afterLabels labels arrived since round N's export; its export Job, then its TrainingRun.</summary>
    private static (int? StartExport, RetrainRound? Retrain) Retrain(
        LabelingQueueObservation o, LabelingQueueStatus status, LabelStats? stats, Action<string, string, string, string> set, List<(string, string, string)> events)
    {
        var queue = o.Queue;
        if (queue.Spec.Retrain is not { } retrain || queue.Spec.ExportUri is not { } exportFolder)
        {
            status.LabelsSinceRetrain = null;
            return (null, null);
        }

        var name = queue.Metadata.Name;
        var next = (status.RetrainRounds ?? 0) + 1;
        var used = status.RetrainedLabels ?? 0;
        if (stats is not null)
        {
            status.LabelsSinceRetrain = Int(Math.Max(0, stats.Labelled - used));
        }

        var runName = LabelingQueueNames.RetrainRun(name, next);
        if (o.NextRetrainRun is { } existing)
        {
            // Created by a reconcile whose status write was lost: record it, never create a second one.
            var count = LabelingQueueNames.ValueOf(existing.Metadata.Annotations, LabelingQueueNames.LabelCountAnnotation) is { } text
                && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : used;
            Record(status, next, LabelingQueueNames.ValueOf(existing.Metadata.Annotations, LabelingQueueNames.ExportAnnotation), count, runName, stats);
            set(LabelingQueueConditions.Retraining, Conditions.False, "RunCreated", $"Round {next}: TrainingRun {runName} on {count} labels");
            return (null, null);
        }

        var exportJobName = LabelingQueueNames.ExportJob(name, next);
        if (o.Jobs.GetValueOrDefault(exportJobName) is { } exportJob)
        {
            if (JobSucceeded(exportJob, o.Now) is not null)
            {
                var message = o.JobMessages.GetValueOrDefault(exportJobName);
                if (ExportedLabels(message) is not { } labels)
                {
                    set(LabelingQueueConditions.Retraining, Conditions.False, "ExportUnreadable", $"Export Job {exportJobName} succeeded but its termination message holds no label count ('{message}'); delete the Job to export again");
                    return (null, null);
                }

                var exportUri = LabelingQueueNames.ExportUri(exportFolder, next);
                Record(status, next, exportUri, labels, runName, stats);
                set(LabelingQueueConditions.Retraining, Conditions.False, "RunCreated", $"Round {next}: TrainingRun {runName} on the {labels} labels exported to {exportUri}");
                events.Add((EventTypes.Normal, "Retraining", $"Round {next}: created TrainingRun {runName} on {labels} labels ({exportUri})"));
                return (null, new RetrainRound(next, exportUri, labels));
            }

            if (JobFailed(exportJob, o.Now) is not null)
            {
                var message = o.JobMessages.GetValueOrDefault(exportJobName) is { Length: > 0 } m ? m.Trim() : "no message";
                set(LabelingQueueConditions.Retraining, Conditions.False, "ExportFailed", $"Export Job {exportJobName} of round {next} failed: {message}; delete the Job to retry");
                return (null, null);
            }

            set(LabelingQueueConditions.Retraining, Conditions.True, o.JobsUnscheduled.ContainsKey(exportJobName) ? "PodUnschedulable" : "Exporting",
                $"Round {next}: exporting the labels (Job {exportJobName})"
                + (o.JobsUnscheduled.GetValueOrDefault(exportJobName) is { } unscheduled ? $"; its pod is not scheduled yet: {unscheduled}" : ""));
            return (null, null);
        }

        if (stats is not null && stats.Labelled - used >= retrain.AfterLabels)
        {
            set(LabelingQueueConditions.Retraining, Conditions.True, "Exporting", $"Round {next}: {stats.Labelled - used} new labels (afterLabels {retrain.AfterLabels}); exporting them (Job {exportJobName})");
            return (next, null);
        }

        if (stats is not null)
        {
            set(LabelingQueueConditions.Retraining, Conditions.False, "WaitingForLabels", $"{Math.Max(0, stats.Labelled - used)} of {retrain.AfterLabels} new labels for round {next}");
        }

        return (null, null);
    }

    /// <summary>
    /// Finished Jobs (Complete or Failed) beyond the newest <see cref="KeepFinishedJobs"/> of each role. Never the Job of
    /// the scoring round in progress nor the next retraining round's export (the planner still reads them); Jobs already
    /// being deleted are not asked again.
    /// </summary>
    internal static IReadOnlyList<V1Job> FinishedJobsToDelete(LabelingQueueObservation o, LabelingQueueStatus status)
    {
        var name = o.Queue.Metadata.Name;
        var inUse = new HashSet<string>(StringComparer.Ordinal) { LabelingQueueNames.ExportJob(name, (status.RetrainRounds ?? 0) + 1) };
        foreach (var round in new[] { o.Queue.Status?.Scoring, status.Scoring }.OfType<LabelingScoringStatus>())
        {
            inUse.Add(LabelingQueueNames.ScoreJob(name, round.Batch, round.Attempt));
        }

        return [.. o.Jobs.Values
            .Where(j => j.Metadata.DeletionTimestamp is null && !inUse.Contains(j.Metadata.Name)
                && (JobSucceeded(j, o.Now) is not null || JobFailed(j, o.Now) is not null))
            .GroupBy(j => LabelingQueueNames.ValueOf(j.Metadata.Labels, LabelingQueueNames.RoleLabel) ?? "", StringComparer.Ordinal)
            .SelectMany(role => role
                .OrderByDescending(j => j.Metadata.CreationTimestamp ?? DateTime.MinValue)
                .ThenByDescending(j => j.Metadata.Name, StringComparer.Ordinal)
                .Skip(KeepFinishedJobs))
            .OrderBy(j => j.Metadata.Name, StringComparer.Ordinal)];
    }

    /// <summary>At the end of a scoring round: the serve pods' rows it queued (counted once) and rejected (reported).</summary>
    private static void RecordUncertain(LabelingQueue queue, LabelingQueueStatus status, ScoreSummary? summary, int batch, List<(string, string, string)> events, bool imported)
    {
        if (queue.Spec.Pool.DeploymentRef is not { } deployment || summary is null)
        {
            return;
        }

        if (imported)
        {
            status.UncertainImported = (status.UncertainImported ?? 0) + summary.UncertainSelected;
        }

        status.UncertainRejected = summary.UncertainRejected;
        if (summary.UncertainRejected > 0)
        {
            events.Add((EventTypes.Warning, "UncertainRowsRejected",
                $"Batch {batch}: {summary.UncertainRejected} of the {summary.UncertainRows} uncertain rows of ModelDeployment {deployment.Name} were not scored (first: {summary.FirstUncertainReject}); see batches/{LabelingQueueNames.BatchFileName(batch)[..^4]}.rejects.csv on the store's claim"));
        }
    }

    /// <summary>The round's model, its committee and its serve pods, for an Event.</summary>
    private static string Models(ScoringRound round) =>
        round.ModelUri
        + (round.Committee.Count > 0 ? $" and the committee's {string.Join(", ", round.Committee)}" : "")
        + (round.Uncertain.Count > 0 ? $", adding the uncertain rows of {round.Uncertain.Count} serve pod{(round.Uncertain.Count == 1 ? "" : "s")}" : "");

    private static string UncertainPart(ScoreSummary? summary) =>
        summary is { UncertainRows: > 0 } ? $" ({summary.UncertainSelected} of them uncertain rows of the serve pods)" : "";

    private static string RejectedPart(ScoreSummary? summary) =>
        summary is { UncertainRejected: > 0 } ? $"; {summary.UncertainRejected} uncertain rows of the serve pods were rejected (first: {summary.FirstUncertainReject})" : "";

    private static void Record(LabelingQueueStatus status, int round, string? exportUri, int labels, string runName, LabelStats? stats)
    {
        status.RetrainRounds = round;
        status.RetrainedLabels = labels;
        status.LastRetrainRun = runName;
        status.LastExportUri = exportUri;
        if (stats is not null)
        {
            status.LabelsSinceRetrain = Int(Math.Max(0, stats.Labelled - labels));
        }
    }

    /// <summary>The "labels" count of an export summary (the export Job's termination message), if it is one.</summary>
    internal static int? ExportedLabels(string? message)
    {
        if (string.IsNullOrWhiteSpace(message))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(message);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("labels", out var labels) && labels.TryGetInt32(out var n) && n >= 0 ? n : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Rows to select: a batch, or what is left of the budget beyond the pending items if less.</summary>
    private static int BatchCount(LabelingQueue queue, LabelStats? stats) =>
        (int)Math.Max(1, Math.Min(queue.Spec.BatchSize, stats is null ? queue.Spec.Budget : (stats.BudgetLeft ?? long.MaxValue) - stats.Pending));

    /// <summary>When the Job succeeded (its Complete condition; <paramref name="now"/> when the time is missing), else null.</summary>
    internal static DateTimeOffset? JobSucceeded(V1Job job, DateTimeOffset now) =>
        job.Status?.Conditions?.FirstOrDefault(c => c.Type == "Complete" && c.Status == "True") is { } complete
            ? complete.LastTransitionTime is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : now
            : null;

    /// <summary>When the Job failed (its Failed condition; <paramref name="now"/> when the time is missing), else null.</summary>
    internal static DateTimeOffset? JobFailed(V1Job job, DateTimeOffset now) =>
        job.Status?.Conditions?.FirstOrDefault(c => c.Type == "Failed" && c.Status == "True") is { } failed
            ? failed.LastTransitionTime is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : now
            : null;

    private static int Int(long value) => (int)Math.Min(int.MaxValue, value);

    private static LabelingQueueStatus Clone(LabelingQueueStatus? status) =>
        status is null ? new LabelingQueueStatus() : SyllabusJson.Copy<LabelingQueueStatus>(status);
}

/// <summary>The counts a scoring Job writes as its termination message (<c>score --termination-message-path</c>).</summary>
public sealed record ScoreSummary(int SelectedRows, int RejectedRows, int UncertainRows, int UncertainSelected, int UncertainRejected, string? FirstUncertainReject)
{
    /// <summary>The summary in a termination message, or null when the message is not one (an older trainer, a log tail).</summary>
    public static ScoreSummary? Parse(string? message)
    {
        if (string.IsNullOrWhiteSpace(message))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(message);
            var root = document.RootElement;
            int? Int(string name) => root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var v) && v.TryGetInt32(out var n) && n >= 0 ? n : null;
            return Int("selectedRows") is { } selected
                ? new ScoreSummary(selected, Int("rejectedRows") ?? 0, Int("uncertainRows") ?? 0, Int("uncertainSelected") ?? 0, Int("uncertainRejected") ?? 0,
                    root.TryGetProperty("firstUncertainReject", out var first) && first.ValueKind == JsonValueKind.String ? first.GetString() : null)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
