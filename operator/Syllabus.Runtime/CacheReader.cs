using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>
/// Reads of one kind from the informer cache: what reconcilers use instead of GET and LIST, so a reconcile in steady
/// state sends nothing to the API server. Every object returned is a copy the caller may change. The cache may lag the
/// API by a watch event: a reconciler that just created something may not see it yet (see <see cref="Expectations{TOwner}"/>).
/// </summary>
public interface ICacheReader<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>The cached object, or null when the cache has none of that name.</summary>
    T? Get(string? ns, string name);

    /// <summary>Whether the cache holds the object (of that UID, when given) without copying it.</summary>
    bool Contains(string? ns, string name, string? uid = null);

    /// <summary>Cached objects in <paramref name="ns"/> (all when null) matching <paramref name="labelSelector"/> (a kubectl-style selector).</summary>
    IReadOnlyList<T> List(string? ns = null, string? labelSelector = null);

    /// <summary>Cached objects filed under <paramref name="value"/> in index <paramref name="indexName"/>, in <paramref name="ns"/> when given.</summary>
    IReadOnlyList<T> ByIndex(string indexName, string value, string? ns = null);

    /// <summary>The keys of what <see cref="ByIndex"/> returns, without copying the objects (for Watches map functions).</summary>
    IReadOnlyList<ObjectKey> KeysByIndex(string indexName, string value, string? ns = null);
}

/// <summary>Cache readers of the current leadership term's informers, for map functions of <c>Watches</c>.</summary>
public interface ICacheReaders
{
    ICacheReader<T> For<T>()
        where T : class, IKubernetesObject<V1ObjectMeta>;
}

/// <summary>
/// Points at the informers of the running term. The controller manager sets it when a term's caches have synced and
/// clears it when the term ends, so a reader used outside a term fails loudly instead of answering from nothing.
/// </summary>
public sealed class CacheProvider : ICacheReaders
{
    private volatile InformerFactory? current;

    internal InformerFactory? Current
    {
        get => current;
        set => current = value;
    }

    public ICacheReader<T> For<T>()
        where T : class, IKubernetesObject<V1ObjectMeta> => new CacheReader<T>(this);

    internal ResourceCache<T> CacheOf<T>()
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var informers = current ?? throw new InvalidOperationException(
            $"The {ResourceType<T>.Kind} cache was read outside a running term (not started, not leading, or stopping).");
        return informers.CacheOf<T>();
    }
}

/// <summary>The <see cref="ICacheReader{T}"/> reconcilers get from dependency injection.</summary>
public sealed class CacheReader<T> : ICacheReader<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly Func<ResourceCache<T>> cache;

    public CacheReader(CacheProvider provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        cache = provider.CacheOf<T>;
    }

    private CacheReader(ResourceCache<T> fixedCache) => cache = () => fixedCache;

    /// <summary>A reader over one cache (tests, tools).</summary>
    public static CacheReader<T> Over(ResourceCache<T> cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return new CacheReader<T>(cache);
    }

    public T? Get(string? ns, string name) => cache().Get(ns, name) is { } obj ? KubernetesObjects.DeepClone(obj) : null;

    public bool Contains(string? ns, string name, string? uid = null) =>
        cache().Get(ns, name) is { } obj && (uid is null || obj.Metadata?.Uid == uid);

    public IReadOnlyList<T> List(string? ns = null, string? labelSelector = null) =>
        [.. cache().List(ns, LabelSelector.Parse(labelSelector)).Select(KubernetesObjects.DeepClone)];

    public IReadOnlyList<T> ByIndex(string indexName, string value, string? ns = null) =>
        [.. cache().ByIndex(indexName, value, ns).Select(KubernetesObjects.DeepClone)];

    public IReadOnlyList<ObjectKey> KeysByIndex(string indexName, string value, string? ns = null) =>
        [.. cache().ByIndex(indexName, value, ns).Select(ObjectKey.From)];
}
