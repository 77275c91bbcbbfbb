using k8s.Models;
using Microsoft.Extensions.Logging;
using Syllabus.Api;
using Syllabus.Api.Validation;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Runtime.Rbac;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>The informer caches the DriftPolicy reconciler reads.</summary>
internal sealed record DriftPolicyCaches(
    ICacheReader<ModelDeployment> Deployments,
    ICacheReader<TrainingRun> Runs,
    ICacheReader<V1Pod> Pods);

/// <summary>
/// Converges a DriftPolicy: gather (its ModelDeployment, the served model's TrainingRun, its own retraining runs) from
/// the caches; when an evaluation is due, read each ready stable replica's drift report (and the online accuracy, and
/// the PromQL values); <see cref="DriftPolicyPlanner.Plan"/> decides; create the retraining run (create-if-absent under a
/// deterministic name); write status once if it changed; record Events and the scores. A rollback is asked in status
/// and carried out by the ModelDeployment controller, which watches the policies that name it: no spec is written.
/// </summary>
// Its informer (list, watch); status written with a guarded merge patch.
[RbacRule(Groups = ["syllabus.dev"], Resources = ["driftpolicies"], Verbs = ["list", "watch"])]
[RbacRule(Groups = ["syllabus.dev"], Resources = ["driftpolicies/status"], Verbs = ["patch"])]
// Retraining runs carry a controller reference with blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
[RbacRule(Groups = ["syllabus.dev"], Resources = ["driftpolicies/finalizers"], Verbs = ["update"])]
[RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns"], Verbs = ["create"])]
internal sealed partial class DriftPolicyReconciler(
    IResourceClient<DriftPolicy> policies,
    DriftPolicyCaches caches,
    IApplier applier,
    IDriftReportReader reports,
    IServingMetricsReader servingMetrics,
    IPrometheusQueryClient prometheus,
    DriftScores scores,
    IEventRecorder events,
    TimeProvider time,
    ILogger<DriftPolicyReconciler> log) : IReconciler<DriftPolicy>
{
    public async Task<ReconcileResult> ReconcileAsync(DriftPolicy resource, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (resource.Metadata.DeletionTimestamp is not null)
        {
            return ReconcileResult.Done; // its retraining runs are owned: the garbage collector removes them
        }

        var policy = resource;
        var ns = policy.Metadata.NamespaceProperty;
        var now = time.GetUtcNow();
        var errors = SpecValidation.Validate(policy.Spec);
        if (errors.Count > 0)
        {
            return await WriteInvalidAsync(policy, SpecValidation.Describe(errors), ct).ConfigureAwait(false);
        }

        var deployment = caches.Deployments.Get(ns, policy.Spec.DeploymentRef.Name);
        var stable = deployment?.Status?.StableRevision is { } revision ? deployment.Status.Revisions?.FirstOrDefault(r => r.Revision == revision) : null;
        DriftLook? look = null;
        if (deployment is not null && stable is not null && DriftPolicyPlanner.NextEvaluationAt(policy) <= now)
        {
            look = await LookAsync(policy, deployment, stable.Revision, ct).ConfigureAwait(false);
        }

        var next = caches.Runs.Get(ns, DriftPolicyNames.RetrainRun(policy.Metadata.Name, (policy.Status?.RetrainCount ?? 0) + 1));
        var ours = next?.Metadata.OwnerReferences?.Any(r => r.Uid == policy.Metadata.Uid) == true;
        var plan = DriftPolicyPlanner.Plan(new DriftPolicyObservation
        {
            Policy = policy,
            Deployment = deployment,
            ServedRun = stable?.TrainingRun is { } servedRun ? caches.Runs.Get(ns, servedRun) : null,
            LastRetrainRun = policy.Status?.LastRetrainRun is { } last ? caches.Runs.Get(ns, last) : null,
            NextRetrainRun = ours ? next : null,
            ForeignRun = next is not null && !ours ? next.Metadata.Name : null,
            Look = look,
            Now = now,
        });

        if (plan.CreateRun is { } run)
        {
            // Before the status that records it: a lost status write finds the run under the same name next time.
            if (await applier.CreateIfAbsentAsync(run, ct).ConfigureAwait(false) is null)
            {
                // The name is taken by a run the cache has not seen yet (ours from a lost write, or someone else's):
                // nothing is recorded; the next reconcile sees it in the cache and decides.
                throw new InvalidOperationException($"TrainingRun {run.Metadata.Name} already exists but is not in the cache yet; retrying once it is");
            }

            LogRetraining(run.Metadata.Name, ObjectKey.From(policy));
        }

        if (plan.Scores is { } latest)
        {
            scores.Set(policy, latest);
        }

        if (!SameStatus(policy.Status, plan.Status))
        {
            policy = await policies.UpdateStatusAsync(policy, plan.Status, ct).ConfigureAwait(false);
        }

        foreach (var (type, reason, message) in plan.Events)
        {
            await events.RecordAsync(policy, type, reason, message, ct).ConfigureAwait(false);
        }

        return plan.RequeueAfter is { } after ? ReconcileResult.After(after) : ReconcileResult.Done;
    }

    /// <summary>Every ready stable replica's drift report (one per stattest the detectors use), the online accuracy and the PromQL values.</summary>
    private async Task<DriftLook> LookAsync(DriftPolicy policy, ModelDeployment deployment, int revision, CancellationToken ct)
    {
        var spec = policy.Spec;
        var model = deployment.Metadata.Name;
        var stablePods = StablePods(deployment, revision);
        var pods = stablePods
            .Where(p => !string.IsNullOrEmpty(p.Status?.PodIP) && p.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true)
            .Select(p => new ServingPod(p.Metadata.Name, $"{p.Status.PodIP}:{ModelDeploymentNames.ContainerPort}"))
            .ToList();
        if (pods.Count == 0)
        {
            return new DriftLook { NotEvaluated = ("NoReadyReplica", $"ModelDeployment {model} has no ready stable replica of revision {revision} to read a window from{WhyNotReady(stablePods)}") };
        }

        var stattests = spec.Detectors.Where(DriftDetectors.ReadsReports).Select(DriftDetectors.StattestOf).Distinct(StringComparer.Ordinal).ToList();
        var window = await DriftWindowReader.ReadAsync(
            reports, pods, [.. stablePods.Select(p => p.Metadata.Name)], model, stattests, policy.Status?.WindowMarks, spec.MinWindowSize, ct).ConfigureAwait(false);
        if (window.NotEvaluated is { } notEvaluated)
        {
            return new DriftLook { WindowSize = window.Rows, NotEvaluated = notEvaluated };
        }

        // Each PerformanceDrop's own minSamples (the CBPE estimate is reported beside whatever was measured).
        var accuracy = new Dictionary<int, MeasuredValue>();
        var minSamples = spec.Detectors.Where(d => d.Type == DetectorTypes.PerformanceDrop).Select(d => d.MinSamples).ToList();
        if (minSamples.Count == 0 && spec.Detectors.Any(d => d.Type == DetectorTypes.EstimatedPerformanceDrop))
        {
            minSamples.Add(1);
        }

        foreach (var min in minSamples.Distinct())
        {
            accuracy[min] = await servingMetrics.MeasureAsync(pods, model, ServerMetrics.Accuracy, min, ct).ConfigureAwait(false);
        }

        var promql = new Dictionary<string, MeasuredValue>(StringComparer.Ordinal);
        foreach (var detector in spec.Detectors.Where(d => d.Type == DetectorTypes.PromQL))
        {
            var query = detector.Query!
                .Replace("{{name}}", model, StringComparison.Ordinal)
                .Replace("{{namespace}}", deployment.Metadata.NamespaceProperty, StringComparison.Ordinal);
            promql[detector.Name] = await prometheus.QueryAsync(spec.PrometheusAddress!, query, ct).ConfigureAwait(false);
        }

        return new DriftLook
        {
            Inputs = new DriftInputs { Readings = window.Readings, OnlineAccuracy = accuracy, PromQL = promql },
            Replicas = stattests.Count > 0 ? window.Evaluated.Count : pods.Count,
            WindowSize = window.Rows,
            UntestedRows = window.UntestedRows,
            Marks = window.Marks,
        };
    }

    /// <summary>The stable arm's pods of the stable revision, not terminating (the policy watches the model in production; an old revision's pods still rolling out are not it).</summary>
    private List<V1Pod> StablePods(ModelDeployment deployment, int revision) =>
        [.. caches.Pods.List(deployment.Metadata.NamespaceProperty, $"{ModelDeploymentNames.DeploymentLabel}={TrainingRunNames.LabelValue(deployment.Metadata.Name)},{ModelDeploymentNames.ArmLabel}={AnalysisArms.Stable},{ModelDeploymentNames.RevisionLabel}={revision.ToString(System.Globalization.CultureInfo.InvariantCulture)}")
            .Where(p => p.Metadata.DeletionTimestamp is null)
            .OrderBy(p => p.Metadata.Name, StringComparer.Ordinal)];

    /// <summary>What the stable pods that are not ready say (a serve that refused to start writes why as its termination message).</summary>
    private static string WhyNotReady(IEnumerable<V1Pod> stablePods)
    {
        var reasons = stablePods
            .Select(p => (p.Metadata.Name, Status: p.Status?.ContainerStatuses?.FirstOrDefault()))
            .Select(p => (p.Name, Why: p.Status?.State?.Terminated?.Message ?? p.Status?.LastState?.Terminated?.Message ?? p.Status?.State?.Waiting?.Reason))
            .Where(p => !string.IsNullOrWhiteSpace(p.Why))
            .Take(2)
            .Select(p => $"pod {p.Name}: {Tail(p.Why!.Trim(), 400)}")
            .ToList();
        return reasons.Count == 0 ? "" : $" ({string.Join("; ", reasons)})";

        static string Tail(string text, int max) => text.Length <= max ? text : string.Concat("...", text.AsSpan(text.Length - max));
    }

    private async Task<ReconcileResult> WriteInvalidAsync(DriftPolicy policy, string message, CancellationToken ct)
    {
        var status = SyllabusJson.Copy<DriftPolicyStatus>(policy.Status ?? new DriftPolicyStatus());
        status.Conditions ??= [];
        var changed = Conditions.SetCondition(status.Conditions, ConditionTypes.Valid, Conditions.False, "InvalidSpec", message, policy.Metadata.Generation, time.GetUtcNow());
        changed |= Conditions.SetCondition(status.Conditions, ConditionTypes.Ready, Conditions.False, "InvalidSpec", "The spec is invalid (see the Valid condition)", policy.Metadata.Generation, time.GetUtcNow());
        status.ObservedGeneration = policy.Metadata.Generation;
        if (changed || !SameStatus(policy.Status, status))
        {
            await policies.UpdateStatusAsync(policy, status, ct).ConfigureAwait(false);
            await events.RecordAsync(policy, EventTypes.Warning, "InvalidSpec", message, ct).ConfigureAwait(false);
        }

        return ReconcileResult.Done;
    }

    private static bool SameStatus(DriftPolicyStatus? a, DriftPolicyStatus b) =>
        a is not null && Manifests.ToJson(a) == Manifests.ToJson(b);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created retraining run {Run} for {Policy}")]
    private partial void LogRetraining(string run, ObjectKey policy);
}
