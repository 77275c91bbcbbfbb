using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>The list envelope the API returns for a custom resource (the typed clients have their own V1XList types).</summary>
public sealed class ResourceList<T> : IKubernetesObject<V1ListMeta>, IItems<T>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = string.Empty;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = string.Empty;

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<T> Items { get; set; } = [];
}
