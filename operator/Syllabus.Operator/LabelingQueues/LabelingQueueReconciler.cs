using System.Globalization;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Syllabus.Api;
using Syllabus.Api.Validation;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Runtime.Rbac;

namespace Syllabus.Operator.LabelingQueues;

/// <summary>The informer caches the LabelingQueue reconciler reads.</summary>
internal sealed record LabelingQueueCaches(
    ICacheReader<TrainingRun> Runs,
    ICacheReader<V1Deployment> Workloads,
    ICacheReader<V1Service> Services,
    ICacheReader<V1Job> Jobs,
    ICacheReader<V1Pod> Pods,
    ICacheReader<DriftPolicy> Policies);

/// <summary>
/// Converges a LabelingQueue: gather (the model, its labelling Deployment, Jobs and pods) from the caches and the
/// labelling pod's counts over its pod IP; <see cref="LabelingQueuePlanner.Plan"/> decides; create the token Secret
/// once, apply the labelling Deployment and Service (server-side apply, only what drifted), create the scoring or export
/// Job and the retrained TrainingRun (create-if-absent: deterministic names, so a retried reconcile never makes two);
/// write status once if it changed. Children are owned (garbage-collected with the queue), so no finalizer is needed.
/// </summary>
// Its informer (list, watch); status written with a guarded merge patch.
[RbacRule(Groups = ["syllabus.dev"], Resources = ["labelingqueues"], Verbs = ["list", "watch"])]
[RbacRule(Groups = ["syllabus.dev"], Resources = ["labelingqueues/status"], Verbs = ["patch"])]
// Children carry a controller reference with blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
[RbacRule(Groups = ["syllabus.dev"], Resources = ["labelingqueues/finalizers"], Verbs = ["update"])]
// The token Secret is created once and never read back: the operator holds no read access to Secrets. Whether it still
// exists is learnt by creating it again every TokenProbeInterval (AlreadyExists, or created anew after a hand deletion).
[RbacRule(Groups = [""], Resources = ["secrets"], Verbs = ["create"])]
// Finished scoring and export Jobs beyond the newest few, deleted (Background: the garbage collector takes their pods).
[RbacRule(Groups = ["batch"], Resources = ["jobs"], Verbs = ["delete"])]
// The DriftPolicies whose Label action names the queue: their status.labelRequest (read from the cache, never written).
[RbacRule(Groups = ["syllabus.dev"], Resources = ["driftpolicies"], Verbs = ["list", "watch"])]
// Retrained TrainingRuns, created once per round.
[RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns"], Verbs = ["create"])]
internal sealed partial class LabelingQueueReconciler(
    IResourceClient<LabelingQueue> queues,
    LabelingQueueCaches caches,
    IApplier applier,
    IResourceClient<V1Job> jobClient,
    ILabelStatsReader statsReader,
    IEventRecorder events,
    IOptions<TrainerImageOptions> image,
    TimeProvider time,
    ILogger<LabelingQueueReconciler> log) : IReconciler<LabelingQueue>
{
    /// <summary>How often a queue's token Secret is created again to find out whether it was deleted (no read access).</summary>
    public static readonly TimeSpan TokenProbeInterval = TimeSpan.FromSeconds(30);

    // When each queue's Secret was last created or found existing (in memory: a restarted operator probes at once).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ObjectKey, DateTimeOffset> tokenProbes = new();

    // The hash of a Secret created but not yet in a written status (a failed reconcile after the create): offered again
    // until recorded, or the labelling pod would keep the old token.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ObjectKey, string> unrecordedTokenHashes = new();

    public async Task<ReconcileResult> ReconcileAsync(LabelingQueue resource, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (resource.Metadata.DeletionTimestamp is not null)
        {
            return ReconcileResult.Done; // the garbage collector removes the owned children
        }

        var queue = resource;
        var ns = queue.Metadata.NamespaceProperty;
        var name = queue.Metadata.Name;
        var now = time.GetUtcNow();
        var errors = SpecValidation.Validate(queue.Spec);
        if (errors.Count > 0)
        {
            return await WriteInvalidAsync(queue, SpecValidation.Describe(errors), ct).ConfigureAwait(false);
        }

        var (committee, committeeProblem, committeeReason) = ResolveCommittee(queue);
        var createdTokenHash = await EnsureTokenSecretAsync(queue, now, ct).ConfigureAwait(false);
        var (modelUri, modelProblem) = committeeProblem is null ? ResolveModel(queue) : (null, committeeProblem);
        var (uncertain, uncertainProblem) = UncertainSources(queue);
        var selector = $"{LabelingQueueNames.QueueLabel}={TrainingRunNames.LabelValue(name)}";
        var pods = caches.Pods.List(ns, selector);
        var (stats, statsProblem) = await ReadStatsAsync(pods, ct).ConfigureAwait(false);
        var jobs = caches.Jobs.List(ns, selector).ToDictionary(j => j.Metadata.Name, StringComparer.Ordinal);
        var plan = LabelingQueuePlanner.Plan(new LabelingQueueObservation
        {
            Queue = queue,
            ModelUri = modelUri,
            ModelProblem = modelProblem,
            CommitteeProblem = committeeProblem is null ? null : (committeeReason!, committeeProblem),
            Committee = committee,
            CreatedTokenHash = createdTokenHash,
            Uncertain = uncertain,
            UncertainProblem = uncertainProblem,
            DriftRequest = DriftRequest(queue),
            Stats = stats,
            StatsProblem = statsProblem,
            Jobs = jobs,
            JobMessages = JobMessages(pods),
            JobsUnscheduled = JobsUnscheduled(pods),
            NextRetrainRun = caches.Runs.Get(ns, LabelingQueueNames.RetrainRun(name, (queue.Status?.RetrainRounds ?? 0) + 1)),
            Now = now,
        });

        if (plan.ServeLabels)
        {
            var deployment = LabelingWorkloadBuilder.BuildLabelDeployment(queue, image.Value, plan.Status.TokenHash);
            await applier.ApplyIfDriftedAsync(deployment, caches.Workloads.Get(ns, deployment.Metadata.Name), ct).ConfigureAwait(false);
            var service = LabelingWorkloadBuilder.BuildLabelService(queue);
            await applier.ApplyIfDriftedAsync(service, caches.Services.Get(ns, service.Metadata.Name), ct).ConfigureAwait(false);
        }

        if (plan.StartScoring is { } scoring)
        {
            await applier.CreateIfAbsentAsync(LabelingWorkloadBuilder.BuildScoringJob(queue, scoring, image.Value, labelPodRuns: plan.ServeLabels), ct).ConfigureAwait(false);
        }

        if (plan.StartExport is { } round)
        {
            await applier.CreateIfAbsentAsync(LabelingWorkloadBuilder.BuildExportJob(queue, round, image.Value), ct).ConfigureAwait(false);
        }

        if (plan.CreateRetrainRun is { } retrain)
        {
            await applier.CreateIfAbsentAsync(LabelingWorkloadBuilder.BuildRetrainRun(queue, retrain), ct).ConfigureAwait(false);
            LogRetrained(retrain.Round, ObjectKey.From(queue), retrain.Labels);
        }

        // The cached Jobs the plan judged finished, by identity: a same-named Job created since is left alone.
        foreach (var finished in plan.DeleteJobs)
        {
            await jobClient.DeleteAsync(finished, ct).ConfigureAwait(false);
        }

        if (!SameStatus(queue.Status, plan.Status))
        {
            queue = await queues.UpdateStatusAsync(queue, plan.Status, ct).ConfigureAwait(false);
        }

        if (createdTokenHash is not null && plan.Status.TokenHash == createdTokenHash)
        {
            unrecordedTokenHashes.TryRemove(new KeyValuePair<ObjectKey, string>(ObjectKey.From(queue), createdTokenHash));
        }

        foreach (var (type, reason, message) in plan.Events)
        {
            await events.RecordAsync(queue, type, reason, message, ct).ConfigureAwait(false);
        }

        return plan.RequeueAfter is { } after ? ReconcileResult.After(after) : ReconcileResult.Done;
    }

    /// <summary>
    /// Creates the token Secret when the queue has none yet, and again every <see cref="TokenProbeInterval"/>: an
    /// AlreadyExists answer means it is still there; a created one (deleted by hand) has a new token, whose hash is
    /// returned so the labelling pod restarts onto it (and again, until a status write records it). The token itself is
    /// never logged, put in status or in an Event.
    /// </summary>
    private async Task<string?> EnsureTokenSecretAsync(LabelingQueue queue, DateTimeOffset now, CancellationToken ct)
    {
        var key = ObjectKey.From(queue);
        if (queue.Status?.TokenSecret is null || !tokenProbes.TryGetValue(key, out var probed) || now - probed >= TokenProbeInterval)
        {
            var secret = LabelingWorkloadBuilder.BuildTokenSecret(queue);
            if (await applier.CreateIfAbsentAsync(secret, ct).ConfigureAwait(false) is not null)
            {
                unrecordedTokenHashes[key] = LabelingWorkloadBuilder.TokenHash(secret);
            }

            tokenProbes[key] = now;
        }

        return unrecordedTokenHashes.TryGetValue(key, out var hash) ? hash : null;
    }

    /// <summary>The scoring model: spec.model.uri, or the named TrainingRun's model once it succeeded with its gates passed.</summary>
    private (string? Uri, string? Problem) ResolveModel(LabelingQueue queue)
    {
        if (queue.Spec.Model.Uri is { } uri)
        {
            return (uri, null);
        }

        var runName = queue.Spec.Model.TrainingRun!.Name;
        var run = caches.Runs.Get(queue.Metadata.NamespaceProperty, runName);
        return run switch
        {
            null => (null, $"TrainingRun {runName} does not exist"),
            { Status.Phase: TrainingRunPhases.Succeeded } when !string.IsNullOrEmpty(run.Status.Result?.ModelUri) && CandidateSelector.GatesPassed(run) => (run.Status.Result!.ModelUri, null),
            { Status.Phase: TrainingRunPhases.Succeeded } => (null, $"TrainingRun {runName} succeeded without a model that passed its gates"),
            _ => (null, $"TrainingRun {runName} is {run.Status?.Phase ?? "pending"}; scoring waits for its model"),
        };
    }

    /// <summary>
    /// QueryByCommittee: the model of each strategy.committee TrainingRun, or a message naming every member that has not
    /// Succeeded with a model (the queue is then Valid=False; a member's change wakes it), with the reason:
    /// CommitteeTraining while every such member is only Pending or Running, else CommitteeNotReady (a member missing,
    /// Failed, or succeeded without a model: it needs a person).
    /// </summary>
    private (IReadOnlyList<string> Models, string? Problem, string? Reason) ResolveCommittee(LabelingQueue queue)
    {
        if (queue.Spec.Strategy.Type != SelectionStrategies.QueryByCommittee || queue.Spec.Strategy.Committee is not { } members)
        {
            return ([], null, null);
        }

        var models = new List<string>();
        var problems = new List<string>();
        var training = true;
        foreach (var member in members)
        {
            var run = caches.Runs.Get(queue.Metadata.NamespaceProperty, member.Name);
            if (run is { Status.Phase: TrainingRunPhases.Succeeded, Status.Result.ModelUri: { Length: > 0 } uri })
            {
                models.Add(uri);
            }
            else
            {
                training &= run is not null && run.Status?.Phase is null or TrainingRunPhases.Pending or TrainingRunPhases.Running;
                problems.Add(run is null ? $"TrainingRun {member.Name} does not exist"
                    : run.Status?.Phase == TrainingRunPhases.Succeeded ? $"TrainingRun {member.Name} succeeded without a model"
                    : $"TrainingRun {member.Name} is {run.Status?.Phase ?? "pending"}, not Succeeded");
            }
        }

        return problems.Count == 0 ? (models, null, null)
            : ([], $"spec.strategy.committee: {string.Join("; ", problems)}; QueryByCommittee scores once every member has Succeeded",
                training ? "CommitteeTraining" : "CommitteeNotReady");
    }

    /// <summary>
    /// The <c>GET /v2/models/NAME/uncertain</c> URLs of pool.deploymentRef's ready stable serve pods (from the pod cache, as
    /// the ModelDeployment reconciler finds them to measure), sorted so a retried round asks the same pods.
    /// </summary>
    private (IReadOnlyList<string> Urls, string? Problem) UncertainSources(LabelingQueue queue)
    {
        if (queue.Spec.Pool.DeploymentRef is not { } reference)
        {
            return ([], null);
        }

        var selector = $"{ModelDeploymentNames.DeploymentLabel}={TrainingRunNames.LabelValue(reference.Name)},{ModelDeploymentNames.ArmLabel}={AnalysisArms.Stable}";
        var urls = caches.Pods.List(queue.Metadata.NamespaceProperty, selector)
            .Where(p => p.Metadata.DeletionTimestamp is null && !string.IsNullOrEmpty(p.Status?.PodIP)
                && p.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true)
            .Select(p => UncertainUrl(p.Status.PodIP, reference.Name))
            .Order(StringComparer.Ordinal)
            .ToList();
        return urls.Count > 0 ? (urls, null) : ([], $"ModelDeployment {reference.Name} has no ready stable serve pod");
    }

    /// <summary>
    /// The oldest DriftPolicy label request naming this queue not handled yet, with the uncertain-rows URLs of the drifted
    /// ModelDeployment's ready stable serve pods.
    /// </summary>
    private DriftLabelWork? DriftRequest(LabelingQueue queue)
    {
        var ns = queue.Metadata.NamespaceProperty;
        var handled = queue.Status?.DriftRequestHandledAt;
        var policy = caches.Policies.List(ns)
            .Where(p => p.Status?.LabelRequest is { } r && r.LabelingQueue == queue.Metadata.Name && (handled is null || r.RequestedAt > handled))
            .OrderBy(p => p.Status!.LabelRequest!.RequestedAt)
            .ThenBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        if (policy is null)
        {
            return null;
        }

        var deployment = policy.Spec.DeploymentRef.Name;
        var urls = caches.Pods.List(ns, $"{ModelDeploymentNames.DeploymentLabel}={TrainingRunNames.LabelValue(deployment)},{ModelDeploymentNames.ArmLabel}={AnalysisArms.Stable}")
            .Where(p => p.Metadata.DeletionTimestamp is null && !string.IsNullOrEmpty(p.Status?.PodIP)
                && p.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true)
            .Select(p => UncertainUrl(p.Status.PodIP, deployment))
            .Order(StringComparer.Ordinal)
            .ToList();
        return new DriftLabelWork(policy.Metadata.Name, policy.Status!.LabelRequest!, deployment, urls);
    }

    /// <summary>A serve pod's uncertain rows: the model is served under its ModelDeployment's name.</summary>
    internal static string UncertainUrl(string podIp, string deployment) =>
        string.Create(CultureInfo.InvariantCulture, $"http://{(podIp.Contains(':', StringComparison.Ordinal) ? $"[{podIp}]" : podIp)}:{ModelDeploymentNames.ContainerPort}/v2/models/{Uri.EscapeDataString(deployment)}/uncertain");

    /// <summary>The counts of the ready labelling pod (there is one replica), read over its pod IP.</summary>
    private async Task<(LabelStats? Stats, string? Problem)> ReadStatsAsync(IReadOnlyList<V1Pod> pods, CancellationToken ct)
    {
        var pod = pods
            .Where(p => LabelingQueueNames.ValueOf(p.Metadata.Labels, LabelingQueueNames.RoleLabel) == LabelingQueueNames.LabelRole)
            .Where(p => p.Metadata.DeletionTimestamp is null && !string.IsNullOrEmpty(p.Status?.PodIP)
                && p.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true)
            .OrderBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .FirstOrDefault();
        if (pod is null)
        {
            return (null, LabelingQueuePlanner.LabelPodNotReady(pods.Where(p => LabelingQueueNames.ValueOf(p.Metadata.Labels, LabelingQueueNames.RoleLabel) == LabelingQueueNames.LabelRole)));
        }

        try
        {
            return (await statsReader.ReadAsync($"{pod.Status.PodIP}:{LabelingQueueNames.ContainerPort.ToString(CultureInfo.InvariantCulture)}", ct).ConfigureAwait(false), null);
        }
        catch (LabelStatsException e)
        {
            return (null, $"pod {pod.Metadata.Name}: {e.Message}");
        }
    }

    /// <summary>The termination message of each Job's finished pod, by Job name.</summary>
    private static Dictionary<string, string> JobMessages(IReadOnlyList<V1Pod> pods)
    {
        var messages = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pod in pods.OrderBy(p => p.Metadata.CreationTimestamp))
        {
            var job = LabelingQueueNames.ValueOf(pod.Metadata.Labels, "batch.kubernetes.io/job-name") ?? LabelingQueueNames.ValueOf(pod.Metadata.Labels, "job-name");
            if (job is not null && pod.Status?.ContainerStatuses?.FirstOrDefault()?.State?.Terminated is { } terminated)
            {
                messages[job] = terminated.Message ?? (terminated.ExitCode == 0 ? "" : $"exit code {terminated.ExitCode} ({terminated.Reason})");
            }
        }

        return messages;
    }

    /// <summary>The scheduler's PodScheduled=False message of each Job's pod not scheduled yet, by Job name.</summary>
    private static Dictionary<string, string> JobsUnscheduled(IReadOnlyList<V1Pod> pods)
    {
        var waits = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pod in pods.Where(p => p.Metadata.DeletionTimestamp is null && string.IsNullOrEmpty(p.Spec?.NodeName)))
        {
            var job = LabelingQueueNames.ValueOf(pod.Metadata.Labels, "batch.kubernetes.io/job-name") ?? LabelingQueueNames.ValueOf(pod.Metadata.Labels, "job-name");
            if (job is not null && LabelingQueuePlanner.Unscheduled(pod) is { } waiting)
            {
                waits[job] = waiting;
            }
        }

        return waits;
    }

    private async Task<ReconcileResult> WriteInvalidAsync(LabelingQueue queue, string message, CancellationToken ct)
    {
        const string reason = "InvalidSpec";
        var status = SyllabusJson.Copy<LabelingQueueStatus>(queue.Status ?? new LabelingQueueStatus());
        status.Conditions ??= [];
        var changed = Conditions.SetCondition(status.Conditions, ConditionTypes.Valid, Conditions.False, reason, message, queue.Metadata.Generation, time.GetUtcNow());
        changed |= Conditions.SetCondition(status.Conditions, ConditionTypes.Ready, Conditions.False, reason, "The spec is invalid (see the Valid condition)", queue.Metadata.Generation, time.GetUtcNow());
        status.Phase = LabelingQueuePhases.Pending;
        status.ObservedGeneration = queue.Metadata.Generation;
        if (changed || !SameStatus(queue.Status, status))
        {
            await queues.UpdateStatusAsync(queue, status, ct).ConfigureAwait(false);
            await events.RecordAsync(queue, EventTypes.Warning, reason, message, ct).ConfigureAwait(false);
        }

        return ReconcileResult.Done;
    }

    private static bool SameStatus(LabelingQueueStatus? a, LabelingQueueStatus b) =>
        a is not null && Manifests.ToJson(a) == Manifests.ToJson(b);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created retraining round {Round} of {Queue} on {Labels} labels")]
    private partial void LogRetrained(int round, ObjectKey queue, int labels);
}
