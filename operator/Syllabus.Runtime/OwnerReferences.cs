using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>Controller owner references, as controller-runtime's controllerutil does them.</summary>
public static class OwnerReferences
{
    /// <summary>
    /// Makes <paramref name="owner"/> the controller of <paramref name="child"/> (so garbage collection deletes the child
    /// with its owner and the owner's controller hears about the child). Idempotent; throws when another object already
    /// controls the child or the two cannot be related.
    /// </summary>
    public static void SetControllerReference<TOwner>(TOwner owner, IKubernetesObject<V1ObjectMeta> child)
        where TOwner : IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(child);
        var ownerMeta = owner.Metadata ?? throw new ArgumentException("The owner has no metadata.", nameof(owner));
        child.Metadata ??= new V1ObjectMeta();
        if (string.IsNullOrEmpty(ownerMeta.Name) || string.IsNullOrEmpty(ownerMeta.Uid))
        {
            throw new ArgumentException($"The owner {ResourceType<TOwner>.Kind} '{ownerMeta.Name}' has no name or uid yet; read it from the API before owning things.", nameof(owner));
        }

        var ownerNs = ownerMeta.NamespaceProperty;
        var childNs = child.Metadata.NamespaceProperty;
        if (!string.IsNullOrEmpty(ownerNs))
        {
            if (string.IsNullOrEmpty(childNs))
            {
                throw new ArgumentException($"A namespaced owner ({ownerNs}/{ownerMeta.Name}) cannot own a cluster-scoped object.", nameof(child));
            }

            if (childNs != ownerNs)
            {
                throw new ArgumentException($"Owner {ownerNs}/{ownerMeta.Name} and child {childNs}/{child.Metadata.Name} are in different namespaces; owner references cannot cross namespaces.", nameof(child));
            }
        }

        var reference = new V1OwnerReference
        {
            ApiVersion = ResourceType<TOwner>.ApiVersion,
            Kind = ResourceType<TOwner>.Kind,
            Name = ownerMeta.Name,
            Uid = ownerMeta.Uid,
            Controller = true,
            BlockOwnerDeletion = true,
        };

        var references = child.Metadata.OwnerReferences ??= [];
        if (GetControllerOf(child) is { } existing && existing.Uid != reference.Uid)
        {
            throw new InvalidOperationException(
                $"{child.Kind ?? "object"} '{child.Metadata.Name}' is already controlled by {existing.Kind} '{existing.Name}' (uid {existing.Uid}).");
        }

        for (var i = 0; i < references.Count; i++)
        {
            if (references[i].Uid == reference.Uid)
            {
                references[i] = reference;
                return;
            }
        }

        references.Add(reference);
    }

    /// <summary>The owner reference with controller=true, if any.</summary>
    public static V1OwnerReference? GetControllerOf(IKubernetesObject<V1ObjectMeta> obj) =>
        obj?.Metadata?.OwnerReferences?.FirstOrDefault(r => r.Controller == true);

    public static bool IsControlledBy(IKubernetesObject<V1ObjectMeta> child, IKubernetesObject<V1ObjectMeta> owner) =>
        GetControllerOf(child) is { } r && r.Uid == owner?.Metadata?.Uid;
}

/// <summary>Finalizer list helpers; each returns whether it changed anything, so callers write only when needed.</summary>
public static class Finalizers
{
    public static bool Has(IKubernetesObject<V1ObjectMeta> obj, string finalizer) =>
        obj?.Metadata?.Finalizers?.Contains(finalizer) ?? false;

    public static bool Add(IKubernetesObject<V1ObjectMeta> obj, string finalizer)
    {
        ArgumentNullException.ThrowIfNull(obj);
        ArgumentException.ThrowIfNullOrEmpty(finalizer);
        obj.Metadata ??= new V1ObjectMeta();
        var list = obj.Metadata.Finalizers ??= [];
        if (list.Contains(finalizer))
        {
            return false;
        }

        list.Add(finalizer);
        return true;
    }

    public static bool Remove(IKubernetesObject<V1ObjectMeta> obj, string finalizer)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var list = obj.Metadata?.Finalizers;
        if (list is null)
        {
            return false;
        }

        var removed = false;
        while (list.Remove(finalizer))
        {
            removed = true;
        }

        return removed;
    }
}
