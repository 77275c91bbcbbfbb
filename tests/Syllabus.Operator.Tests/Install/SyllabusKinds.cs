using System.Reflection;
using k8s.Models;
using Syllabus.Api;

namespace Syllabus.Operator.Tests.Install;

/// <summary>The kinds of Syllabus.Api, found by reflection so that a new kind is checked without editing the tests.</summary>
internal static class SyllabusKinds
{
    public static IReadOnlyList<(string Kind, string Plural, Type Type)> All { get; } =
        [.. typeof(SyllabusGroup).Assembly.GetTypes()
            .Select(t => (Type: t, Entity: t.GetCustomAttribute<KubernetesEntityAttribute>()))
            .Where(x => x.Entity is { Group: SyllabusGroup.Name } && !x.Type.IsAbstract)
            .Select(x => (x.Entity!.Kind, x.Entity.PluralName, x.Type))
            .OrderBy(x => x.Kind, StringComparer.Ordinal)];
}
