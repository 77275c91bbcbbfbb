using System.Globalization;
using System.Text.Json.Nodes;

namespace Syllabus.Api.Tests;

public sealed class ExampleManifestTests
{
    public static TheoryData<string> ExampleFiles()
    {
        var data = new TheoryData<string>();
        // examples/**/support/ holds the built-in objects the examples need (claims, a loader pod): see SupportFiles.
        foreach (var file in Directory.GetFiles(Path.Combine(TestPaths.Root, "examples"), "*.yaml", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}support{Path.DirectorySeparatorChar}", StringComparison.Ordinal)).Order())
        {
            data.Add(Path.GetRelativePath(TestPaths.Root, file));
        }

        return data;
    }

    [Fact]
    public void Support_files_hold_well_formed_built_in_objects()
    {
        var files = Directory.GetFiles(Path.Combine(TestPaths.Root, "examples"), "*.yaml", SearchOption.AllDirectories)
            .Where(f => f.Contains($"{Path.DirectorySeparatorChar}support{Path.DirectorySeparatorChar}", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(files);
        var types = new Dictionary<string, Type>
        {
            ["v1/PersistentVolumeClaim"] = typeof(k8s.Models.V1PersistentVolumeClaim),
            ["v1/Pod"] = typeof(k8s.Models.V1Pod),
        };
        foreach (var file in files)
        {
            var objects = k8s.KubernetesYaml.LoadAllFromString(File.ReadAllText(file), types, strict: true);
            Assert.All(objects, o => Assert.False(string.IsNullOrEmpty(((k8s.IKubernetesObject<k8s.Models.V1ObjectMeta>)o).Metadata?.Name), $"{file}: an object without a name"));
        }
    }

    [Fact]
    public void Examples_cover_every_kind()
    {
        var kinds = ExampleFiles().SelectMany(f => Manifests.LoadFile(Path.Combine(TestPaths.Root, f.Data)))
            .Select(o => o.Kind).ToHashSet();
        Assert.Equal(Manifests.Kinds.Keys.Select(k => k.Split('/')[^1]).Order(), kinds.Order());
    }

    [Theory]
    [MemberData(nameof(ExampleFiles))]
    public void Example_is_valid_against_the_crd_schemas_and_cel_rules(string file)
    {
        if (SchemaValidator.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var results = SchemaValidator.Validate(Path.Combine(TestPaths.Root, file));
        Assert.NotEmpty(results);
        var errors = results.SelectMany(r => r.Errors.Select(e => $"{r.Kind}/{r.Name}: {e.Path}: {e.Message}")).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Theory]
    [MemberData(nameof(ExampleFiles))]
    public void Example_round_trips_through_the_csharp_types_without_losing_a_field(string file)
    {
        var yaml = File.ReadAllText(Path.Combine(TestPaths.Root, file));
        var originals = YamlJson.LoadAll(yaml).Where(d => d is not null).ToList();
        var typed = Manifests.LoadAll(yaml, file);
        Assert.Equal(originals.Count, typed.Count);
        for (var i = 0; i < typed.Count; i++)
        {
            var roundTripped = JsonNode.Parse(Manifests.ToJson(typed[i]));
            var lost = new List<string>();
            CollectLost(originals[i], roundTripped, "", lost);
            Assert.True(lost.Count == 0, $"{file} document {i + 1} lost or changed:\n{string.Join("\n", lost)}");
        }
    }

    [Theory]
    [MemberData(nameof(ExampleFiles))]
    public void Schema_defaults_agree_with_the_csharp_defaults(string file)
    {
        if (SchemaValidator.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var yaml = File.ReadAllText(Path.Combine(TestPaths.Root, file));
        var typed = Manifests.LoadAll(yaml, file);
        var results = SchemaValidator.Validate(Path.Combine(TestPaths.Root, file));
        Assert.Equal(typed.Count, results.Count);
        for (var i = 0; i < typed.Count; i++)
        {
            // What the API server would store (with schema defaults) must be what the C# types read.
            var differences = new List<string>();
            CollectLost(results[i].Defaulted, JsonNode.Parse(Manifests.ToJson(typed[i])), "", differences);
            Assert.True(differences.Count == 0, $"{file} document {i + 1}:\n{string.Join("\n", differences)}");
        }
    }

    /// <summary>Every field of <paramref name="expected"/> must be in <paramref name="actual"/> with the same value.</summary>
    internal static void CollectLost(JsonNode? expected, JsonNode? actual, string path, List<string> lost)
    {
        switch (expected)
        {
            case null:
                return;
            case JsonObject obj:
                if (actual is not JsonObject actualObj)
                {
                    lost.Add($"{path}: expected an object, got {actual?.ToJsonString() ?? "nothing"}");
                    return;
                }

                foreach (var (key, value) in obj)
                {
                    CollectLost(value, actualObj[key], $"{path}.{key}", lost);
                }

                return;
            case JsonArray array:
                if (actual is not JsonArray actualArray || actualArray.Count != array.Count)
                {
                    lost.Add($"{path}: expected {array.Count} items, got {actual?.ToJsonString() ?? "nothing"}");
                    return;
                }

                for (var i = 0; i < array.Count; i++)
                {
                    CollectLost(array[i], actualArray[i], $"{path}[{i}]", lost);
                }

                return;
            default:
                if (!SameScalar(expected, actual))
                {
                    lost.Add($"{path}: expected {expected.ToJsonString()}, got {actual?.ToJsonString() ?? "nothing"}");
                }

                return;
        }
    }

    private static bool SameScalar(JsonNode expected, JsonNode? actual)
    {
        if (actual is null)
        {
            return false;
        }

        var e = expected.AsValue();
        var a = actual.AsValue();
        if (e.GetValueKind() == System.Text.Json.JsonValueKind.Number && a.GetValueKind() == System.Text.Json.JsonValueKind.Number)
        {
            var x = double.Parse(e.ToJsonString(), CultureInfo.InvariantCulture);
            var y = double.Parse(a.ToJsonString(), CultureInfo.InvariantCulture);
            return Math.Abs(x - y) <= 1e-12 * Math.Max(1, Math.Abs(x));
        }

        // Quantities (cpu: 2) come back as strings ("2").
        return string.Equals(Text(e), Text(a), StringComparison.Ordinal);
    }

    private static string Text(JsonValue value) => value.GetValueKind() switch
    {
        System.Text.Json.JsonValueKind.String => value.GetValue<string>(),
        _ => value.ToJsonString(),
    };
}
