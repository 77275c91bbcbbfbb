using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Syllabus.Api;
using Syllabus.Api.Validation;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Runtime.Rbac;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>The informer caches the ModelDeployment reconciler reads.</summary>
internal sealed record ModelDeploymentCaches(
    ICacheReader<ModelDeployment> Deployments,
    ICacheReader<TrainingRun> Runs,
    ICacheReader<V1Deployment> Workloads,
    ICacheReader<V1Service> Services,
    ICacheReader<V1Pod> Pods,
    ICacheReader<DriftPolicy> Policies);

/// <summary>
/// Converges a ModelDeployment: gather (its two Deployments, the TrainingRuns it may serve, its pods) from the caches;
/// measure the arm whose analysis is due (its pods' metrics or Prometheus); <see cref="ModelDeploymentPlanner.Plan"/>
/// decides; apply the Service and both Deployments (server-side apply, only what drifted); write status once if it
/// changed; record Events and rollbacks. Children are owned (garbage-collected with it), so no finalizer is needed.
/// </summary>
// Its informer (list, watch); the handled syllabus.dev/action annotation removed with a guarded merge patch (patch).
[RbacRule(Groups = ["syllabus.dev"], Resources = ["modeldeployments"], Verbs = ["list", "watch", "patch"])]
[RbacRule(Groups = ["syllabus.dev"], Resources = ["modeldeployments/status"], Verbs = ["patch"])]
// The DriftPolicies that name it: a rollback they ask for in their status (read from the cache, never written).
[RbacRule(Groups = ["syllabus.dev"], Resources = ["driftpolicies"], Verbs = ["list", "watch"])]
// Children carry a controller reference with blockOwnerDeletion (OwnerReferencesPermissionEnforcement).
[RbacRule(Groups = ["syllabus.dev"], Resources = ["modeldeployments/finalizers"], Verbs = ["update"])]
// Stable and canary Deployments and the Service: label-filtered informers, server-side applied (patch; create on the
// first apply). A canary is scaled to zero, never deleted.
[RbacRule(Groups = ["apps"], Resources = ["deployments"], Verbs = ["list", "watch", "create", "patch"])]
[RbacRule(Groups = [""], Resources = ["services"], Verbs = ["list", "watch", "create", "patch"])]
internal sealed partial class ModelDeploymentReconciler(
    IResourceClient<ModelDeployment> deployments,
    ModelDeploymentCaches caches,
    IApplier applier,
    IServingMetricsReader servingMetrics,
    IPrometheusQueryClient prometheus,
    IEventRecorder events,
    IOptions<TrainerImageOptions> image,
    IMeterFactory meters,
    TimeProvider time,
    ILogger<ModelDeploymentReconciler> log) : IReconciler<ModelDeployment>
{
    private readonly Counter<long> rollbacks = meters.Create(OperatorMetrics.MeterName)
        .CreateCounter<long>("syllabus.rollbacks", description: "Canaries aborted and stable models rolled back, by reason.");

    public async Task<ReconcileResult> ReconcileAsync(ModelDeployment resource, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (resource.Metadata.DeletionTimestamp is not null)
        {
            return ReconcileResult.Done; // the garbage collector removes the owned Deployments and Service
        }

        var md = resource;
        var ns = md.Metadata.NamespaceProperty;
        var name = md.Metadata.Name;
        var now = time.GetUtcNow();
        var errors = SpecValidation.Validate(md.Spec);
        if (errors.Count > 0)
        {
            return await WriteInvalidAsync(md, SpecValidation.Describe(errors), ct).ConfigureAwait(false);
        }

        var stable = caches.Workloads.Get(ns, ModelDeploymentNames.Deployment(name, AnalysisArms.Stable));
        var canary = caches.Workloads.Get(ns, ModelDeploymentNames.Deployment(name, AnalysisArms.Canary));
        var action = md.Metadata.Annotations is { } annotations && annotations.TryGetValue(ModelDeploymentActions.Annotation, out var requested) ? requested : null;
        var unknownAction = action is not null and not (ModelDeploymentActions.Promote or ModelDeploymentActions.Abort or ModelDeploymentActions.Retry);

        // Measure the arm whose analysis is due (and both arms' live accuracy when mustBeat is judged online).
        IReadOnlyDictionary<string, Measurement>? round = null;
        Dictionary<string, MeasuredValue>? armAccuracy = null;
        string? measuredArm = null;
        if (ModelDeploymentPlanner.MeasurementDue(md, stable, canary, now) is { } due)
        {
            measuredArm = due.Arm;
            round = await MeasureAsync(md, due.Arm, due.Revision, now, ct).ConfigureAwait(false);
        }

        // mustBeat judged online needs both arms' live accuracy whenever a canary runs (its verdict may be pending).
        if (md.Status?.CanaryRevision is not null && md.Spec.Promotion.MustBeat is not null && md.Spec.PinnedRevision is null)
        {
            armAccuracy = new Dictionary<string, MeasuredValue>
            {
                [AnalysisArms.Canary] = await servingMetrics.MeasureAsync(ReadyPods(md, AnalysisArms.Canary), name, ServerMetrics.Accuracy, 1, ct).ConfigureAwait(false),
                [AnalysisArms.Stable] = await servingMetrics.MeasureAsync(ReadyPods(md, AnalysisArms.Stable), name, ServerMetrics.Accuracy, 1, ct).ConfigureAwait(false),
            };
        }

        var plan = ModelDeploymentPlanner.Plan(new ModelDeploymentObservation
        {
            Deployment = md,
            Runs = caches.Runs.List(ns),
            StableDeployment = stable,
            CanaryDeployment = canary,
            DefaultImage = image.Value.Image,
            Action = unknownAction ? null : action,
            Round = round,
            MeasuredArm = measuredArm,
            ArmAccuracy = armAccuracy,
            DriftRollbacks = [.. caches.Policies.List(ns)
                .Where(p => p.Spec?.DeploymentRef?.Name == name && p.Status?.Rollback is not null && Conditions.IsTrue(p.Status.Conditions, ConditionTypes.Drifted))
                .OrderBy(p => p.Metadata.Name, StringComparer.Ordinal)
                .Select(p => (p.Metadata.Name, p.Status!.Rollback!))],
            Now = now,
        });

        // Act: the Service, then the arms (stable first, so capacity returns before a canary goes).
        if (plan.Stable is not null || plan.Canary is not null)
        {
            var service = ServingWorkloadBuilder.BuildService(md);
            await applier.ApplyIfDriftedAsync(service, caches.Services.Get(ns, service.Metadata.Name), ct).ConfigureAwait(false);
        }

        if (plan.Stable is { } stableArm)
        {
            await applier.ApplyIfDriftedAsync(ServingWorkloadBuilder.BuildDeployment(md, AnalysisArms.Stable, stableArm, image.Value), stable, ct).ConfigureAwait(false);
        }

        if (plan.Canary is { } canaryArm)
        {
            await applier.ApplyIfDriftedAsync(ServingWorkloadBuilder.BuildDeployment(md, AnalysisArms.Canary, canaryArm, image.Value), canary, ct).ConfigureAwait(false);
        }

        var status = plan.Status;
        status.ObservedGeneration = md.Metadata.Generation;
        if (!SameStatus(md.Status, status))
        {
            md = await deployments.UpdateStatusAsync(md, status, ct).ConfigureAwait(false);
        }

        // Events and counters first: a 409 on the annotation below must not lose them (the status above is written).
        foreach (var reason in plan.Rollbacks)
        {
            rollbacks.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }

        foreach (var (type, reason, message) in plan.Events)
        {
            await events.RecordAsync(md, type, reason, message, ct).ConfigureAwait(false);
        }

        if (unknownAction)
        {
            await events.RecordAsync(md, EventTypes.Warning, "UnknownAction", $"{ModelDeploymentActions.Annotation}={action} is not promote, abort or retry; removed", ct).ConfigureAwait(false);
        }

        if ((plan.ActionHandled || unknownAction) && action is not null)
        {
            // Guarded by the resourceVersion the action was decided on: a newer action is never removed unseen.
            var patch = new JsonObject
            {
                ["metadata"] = new JsonObject
                {
                    ["resourceVersion"] = md.Metadata.ResourceVersion,
                    ["annotations"] = new JsonObject { [ModelDeploymentActions.Annotation] = null },
                },
            };
            await deployments.PatchAsync(ns, name, new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), ct).ConfigureAwait(false);
            LogActionHandled(action, ObjectKey.From(md));
        }

        return plan.RequeueAfter is { } after ? ReconcileResult.After(after) : ReconcileResult.Done;
    }

    /// <summary>One measurement of every analysis metric for <paramref name="arm"/>.</summary>
    private async Task<IReadOnlyDictionary<string, Measurement>> MeasureAsync(ModelDeployment md, string arm, int revision, DateTimeOffset now, CancellationToken ct)
    {
        var analysis = md.Spec.Analysis!;
        var pods = ReadyPods(md, arm);
        var round = new Dictionary<string, Measurement>(StringComparer.Ordinal);
        foreach (var metric in analysis.Metrics)
        {
            var measured = metric.Source == AnalysisSources.Prometheus
                ? analysis.PrometheusAddress is { } address
                    ? await prometheus.QueryAsync(address, Expand(metric.Query!, md, arm, revision), ct).ConfigureAwait(false)
                    : MeasuredValue.Failed("analysis.prometheusAddress is not set")
                : await servingMetrics.MeasureAsync(pods, md.Metadata.Name, metric.Metric!, metric.MinSamples, ct, $"{md.Metadata.NamespaceProperty}/{arm}/{metric.Name}").ConfigureAwait(false);
            round[metric.Name] = AnalysisEvaluator.Judge(metric, measured, now);
        }

        LogMeasured(ObjectKey.From(md), arm, revision, string.Join(", ", round.Select(r => $"{r.Key}={r.Value.Phase}{(r.Value.Value is { } v ? $" {v:0.####}" : "")}")));
        return round;
    }

    /// <summary>The query with {{arm}}, {{revision}}, {{name}} and {{namespace}} replaced.</summary>
    internal static string Expand(string query, ModelDeployment md, string arm, int revision) => query
        .Replace("{{arm}}", arm, StringComparison.Ordinal)
        .Replace("{{revision}}", revision.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{{name}}", md.Metadata.Name, StringComparison.Ordinal)
        .Replace("{{namespace}}", md.Metadata.NamespaceProperty, StringComparison.Ordinal);

    /// <summary>The arm's pods that are Ready and not terminating, by address (pod IP and the serving port).</summary>
    private List<ServingPod> ReadyPods(ModelDeployment md, string arm) =>
        [.. caches.Pods.List(md.Metadata.NamespaceProperty, $"{ModelDeploymentNames.DeploymentLabel}={TrainingRunNames.LabelValue(md.Metadata.Name)},{ModelDeploymentNames.ArmLabel}={arm}")
            .Where(p => p.Metadata.DeletionTimestamp is null && !string.IsNullOrEmpty(p.Status?.PodIP)
                && p.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true)
            .OrderBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .Select(p => new ServingPod(p.Metadata.Name, $"{p.Status.PodIP}:{ModelDeploymentNames.ContainerPort}"))];

    private async Task<ReconcileResult> WriteInvalidAsync(ModelDeployment md, string message, CancellationToken ct)
    {
        var status = SyllabusJson.Copy<ModelDeploymentStatus>(md.Status ?? new ModelDeploymentStatus());
        status.Conditions ??= [];
        var changed = Conditions.SetCondition(status.Conditions, ConditionTypes.Degraded, Conditions.True, "InvalidSpec", message, md.Metadata.Generation, time.GetUtcNow());
        status.Phase = ModelDeploymentPhases.Degraded;
        status.ObservedGeneration = md.Metadata.Generation;
        if (changed || !SameStatus(md.Status, status))
        {
            await deployments.UpdateStatusAsync(md, status, ct).ConfigureAwait(false);
            await events.RecordAsync(md, EventTypes.Warning, "InvalidSpec", message, ct).ConfigureAwait(false);
        }

        return ReconcileResult.Done;
    }

    private static bool SameStatus(ModelDeploymentStatus? a, ModelDeploymentStatus b) =>
        a is not null && Manifests.ToJson(a) == Manifests.ToJson(b);

    [LoggerMessage(Level = LogLevel.Information, Message = "Measured {Arm} revision {Revision} of {Deployment}: {Values}")]
    private partial void LogMeasured(ObjectKey deployment, string arm, int revision, string values);

    [LoggerMessage(Level = LogLevel.Information, Message = "Handled action {Action} on {Deployment}")]
    private partial void LogActionHandled(string action, ObjectKey deployment);
}
