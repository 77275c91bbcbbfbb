using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Syllabus.Api;

/// <summary>The shape every Syllabus kind shares: apiVersion, kind, metadata, spec, status.</summary>
public abstract class SyllabusResource<TSpec, TStatus> : IKubernetesObject<V1ObjectMeta>, ISpec<TSpec>, IStatus<TStatus?>
    where TSpec : new()
    where TStatus : ResourceStatus
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = SyllabusGroup.ApiVersion;

    [JsonPropertyName("kind")]
    public abstract string Kind { get; set; }

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public TSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    public TStatus? Status { get; set; }
}

/// <summary>What every status carries: the generation last acted on and metav1.Condition entries.</summary>
public abstract class ResourceStatus
{
    [JsonPropertyName("observedGeneration")]
    [System.ComponentModel.Description("The metadata.generation the operator last reconciled without error.")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("conditions")]
    [System.ComponentModel.Description("The latest observations of the resource's state (metav1.Condition).")]
    [Schema.ListMapKeys("type")]
    public List<V1Condition>? Conditions { get; set; }
}
