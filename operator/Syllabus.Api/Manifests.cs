using k8s;
using k8s.Models;

namespace Syllabus.Api;

/// <summary>Reads and writes Syllabus manifests (YAML or JSON) with the Kubernetes client's serialisers.</summary>
public static class Manifests
{
    /// <summary>apiVersion/kind of every Syllabus kind mapped to its C# type.</summary>
    public static IReadOnlyDictionary<string, Type> Kinds { get; } = new Dictionary<string, Type>
    {
        [$"{SyllabusGroup.ApiVersion}/{Curriculum.KindName}"] = typeof(Curriculum),
        [$"{SyllabusGroup.ApiVersion}/{TrainingRun.KindName}"] = typeof(TrainingRun),
        [$"{SyllabusGroup.ApiVersion}/{ModelDeployment.KindName}"] = typeof(ModelDeployment),
        [$"{SyllabusGroup.ApiVersion}/{DriftPolicy.KindName}"] = typeof(DriftPolicy),
        [$"{SyllabusGroup.ApiVersion}/{LabelingQueue.KindName}"] = typeof(LabelingQueue),
    };

    /// <summary>Every document of a (multi-document) YAML text, typed by its apiVersion and kind.</summary>
    /// <exception cref="InvalidDataException">A document is not valid YAML or not a Syllabus kind.</exception>
    public static IReadOnlyList<IKubernetesObject<V1ObjectMeta>> LoadAll(string yaml, string sourceName)
    {
        List<object> documents;
        try
        {
            documents = KubernetesYaml.LoadAllFromString(yaml, new Dictionary<string, Type>(Kinds));
        }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{sourceName}: not a valid Syllabus manifest: {e.Message}", e);
        }

        var result = new List<IKubernetesObject<V1ObjectMeta>>(documents.Count);
        for (var i = 0; i < documents.Count; i++)
        {
            if (documents[i] is not IKubernetesObject<V1ObjectMeta> resource || !Kinds.ContainsKey($"{resource.ApiVersion}/{resource.Kind}"))
            {
                throw new InvalidDataException($"{sourceName}: document {i + 1} is not one of the Syllabus kinds ({string.Join(", ", Kinds.Keys)}).");
            }

            result.Add(resource);
        }

        return result;
    }

    /// <summary>Every document of a YAML file.</summary>
    public static IReadOnlyList<IKubernetesObject<V1ObjectMeta>> LoadFile(string path) =>
        LoadAll(File.ReadAllText(path), path);

    public static string ToYaml(object resource) => KubernetesYaml.Serialize(resource);

    public static string ToJson(object resource) => KubernetesJson.Serialize(resource);

    public static T FromJson<T>(string json) => KubernetesJson.Deserialize<T>(json);
}
