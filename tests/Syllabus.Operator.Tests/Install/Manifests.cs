using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using YamlDotNet.Serialization;

namespace Syllabus.Operator.Tests.Install;

/// <summary>One document of a rendered kustomization: its identity and its YAML.</summary>
internal sealed record Manifest(string ApiVersion, string Kind, string Name, string? Namespace, string Yaml)
{
    public T As<T>() => KubernetesYaml.Deserialize<T>(Yaml);

    /// <summary>The document as JSON, for kinds without a C# type; unquoted scalars keep their YAML types.</summary>
    public JsonDocument ToJson()
    {
        var tree = new DeserializerBuilder().WithAttemptingUnquotedStringTypeDeserialization().Build().Deserialize(new StringReader(Yaml));
        return JsonDocument.Parse(new SerializerBuilder().JsonCompatible().Build().Serialize(tree));
    }

    public override string ToString() => $"{Kind} {(Namespace is null ? "" : Namespace + "/")}{Name}";
}

/// <summary>Splits kustomize output into documents without needing a C# type for every kind (ServiceMonitor, Application).</summary>
internal static partial class Manifests
{
    public static IReadOnlyList<Manifest> Parse(string yaml) =>
        [.. Separator().Split(yaml)
            .Where(d => !string.IsNullOrWhiteSpace(d))
            .Select(d =>
            {
                var head = KubernetesYaml.Deserialize<Head>(d);
                return new Manifest(
                    head.ApiVersion ?? throw new InvalidDataException($"a document has no apiVersion:\n{d}"),
                    head.Kind ?? throw new InvalidDataException($"a document has no kind:\n{d}"),
                    head.Metadata?.Name ?? throw new InvalidDataException($"a document has no metadata.name:\n{d}"),
                    head.Metadata.NamespaceProperty,
                    d);
            })];

    public static IReadOnlyList<Manifest> Render(string directory) => Parse(Kubectl.Kustomize(directory));

    public static Manifest Single(this IEnumerable<Manifest> manifests, string kind, string name) =>
        manifests.SingleOrDefault(m => m.Kind == kind && m.Name == name)
        ?? throw new InvalidDataException($"no {kind} named {name} among: {string.Join(", ", manifests)}");

    /// <summary>Just the identity of a document; KubernetesYaml ignores the fields this lacks.</summary>
    private sealed class Head
    {
        [JsonPropertyName("apiVersion")]
        public string? ApiVersion { get; set; }

        [JsonPropertyName("kind")]
        public string? Kind { get; set; }

        [JsonPropertyName("metadata")]
        public V1ObjectMeta? Metadata { get; set; }
    }

    // kustomize separates documents with a line holding only "---"; block scalars are indented, so never match.
    [GeneratedRegex("^---[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex Separator();
}
