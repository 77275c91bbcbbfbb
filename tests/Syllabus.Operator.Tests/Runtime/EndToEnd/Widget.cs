using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime.EndToEnd;

/// <summary>A small test kind (widgets.test.syllabus.dev) with a status subresource, so the runtime is tested without the real CRDs.</summary>
[KubernetesEntity(Group = "test.syllabus.dev", ApiVersion = "v1", Kind = "Widget", PluralName = "widgets")]
public sealed class Widget : IKubernetesObject<V1ObjectMeta>
{
    public const string CrdYaml = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.test.syllabus.dev
        spec:
          group: test.syllabus.dev
          scope: Namespaced
          names:
            plural: widgets
            singular: widget
            kind: Widget
            listKind: WidgetList
          versions:
          - name: v1
            served: true
            storage: true
            subresources:
              status: {}
            schema:
              openAPIV3Schema:
                type: object
                properties:
                  spec:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
                  status:
                    type: object
                    x-kubernetes-preserve-unknown-fields: true
        """;

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = "test.syllabus.dev/v1";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "Widget";

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public WidgetSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    public WidgetStatus? Status { get; set; }

    public static Widget New(string ns, string name, int size = 1) =>
        new() { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns }, Spec = new WidgetSpec { Size = size } };
}

public sealed class WidgetSpec
{
    [JsonPropertyName("size")]
    public int Size { get; set; }
}

public sealed class WidgetStatus
{
    [JsonPropertyName("observedGeneration")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("note")]
    public string? Note { get; set; }

    [JsonPropertyName("conditions")]
    public List<V1Condition> Conditions { get; set; } = [];
}

/// <summary>Counts reconciles per (key, generation): the evidence for "no missed, no duplicated reconcile of the final state".</summary>
public sealed class ReconcileLog
{
    private readonly ConcurrentDictionary<(ObjectKey Key, long Generation), int> counts = new();

    public ConcurrentQueue<string> Reconcilers { get; } = new();

    public int Total => counts.Values.Sum();

    public void Record(Widget widget, string reconciler)
    {
        counts.AddOrUpdate((ObjectKey.From(widget), widget.Metadata.Generation ?? 0), 1, (_, n) => n + 1);
        Reconcilers.Enqueue(reconciler);
    }

    public int Count(ObjectKey key, long generation) => counts.GetValueOrDefault((key, generation));
}

/// <summary>The typical reconcile: read the (cached) object, set a condition and observedGeneration, write status once if it changed.</summary>
// What this test operator uses, declared like the real reconcilers' rules; the runtime e2e tests run as exactly these.
[Syllabus.Runtime.Rbac.RbacRule(Groups = ["test.syllabus.dev"], Resources = ["widgets"], Verbs = ["list", "watch"])]
[Syllabus.Runtime.Rbac.RbacRule(Groups = ["test.syllabus.dev"], Resources = ["widgets/status"], Verbs = ["patch"])]
public sealed class WidgetReconciler(IResourceClient<Widget> widgets, ReconcileLog log, TimeProvider time, OperatorMetrics? metrics = null, string identity = "") : IReconciler<Widget>
{
    public async Task<ReconcileResult> ReconcileAsync(Widget resource, CancellationToken ct)
    {
        log.Record(resource, identity);
        metrics?.RegisterObjectCounts("Widget", () => [new("Ready", 1)]);
        var generation = resource.Metadata.Generation;
        var status = resource.Status is null ? new WidgetStatus() : KubernetesObjects.DeepClone(resource.Status);
        var changed = Conditions.SetCondition(status.Conditions, "Ready", Conditions.True, "Reconciled", $"size {resource.Spec.Size}", generation, time.GetUtcNow());
        if (!changed && status.ObservedGeneration == generation)
        {
            return ReconcileResult.Done;
        }

        status.ObservedGeneration = generation;
        await widgets.UpdateStatusAsync(resource, status, ct);
        return ReconcileResult.Done;
    }
}
