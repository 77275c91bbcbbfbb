using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Syllabus.Runtime.Json;

/// <summary>
/// YAML to JSON nodes and back on YamlDotNet's node model, which needs no reflection. KubernetesYaml maps YAML onto CLR
/// types by reflection (and orders properties by metadata token, which Native AOT does not have), so under Native AOT
/// the YAML the operator reads and writes goes through JSON and the source-generated metadata instead.
/// </summary>
public static partial class YamlJson
{
    /// <summary>One YAML document of <paramref name="json"/>, block style, strings quoted only where YAML would read them as something else.</summary>
    public static string ToYaml(JsonNode json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var stream = new YamlStream(new YamlDocument(ToYamlNode(json)));
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        stream.Save(writer, assignAnchors: false);
        var text = writer.ToString();

        // YamlStream ends each document with "...": a single document needs no end marker.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }

    /// <summary>
    /// The single YAML document of <paramref name="yaml"/> as JSON. Plain scalars become null and booleans as YAML 1.2
    /// reads them; numbers only when <paramref name="numbers"/> (else, like every quoted scalar, strings).
    /// </summary>
    /// <exception cref="InvalidDataException">Not YAML, or not exactly one document.</exception>
    public static JsonNode? Parse(string yaml, string sourceName, bool numbers)
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

        return stream.Documents.Count == 1
            ? ToJson(stream.Documents[0].RootNode, numbers)
            : throw new InvalidDataException($"{sourceName}: expected one YAML document, found {stream.Documents.Count}.");
    }

    private static YamlNode ToYamlNode(JsonNode? node) => node switch
    {
        null => new YamlScalarNode("null") { Style = ScalarStyle.Plain },
        JsonObject obj => new YamlMappingNode(obj.Select(p => new KeyValuePair<YamlNode, YamlNode>(new YamlScalarNode(p.Key), ToYamlNode(p.Value)))),
        JsonArray array => new YamlSequenceNode(array.Select(ToYamlNode)),
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

    // A string a YAML reader (1.1 or 1.2) would take for null, a boolean or a number is quoted; anything else is left to
    // the emitter, which quotes what plain style cannot hold ('#N/A', ': ', leading spaces).
    private static YamlScalarNode StringScalar(string text) =>
        new(text) { Style = text.Length == 0 || NotAString().IsMatch(text) ? ScalarStyle.DoubleQuoted : ScalarStyle.Any };

    private static JsonNode? ToJson(YamlNode node, bool numbers) => node switch
    {
        YamlMappingNode mapping => new JsonObject(mapping.Children.Select(p => KeyValuePair.Create(Key(p.Key), ToJson(p.Value, numbers)))),
        YamlSequenceNode sequence => new JsonArray([.. sequence.Children.Select(c => ToJson(c, numbers))]),
        YamlScalarNode scalar => Scalar(scalar, numbers),
        _ => throw new InvalidDataException($"Unsupported YAML node at {node.Start}: {node.NodeType}."),
    };

    private static string Key(YamlNode key) =>
        key is YamlScalarNode { Value: { } name } ? name : throw new InvalidDataException($"A mapping key at {key.Start} is not a scalar.");

    private static JsonNode? Scalar(YamlScalarNode scalar, bool numbers)
    {
        var text = scalar.Value ?? string.Empty;
        if (scalar.Style is not ScalarStyle.Plain)
        {
            return JsonValue.Create(text);
        }

        if (text is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(text[0] is 't' or 'T');
        }

        return numbers && JsonNumber().IsMatch(text) ? JsonNode.Parse(text) : JsonValue.Create(text);
    }

    [GeneratedRegex(@"^(~|null|true|false|yes|no|on|off|y|n|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+|[-+]?\.(inf|nan)|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NotAString();

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex JsonNumber();
}
