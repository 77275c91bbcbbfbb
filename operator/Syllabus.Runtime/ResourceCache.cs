using System.Collections.Concurrent;
using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>An informer's local copy of the objects it watches, keyed by namespace/name. Treat returned objects as read-only.</summary>
public sealed class ResourceCache<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly ConcurrentDictionary<ObjectKey, T> items = new();

    public int Count => items.Count;

    public T? Get(ObjectKey key) => items.GetValueOrDefault(key);

    public T? Get(string? ns, string name) => Get(new ObjectKey(string.IsNullOrEmpty(ns) ? null : ns, name));

    /// <summary>A snapshot of every cached object, or those in one namespace.</summary>
    public IReadOnlyList<T> List(string? ns = null) =>
        [.. items.Where(kv => ns is null || kv.Key.Namespace == ns).Select(kv => kv.Value)];

    public IReadOnlyList<ObjectKey> Keys() => [.. items.Keys];

    internal T? Upsert(T obj)
    {
        T? previous = null;
        items.AddOrUpdate(ObjectKey.From(obj), obj, (_, old) =>
        {
            previous = old;
            return obj;
        });
        return previous;
    }

    internal T? Remove(ObjectKey key) => items.TryRemove(key, out var old) ? old : null;
}

/// <summary>Deep copies through the API's own JSON, so a reconciler can change what it was given without touching the cache.</summary>
public static class KubernetesObjects
{
    public static T DeepClone<T>(T obj)
        where T : class =>
        KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(obj))
        ?? throw new InvalidOperationException($"Copying a {typeof(T).Name} produced null.");
}
