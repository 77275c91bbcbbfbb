using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Runtime;
using Syllabus.Runtime.Hosting;

namespace Syllabus.Operator.DriftPolicies;

public static class DriftPolicyServiceCollectionExtensions
{
    /// <summary>Index of DriftPolicies by the ModelDeployment they watch.</summary>
    public const string DeploymentIndex = "spec.deploymentRef.name";

    /// <summary>
    /// The DriftPolicy controller: its retraining TrainingRuns (a finished one wakes it); a ModelDeployment's new stable revision wakes the
    /// policies that watch it. Evaluations are timed (requeued every interval), since window rows are not events.
    /// </summary>
    public static IServiceCollection AddDriftPolicyController(this IServiceCollection services)
    {
        OperatorJson.Register();
        services.AddHttpClient<IDriftReportReader, HttpDriftReportReader>(c => c.Timeout = TimeSpan.FromSeconds(30));
        services.AddHttpClient(nameof(HttpServingMetricsReader), c => c.Timeout = TimeSpan.FromSeconds(5));
        services.TryAddSingleton<IServingMetricsReader>(sp => new HttpServingMetricsReader(sp.GetRequiredService<IHttpClientFactory>().CreateClient(nameof(HttpServingMetricsReader))));
        services.AddHttpClient<IPrometheusQueryClient, HttpPrometheusQueryClient>(c => c.Timeout = TimeSpan.FromSeconds(10));
        services.TryAddSingleton<DriftPolicyCaches>();
        services.TryAddSingleton<DriftScores>();
        services.AddController<DriftPolicy, DriftPolicyReconciler>(c => c
            .Watches<TrainingRun>(PolicyOwning, RunPhaseChanged)
            .Reads<V1Pod>(managedOnly: true)
            .WithIndex<DriftPolicy>(DeploymentIndex, p => p.Spec?.DeploymentRef?.Name)
            .Watches<ModelDeployment>(PoliciesWatching, StableChanged));
        return services;
    }

    /// <summary>
    /// The policy that created a retraining run (its controller reference). TrainingRuns are cached unfiltered for their
    /// own controller, so this maps them by owner instead of Owns (one informer per kind).
    /// </summary>
    internal static IEnumerable<ObjectKey> PolicyOwning(TrainingRun run, ICacheReaders caches) =>
        run.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == DriftPolicy.KindName) is { } owner
            ? [new ObjectKey(run.Metadata.NamespaceProperty, owner.Name)]
            : [];

    /// <summary>A retraining run finishing lets the next retrain go (one runs at a time).</summary>
    internal static bool RunPhaseChanged(TrainingRun before, TrainingRun after) =>
        before.Status?.Phase != after.Status?.Phase || before.Metadata.DeletionTimestamp != after.Metadata.DeletionTimestamp;

    /// <summary>The policies in the deployment's namespace that name it.</summary>
    internal static IEnumerable<ObjectKey> PoliciesWatching(ModelDeployment deployment, ICacheReaders caches) =>
        caches.For<DriftPolicy>().KeysByIndex(DeploymentIndex, deployment.Metadata.Name, deployment.Metadata.NamespaceProperty);

    /// <summary>A policy acts on the stable revision (and its existence): those changes wake it.</summary>
    internal static bool StableChanged(ModelDeployment before, ModelDeployment after) =>
        before.Status?.StableRevision != after.Status?.StableRevision
        || before.Metadata.DeletionTimestamp != after.Metadata.DeletionTimestamp;
}
