using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>Names of the indexes every cache keeps.</summary>
public static class CacheIndexes
{
    /// <summary>The UID of an object's controlling owner (the owner reference with controller=true): "what does this own?".</summary>
    public const string ControllerUid = "metadata.ownerReferences.controller.uid";
}

/// <summary>
/// An informer's local copy of the objects it watches, keyed by namespace/name, with secondary indexes
/// (client-go's Indexer). Returned objects are the cached instances: treat them as read-only
/// (<see cref="ICacheReader{T}"/> hands out copies).
/// </summary>
public sealed class ResourceCache<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly Lock gate = new();
    private readonly Dictionary<ObjectKey, T> items = [];
    private readonly Dictionary<string, Index> indexes = new(StringComparer.Ordinal);

    public ResourceCache()
    {
        AddIndex(CacheIndexes.ControllerUid, o => OwnerReferences.GetControllerOf(o)?.Uid is { Length: > 0 } uid ? [uid] : []);
    }

    public int Count
    {
        get
        {
            lock (gate)
            {
                return items.Count;
            }
        }
    }

    public T? Get(ObjectKey key)
    {
        lock (gate)
        {
            return items.GetValueOrDefault(key);
        }
    }

    public T? Get(string? ns, string name) => Get(new ObjectKey(string.IsNullOrEmpty(ns) ? null : ns, name));

    /// <summary>A snapshot of every cached object, or those in one namespace.</summary>
    public IReadOnlyList<T> List(string? ns = null) => List(ns, LabelSelector.Everything);

    /// <summary>The cached objects in <paramref name="ns"/> (all namespaces when null) that <paramref name="selector"/> matches.</summary>
    public IReadOnlyList<T> List(string? ns, LabelSelector selector)
    {
        ArgumentNullException.ThrowIfNull(selector);
        lock (gate)
        {
            return [.. items.Where(kv => (ns is null || kv.Key.Namespace == ns) && selector.Matches(kv.Value.Metadata?.Labels)).Select(kv => kv.Value)];
        }
    }

    /// <summary>The objects whose index <paramref name="indexName"/> contains <paramref name="value"/>, in <paramref name="ns"/> when given.</summary>
    /// <exception cref="ArgumentException">No index of that name was registered.</exception>
    public IReadOnlyList<T> ByIndex(string indexName, string value, string? ns = null)
    {
        ArgumentNullException.ThrowIfNull(value);
        lock (gate)
        {
            if (!indexes.TryGetValue(indexName, out var index))
            {
                throw new ArgumentException($"The {ResourceType<T>.Kind} cache has no index '{indexName}' (registered: {string.Join(", ", indexes.Keys)}); register it with WithIndex.", nameof(indexName));
            }

            return index.Entries.TryGetValue(value, out var keys)
                ? [.. keys.Where(k => ns is null || k.Namespace == ns).Select(k => items[k])]
                : [];
        }
    }

    public bool HasIndex(string indexName)
    {
        lock (gate)
        {
            return indexes.ContainsKey(indexName);
        }
    }

    public IReadOnlyList<ObjectKey> Keys()
    {
        lock (gate)
        {
            return [.. items.Keys];
        }
    }

    /// <summary>
    /// Adds an index: <paramref name="valuesOf"/> gives the values an object is filed under (none to leave it out).
    /// Objects already cached are indexed at once. Registering the same name twice is an error unless it is the same function.
    /// </summary>
    public void AddIndex(string indexName, Func<T, IEnumerable<string?>?> valuesOf)
    {
        ArgumentException.ThrowIfNullOrEmpty(indexName);
        ArgumentNullException.ThrowIfNull(valuesOf);
        lock (gate)
        {
            if (indexes.TryGetValue(indexName, out var existing))
            {
                if (existing.ValuesOf == valuesOf)
                {
                    return;
                }

                throw new InvalidOperationException($"The {ResourceType<T>.Kind} cache already has a different index named '{indexName}'.");
            }

            var index = new Index(indexName, valuesOf);
            foreach (var (key, obj) in items)
            {
                index.Add(key, obj);
            }

            indexes[indexName] = index;
        }
    }

    internal T? Upsert(T obj)
    {
        var key = ObjectKey.From(obj);
        lock (gate)
        {
            var previous = items.GetValueOrDefault(key);
            foreach (var index in indexes.Values)
            {
                if (previous is not null)
                {
                    index.Remove(key, previous);
                }

                index.Add(key, obj);
            }

            items[key] = obj;
            return previous;
        }
    }

    internal T? Remove(ObjectKey key)
    {
        lock (gate)
        {
            if (!items.Remove(key, out var old))
            {
                return null;
            }

            foreach (var index in indexes.Values)
            {
                index.Remove(key, old);
            }

            return old;
        }
    }

    private sealed class Index(string name, Func<T, IEnumerable<string?>?> valuesOf)
    {
        public Func<T, IEnumerable<string?>?> ValuesOf { get; } = valuesOf;

        public Dictionary<string, HashSet<ObjectKey>> Entries { get; } = new(StringComparer.Ordinal);

        public void Add(ObjectKey key, T obj)
        {
            foreach (var value in ValuesFor(key, obj))
            {
                if (!Entries.TryGetValue(value, out var keys))
                {
                    Entries[value] = keys = [];
                }

                keys.Add(key);
            }
        }

        public void Remove(ObjectKey key, T obj)
        {
            foreach (var value in ValuesFor(key, obj))
            {
                if (Entries.TryGetValue(value, out var keys) && keys.Remove(key) && keys.Count == 0)
                {
                    Entries.Remove(value);
                }
            }
        }

        private IEnumerable<string> ValuesFor(ObjectKey key, T obj)
        {
            IEnumerable<string?>? values;
            try
            {
                values = ValuesOf(obj);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"Index '{name}' of the {ResourceType<T>.Kind} cache failed on {key}: {e.Message}", e);
            }

            return values is null ? [] : values.OfType<string>().Where(v => v.Length > 0).Distinct(StringComparer.Ordinal);
        }
    }
}

/// <summary>Deep copies through the API's own JSON, so a reconciler can change what it was given without touching the cache.</summary>
public static class KubernetesObjects
{
    public static T DeepClone<T>(T obj)
        where T : class =>
        KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(obj))
        ?? throw new InvalidOperationException($"Copying a {typeof(T).Name} produced null.");
}
