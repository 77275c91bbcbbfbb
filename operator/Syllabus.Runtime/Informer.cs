using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

/// <summary>What an informer tells its subscribers. Handlers run on the informer's loop: keep them short (enqueue and return).</summary>
public sealed record ResourceEventHandler<T>(
    Action<T>? OnAdd = null,
    Action<T, T>? OnUpdate = null,
    Action<T>? OnDelete = null,
    Action<T>? OnResync = null)
    where T : class;

public sealed record InformerOptions
{
    /// <summary>Namespaces to watch; empty means all namespaces (one cluster-wide list and watch).</summary>
    public IReadOnlyList<string> Namespaces { get; init; } = [];

    public string? LabelSelector { get; init; }

    /// <summary>How often every cached object is handed to OnResync; zero turns resync off.</summary>
    public TimeSpan ResyncPeriod { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Server-side watch timeout: a random value between this and twice this, as client-go does, so watches do not all reconnect together.</summary>
    public TimeSpan MinWatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A watch the server closes sooner than this without a single event is treated as a failure and retried with
    /// backoff (client-go's "very short watch"), so a server or proxy that drops watches at once is not hammered.
    /// </summary>
    public TimeSpan MinWatchDuration { get; init; } = TimeSpan.FromSeconds(1);

    public int PageSize { get; init; } = 500;

    /// <summary>
    /// Applied to every listed or watched object before it is cached and handed to handlers (controller-runtime's
    /// cache transform). The default, <see cref="CacheTransforms.StripManagedFields"/>, drops what no reconciler reads
    /// but every object carries; null caches objects as received.
    /// </summary>
    public Action<IKubernetesObject<V1ObjectMeta>>? Transform { get; init; } = CacheTransforms.StripManagedFields;
}

/// <summary>Transforms for <see cref="InformerOptions.Transform"/>.</summary>
public static class CacheTransforms
{
    /// <summary>The annotation kubectl's client-side apply keeps a whole copy of the object in.</summary>
    public const string LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";

    /// <summary>
    /// Removes metadata.managedFields and kubectl's last-applied-configuration annotation (controller-runtime's
    /// cache.TransformStripManagedFields): each is about as large as the object itself, the operator never reads them
    /// from its cache, and its writes are patches that neither send nor depend on them.
    /// </summary>
    public static void StripManagedFields(IKubernetesObject<V1ObjectMeta> obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        if (obj.Metadata is not { } metadata)
        {
            return;
        }

        metadata.ManagedFields = null;
        metadata.Annotations?.Remove(LastAppliedAnnotation);
    }
}

/// <summary>A kind-erased view of an informer, for readiness and start-up.</summary>
public interface IInformer
{
    string Kind { get; }

    bool HasSynced { get; }

    Task WaitForSyncAsync(CancellationToken ct);

    Task RunAsync(CancellationToken ct);
}

/// <summary>
/// List, then watch from the list's resourceVersion (with bookmarks), keeping <see cref="Cache"/> current.
/// A dropped watch resumes from the last resourceVersion seen, with backoff; 410 Gone (as an HTTP status or as an
/// ERROR event carrying a Status) means that version is compacted away, so it lists again and reports the difference.
/// </summary>
public sealed class Informer<T> : IInformer
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly IKindApi<T> api;
    private readonly InformerOptions options;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly Func<double> random;
    // Held while the cache changes and handlers hear about it, and while a late handler is replayed the cache, so a
    // handler never sees an update before the add it replays, nor an add of something already deleted.
    private readonly Lock dispatchGate = new();
    private readonly TaskCompletionSource synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ResourceEventHandler<T>[] handlers = [];
    private int scopesSynced;
    private long relists;
    private long watchRestarts;

    internal Informer(IKindApi<T> api, InformerOptions options, TimeProvider time, ILogger logger, Func<double>? random = null)
    {
        this.api = api;
        this.options = options;
        this.time = time;
        this.logger = logger;
        this.random = random ?? Random.Shared.NextDouble;
    }

    public string Kind => ResourceType<T>.Kind;

    public ResourceCache<T> Cache { get; } = new();

    public bool HasSynced => synced.Task.IsCompleted;

    /// <summary>Full lists after the first (410 Gone or a failed list); a test and benchmark observable.</summary>
    public long Relists => Interlocked.Read(ref relists);

    /// <summary>Watches re-opened after the first one of each list.</summary>
    public long WatchRestarts => Interlocked.Read(ref watchRestarts);

    public void AddHandler(ResourceEventHandler<T> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (dispatchGate)
        {
            handlers = [.. handlers, handler];

            // A handler added after the first sync still hears about every object already cached, before any later event.
            if (handler.OnAdd is { } onAdd)
            {
                foreach (var obj in Cache.List())
                {
                    Invoke(() => onAdd(obj));
                }
            }
        }
    }

    public Task WaitForSyncAsync(CancellationToken ct) => synced.Task.WaitAsync(ct);

    public async Task RunAsync(CancellationToken ct)
    {
        IReadOnlyList<string?> scopes = options.Namespaces.Count == 0 ? [null] : [.. options.Namespaces];
        var loops = scopes.Select(scope => Task.Run(() => ListWatchLoopAsync(scope, scopes.Count, ct), CancellationToken.None)).ToList();
        if (options.ResyncPeriod > TimeSpan.Zero)
        {
            loops.Add(Task.Run(() => ResyncLoopAsync(ct), CancellationToken.None));
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    private async Task ListWatchLoopAsync(string? scope, int scopeCount, CancellationToken ct)
    {
        string? resourceVersion = null;
        var failures = 0;
        var firstList = true;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (resourceVersion is null)
                {
                    if (!firstList)
                    {
                        Interlocked.Increment(ref relists);
                    }

                    resourceVersion = await ListAndReplaceAsync(scope, ct).ConfigureAwait(false);
                    if (firstList)
                    {
                        firstList = false;
                        if (Interlocked.Increment(ref scopesSynced) == scopeCount)
                        {
                            synced.TrySetResult();
                        }
                    }

                    failures = 0;
                }
                else
                {
                    Interlocked.Increment(ref watchRestarts);
                }

                Exception? streamError = null;
                var timeout = (int)(options.MinWatchTimeout.TotalSeconds * (1 + random()));
                logger.WatchStarting(Kind, scope ?? "*", resourceVersion);
                var watchStarted = time.GetTimestamp();
                var events = 0;
                await foreach (var (type, obj) in api.WatchAsync(scope, options.LabelSelector, resourceVersion, timeout, e => streamError ??= e, ct).ConfigureAwait(false))
                {
                    resourceVersion = Apply(type, obj) ?? resourceVersion;
                    events++;
                    failures = 0;
                }

                if (KubernetesErrors.IsGone(streamError))
                {
                    logger.ResourceVersionGone(Kind, scope ?? "*", resourceVersion);
                    resourceVersion = null;
                    continue;
                }

                if (streamError is not null)
                {
                    throw new InvalidOperationException($"The {Kind} watch reported an error: {streamError.Message}", streamError);
                }

                if (events == 0 && time.GetElapsedTime(watchStarted) < options.MinWatchDuration)
                {
                    throw new VeryShortWatchException($"The {Kind} watch closed after {time.GetElapsedTime(watchStarted).TotalMilliseconds:0} ms without an event; backing off before watching again.");
                }

                // The server ended the watch (its timeout) cleanly: resume from where we are.
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (KubernetesErrors.IsGone(e))
            {
                logger.ResourceVersionGone(Kind, scope ?? "*", resourceVersion);
                resourceVersion = null;
            }
            catch (Exception e)
            {
                failures++;
                var delay = Backoff(failures);
                logger.WatchFailed(e, Kind, scope ?? "*", resourceVersion, delay);
                try
                {
                    await Task.Delay(delay, time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private TimeSpan Backoff(int failures)
    {
        var seconds = options.InitialBackoff.TotalSeconds * Math.Pow(2, Math.Min(failures - 1, 30));
        seconds = Math.Min(seconds, options.MaxBackoff.TotalSeconds) * (0.5 + (0.5 * random()));
        return TimeSpan.FromSeconds(seconds);
    }

    private async Task<string> ListAndReplaceAsync(string? scope, CancellationToken ct)
    {
        var fresh = new Dictionary<ObjectKey, T>();
        string? continueToken = null;
        string resourceVersion;
        do
        {
            var page = await api.ListAsync(scope, options.LabelSelector, continueToken, options.PageSize, ct).ConfigureAwait(false);
            foreach (var item in page.Items)
            {
                options.Transform?.Invoke(item);
                fresh[ObjectKey.From(item)] = item;
            }

            resourceVersion = page.ResourceVersion;
            continueToken = string.IsNullOrEmpty(page.Continue) ? null : page.Continue;
        }
        while (continueToken is not null);

        // Only what changed since the cache last saw it is reported, so a re-list does not re-trigger every reconcile.
        lock (dispatchGate)
        {
            foreach (var key in Cache.Keys())
            {
                if ((scope is null || key.Namespace == scope) && !fresh.ContainsKey(key) && Cache.Remove(key) is { } gone)
                {
                    Dispatch(h => h.OnDelete?.Invoke(gone));
                }
            }

            foreach (var item in fresh.Values)
            {
                var old = Cache.Upsert(item);
                if (old is null)
                {
                    Dispatch(h => h.OnAdd?.Invoke(item));
                }
                else if (old.Metadata.ResourceVersion != item.Metadata.ResourceVersion)
                {
                    Dispatch(h => h.OnUpdate?.Invoke(old, item));
                }
            }
        }

        logger.Listed(Kind, scope ?? "*", fresh.Count, resourceVersion);
        return resourceVersion;
    }

    /// <summary>Applies one watch event to the cache and returns the resourceVersion it carries.</summary>
    private string? Apply(WatchEventType type, T obj)
    {
        var rv = obj.Metadata?.ResourceVersion;
        if (type is WatchEventType.Added or WatchEventType.Modified or WatchEventType.Deleted)
        {
            options.Transform?.Invoke(obj);
        }

        lock (dispatchGate)
        {
            return ApplyLocked(type, obj, rv);
        }
    }

    private string? ApplyLocked(WatchEventType type, T obj, string? rv)
    {
        switch (type)
        {
            case WatchEventType.Added:
            case WatchEventType.Modified:
                var old = Cache.Upsert(obj);
                if (old is null)
                {
                    Dispatch(h => h.OnAdd?.Invoke(obj));
                }
                else
                {
                    Dispatch(h => h.OnUpdate?.Invoke(old, obj));
                }

                break;
            case WatchEventType.Deleted:
                var removed = Cache.Remove(ObjectKey.From(obj)) ?? obj;
                Dispatch(h => h.OnDelete?.Invoke(removed));
                break;
            case WatchEventType.Bookmark:
                break;
            default:
                logger.UnexpectedWatchEvent(Kind, type.ToString());
                return null;
        }

        return rv;
    }

    private async Task ResyncLoopAsync(CancellationToken ct)
    {
        try
        {
            await WaitForSyncAsync(ct).ConfigureAwait(false);
            while (true)
            {
                await Task.Delay(options.ResyncPeriod, time, ct).ConfigureAwait(false);
                lock (dispatchGate)
                {
                    foreach (var obj in Cache.List())
                    {
                        Dispatch(h => h.OnResync?.Invoke(obj));
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private void Dispatch(Action<ResourceEventHandler<T>> call)
    {
        foreach (var handler in Volatile.Read(ref handlers))
        {
            Invoke(() => call(handler));
        }
    }

    private void Invoke(Action call)
    {
        try
        {
            call();
        }
        catch (Exception e)
        {
            logger.HandlerFailed(e, Kind);
        }
    }
}

/// <summary>A watch ended cleanly but at once, with nothing delivered: retried like a failure, with backoff.</summary>
public sealed class VeryShortWatchException(string message) : Exception(message);
