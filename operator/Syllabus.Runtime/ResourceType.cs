using System.Reflection;
using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>What the [KubernetesEntity] attribute of <typeparamref name="T"/> says about its API: group, version, kind, plural.</summary>
public static class ResourceType<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    private static readonly KubernetesEntityAttribute Entity = typeof(T).GetCustomAttribute<KubernetesEntityAttribute>()
        ?? throw new InvalidOperationException($"{typeof(T).FullName} has no [KubernetesEntity] attribute, so its API group, version and plural are unknown.");

    public static string Group => Entity.Group ?? string.Empty;

    public static string Version => Entity.ApiVersion;

    public static string Kind => Entity.Kind;

    public static string Plural => Entity.PluralName;

    /// <summary>"group/version", or just "version" for the core group, as in apiVersion fields.</summary>
    public static string ApiVersion => string.IsNullOrEmpty(Group) ? Version : $"{Group}/{Version}";
}
