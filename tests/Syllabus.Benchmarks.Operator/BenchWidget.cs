using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Syllabus.Benchmarks.Operator;

/// <summary>The benchmark's test kind (benchwidgets.bench.syllabus.dev), independent of the real Syllabus CRDs.</summary>
[KubernetesEntity(Group = "bench.syllabus.dev", ApiVersion = "v1", Kind = "BenchWidget", PluralName = "benchwidgets")]
internal sealed class BenchWidget : IKubernetesObject<V1ObjectMeta>
{
    public const string CrdYaml = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: benchwidgets.bench.syllabus.dev
        spec:
          group: bench.syllabus.dev
          scope: Namespaced
          names:
            plural: benchwidgets
            singular: benchwidget
            kind: BenchWidget
            listKind: BenchWidgetList
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
    public string ApiVersion { get; set; } = "bench.syllabus.dev/v1";

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "BenchWidget";

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public BenchWidgetSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    public BenchWidgetStatus? Status { get; set; }
}

internal sealed class BenchWidgetSpec
{
    [JsonPropertyName("size")]
    public int Size { get; set; }

    [JsonPropertyName("labels")]
    public Dictionary<string, string> Labels { get; set; } = [];
}

internal sealed class BenchWidgetStatus
{
    [JsonPropertyName("observedGeneration")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("writer")]
    public string? Writer { get; set; }

    [JsonPropertyName("conditions")]
    public List<V1Condition> Conditions { get; set; } = [];
}
