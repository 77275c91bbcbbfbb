using System.Text.Json.Serialization;
using k8s;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Runtime.Json;

namespace Syllabus.Operator;

/// <summary>
/// The list envelopes and watch events of the Syllabus kinds (runtime types over Api types, so neither project can
/// declare them), with KubernetesClient's options (camelCase, nulls omitted).
/// </summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ResourceList<Curriculum>))]
[JsonSerializable(typeof(Watcher<Curriculum>.WatchEvent))]
[JsonSerializable(typeof(ResourceList<TrainingRun>))]
[JsonSerializable(typeof(Watcher<TrainingRun>.WatchEvent))]
[JsonSerializable(typeof(ResourceList<ModelDeployment>))]
[JsonSerializable(typeof(Watcher<ModelDeployment>.WatchEvent))]
[JsonSerializable(typeof(ResourceList<DriftPolicy>))]
[JsonSerializable(typeof(Watcher<DriftPolicy>.WatchEvent))]
[JsonSerializable(typeof(ResourceList<LabelingQueue>))]
[JsonSerializable(typeof(Watcher<LabelingQueue>.WatchEvent))]
internal sealed partial class OperatorJsonContext : JsonSerializerContext;

/// <summary>Puts the Syllabus metadata in front of KubernetesClient's serialiser; every controller registration calls it.</summary>
public static class OperatorJson
{
    public static void Register()
    {
        KubernetesJsonMetadata.Add(SyllabusJsonContext.Default);
        KubernetesJsonMetadata.Add(OperatorJsonContext.Default);
    }
}
