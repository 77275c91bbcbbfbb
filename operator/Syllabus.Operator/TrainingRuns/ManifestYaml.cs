using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>
/// A resource as YAML and back without reflection: the API's JSON (KubernetesClient's serialiser on the
/// source-generated metadata) turned into YAML nodes and emitted, and YAML nodes turned back into that JSON. KubernetesYaml
/// walks the CLR types by reflection (YamlDotNet's object graph), which Native AOT, where the operator ships, cannot keep.
/// The output is plain block YAML that KubernetesYaml (the trainer's reader) reads into the same object.
/// </summary>
internal static partial class ManifestYaml
{
    public static string Serialize(object resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var json = JsonNode.Parse(KubernetesJson.Serialize(resource))
            ?? throw new InvalidOperationException($"{resource.GetType().Name} serialised to JSON null.");
        var stream = new YamlStream(new YamlDocument(ToYaml(json)));
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        stream.Save(writer, assignAnchors: false);
        var text = writer.ToString();

        // YamlStream ends each document with "...": one document needs no end marker.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4].TrimEnd('\n') + "\n" : text;
    }

    /// <exception cref="InvalidDataException">The text is not one YAML document of a mapping.</exception>
    public static T Deserialize<T>(string yaml, string sourceName)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new InvalidDataException($"{sourceName}: not valid YAML: {e.Message}", e);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new InvalidDataException($"{sourceName}: expected one YAML document holding a mapping, found {stream.Documents.Count} document(s).");
        }

        try
        {
            return KubernetesJson.Deserialize<T>(ToJson(root)!)
                ?? throw new InvalidDataException($"{sourceName}: the document is null.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceName}: not a {typeof(T).Name}: {e.Message}", e);
        }
    }

    private static YamlNode ToYaml(JsonNode? node) => node switch
    {
        null => new YamlScalarNode("null") { Style = ScalarStyle.Plain },
        JsonObject obj => new YamlMappingNode(obj.Select(p => new KeyValuePair<YamlNode, YamlNode>(new YamlScalarNode(p.Key), ToYaml(p.Value)))),
        JsonArray array => new YamlSequenceNode(array.Select(ToYaml)),
        JsonValue value => value.GetValueKind() switch
        {
            JsonValueKind.String => StringScalar(value.GetValue<string>()),
            JsonValueKind.True => new YamlScalarNode("true") { Style = ScalarStyle.Plain },
            JsonValueKind.False => new YamlScalarNode("false") { Style = ScalarStyle.Plain },
            JsonValueKind.Number => new YamlScalarNode(value.ToJsonString()) { Style = ScalarStyle.Plain },
            var kind => throw new InvalidOperationException($"Unexpected JSON value kind {kind}."),
        },
        _ => throw new InvalidOperationException($"Unexpected JSON node {node.GetType().Name}."),
    };

    // A string a YAML reader would take for something else (null, a boolean in YAML 1.1 or 1.2, a number) is quoted;
    // anything else is left for the emitter, which quotes whatever plain style cannot hold ('#N/A', ': ', leading spaces).
    private static YamlScalarNode StringScalar(string text) =>
        new(text) { Style = text.Length == 0 || NotAString().IsMatch(text) ? ScalarStyle.DoubleQuoted : ScalarStyle.Any };

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(p => KeyValuePair.Create(Key(p.Key), ToJson(p.Value)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(ToJson)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidDataException($"Unsupported YAML node at {node.Start}: {node.NodeType}."),
    };

    private static string Key(YamlNode key) =>
        key is YamlScalarNode { Value: { } name } ? name : throw new InvalidDataException($"A mapping key at {key.Start} is not a scalar.");

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? string.Empty;
        if (scalar.Style is not ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        if (text is "" or "~" || NullLiteral().IsMatch(text))
        {
            return null;
        }

        if (BoolLiteral().IsMatch(text))
        {
            return JsonValue.Create(string.Equals(text, "true", StringComparison.OrdinalIgnoreCase));
        }

        return JsonNumber().IsMatch(text) ? JsonNode.Parse(text) : JsonValue.Create(text);
    }

    [GeneratedRegex(@"^(~|null|true|false|yes|no|on|off|y|n|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+|[-+]?\.(inf|nan)|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NotAString();

    [GeneratedRegex("^(null|Null|NULL)$", RegexOptions.CultureInvariant)]
    private static partial Regex NullLiteral();

    [GeneratedRegex("^(true|True|TRUE|false|False|FALSE)$", RegexOptions.CultureInvariant)]
    private static partial Regex BoolLiteral();

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex JsonNumber();
}
