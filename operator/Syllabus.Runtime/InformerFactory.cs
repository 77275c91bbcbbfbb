using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

/// <summary>
/// One informer per kind, shared by every controller that watches, owns or reads that kind (client-go's
/// SharedInformerFactory). Informers of owned kinds are filtered by <see cref="ManagedObjects.Label"/> so the cache
/// holds only what the operator created. Every informer is declared before <see cref="RunAsync"/>: asking for a new
/// kind afterwards is an error, since nothing would ever fill its cache.
/// </summary>
public sealed class InformerFactory(IKubernetes client, InformerOptions options, TimeProvider time, ILoggerFactory loggerFactory, string? managedSelector = null) : ICacheReaders
{
    private readonly Lock gate = new();
    private readonly Dictionary<Type, (IInformer Informer, bool Managed)> informers = [];
    private readonly Dictionary<Type, List<Action<object>>> pendingIndexes = [];
    private bool started;

    public IReadOnlyList<IInformer> Informers
    {
        get
        {
            lock (gate)
            {
                return [.. informers.Values.Select(i => i.Informer)];
            }
        }
    }

    public bool AllSynced => Informers.All(i => i.HasSynced);

    /// <summary>The informer of <typeparamref name="T"/> over every object of the kind (custom resources, related objects).</summary>
    public Informer<T> Get<T>()
        where T : class, IKubernetesObject<V1ObjectMeta> => GetOrCreate<T>(managed: false);

    /// <summary>The informer of <typeparamref name="T"/> over only the objects carrying the operator's managed-by label (owned kinds).</summary>
    public Informer<T> GetManaged<T>()
        where T : class, IKubernetesObject<V1ObjectMeta> => GetOrCreate<T>(managed: true);

    /// <summary>Adds an index to the <typeparamref name="T"/> cache, now or when its informer is created.</summary>
    public void AddIndex<T>(string name, Func<T, IEnumerable<string?>?> valuesOf)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (gate)
        {
            if (informers.TryGetValue(typeof(T), out var existing))
            {
                ((Informer<T>)existing.Informer).Cache.AddIndex(name, valuesOf);
                return;
            }

            if (!pendingIndexes.TryGetValue(typeof(T), out var list))
            {
                pendingIndexes[typeof(T)] = list = [];
            }

            list.Add(cache => ((ResourceCache<T>)cache).AddIndex(name, valuesOf));
        }
    }

    /// <summary>The cache of an informer declared before start.</summary>
    /// <exception cref="InvalidOperationException">No controller declared an informer for <typeparamref name="T"/>.</exception>
    public ResourceCache<T> CacheOf<T>()
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (gate)
        {
            return informers.TryGetValue(typeof(T), out var existing)
                ? ((Informer<T>)existing.Informer).Cache
                : throw new InvalidOperationException(
                    $"No informer caches {ResourceType<T>.Kind}: declare it on a controller (Owns<{typeof(T).Name}>(), Watches<{typeof(T).Name}>(...) or Reads<{typeof(T).Name}>()).");
        }
    }

    public ICacheReader<T> For<T>()
        where T : class, IKubernetesObject<V1ObjectMeta> => CacheReader<T>.Over(CacheOf<T>());

    /// <summary>Runs every informer declared so far until <paramref name="ct"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken ct)
    {
        lock (gate)
        {
            started = true;
            if (pendingIndexes.Count > 0)
            {
                throw new InvalidOperationException(
                    $"Indexes were registered on {string.Join(", ", pendingIndexes.Keys.Select(t => t.Name))}, which no controller caches; declare the kind with Owns, Watches or Reads.");
            }
        }

        return Task.WhenAll(Informers.Select(i => i.RunAsync(ct)));
    }

    public Task WaitForSyncAsync(CancellationToken ct) => Task.WhenAll(Informers.Select(i => i.WaitForSyncAsync(ct)));

    private Informer<T> GetOrCreate<T>(bool managed)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (gate)
        {
            if (informers.TryGetValue(typeof(T), out var existing))
            {
                if (existing.Managed != managed)
                {
                    throw new InvalidOperationException(
                        $"{ResourceType<T>.Kind} is cached both filtered by {ManagedObjects.Label} (owned) and unfiltered; one informer per kind serves every controller, so choose one.");
                }

                return (Informer<T>)existing.Informer;
            }

            if (started)
            {
                throw new InvalidOperationException($"The {ResourceType<T>.Kind} informer was asked for after the informers started; declare it when building the controller.");
            }

            if (managed && managedSelector is null)
            {
                throw new InvalidOperationException($"{ResourceType<T>.Kind} is owned, but this informer factory has no managed-by selector to filter it with.");
            }

            var informerOptions = managed ? options with { LabelSelector = managedSelector } : options;
            var informer = new Informer<T>(KindApi.For<T>(client), informerOptions, time, loggerFactory.CreateLogger($"Syllabus.Operator.Informer.{ResourceType<T>.Kind}"));
            if (pendingIndexes.Remove(typeof(T), out var indexes))
            {
                foreach (var add in indexes)
                {
                    add(informer.Cache);
                }
            }

            informers[typeof(T)] = (informer, managed);
            return informer;
        }
    }
}
