using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Runtime.Hosting;

namespace Syllabus.Operator.ModelDeployments;

public static class ModelDeploymentServiceCollectionExtensions
{
    /// <summary>Index of ModelDeployments by the TrainingRun their source names.</summary>
    public const string SourceRunIndex = "spec.source.trainingRun.name";

    /// <summary>
    /// The ModelDeployment controller: owns its Deployments and Service, watches TrainingRuns (a run that succeeds wakes
    /// the deployments that name or select it at once) and reads the serving pods for measurements.
    /// </summary>
    public static IServiceCollection AddModelDeploymentController(this IServiceCollection services)
    {
        OperatorJson.Register();
        // A singleton: it remembers each pod's last counters between measurements.
        services.AddHttpClient(nameof(HttpServingMetricsReader), c => c.Timeout = TimeSpan.FromSeconds(5));
        services.TryAddSingleton<IServingMetricsReader>(sp => new HttpServingMetricsReader(sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(HttpServingMetricsReader))));
        services.AddHttpClient<IPrometheusQueryClient, HttpPrometheusQueryClient>(c => c.Timeout = TimeSpan.FromSeconds(10));
        services.TryAddSingleton<ModelDeploymentCaches>();
        services.AddController<ModelDeployment, ModelDeploymentReconciler>(c => c
            .Owns<V1Deployment>()
            .Owns<V1Service>()
            .Reads<V1Pod>(managedOnly: true)
            .WithIndex<ModelDeployment>(SourceRunIndex, d => d.Spec?.Source?.TrainingRun?.Name)
            .Watches<TrainingRun>(DeploymentsServing, CandidateOutcomeChanged)
            .Watches<DriftPolicy>(DeploymentWatched, RollbackChanged));
        return services;
    }

    /// <summary>The deployment a DriftPolicy watches.</summary>
    internal static IEnumerable<ObjectKey> DeploymentWatched(DriftPolicy policy, ICacheReaders caches) =>
        policy.Spec?.DeploymentRef?.Name is { } name ? [new ObjectKey(policy.Metadata.NamespaceProperty, name)] : [];

    /// <summary>Only a new rollback request (or a policy appearing or going) concerns the deployment.</summary>
    internal static bool RollbackChanged(DriftPolicy before, DriftPolicy after) =>
        before.Status?.Rollback?.Revision != after.Status?.Rollback?.Revision
        || before.Status?.Rollback?.RequestedAt != after.Status?.Rollback?.RequestedAt;

    /// <summary>What a deployment acts on: the run's phase, model, gates and labels (a selector may start or stop matching).</summary>
    internal static bool CandidateOutcomeChanged(TrainingRun before, TrainingRun after) =>
        before.Status?.Phase != after.Status?.Phase
        || before.Status?.Result?.ModelUri != after.Status?.Result?.ModelUri
        || Conditions.Find(before.Status?.Conditions, ConditionTypes.GatesPassed)?.Status != Conditions.Find(after.Status?.Conditions, ConditionTypes.GatesPassed)?.Status
        || !LabelsEqual(before.Metadata.Labels, after.Metadata.Labels)
        || before.Metadata.DeletionTimestamp != after.Metadata.DeletionTimestamp;

    /// <summary>The deployments in the run's namespace that name it, or whose selector matches it.</summary>
    internal static IEnumerable<ObjectKey> DeploymentsServing(TrainingRun run, ICacheReaders caches)
    {
        var ns = run.Metadata.NamespaceProperty;
        var byName = caches.For<ModelDeployment>().KeysByIndex(SourceRunIndex, run.Metadata.Name, ns);
        var bySelector = caches.For<ModelDeployment>().List(ns)
            .Where(d => d.Spec?.Source?.Selector is { } selector && Matches(selector, run))
            .Select(ObjectKey.From);
        return byName.Concat(bySelector).Distinct();
    }

    private static bool Matches(V1LabelSelector selector, TrainingRun run)
    {
        try
        {
            return LabelSelector.From(selector).Matches(run.Metadata.Labels);
        }
        catch (FormatException)
        {
            return false; // the deployment reports its invalid selector itself
        }
    }

    private static bool LabelsEqual(IDictionary<string, string>? a, IDictionary<string, string>? b) =>
        (a?.Count ?? 0) == (b?.Count ?? 0) && (a is null || a.All(kv => b!.TryGetValue(kv.Key, out var v) && v == kv.Value));
}
