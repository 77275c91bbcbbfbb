using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Runtime.Hosting;

namespace Syllabus.Operator.LabelingQueues;

public static class LabelingQueueServiceCollectionExtensions
{
    /// <summary>
    /// The LabelingQueue controller: owns its labelling Deployment, Service and Jobs; its pods (readiness, a Job's
    /// termination message) and TrainingRuns (the scoring model succeeding, a retrained run) wake it.
    /// </summary>
    public static IServiceCollection AddLabelingQueueController(this IServiceCollection services)
    {
        OperatorJson.Register();
        services.AddHttpClient<ILabelStatsReader, HttpLabelStatsReader>(c => c.Timeout = TimeSpan.FromSeconds(5));
        services.TryAddSingleton<LabelingQueueCaches>();
        services.AddController<LabelingQueue, LabelingQueueReconciler>(c => c
            .Owns<V1Deployment>()
            .Owns<V1Service>()
            .Owns<V1Job>()
            .Watches<V1Pod>(QueueOfPod, managedOnly: true)
            .Watches<TrainingRun>(QueuesUsing, RunOutcomeChanged)
            .Watches<DriftPolicy>(QueueAskedByPolicy, LabelRequestChanged));
        return services;
    }

    /// <summary>The queue a pod belongs to, by its queue label (names over 63 characters are hashed, so look them up).</summary>
    internal static IEnumerable<ObjectKey> QueueOfPod(V1Pod pod, ICacheReaders caches)
    {
        if (LabelingQueueNames.ValueOf(pod.Metadata.Labels, LabelingQueueNames.QueueLabel) is not { } value)
        {
            return [];
        }

        var ns = pod.Metadata.NamespaceProperty;
        return caches.For<LabelingQueue>().List(ns)
            .Where(q => TrainingRunNames.LabelValue(q.Metadata.Name) == value)
            .Select(ObjectKey.From);
    }

    /// <summary>The queues scoring with the run's model (spec.model or a committee member), and the queue that created it (a retrained run).</summary>
    internal static IEnumerable<ObjectKey> QueuesUsing(TrainingRun run, ICacheReaders caches)
    {
        var ns = run.Metadata.NamespaceProperty;
        var owner = run.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == LabelingQueue.KindName)?.Name;
        return caches.For<LabelingQueue>().List(ns)
            .Where(q => q.Spec?.Model?.TrainingRun?.Name == run.Metadata.Name || q.Metadata.Name == owner
                || q.Spec?.Strategy?.Committee?.Any(m => m.Name == run.Metadata.Name) == true)
            .Select(ObjectKey.From);
    }

    /// <summary>The queue a DriftPolicy's label request names.</summary>
    internal static IEnumerable<ObjectKey> QueueAskedByPolicy(DriftPolicy policy, ICacheReaders caches) =>
        policy.Status?.LabelRequest?.LabelingQueue is { Length: > 0 } queue ? [new ObjectKey(policy.Metadata.NamespaceProperty, queue)] : [];

    private static bool LabelRequestChanged(DriftPolicy before, DriftPolicy after) =>
        before.Status?.LabelRequest?.RequestedAt != after.Status?.LabelRequest?.RequestedAt;

    private static bool RunOutcomeChanged(TrainingRun before, TrainingRun after) =>
        before.Status?.Phase != after.Status?.Phase
        || before.Status?.Result?.ModelUri != after.Status?.Result?.ModelUri
        || before.Metadata.DeletionTimestamp != after.Metadata.DeletionTimestamp;
}
