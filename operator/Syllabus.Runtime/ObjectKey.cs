using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>Identifies one object: the unit the work queue de-duplicates and reconcilers are asked to look at.</summary>
public readonly record struct ObjectKey(string? Namespace, string Name)
{
    public static ObjectKey From(IKubernetesObject<V1ObjectMeta> obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var name = obj.Metadata?.Name;
        if (string.IsNullOrEmpty(name))
        {
            throw new ArgumentException($"The {obj.Kind ?? obj.GetType().Name} has no metadata.name, so it has no key.", nameof(obj));
        }

        return new ObjectKey(string.IsNullOrEmpty(obj.Metadata!.NamespaceProperty) ? null : obj.Metadata.NamespaceProperty, name);
    }

    public override string ToString() => Namespace is null ? Name : $"{Namespace}/{Name}";
}
