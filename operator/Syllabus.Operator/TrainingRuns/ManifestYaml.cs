using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using Syllabus.Runtime.Json;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>
/// A resource as YAML and back without reflection: the API's JSON (KubernetesClient's serialiser on the
/// source-generated metadata) as YAML nodes (<see cref="YamlJson"/>). KubernetesYaml cannot run under Native AOT, where the
/// operator ships; what this writes is plain block YAML that KubernetesYaml (the trainer's reader) reads into the same object.
/// </summary>
internal static class ManifestYaml
{
    public static string Serialize(object resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return YamlJson.ToYaml(JsonNode.Parse(KubernetesJson.Serialize(resource))
            ?? throw new InvalidOperationException($"{resource.GetType().Name} serialised to JSON null."));
    }

    /// <exception cref="InvalidDataException">The text is not one YAML document of a <typeparamref name="T"/>.</exception>
    public static T Deserialize<T>(string yaml, string sourceName)
        where T : class
    {
        var json = YamlJson.Parse(yaml, sourceName, numbers: true) as JsonObject
            ?? throw new InvalidDataException($"{sourceName}: the document is not a mapping.");
        try
        {
            return KubernetesJson.Deserialize<T>(json) ?? throw new InvalidDataException($"{sourceName}: the document is null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceName}: not a {typeof(T).Name}: {e.Message}", e);
        }
    }
}
