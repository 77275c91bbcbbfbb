using System.Reflection;
using System.ComponentModel;
using Syllabus.Api.Schema;
using Syllabus.CrdGen;
using YamlDotNet.RepresentationModel;

namespace Syllabus.Api.Tests;

public sealed class CrdGenerationTests
{
    [Fact]
    public void Committed_crds_match_the_types() =>
        AssertCommitted(CrdGenerator.Generate(), TestPaths.Crds, Path.Combine(TestPaths.Root, "config", "crd", "bases"));

    [Fact]
    public void Committed_legacy_crds_match_the_types() =>
        AssertCommitted(CrdGenerator.GenerateLegacy(), Path.Combine(TestPaths.Crds, "legacy"), Path.Combine(TestPaths.Root, "config", "crd-legacy", "bases"));

    [Fact]
    public void Legacy_crds_are_the_crds_without_their_CEL_rules_and_nothing_else()
    {
        var current = CrdGenerator.Generate();
        var legacy = CrdGenerator.GenerateLegacy();
        Assert.Equal(current.Select(f => f.Name), legacy.Select(f => f.Name));
        Assert.Contains(current, f => f.Content.Contains("x-kubernetes-validations:", StringComparison.Ordinal));
        foreach (var (full, old) in current.Zip(legacy))
        {
            var body = old.Content[CrdGenerator.LegacyHeader.Length..];
            Assert.DoesNotContain("x-kubernetes-validations", body, StringComparison.Ordinal);
            Assert.Equal(Normalised(full.Content, stripCelRules: true), Normalised(body, stripCelRules: false));
        }
    }

    private static void AssertCommitted(IReadOnlyList<GeneratedFile> generated, params string[] folders)
    {
        foreach (var folder in folders)
        {
            var committed = Directory.GetFiles(folder, "*.yaml").Select(Path.GetFileName).Order().ToList();
            Assert.Equal(generated.Select(g => g.Name).Order(), committed);
            foreach (var file in generated)
            {
                var onDisk = File.ReadAllText(Path.Combine(folder, file.Name));
                Assert.True(onDisk == file.Content,
                    $"{Path.GetRelativePath(TestPaths.Root, Path.Combine(folder, file.Name))} is stale: run `dotnet run --project operator/Syllabus.CrdGen`");
            }
        }
    }

    [Fact]
    public void Generation_is_deterministic()
    {
        var first = CrdGenerator.Generate();
        var second = CrdGenerator.Generate();
        Assert.Equal(first, second);
    }

    [Theory]
    [InlineData("syllabus.dev_curricula.yaml", "cur")]
    [InlineData("syllabus.dev_trainingruns.yaml", "tr")]
    [InlineData("syllabus.dev_modeldeployments.yaml", "md")]
    [InlineData("syllabus.dev_driftpolicies.yaml", "dp")]
    [InlineData("syllabus.dev_labelingqueues.yaml", "lq")]
    public void Crd_has_names_status_subresource_printer_columns_and_a_structural_schema(string file, string shortName)
    {
        var crd = LoadYaml(Path.Combine(TestPaths.Crds, file));
        var spec = (YamlMappingNode)crd["spec"];
        var names = (YamlMappingNode)spec["names"];
        Assert.Contains(shortName, ((YamlSequenceNode)names["shortNames"]).Select(n => n.ToString()));
        Assert.Contains("syllabus", ((YamlSequenceNode)names["categories"]).Select(n => n.ToString()));
        var version = (YamlMappingNode)((YamlSequenceNode)spec["versions"])[0];
        Assert.Equal("v1alpha1", version["name"].ToString());
        Assert.True(((YamlMappingNode)version["subresources"]).Children.ContainsKey("status"));
        var columns = ((YamlSequenceNode)version["additionalPrinterColumns"]).Cast<YamlMappingNode>().Select(c => c["name"].ToString()).ToList();
        Assert.Equal("Age", columns[^1]);
        var schema = (YamlMappingNode)((YamlMappingNode)version["schema"])["openAPIV3Schema"];
        AssertStructural(schema, "openAPIV3Schema");
    }

    /// <summary>Every node has a single type (or is int-or-string / preserve-unknown), and there is no $ref.</summary>
    private static void AssertStructural(YamlMappingNode node, string path)
    {
        var keys = node.Children.Keys.Select(k => k.ToString()).ToHashSet();
        Assert.DoesNotContain("$ref", keys);
        Assert.DoesNotContain("anyOf", keys);
        var isIntOrString = keys.Contains("x-kubernetes-int-or-string");
        Assert.True(isIntOrString || (keys.Contains("type") && node["type"] is YamlScalarNode), $"{path} has no single type");
        if (node.Children.TryGetValue("properties", out var properties))
        {
            foreach (var (name, child) in ((YamlMappingNode)properties).Children)
            {
                AssertStructural((YamlMappingNode)child, $"{path}.{name}");
            }
        }

        if (node.Children.TryGetValue("items", out var items))
        {
            AssertStructural((YamlMappingNode)items, path + "[]");
        }

        if (node.Children.TryGetValue("additionalProperties", out var additional) && additional is YamlMappingNode map)
        {
            AssertStructural(map, path + "{}");
        }
    }

    [Fact]
    public void Every_spec_property_has_a_description_and_a_json_name()
    {
        var missing = new List<string>();
        var seen = new HashSet<Type>();
        foreach (var type in CrdGenerator.ResourceTypes)
        {
            Walk(type.GetProperty("Spec")!.PropertyType, type.Name + ".spec");
        }

        Assert.True(missing.Count == 0, "Properties without [Description] or [JsonPropertyName]:\n" + string.Join("\n", missing));

        void Walk(Type type, string path)
        {
            if (type.Namespace != typeof(TrainingRun).Namespace || !seen.Add(type))
            {
                return;
            }

            foreach (var property in type.GetProperties())
            {
                if (property.GetCustomAttribute<DescriptionAttribute>() is null ||
                    property.GetCustomAttribute<System.Text.Json.Serialization.JsonPropertyNameAttribute>() is null)
                {
                    missing.Add($"{path}.{property.Name}");
                }

                var element = property.PropertyType.IsGenericType ? property.PropertyType.GetGenericArguments()[^1] : property.PropertyType;
                Walk(Nullable.GetUnderlyingType(element) ?? element, $"{path}.{property.Name}");
            }
        }
    }

    [Fact]
    public void Csharp_initial_values_match_the_schema_defaults()
    {
        var mismatches = new List<string>();
        foreach (var type in typeof(TrainingRun).Assembly.GetTypes().Where(t => t.IsClass && !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) is not null))
        {
            var instance = Activator.CreateInstance(type)!;
            foreach (var property in type.GetProperties())
            {
                var attribute = property.GetCustomAttribute<DefaultValueAttribute>();
                if (attribute is null)
                {
                    continue;
                }

                var actual = property.GetValue(instance);
                if (attribute.Value is Array list)
                {
                    // A list default (missingValues.tokens): the same items in the same order.
                    var items = ((System.Collections.IEnumerable?)actual)?.Cast<object?>().ToList();
                    if (items is null || !items.SequenceEqual(list.Cast<object?>()))
                    {
                        mismatches.Add($"{type.Name}.{property.Name}: initial value [{string.Join(", ", items ?? [])}] but schema default [{string.Join(", ", list.Cast<object?>())}]");
                    }

                    continue;
                }

                var expected = attribute.Value is null ? null : Convert.ChangeType(attribute.Value, Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType, System.Globalization.CultureInfo.InvariantCulture);
                if (!Equals(actual, expected))
                {
                    mismatches.Add($"{type.Name}.{property.Name}: initial value {actual} but schema default {expected}");
                }
            }
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Fact]
    public void Cel_rules_are_attached_where_declared()
    {
        var gate = CrdGenerator.BuildSchema(typeof(Gate), "gate");
        Assert.Equal("has(self.atLeast) != has(self.atMost)", gate["x-kubernetes-validations"]![0]!["rule"]!.GetValue<string>());
        var spec = CrdGenerator.BuildSchema(typeof(TrainingRunSpec), "spec");
        Assert.NotNull(spec["properties"]!["baseModel"]!["x-kubernetes-validations"]);
        Assert.NotNull(spec["properties"]!["lrSchedule"]!["x-kubernetes-validations"]);
        Assert.Equal(typeof(CelRuleAttribute).Assembly, typeof(TrainingRun).Assembly);
    }

    /// <summary>The YAML re-serialised (so layout cannot differ), optionally without any x-kubernetes-validations key.</summary>
    private static string Normalised(string yaml, bool stripCelRules)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        if (stripCelRules)
        {
            Strip(stream.Documents[0].RootNode);
        }

        using var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();

        static void Strip(YamlNode node)
        {
            if (node is YamlMappingNode map)
            {
                map.Children.Remove(new YamlScalarNode("x-kubernetes-validations"));
                foreach (var child in map.Children.Values)
                {
                    Strip(child);
                }
            }
            else if (node is YamlSequenceNode list)
            {
                foreach (var child in list.Children)
                {
                    Strip(child);
                }
            }
        }
    }

    private static YamlMappingNode LoadYaml(string path)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }
}
