using System.Collections.Concurrent;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Runtime.Rbac;
using Syllabus.Api.Validation;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>
/// Converges a TrainingRun: finalizer first; gather (Jobs, pods, ConfigMap, Curriculum, base run, progress) into one
/// observation, all from the informer caches, so a reconcile in steady state sends no GET or LIST;
/// <see cref="TrainingRunStatusCalculator.Compute"/> decides; act (ConfigMap, Job, deletes; children are server-side
/// applied, a converged child costs nothing); write status once if it changed; record Events. Deletion is
/// <see cref="ReconcileDeleteAsync"/>.
/// </summary>
/// <remarks>
/// Jobs: a Job's pod template is immutable, so a Job is created once with its full spec (POST; AlreadyExists is
/// success) and afterwards only its labels, annotations and owner reference are applied. The template stays as
/// created: a TrainingRun's config is frozen at its first attempt, and each later attempt is a new Job, so there is
/// never a reason to delete and recreate one. ConfigMaps are applied whole.
/// </remarks>
// The controller's informer (list, watch); the finalizer added and removed with a guarded merge patch (patch); a
// finished run deleted after ttlSecondsAfterFinished (delete). Base and teacher runs are read from the same cache.
[RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns"], Verbs = ["list", "watch", "patch", "delete"])]
[RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns/status"], Verbs = ["patch"])]
// Children carry a controller reference with blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
// admission plugin allows only to whoever may update the owner's finalizers.
[RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns/finalizers"], Verbs = ["update"])]
// Owned Jobs and ConfigMaps: label-filtered informers (list, watch); Jobs created once (create), ConfigMaps and Job
// metadata server-side applied (patch; an apply that creates is authorised as create too); deleted with the run.
[RbacRule(Groups = ["batch"], Resources = ["jobs"], Verbs = ["list", "watch", "create", "patch", "delete"])]
[RbacRule(Groups = [""], Resources = ["configmaps"], Verbs = ["list", "watch", "create", "patch", "delete"])]
// Trainer pods, from a label-filtered informer: phase, pod IP for the progress scrape, termination message.
[RbacRule(Groups = [""], Resources = ["pods"], Verbs = ["list", "watch"])]
// Referenced Curricula are read from an informer (and their edits wake the runs that use them).
[RbacRule(Groups = ["syllabus.dev"], Resources = ["curricula"], Verbs = ["list", "watch"])]
internal sealed partial class TrainingRunReconciler(
    IResourceClient<TrainingRun> runs,
    IResourceClient<V1Job> jobs,
    IResourceClient<V1ConfigMap> configMaps,
    TrainingRunCaches caches,
    IApplier applier,
    Expectations<TrainingRun> expectations,
    ITrainerMetricsScraper scraper,
    IEventRecorder events,
    IOptions<TrainerImageOptions> options,
    OperatorMetrics metrics,
    TimeProvider time,
    ILogger<TrainingRunReconciler> log) : IReconciler<TrainingRun>
{
    private readonly ConcurrentDictionary<ObjectKey, string> phases = Register(metrics, new ConcurrentDictionary<ObjectKey, string>());

    // Each run's config as last built or read from its ConfigMap, so the ConfigMap's YAML is parsed again only when it
    // changed: KubernetesYaml parses under a process-wide lock, and every Pending or Running run is reconciled again
    // each ProgressInterval, so parsing on every reconcile serialised the workers (README, benchmark).
    private readonly ConcurrentDictionary<ObjectKey, ResolvedTrainerConfig> configs = new();

    public async Task<ReconcileResult> ReconcileAsync(TrainingRun resource, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var key = ObjectKey.From(resource);
        if (resource.Metadata.DeletionTimestamp is not null)
        {
            phases.TryRemove(key, out _);
            configs.TryRemove(key, out _);

            // A child created just before the deletion may not be in the cache yet: judging "no children left" from
            // that cache would drop the finalizer while the child's trainer still starts.
            if (!expectations.IsSatisfied(key, out var pending, out var pendingWhat))
            {
                LogWaitingForCache(key, pendingWhat);
                return ReconcileResult.After(pending);
            }

            var deleted = await ReconcileDeleteAsync(resource, ct).ConfigureAwait(false);
            if (deleted.RequeueAfter is null)
            {
                expectations.Forget(key);
            }

            return deleted;
        }

        var run = Finalizers.Has(resource, TrainingRunNames.Finalizer)
            ? resource
            : await runs.AddFinalizerAsync(resource, TrainingRunNames.Finalizer, ct).ConfigureAwait(false);
        return await ReconcileLiveAsync(run, key, ct).ConfigureAwait(false);
    }

    /// <summary>A run not being deleted, its finalizer in place: gather, compute, act, write status (see the class summary).</summary>
    private async Task<ReconcileResult> ReconcileLiveAsync(TrainingRun run, ObjectKey key, CancellationToken ct)
    {
        var opts = options.Value;
        var ns = run.Metadata.NamespaceProperty;
        var name = run.Metadata.Name;

        // What this controller created must be in the cache before it judges what exists; the child's watch event
        // enqueues the run again, the requeue is only a safety net.
        if (!expectations.IsSatisfied(key, out var wait, out var waitingFor))
        {
            LogWaitingForCache(key, waitingFor);
            return ReconcileResult.After(wait);
        }

        // Gather, from the caches: Jobs by their controller's UID, pods by the run's label (they outlive a deleted Job).
        var runJobs = caches.Jobs.ByIndex(CacheIndexes.ControllerUid, run.Metadata.Uid, ns);
        var runPods = caches.Pods.List(ns, $"{TrainingRunNames.RunLabel}={TrainingRunNames.LabelValue(name)}");
        var configMap = caches.ConfigMaps.Get(ns, TrainingRunNames.ConfigMap(name));
        var errors = SpecValidation.Validate(run.Spec);
        ResolvedTrainerConfig? config = null;
        var dependencies = DependencyState.Ready;
        if (configMap is not null)
        {
            config = ConfigOf(key, configMap);
        }
        else if (errors.Count == 0 && run.Status?.CompletionTime is null)
        {
            (config, dependencies) = Resolve(run);
            if (config is not null)
            {
                configs[key] = config;
            }
        }

        await ConvergeChildrenAsync(run, config, configMap, runJobs, ct).ConfigureAwait(false);

        var now = time.GetUtcNow();
        TrainingProgress? progress = null;
        var runningPod = runPods
            .Where(p => p.Status?.Phase == "Running")
            .OrderBy(p => p.Metadata.CreationTimestamp ?? DateTime.MinValue)
            .LastOrDefault();
        if (TrainingRunStatusCalculator.ShouldScrape(run, runningPod, now, opts.ProgressInterval))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(opts.ScrapeTimeout);
            try
            {
                progress = await scraper.ScrapeAsync(runningPod!.Status.PodIP, opts.MetricsPort, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                progress = null;
            }
        }

        var decision = TrainingRunStatusCalculator.Compute(new TrainingRunObservation
        {
            Run = run,
            ValidationErrors = errors,
            Dependencies = dependencies,
            Jobs = runJobs,
            Pods = runPods,
            ScrapedProgress = progress,
            Now = now,
            Options = opts,
        });

        // Act.
        foreach (var action in decision.Actions)
        {
            switch (action)
            {
                case TrainingRunAction.CreateAttempt create:
                    if (config is null)
                    {
                        throw new InvalidOperationException($"TrainingRun {key} is ready to start but its config could not be resolved.");
                    }

                    // A new ConfigMap is created (POST: cheaper for the API server than an apply); one that exists is
                    // applied if it drifted. AlreadyExists (created, not cached yet) converges on a later reconcile.
                    var desiredConfigMap = TrainerJobBuilder.BuildConfigMap(run, config);
                    if (configMap is not null)
                    {
                        await applier.ApplyIfDriftedAsync(desiredConfigMap, configMap, ct).ConfigureAwait(false);
                    }
                    else if (await applier.CreateIfAbsentAsync(desiredConfigMap, ct).ConfigureAwait(false) is { } createdConfigMap)
                    {
                        expectations.Expect(key, $"ConfigMap {createdConfigMap.Metadata.Name}", () => caches.ConfigMaps.Contains(ns, createdConfigMap.Metadata.Name, createdConfigMap.Metadata.Uid));
                    }

                    var job = TrainerJobBuilder.Build(run, config, opts, create.Attempt, create.ActiveDeadlineSeconds);
                    if (await applier.CreateIfAbsentAsync(job, ct).ConfigureAwait(false) is { } created)
                    {
                        expectations.Expect(key, $"Job {created.Metadata.Name}", () => caches.Jobs.Contains(ns, created.Metadata.Name, created.Metadata.Uid));
                        LogCreatedJob(job.Metadata.Name, key, create.Attempt);
                    }

                    break;
                case TrainingRunAction.DeleteJob delete:
                    // The cached Job the decision was made on, deleted by identity: never a same-named successor.
                    if (await jobs.DeleteAsync(delete.Job, ct).ConfigureAwait(false))
                    {
                        LogDeletedJob(delete.Name, key);
                    }

                    break;
                case TrainingRunAction.DeleteRun:
                    // This run, by its UID: a run re-created under the same name since it was cached is not expired.
                    if (await runs.DeleteAsync(run, ct).ConfigureAwait(false))
                    {
                        LogExpired(key);
                    }

                    // The delete set deletionTimestamp, so a status patch guarded by the old resourceVersion would only
                    // meet a 409; the deletion event brings the run back to ReconcileDeleteAsync.
                    return ReconcileResult.Done;
            }
        }

        // Write status once, only if it changed; observedGeneration is stamped because this reconcile had no error. The
        // write is guarded by the resourceVersion the status was computed from: if the run changed meanwhile, the 409
        // requeues the key and the next reconcile recomputes from the fresh run (Events below are not recorded twice).
        var status = decision.Status;
        status.ObservedGeneration = run.Metadata.Generation;
        status.ResolvedBaseModelUri = config?.BaseModelUri ?? status.ResolvedBaseModelUri;
        if (!SameStatus(run.Status, status))
        {
            await runs.UpdateStatusAsync(run, status, ct).ConfigureAwait(false);
        }

        phases[key] = status.Phase ?? TrainingRunPhases.Pending;
        foreach (var e in decision.Events)
        {
            await events.RecordAsync(run, e.Type, e.Reason, e.Message, ct).ConfigureAwait(false);
        }

        return decision.RequeueAfter is { } after ? ReconcileResult.After(after) : ReconcileResult.Done;
    }

    /// <summary>
    /// Deletes the run's Jobs and ConfigMap (background propagation: the garbage collector deletes the Jobs' pods) and
    /// lets the run go only when they and every pod of the run are gone, so a trainer never outlives its run.
    /// </summary>
    internal async Task<ReconcileResult> ReconcileDeleteAsync(TrainingRun run, CancellationToken ct)
    {
        if (!Finalizers.Has(run, TrainingRunNames.Finalizer))
        {
            return ReconcileResult.Done;
        }

        var ns = run.Metadata.NamespaceProperty;
        // From the caches: the children's delete events enqueue the run again (Owns / Watches), the requeue is a fallback.
        var runJobs = caches.Jobs.ByIndex(CacheIndexes.ControllerUid, run.Metadata.Uid, ns);
        var runPods = caches.Pods.List(ns, $"{TrainingRunNames.RunLabel}={TrainingRunNames.LabelValue(run.Metadata.Name)}");
        var configMap = caches.ConfigMaps.Get(ns, TrainingRunNames.ConfigMap(run.Metadata.Name));
        var remaining = TrainingRunStatusCalculator.RemainingChildren(run, runJobs, runPods, configMap);
        if (remaining.Count > 0)
        {
            foreach (var job in runJobs.Where(j => j.Metadata.DeletionTimestamp is null))
            {
                await jobs.DeleteAsync(job, ct).ConfigureAwait(false);
            }

            if (configMap is { Metadata.DeletionTimestamp: null } && OwnerReferences.IsControlledBy(configMap, run))
            {
                await configMaps.DeleteAsync(configMap, ct).ConfigureAwait(false);
            }

            LogWaitingForChildren(ObjectKey.From(run), string.Join(", ", remaining));
            return ReconcileResult.After(options.Value.ProgressInterval);
        }

        await runs.RemoveFinalizerAsync(run, TrainingRunNames.Finalizer, ct).ConfigureAwait(false);
        LogCleanedUp(ObjectKey.From(run));
        return ReconcileResult.Done;
    }

    /// <summary>
    /// Brings the children that exist back to what this run wants, from the cached copies (no request when they match):
    /// the ConfigMap whole (recreated if deleted by hand once the run has started), each Job's labels, annotations and
    /// owner reference (its spec stays as created; see the class remarks).
    /// </summary>
    private async Task ConvergeChildrenAsync(TrainingRun run, ResolvedTrainerConfig? config, V1ConfigMap? configMap, IReadOnlyList<V1Job> runJobs, CancellationToken ct)
    {
        if (config is null)
        {
            return;
        }

        if (configMap is not null || runJobs.Count > 0)
        {
            await applier.ApplyIfDriftedAsync(TrainerJobBuilder.BuildConfigMap(run, config), configMap, ct).ConfigureAwait(false);
        }

        foreach (var job in runJobs.Where(j => j.Metadata.DeletionTimestamp is null))
        {
            if (AttemptOf(run, job) is { } attempt)
            {
                await applier.ApplyIfDriftedAsync(TrainerJobBuilder.BuildJobMetadata(run, config, attempt), job, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The config <paramref name="configMap"/> holds: the one remembered for the run if its YAML is the same, else parsed.</summary>
    private ResolvedTrainerConfig ConfigOf(ObjectKey key, V1ConfigMap configMap)
    {
        if (configs.TryGetValue(key, out var known)
            && configMap.Data?.TryGetValue(ResolvedTrainerConfig.FileName, out var yaml) == true
            && string.Equals(known.Yaml, yaml, StringComparison.Ordinal))
        {
            return known;
        }

        var parsed = ResolvedTrainerConfig.FromConfigMap(configMap);
        configs[key] = parsed;
        return parsed;
    }

    /// <summary>The attempt a Job of the run is for: its label, or (label edited away) the attempt its name was made from.</summary>
    private static int? AttemptOf(TrainingRun run, V1Job job)
    {
        if (job.Metadata.Labels?.TryGetValue(TrainingRunNames.AttemptLabel, out var label) == true
            && int.TryParse(label, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            && TrainingRunNames.Job(run.Metadata.Name, n) == job.Metadata.Name)
        {
            return n;
        }

        var highest = Math.Max(run.Status?.Attempts ?? 0, 1) + 10;
        for (var i = 1; i <= highest; i++)
        {
            if (TrainingRunNames.Job(run.Metadata.Name, i) == job.Metadata.Name)
            {
                return i;
            }
        }

        return null;
    }

    /// <summary>The config to start with, or why the run cannot start yet, from the cached Curriculum and runs.</summary>
    private (ResolvedTrainerConfig? Config, DependencyState State) Resolve(TrainingRun run)
    {
        var ns = run.Metadata.NamespaceProperty;
        Curriculum? curriculum = null;
        if (run.Spec.CurriculumRef is { } curriculumRef)
        {
            curriculum = caches.Curricula.Get(ns, curriculumRef.Name);
            if (curriculum is null)
            {
                return (null, DependencyState.Waiting("CurriculumNotFound", $"Curriculum {curriculumRef.Name} does not exist (yet)"));
            }

            var invalid = SpecValidation.Validate(curriculum.Spec);
            if (invalid.Count > 0)
            {
                return (null, DependencyState.Waiting("CurriculumInvalid", $"Curriculum {curriculumRef.Name} is invalid: {SpecValidation.Describe(invalid)}"));
            }
        }

        string? baseModelUri = null;
        if (run.Spec.BaseModel?.TrainingRun is { } baseRef)
        {
            var baseRun = caches.Runs.Get(ns, baseRef.Name);
            var state = BaseModelPolicy.Evaluate(baseRef.Name, baseRun);
            if (state.Status != DependencyStatus.Ready)
            {
                return (null, state);
            }

            baseModelUri = baseRun!.Status!.Result!.ModelUri;
        }

        // A teacher named as a TrainingRun (in the referenced or the inline curriculum) is resolved like a base model.
        string? teacherModelUri = null;
        if ((curriculum?.Spec ?? run.Spec.Curriculum)?.Difficulty?.Teacher?.TrainingRun is { } teacherRef)
        {
            var teacherRun = caches.Runs.Get(ns, teacherRef.Name);
            var state = BaseModelPolicy.Evaluate(teacherRef.Name, teacherRun, BaseModelPolicy.TeacherModel);
            if (state.Status != DependencyStatus.Ready)
            {
                return (null, state);
            }

            teacherModelUri = teacherRun!.Status!.Result!.ModelUri;
        }

        return (ResolvedConfigBuilder.Build(run, curriculum, baseModelUri, teacherModelUri), DependencyState.Ready);
    }

    private static bool SameStatus(TrainingRunStatus? a, TrainingRunStatus b) =>
        a is not null && Manifests.ToJson(a) == Manifests.ToJson(b);

    private static ConcurrentDictionary<ObjectKey, string> Register(OperatorMetrics metrics, ConcurrentDictionary<ObjectKey, string> phases)
    {
        metrics.RegisterObjectCounts(TrainingRun.KindName, () => phases.Values.GroupBy(p => p).Select(g => KeyValuePair.Create(g.Key, (long)g.Count())));
        return phases;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created trainer job {Job} for {Run} (attempt {Attempt})")]
    private partial void LogCreatedJob(string job, ObjectKey run, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted trainer job {Job} of {Run}")]
    private partial void LogDeletedJob(string job, ObjectKey run);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleting {Run}: ttlSecondsAfterFinished passed")]
    private partial void LogExpired(ObjectKey run);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Deleting {Run}: waiting for {Children} to be gone")]
    private partial void LogWaitingForChildren(ObjectKey run, string children);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cleaned up the jobs and config of {Run}")]
    private partial void LogCleanedUp(ObjectKey run);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Run} waits for the cache to show what it created: {What}")]
    private partial void LogWaitingForCache(ObjectKey run, string? what);
}

/// <summary>
/// Whether a TrainingRun's model can be used by another run (as its base model, or as its curriculum's teacher): it
/// must have succeeded with its gates passed and name a model.
/// </summary>
public static class BaseModelPolicy
{
    /// <summary>The role of the model in the dependent run: prefixes reasons and names it in messages.</summary>
    public const string BaseModel = "BaseModel";
    public const string TeacherModel = "TeacherModel";

    public static DependencyState Evaluate(string name, TrainingRun? baseRun, string role = BaseModel)
    {
        var noun = role == TeacherModel ? "Teacher TrainingRun" : "Base TrainingRun";
        if (baseRun is null)
        {
            return DependencyState.Waiting($"{role}NotFound", $"{noun} {name} does not exist (yet)");
        }

        var status = baseRun.Status;
        if (status?.Phase == TrainingRunPhases.Failed)
        {
            var failed = Conditions.Find(status.Conditions, ConditionTypes.Failed);
            return failed?.Reason == TrainingRunReasons.GatesFailed
                ? DependencyState.Failed($"{role}GatesFailed", $"{noun} {name} failed its gates: {failed.Message}")
                : DependencyState.Failed($"{role}Failed", $"{noun} {name} failed ({failed?.Reason}): {failed?.Message}");
        }

        if (status?.Phase != TrainingRunPhases.Succeeded)
        {
            return DependencyState.Waiting($"WaitingFor{role}", $"Waiting for {noun.ToLowerInvariant()[..1]}{noun[1..]} {name} to succeed (now {status?.Phase ?? "not started"})");
        }

        if (Conditions.IsFalse(status.Conditions, ConditionTypes.GatesPassed))
        {
            return DependencyState.Failed($"{role}GatesFailed", $"{noun} {name} did not pass its gates");
        }

        return string.IsNullOrEmpty(status.Result?.ModelUri)
            ? DependencyState.Failed($"{role}Missing", $"{noun} {name} succeeded without a model URI")
            : DependencyState.Ready;
    }
}
