using System.Globalization;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Api.Validation;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>Whether what a run depends on before it starts (its Curriculum, its base TrainingRun) is there.</summary>
public sealed record DependencyState(DependencyStatus Status, string Reason = "", string Message = "")
{
    public static DependencyState Ready { get; } = new(DependencyStatus.Ready);

    public static DependencyState Waiting(string reason, string message) => new(DependencyStatus.Waiting, reason, message);

    public static DependencyState Failed(string reason, string message) => new(DependencyStatus.Failed, reason, message);
}

public enum DependencyStatus
{
    Ready,
    Waiting,
    Failed,
}

/// <summary>Everything one reconcile gathered about a run: the single input of <see cref="TrainingRunStatusCalculator.Compute"/>.</summary>
public sealed record TrainingRunObservation
{
    public required TrainingRun Run { get; init; }

    public IReadOnlyList<ValidationError> ValidationErrors { get; init; } = [];

    /// <summary>Only consulted before the run has started (its ConfigMap is fixed from then on).</summary>
    public DependencyState Dependencies { get; init; } = DependencyState.Ready;

    /// <summary>The run's Jobs (every attempt still there) and their pods.</summary>
    public IReadOnlyList<V1Job> Jobs { get; init; } = [];

    public IReadOnlyList<V1Pod> Pods { get; init; } = [];

    /// <summary>Progress scraped this reconcile, if a scrape was due and answered.</summary>
    public TrainingProgress? ScrapedProgress { get; init; }

    public required DateTimeOffset Now { get; init; }

    public required TrainerImageOptions Options { get; init; }
}

/// <summary>Something the reconciler must do after computing the status.</summary>
public abstract record TrainingRunAction
{
    /// <summary>Create the ConfigMap (if missing) and the Job of <paramref name="Attempt"/>.</summary>
    public sealed record CreateAttempt(int Attempt, long? ActiveDeadlineSeconds) : TrainingRunAction;

    /// <summary>Delete a Job (suspend, deadline): its pod stops, checkpoints stay on the artifact volume.</summary>
    public sealed record DeleteJob(V1Job Job) : TrainingRunAction
    {
        public string Name => Job.Metadata.Name;
    }

    /// <summary>Delete the run itself (ttlSecondsAfterFinished passed).</summary>
    public sealed record DeleteRun : TrainingRunAction;
}

/// <summary>An Event to record about the run.</summary>
public sealed record RunEvent(string Type, string Reason, string Message);

/// <summary>The new status, what to do, and when to look again.</summary>
public sealed record TrainingRunDecision(TrainingRunStatus Status, IReadOnlyList<TrainingRunAction> Actions, TimeSpan? RequeueAfter, IReadOnlyList<RunEvent> Events);

/// <summary>Condition reasons (one CamelCase word each).</summary>
public static class TrainingRunReasons
{
    public const string Valid = "Valid";
    public const string InvalidSpec = "InvalidSpec";
    public const string WaitingForPod = "WaitingForPod";
    public const string Scheduled = "Scheduled";
    public const string Unschedulable = "Unschedulable";
    public const string ImagePullBackOff = "ImagePullBackOff";
    public const string ContainerCreating = "ContainerCreating";
    public const string Training = "Training";
    public const string RetryBackoff = "RetryBackoff";
    public const string WaitingForPreviousAttempt = "WaitingForPreviousAttempt";
    public const string Completed = "Completed";
    public const string NotCompleted = "NotCompleted";
    public const string GatesPassed = "GatesPassed";
    public const string GatesFailed = "GatesFailed";
    public const string NoGates = "NoGates";
    public const string Pending = "Pending";
    public const string ResultMissing = "ResultMissing";
    public const string OomKilled = "OOMKilled";
    public const string DeadlineExceeded = "DeadlineExceeded";
    public const string TrainerError = "TrainerError";
    public const string InvalidInput = "InvalidInput";
    public const string BackoffLimitExceeded = "BackoffLimitExceeded";
    public const string PodFailed = "PodFailed";
    public const string Suspended = "Suspended";
    public const string NotSuspended = "NotSuspended";
    public const string NotFailed = "NotFailed";
    public const string Finished = "Finished";
}

/// <summary>
/// Derives a run's status and next actions from what was observed, as ordered policies where the first that applies
/// wins (cert-manager style): finished, invalid, deadline, suspended, dependencies, the latest attempt's state, retry.
/// Pure: no I/O, time from the input.
/// </summary>
public static class TrainingRunStatusCalculator
{
    /// <summary>Trainer exit code for bad input: retrying cannot help.</summary>
    public const int BadInputExitCode = 2;

    /// <summary>The soonest next look after a status change that the next step depends on (the cache must see it first).</summary>
    public static readonly TimeSpan MinimumRequeue = TimeSpan.FromMilliseconds(200);

    public static TrainingRunDecision Compute(TrainingRunObservation input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var ctx = new Context(input);
        var outcome = Finished(ctx)
            ?? Invalid(ctx)
            ?? Deadline(ctx)
            ?? Suspended(ctx)
            ?? Dependencies(ctx)
            ?? LatestAttempt(ctx);
        return ctx.Finish(outcome);
    }

    /// <summary>Whether this reconcile should scrape the pod's progress: it is running and the last scrape is at least one interval old.</summary>
    public static bool ShouldScrape(TrainingRun run, V1Pod? pod, DateTimeOffset now, TimeSpan interval)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (pod?.Status?.Phase != "Running" || string.IsNullOrEmpty(pod.Status.PodIP) || run.Status?.Phase is TrainingRunPhases.Succeeded or TrainingRunPhases.Failed)
        {
            return false;
        }

        return run.Status?.Progress?.UpdatedAt is not { } last || now - new DateTimeOffset(DateTime.SpecifyKind(last, DateTimeKind.Utc)) >= interval;
    }

    /// <summary>
    /// What still stands between a deleted run and the removal of its finalizer: its Jobs, every pod of the run
    /// (Terminating ones too), and its ConfigMap. Empty when the finalizer may go.
    /// </summary>
    public static IReadOnlyList<string> RemainingChildren(TrainingRun run, IEnumerable<V1Job> jobs, IEnumerable<V1Pod> pods, V1ConfigMap? configMap)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(pods);
        var remaining = new List<string>();
        remaining.AddRange(jobs.Where(j => OwnerReferences.IsControlledBy(j, run)).Select(j => $"Job {j.Metadata.Name}"));
        remaining.AddRange(pods.Select(p => $"Pod {p.Metadata.Name}"));
        if (configMap is not null && OwnerReferences.IsControlledBy(configMap, run))
        {
            remaining.Add($"ConfigMap {configMap.Metadata.Name}");
        }

        return remaining;
    }

    /// <summary>The wait before attempt <c>failures + 1</c>: base * 2^(failures-1), at most cap.</summary>
    public static TimeSpan Backoff(int failures, TimeSpan baseDelay, TimeSpan cap)
    {
        if (failures <= 0)
        {
            return TimeSpan.Zero;
        }

        var factor = Math.Pow(2, Math.Min(failures - 1, 30));
        var delay = TimeSpan.FromTicks((long)Math.Min(baseDelay.Ticks * factor, cap.Ticks));
        return delay < cap ? delay : cap;
    }

    // Policy 1: a finished run stays finished; only its TTL is left to act on.
    private static Outcome? Finished(Context ctx)
    {
        var status = ctx.Run.Status;
        if (status?.Phase is not (TrainingRunPhases.Succeeded or TrainingRunPhases.Failed) || status.CompletionTime is not { } completed)
        {
            return null;
        }

        var outcome = new Outcome(status.Phase) { KeepConditions = true };
        if (ctx.Run.Spec.TtlSecondsAfterFinished is { } ttl)
        {
            var expires = new DateTimeOffset(DateTime.SpecifyKind(completed, DateTimeKind.Utc)).AddSeconds(ttl);
            if (ctx.Now >= expires)
            {
                outcome.Actions.Add(new TrainingRunAction.DeleteRun());
                outcome.Events.Add(new RunEvent(EventTypes.Normal, "Expired", $"Deleting the run {ttl}s after it finished (ttlSecondsAfterFinished)"));
            }
            else
            {
                outcome.RequeueAfter = expires - ctx.Now;
            }
        }

        // A deadline or suspend may have left a Job running; finished runs run nothing.
        foreach (var attempt in ctx.Attempts.Where(a => a.Job is not null && a.State is AttemptState.Pending or AttemptState.Running))
        {
            outcome.Actions.Add(new TrainingRunAction.DeleteJob(attempt.Job!));
        }

        return outcome;
    }

    // Policy 2: the operator's own enforcement of the CEL rules (the server may be too old to run them).
    private static Outcome? Invalid(Context ctx)
    {
        if (ctx.Input.ValidationErrors.Count == 0)
        {
            ctx.Set(ConditionTypes.Valid, Conditions.True, TrainingRunReasons.Valid, "The spec passed the operator's validation");
            return null;
        }

        var message = SpecValidation.Describe(ctx.Input.ValidationErrors);
        ctx.Set(ConditionTypes.Valid, Conditions.False, TrainingRunReasons.InvalidSpec, message);
        if (ctx.Latest is null)
        {
            // Not started: nothing to undo, and a corrected spec (a new generation) starts it.
            var outcome = new Outcome(TrainingRunPhases.Failed);
            ctx.Set(ConditionTypes.Failed, Conditions.True, TrainingRunReasons.InvalidSpec, message);
            outcome.Events.Add(new RunEvent(EventTypes.Warning, TrainingRunReasons.InvalidSpec, message));
            return outcome;
        }

        // Already running from its frozen config: an invalid edit does not stop it, the Valid condition says so.
        return null;
    }

    // Policy 3: activeDeadlineSeconds covers the whole run, every attempt and every wait.
    private static Outcome? Deadline(Context ctx)
    {
        var failedOnDeadline = ctx.LastFailure?.Reason == TrainingRunReasons.DeadlineExceeded
            || ctx.Attempts.Any(a => a.FailureReason == TrainingRunReasons.DeadlineExceeded);
        var deadline = ctx.Run.Spec.ActiveDeadlineSeconds;
        var started = ctx.StartTime;
        var expired = deadline is { } seconds && started is { } start && ctx.Now >= start.AddSeconds(seconds);
        if (!expired && !failedOnDeadline)
        {
            return null;
        }

        return ctx.Fail(TrainingRunReasons.DeadlineExceeded, $"The run did not finish within activeDeadlineSeconds ({deadline?.ToString(CultureInfo.InvariantCulture) ?? "?"}s)");
    }

    // Policy 4: suspended runs run nothing; their checkpoints stay for the resume.
    private static Outcome? Suspended(Context ctx)
    {
        if (!ctx.Run.Spec.Suspend)
        {
            ctx.Set(ConditionTypes.Suspended, Conditions.False, TrainingRunReasons.NotSuspended, "spec.suspend is false");
            return null;
        }

        var outcome = new Outcome(TrainingRunPhases.Suspended);
        foreach (var attempt in ctx.Attempts.Where(a => a.Job is not null && a.State is AttemptState.Pending or AttemptState.Running))
        {
            outcome.Actions.Add(new TrainingRunAction.DeleteJob(attempt.Job!));
        }

        ctx.Set(ConditionTypes.Suspended, Conditions.True, TrainingRunReasons.Suspended, "spec.suspend is true; the trainer is stopped and resumes from its last checkpoint when it is set back to false");
        ctx.Set(ConditionTypes.Running, Conditions.False, TrainingRunReasons.Suspended, "Suspended");
        if (ctx.PreviousPhase != TrainingRunPhases.Suspended)
        {
            outcome.Events.Add(new RunEvent(EventTypes.Normal, TrainingRunReasons.Suspended, outcome.Actions.Count > 0 ? "Suspended: stopped the running attempt, keeping its checkpoints" : "Suspended before starting"));
        }

        return outcome;
    }

    // Policy 5: before the first attempt, wait for the Curriculum and the base run (or fail with theirs).
    private static Outcome? Dependencies(Context ctx)
    {
        if (ctx.Latest is not null || ctx.Input.Dependencies.Status == DependencyStatus.Ready)
        {
            return null;
        }

        var dependency = ctx.Input.Dependencies;
        if (dependency.Status == DependencyStatus.Failed)
        {
            return ctx.Fail(dependency.Reason, dependency.Message);
        }

        // No requeue: the controller watches Curricula and TrainingRuns, so what this waits for enqueues the run when it changes.
        var outcome = new Outcome(TrainingRunPhases.Pending);
        ctx.Set(ConditionTypes.Scheduled, Conditions.False, dependency.Reason, dependency.Message);
        ctx.Set(ConditionTypes.Running, Conditions.False, dependency.Reason, dependency.Message);
        return outcome;
    }

    // Policy 6: the latest attempt decides: start one, report it, finish, or retry after a backoff.
    private static Outcome LatestAttempt(Context ctx)
    {
        var latest = ctx.Latest;
        if (latest is null)
        {
            return StartAttempt(ctx, 1, "");
        }

        if (latest.Job is null && latest.State != AttemptState.Failed)
        {
            // The latest attempt's Job is gone without a recorded failure. After a suspension that is the resume: the
            // next attempt continues from the last checkpoint. Otherwise it was deleted by hand (or is not in view yet):
            // the same attempt is created again (AlreadyExists if it was only out of view), never counted as a retry.
            return ctx.PreviousPhase == TrainingRunPhases.Suspended
                ? StartAttempt(ctx, latest.Number + 1, " (resuming from the last checkpoint)")
                : StartAttempt(ctx, latest.Number, $" (its Job {latest.JobName} was gone)");
        }

        ctx.JobName = latest.JobName;
        switch (latest.State)
        {
            case AttemptState.Succeeded:
                return Succeeded(ctx, latest);
            case AttemptState.Failed:
                return Retry(ctx, latest);
            case AttemptState.Running:
            {
                ctx.Set(ConditionTypes.Scheduled, Conditions.True, TrainingRunReasons.Scheduled, $"Pod {latest.Pod?.Metadata?.Name} is on node {latest.Pod?.Spec?.NodeName}");
                ctx.Set(ConditionTypes.Running, Conditions.True, TrainingRunReasons.Training, $"Attempt {latest.Number} is training");
                var outcome = new Outcome(TrainingRunPhases.Running) { RequeueAfter = ctx.NextScrapeIn(latest.Pod) };
                ctx.UseScrapedProgress();
                return outcome;
            }

            default:
            {
                var outcome = new Outcome(TrainingRunPhases.Pending) { RequeueAfter = ctx.Options.ProgressInterval };
                var pod = latest.Pod;
                if (pod is null)
                {
                    SetWaitingForPod(ctx, latest.JobName, latest.Number);
                }
                else if (PodCondition(pod, "PodScheduled") is { Status: "False" } unscheduled)
                {
                    var reason = string.IsNullOrEmpty(unscheduled.Reason) ? TrainingRunReasons.Unschedulable : unscheduled.Reason;
                    ctx.Set(ConditionTypes.Scheduled, Conditions.False, reason, unscheduled.Message ?? "");
                    ctx.Set(ConditionTypes.Running, Conditions.False, reason, "The trainer pod is not scheduled");
                    if (Conditions.Find(ctx.Run.Status?.Conditions, ConditionTypes.Scheduled)?.Reason != reason)
                    {
                        outcome.Events.Add(new RunEvent(EventTypes.Warning, reason, $"Pod {pod.Metadata.Name}: {unscheduled.Message}"));
                    }
                }
                else
                {
                    var waiting = TrainerStatus(pod)?.State?.Waiting;
                    var reason = waiting?.Reason switch
                    {
                        "ImagePullBackOff" or "ErrImagePull" or "InvalidImageName" => TrainingRunReasons.ImagePullBackOff,
                        { Length: > 0 } other => other,
                        _ => TrainingRunReasons.ContainerCreating,
                    };
                    ctx.Set(ConditionTypes.Scheduled, Conditions.True, TrainingRunReasons.Scheduled, $"Pod {pod.Metadata.Name} is on node {pod.Spec?.NodeName}");
                    ctx.Set(ConditionTypes.Running, Conditions.False, reason, waiting?.Message ?? "The trainer container is starting");
                    if (reason == TrainingRunReasons.ImagePullBackOff && Conditions.Find(ctx.Run.Status?.Conditions, ConditionTypes.Running)?.Reason != reason)
                    {
                        outcome.Events.Add(new RunEvent(EventTypes.Warning, reason, waiting?.Message ?? $"Cannot pull {TrainerStatus(pod)?.Image}"));
                    }
                }

                return outcome;
            }
        }
    }

    /// <summary>
    /// Creates attempt <paramref name="number"/>, but only once every pod of the earlier attempts is gone or finished
    /// (none Terminating): two trainers must never write one checkpoint folder.
    /// </summary>
    private static Outcome StartAttempt(Context ctx, int number, string why)
    {
        var jobName = TrainingRunNames.Job(ctx.Run.Metadata.Name, number);
        if (ctx.BlockingPod() is { } blocking)
        {
            // A resume stays Suspended until it can start: the phase is what tells the next reconcile it is a resume.
            var phase = ctx.PreviousPhase == TrainingRunPhases.Suspended ? TrainingRunPhases.Suspended : TrainingRunPhases.Pending;
            var outcome = new Outcome(phase) { RequeueAfter = ctx.Options.ProgressInterval };
            var message = $"Waiting for pod {blocking.Metadata.Name} of an earlier attempt to be gone before starting attempt {number}";
            ctx.Set(ConditionTypes.Running, Conditions.False, TrainingRunReasons.WaitingForPreviousAttempt, message);
            return outcome;
        }

        var created = new Outcome(TrainingRunPhases.Pending) { RequeueAfter = ctx.Options.ProgressInterval };
        created.Actions.Add(new TrainingRunAction.CreateAttempt(number, ctx.RemainingDeadlineSeconds()));
        ctx.Attempted = number;
        ctx.JobName = jobName;
        SetWaitingForPod(ctx, jobName, number);
        created.Events.Add(new RunEvent(EventTypes.Normal, "AttemptCreated", $"Created Job {jobName} for attempt {number}{why}"));
        if (ctx.PreviousPhase == TrainingRunPhases.Suspended)
        {
            created.Events.Add(new RunEvent(EventTypes.Normal, "Resumed", $"Resumed with attempt {number} from the last checkpoint"));
        }

        return created;
    }

    /// <summary>
    /// A Job without a pod yet, just created or seen so in the cache: the same conditions both times, so the reconcile
    /// that its own Job's watch event triggers writes no second status.
    /// </summary>
    private static void SetWaitingForPod(Context ctx, string jobName, int number)
    {
        ctx.Set(ConditionTypes.Scheduled, Conditions.Unknown, TrainingRunReasons.WaitingForPod, $"Job {jobName} has no pod yet");
        ctx.Set(ConditionTypes.Running, Conditions.False, TrainingRunReasons.WaitingForPod, number > 1 ? $"Waiting for the trainer pod of attempt {number}" : "Waiting for the trainer pod");
    }

    private static Outcome Succeeded(Context ctx, Attempt latest)
    {
        var summary = TrainerSummary.TryParse(TrainerStatus(latest.Pod)?.State?.Terminated?.Message);
        var gates = ctx.Run.Spec.Gates;
        ctx.Set(ConditionTypes.Running, Conditions.False, TrainingRunReasons.Completed, $"Attempt {latest.Number} completed");
        ctx.Set(ConditionTypes.Scheduled, Conditions.True, TrainingRunReasons.Scheduled, Conditions.Find(ctx.Run.Status?.Conditions, ConditionTypes.Scheduled)?.Message ?? "");
        ctx.Set(ConditionTypes.Completed, Conditions.True, TrainingRunReasons.Completed, $"Training completed in attempt {latest.Number}");
        if (summary is null)
        {
            if (gates is { Count: > 0 })
            {
                ctx.Set(ConditionTypes.GatesPassed, Conditions.Unknown, TrainingRunReasons.ResultMissing, "The trainer wrote no result, so its gates cannot be judged");
                return ctx.Fail(TrainingRunReasons.ResultMissing, $"Attempt {latest.Number} exited 0 without a termination message; the {gates.Count} gate(s) cannot be judged");
            }

            ctx.Set(ConditionTypes.GatesPassed, Conditions.True, TrainingRunReasons.NoGates, "The run has no gates");
            return ctx.Succeed("Training completed (no result summary)");
        }

        ctx.Result = summary.ToResult(gates);
        var failed = ctx.Result.Gates?.Where(g => !g.Passed).ToList() ?? [];
        if (failed.Count > 0)
        {
            var names = string.Join(", ", failed.Select(g => g.Slice is null ? g.Metric : $"{g.Metric}@{g.Slice}"));
            ctx.Set(ConditionTypes.GatesPassed, Conditions.False, TrainingRunReasons.GatesFailed, $"{failed.Count} of {gates!.Count} gate(s) failed: {names}");
            return ctx.Fail(TrainingRunReasons.GatesFailed, $"The model did not pass its gates: {names}");
        }

        ctx.Set(ConditionTypes.GatesPassed, Conditions.True, gates is { Count: > 0 } ? TrainingRunReasons.GatesPassed : TrainingRunReasons.NoGates,
            gates is { Count: > 0 } ? $"All {gates.Count} gate(s) passed" : "The run has no gates");
        var accuracy = summary.Metrics?.TryGetValue("accuracy", out var a) == true ? string.Create(CultureInfo.InvariantCulture, $", accuracy {a:0.####}") : "";
        return ctx.Succeed($"Training completed{accuracy}; model at {summary.ModelUri}");
    }

    private static Outcome Retry(Context ctx, Attempt latest)
    {
        // Failures are counted in status (ctx.FailedAttempts), once per attempt, so a deleted Job changes nothing here.
        var failures = ctx.FailedAttempts;
        var reason = latest.FailureReason ?? TrainingRunReasons.TrainerError;
        var message = latest.FailureMessage ?? $"Attempt {latest.Number} failed";
        if (reason == TrainingRunReasons.InvalidInput)
        {
            return ctx.Fail(reason, message);
        }

        if (failures > ctx.Run.Spec.BackoffLimit)
        {
            return ctx.Fail(reason, $"{message}; {failures} failed attempt(s) exceed backoffLimit {ctx.Run.Spec.BackoffLimit}");
        }

        var delay = Backoff(failures, ctx.Options.BackoffBase, ctx.Options.BackoffCap);
        var failedAt = latest.FinishedAt ?? ctx.Now;
        var wait = failedAt + delay - ctx.Now;
        if (wait > TimeSpan.Zero || ctx.FailureIsNew)
        {
            // A failure seen for the first time is written to status before the next attempt is created, so an attempt
            // never exists whose predecessor's failure is not counted.
            var outcome = new Outcome(TrainingRunPhases.Pending) { RequeueAfter = wait > MinimumRequeue ? wait : MinimumRequeue };
            var left = wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            ctx.Set(ConditionTypes.Running, Conditions.False, TrainingRunReasons.RetryBackoff,
                $"Attempt {latest.Number} failed ({reason}: {message}); retrying in {left.TotalSeconds:0}s ({failures} of {ctx.Run.Spec.BackoffLimit + 1} attempts failed)");
            if (ctx.FailureIsNew)
            {
                outcome.Events.Add(new RunEvent(EventTypes.Warning, reason, $"Attempt {latest.Number} failed: {message}; retrying after {delay.TotalSeconds:0}s"));
            }

            return outcome;
        }

        return StartAttempt(ctx, latest.Number + 1, " (resuming from the last checkpoint)");
    }

    internal static V1ContainerStatus? TrainerStatus(V1Pod? pod) =>
        pod?.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name == TrainingRunNames.ContainerName) ?? pod?.Status?.ContainerStatuses?.FirstOrDefault();

    private static V1PodCondition? PodCondition(V1Pod pod, string type) => pod.Status?.Conditions?.FirstOrDefault(c => c.Type == type);

    internal enum AttemptState
    {
        Pending,
        Running,
        Succeeded,
        Failed,
    }

    /// <summary>One attempt as its Job and pod show it.</summary>
    internal sealed record Attempt(int Number, string JobName, V1Job? Job, V1Pod? Pod, AttemptState State, string? FailureReason, string? FailureMessage, DateTimeOffset? FinishedAt)
    {
        public static Attempt From(int number, string jobName, V1Job? job, V1Pod? pod)
        {
            var jobFailed = job?.Status?.Conditions?.FirstOrDefault(c => c.Type == "Failed" && c.Status == "True");
            var jobComplete = job?.Status?.Conditions?.FirstOrDefault(c => c.Type == "Complete" && c.Status == "True");
            var terminated = TrainerStatus(pod)?.State?.Terminated;
            if (pod?.Status?.Phase == "Succeeded" || (jobComplete is not null && pod is null))
            {
                return new Attempt(number, jobName, job, pod, AttemptState.Succeeded, null, null, Time(terminated?.FinishedAt ?? jobComplete?.LastTransitionTime));
            }

            if (jobFailed?.Reason == "DeadlineExceeded")
            {
                return new Attempt(number, jobName, job, pod, AttemptState.Failed, TrainingRunReasons.DeadlineExceeded, jobFailed.Message, Time(jobFailed.LastTransitionTime));
            }

            if (pod?.Status?.Phase == "Failed" || terminated is not null && terminated.ExitCode != 0)
            {
                var summary = TrainerSummary.TryParse(terminated?.Message);
                var (reason, message) = terminated switch
                {
                    { Reason: "OOMKilled" } => (TrainingRunReasons.OomKilled, $"The trainer ran out of memory (exit code {terminated.ExitCode})"),
                    { ExitCode: BadInputExitCode } => (TrainingRunReasons.InvalidInput, summary?.Message ?? terminated.Message ?? "The trainer rejected its input"),
                    not null => (TrainingRunReasons.TrainerError, $"exit code {terminated.ExitCode}: {summary?.Message ?? Shorten(terminated.Message) ?? terminated.Reason}"),
                    null => (TrainingRunReasons.PodFailed, $"{pod?.Status?.Reason}: {pod?.Status?.Message}"),
                };
                return new Attempt(number, jobName, job, pod, AttemptState.Failed, reason, message, Time(terminated?.FinishedAt ?? jobFailed?.LastTransitionTime));
            }

            if (jobFailed is not null)
            {
                return new Attempt(number, jobName, job, pod, AttemptState.Failed, TrainingRunReasons.PodFailed, $"Job {jobName} failed: {jobFailed.Reason}: {jobFailed.Message}", Time(jobFailed.LastTransitionTime));
            }

            // A trainer that exited 0 while its pod still reports phase Running (the kubelet updates the container before
            // the pod) is still the running attempt until the pod says Succeeded: the run must not step back to Pending.
            if (pod?.Status?.Phase == "Running" && (TrainerStatus(pod)?.State?.Running is not null || terminated is { ExitCode: 0 }))
            {
                return new Attempt(number, jobName, job, pod, AttemptState.Running, null, null, null);
            }

            return new Attempt(number, jobName, job, pod, AttemptState.Pending, null, null, null);
        }

        private static DateTimeOffset? Time(DateTime? value) => value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

        private static string? Shorten(string? text) => text is { Length: > 300 } ? "…" + text[^300..] : text;
    }

    private sealed class Outcome(string phase)
    {
        public string Phase { get; } = phase;

        public List<TrainingRunAction> Actions { get; } = [];

        public List<RunEvent> Events { get; } = [];

        public TimeSpan? RequeueAfter { get; set; }

        public bool KeepConditions { get; init; }
    }

    /// <summary>The per-reconcile state the policies build the new status in (Argo Rollouts' rolloutContext).</summary>
    private sealed class Context
    {
        private readonly List<V1Condition> conditions;
        private readonly long? generation;

        public Context(TrainingRunObservation input)
        {
            Input = input;
            Run = input.Run;
            Now = input.Now;
            Options = input.Options;
            generation = Run.Metadata.Generation;
            conditions = Run.Status?.Conditions?.Select(KubernetesObjects.DeepClone).ToList() ?? [];
            PreviousPhase = Run.Status?.Phase;
            var pods = input.Pods;
            Attempts = [.. input.Jobs
                .Select(j => (Job: j, Number: AttemptOf(j.Metadata)))
                .Where(j => j.Number > 0)
                .Select(j => Attempt.From(j.Number, j.Job.Metadata.Name, j.Job, LatestPod(pods.Where(p => AttemptOf(p.Metadata) == j.Number))))
                .OrderBy(a => a.Number)];
            LatestNumber = Math.Max(Run.Status?.Attempts ?? 0, Attempts.Count == 0 ? 0 : Attempts[^1].Number);
            FailedAttempts = Run.Status?.FailedAttempts ?? 0;
            LastFailure = Run.Status?.LastFailure;
            var recordedFailure = LastFailure is { } f && f.Attempt == LatestNumber
                ? new Attempt(LatestNumber, TrainingRunNames.Job(Run.Metadata.Name, LatestNumber), null, null, AttemptState.Failed, f.Reason, f.Message, Time(f.FinishedAt))
                : null;
            // The latest attempt. Without its Job (suspended, deleted by hand), a failure recorded in status still
            // stands; otherwise a placeholder without a Job.
            Latest = LatestNumber == 0 ? null
                : Attempts.LastOrDefault(a => a.Number == LatestNumber) is { } seen
                    ? (recordedFailure is not null ? seen with { State = AttemptState.Failed, FailureReason = seen.FailureReason ?? recordedFailure.FailureReason, FailureMessage = seen.FailureMessage ?? recordedFailure.FailureMessage, FinishedAt = recordedFailure.FinishedAt ?? seen.FinishedAt } : seen)
                    : recordedFailure ?? new Attempt(LatestNumber, TrainingRunNames.Job(Run.Metadata.Name, LatestNumber), null, null, AttemptState.Pending, null, null, null);
            if (Latest is { State: AttemptState.Failed } failed && recordedFailure is null)
            {
                // First sight of this attempt's failure: count it once, in status.
                FailureIsNew = true;
                FailedAttempts++;
                LastFailure = new AttemptFailure { Attempt = failed.Number, Reason = failed.FailureReason, Message = failed.FailureMessage, FinishedAt = (failed.FinishedAt ?? Now).UtcDateTime };
            }

            // startTime lives in status; if it was lost (a writer dropped it), the earliest Job still there says it.
            StartTime = Time(Run.Status?.StartTime)
                ?? input.Jobs.Select(j => Time(j.Status?.StartTime ?? j.Metadata.CreationTimestamp)).Where(t => t is not null).Min();
            JobName = Run.Status?.JobName;
            Result = Run.Status?.Result;
        }

        public TrainingRunObservation Input { get; }

        public TrainingRun Run { get; }

        public DateTimeOffset Now { get; }

        public TrainerImageOptions Options { get; }

        public string? PreviousPhase { get; }

        public IReadOnlyList<Attempt> Attempts { get; }

        public int LatestNumber { get; }

        public Attempt? Latest { get; }

        /// <summary>Failed attempts, from status plus the latest attempt's failure if this reconcile is the first to see it.</summary>
        public int FailedAttempts { get; }

        public AttemptFailure? LastFailure { get; }

        /// <summary>This reconcile is the first to see the latest attempt's failure (status does not count it yet).</summary>
        public bool FailureIsNew { get; }

        /// <summary>A pod of the run that may still be running a trainer: not finished, or being deleted.</summary>
        public V1Pod? BlockingPod() => Input.Pods
            .Where(p => p.Metadata.DeletionTimestamp is not null || p.Status?.Phase is not ("Succeeded" or "Failed"))
            .OrderBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .FirstOrDefault();

        public DateTimeOffset? StartTime { get; private set; }

        public int? Attempted { get; set; }

        public string? JobName { get; set; }

        public TrainingResult? Result { get; set; }

        private TrainingProgress? progress;

        private DateTimeOffset? completion;

        // The CRD requires a message string; an empty one can come back as null, so there is always some text.
        public void Set(string type, string status, string reason, string message) =>
            Conditions.SetCondition(conditions, type, status, reason, string.IsNullOrWhiteSpace(message) ? reason : message, generation, Now);

        /// <summary>Takes this reconcile's scrape, if any, as status.progress (otherwise the last one stays).</summary>
        public void UseScrapedProgress() => progress = Input.ScrapedProgress;

        public TimeSpan NextScrapeIn(V1Pod? pod)
        {
            var last = (Input.ScrapedProgress ?? Run.Status?.Progress)?.UpdatedAt;
            if (last is not { } l || pod is null)
            {
                return Options.ProgressInterval;
            }

            var due = new DateTimeOffset(DateTime.SpecifyKind(l, DateTimeKind.Utc)) + Options.ProgressInterval - Now;
            return due > TimeSpan.FromSeconds(1) ? due : TimeSpan.FromSeconds(1);
        }

        public long? RemainingDeadlineSeconds()
        {
            if (Run.Spec.ActiveDeadlineSeconds is not { } deadline)
            {
                return null;
            }

            var start = StartTime ?? Now;
            var left = (long)Math.Ceiling((start.AddSeconds(deadline) - Now).TotalSeconds);
            return Math.Max(1, left);
        }

        public Outcome Fail(string reason, string message)
        {
            var outcome = new Outcome(TrainingRunPhases.Failed);
            foreach (var attempt in Attempts.Where(a => a.Job is not null && a.State is AttemptState.Pending or AttemptState.Running))
            {
                outcome.Actions.Add(new TrainingRunAction.DeleteJob(attempt.Job!));
            }

            Set(ConditionTypes.Failed, Conditions.True, reason, message);
            if (reason != TrainingRunReasons.GatesFailed)
            {
                Set(ConditionTypes.Completed, Conditions.False, reason, message);
            }

            Set(ConditionTypes.Running, Conditions.False, reason, message);
            completion = Now;
            outcome.Events.Add(new RunEvent(EventTypes.Warning, reason, message));
            return outcome;
        }

        public Outcome Succeed(string message)
        {
            Set(ConditionTypes.Failed, Conditions.False, TrainingRunReasons.NotFailed, "The run has not failed");
            completion = Now;
            var outcome = new Outcome(TrainingRunPhases.Succeeded);
            outcome.Events.Add(new RunEvent(EventTypes.Normal, TrainingRunReasons.Completed, message));
            return outcome;
        }

        public TrainingRunDecision Finish(Outcome outcome)
        {
            var old = Run.Status;
            if (Attempted is not null && StartTime is null)
            {
                StartTime = Now;
            }

            if (!outcome.KeepConditions)
            {
                if (outcome.Phase != TrainingRunPhases.Failed && Input.ValidationErrors.Count == 0)
                {
                    Set(ConditionTypes.Failed, Conditions.False, TrainingRunReasons.NotFailed, "The run has not failed");
                }

                if (outcome.Phase is TrainingRunPhases.Pending or TrainingRunPhases.Running or TrainingRunPhases.Suspended)
                {
                    Set(ConditionTypes.Completed, Conditions.False, TrainingRunReasons.NotCompleted, "Training has not completed yet");
                    if (Conditions.Find(conditions, ConditionTypes.GatesPassed) is null)
                    {
                        Set(ConditionTypes.GatesPassed, Conditions.Unknown, TrainingRunReasons.Pending, "Gates are judged when training completes");
                    }
                }

                if (Conditions.Find(conditions, ConditionTypes.Scheduled) is null)
                {
                    Set(ConditionTypes.Scheduled, Conditions.Unknown, TrainingRunReasons.Pending, "No trainer pod yet");
                }

                if (Conditions.Find(conditions, ConditionTypes.Running) is null)
                {
                    Set(ConditionTypes.Running, Conditions.Unknown, TrainingRunReasons.Pending, "No trainer pod yet");
                }
            }

            var status = new TrainingRunStatus
            {
                ObservedGeneration = old?.ObservedGeneration,
                Conditions = [.. conditions.OrderBy(c => ConditionOrder(c.Type))],
                Phase = outcome.Phase,
                Attempts = Math.Max(LatestNumber, Attempted ?? 0) is var n && n > 0 ? n : null,
                FailedAttempts = FailedAttempts > 0 ? FailedAttempts : null,
                LastFailure = LastFailure,
                JobName = JobName,
                StartTime = StartTime?.UtcDateTime,
                CompletionTime = old?.CompletionTime ?? completion?.UtcDateTime,
                ResolvedBaseModelUri = old?.ResolvedBaseModelUri,
                Progress = progress ?? old?.Progress,
                Result = Result,
            };

            var events = new List<RunEvent>();
            if (PreviousPhase != status.Phase && status.Phase is TrainingRunPhases.Running)
            {
                events.Add(new RunEvent(EventTypes.Normal, "Running", $"Attempt {LatestNumber} is training on node {Latest?.Pod?.Spec?.NodeName}"));
            }

            events.AddRange(outcome.Events);
            return new TrainingRunDecision(status, outcome.Actions, outcome.RequeueAfter, events);
        }

        private static int ConditionOrder(string type) => type switch
        {
            ConditionTypes.Valid => 0,
            ConditionTypes.Scheduled => 1,
            ConditionTypes.Running => 2,
            ConditionTypes.Completed => 3,
            ConditionTypes.GatesPassed => 4,
            ConditionTypes.Failed => 5,
            ConditionTypes.Suspended => 6,
            _ => 7,
        };

        private static DateTimeOffset? Time(DateTime? value) => value is { } v ? new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)) : null;

        private static int AttemptOf(V1ObjectMeta? meta) =>
            meta?.Labels is { } labels && labels.TryGetValue(TrainingRunNames.AttemptLabel, out var value) && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;

        // A Job with backoffLimit 0 has at most one pod, but a pod the kubelet lost may be replaced: take the newest.
        private static V1Pod? LatestPod(IEnumerable<V1Pod> pods) => pods.OrderBy(p => p.Metadata.CreationTimestamp ?? DateTime.MinValue).LastOrDefault();
    }
}
