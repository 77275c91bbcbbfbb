using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

public sealed record ControllerOptions
{
    /// <summary>Keys reconciled in parallel (never the same key twice at once).</summary>
    public int Workers { get; init; } = 2;

    /// <summary>Which updates of the primary kind enqueue it; see <see cref="Predicates"/>.</summary>
    public Func<IKubernetesObject<V1ObjectMeta>, IKubernetesObject<V1ObjectMeta>, bool> UpdatePredicate { get; init; } =
        Predicates.GenerationOrMetadataChanged;
}

/// <summary>A controller the manager can start and stop without knowing its kind.</summary>
public interface IController
{
    string Name { get; }

    Task StartAsync(CancellationToken ct);

    /// <summary>Stops taking keys and waits for in-flight reconciles; cancelling <paramref name="abort"/> cancels them.</summary>
    Task StopAsync(CancellationToken abort);
}

/// <summary>
/// Feeds keys from an informer (and from informers of owned kinds, mapped to their controlling owner) into a
/// rate-limited queue and runs N workers that call the reconciler with the cached object.
/// </summary>
public sealed class Controller<T> : IController
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly Informer<T> informer;
    private readonly IReconciler<T> reconciler;
    private readonly ControllerOptions options;
    private readonly OperatorMetrics? metrics;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly CancellationTokenSource reconcileCts = new();
    private readonly List<Task> workers = [];
    private long reconcileCount;

    public Controller(
        Informer<T> informer,
        IReconciler<T> reconciler,
        ControllerOptions options,
        TimeProvider time,
        ILogger logger,
        OperatorMetrics? metrics = null,
        IRateLimiter<ObjectKey>? rateLimiter = null)
    {
        ArgumentNullException.ThrowIfNull(informer);
        ArgumentNullException.ThrowIfNull(reconciler);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Workers, 1);
        this.informer = informer;
        this.reconciler = reconciler;
        this.options = options;
        this.time = time;
        this.logger = logger;
        this.metrics = metrics;
        Queue = new RateLimitingQueue<ObjectKey>(
            rateLimiter ?? DefaultControllerRateLimiter.Create<ObjectKey>(time),
            time,
            metrics?.ForQueue(Kind, () => Queue!.Count));
        informer.AddHandler(new ResourceEventHandler<T>(
            OnAdd: obj => Queue.Add(ObjectKey.From(obj)),
            OnUpdate: (o, n) =>
            {
                if (options.UpdatePredicate(o, n))
                {
                    Queue.Add(ObjectKey.From(n));
                }
            },
            OnResync: obj => Queue.Add(ObjectKey.From(obj))));
    }

    public string Name => $"{Kind.ToLowerInvariant()}-controller";

    public static string Kind => ResourceType<T>.Kind;

    public RateLimitingQueue<ObjectKey> Queue { get; }

    /// <summary>Reconciles run so far (any result).</summary>
    public long ReconcileCount => Interlocked.Read(ref reconcileCount);

    /// <summary>Enqueues the controlling owner (of this controller's kind) whenever an owned object changes.</summary>
    public void Owns<TChild>(Informer<TChild> children)
        where TChild : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(children);
        children.AddHandler(new ResourceEventHandler<TChild>(
            OnAdd: EnqueueOwner,
            OnUpdate: (o, n) =>
            {
                EnqueueOwner(o);
                EnqueueOwner(n);
            },
            OnDelete: EnqueueOwner,
            OnResync: EnqueueOwner));
    }

    /// <summary>
    /// Enqueues the objects of this controller's kind that <paramref name="map"/> relates a <typeparamref name="TOther"/> to
    /// (controller-runtime's Watches with EnqueueRequestsFromMapFunc): on add, delete and resync, and on the updates
    /// <paramref name="updatePredicate"/> lets through (all by default), mapping the old and the new object.
    /// </summary>
    public void Watches<TOther>(Informer<TOther> related, Func<TOther, IEnumerable<ObjectKey>> map, Func<TOther, TOther, bool>? updatePredicate = null)
        where TOther : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(related);
        ArgumentNullException.ThrowIfNull(map);
        void Enqueue(TOther obj)
        {
            foreach (var key in map(obj))
            {
                Queue.Add(key);
            }
        }

        related.AddHandler(new ResourceEventHandler<TOther>(
            OnAdd: Enqueue,
            OnUpdate: (o, n) =>
            {
                if (updatePredicate is null || updatePredicate(o, n))
                {
                    Enqueue(o);
                    Enqueue(n);
                }
            },
            // Resyncs of related kinds add nothing: the primary informer's resync already revisits every object.
            OnDelete: Enqueue));
    }

    public async Task StartAsync(CancellationToken ct)
    {
        await informer.WaitForSyncAsync(ct).ConfigureAwait(false);
        for (var i = 0; i < options.Workers; i++)
        {
            workers.Add(Task.Run(WorkerAsync, CancellationToken.None));
        }

        logger.ControllerStarted(Name, options.Workers);
    }

    public async Task StopAsync(CancellationToken abort)
    {
        using var registration = abort.Register(reconcileCts.Cancel);
        Queue.ShutDown();
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        finally
        {
            logger.ControllerStopped(Name);
        }
    }

    private void EnqueueOwner<TChild>(TChild child)
        where TChild : class, IKubernetesObject<V1ObjectMeta>
    {
        if (OwnerReferences.GetControllerOf(child) is { } owner
            && owner.Kind == Kind
            && ApiGroup(owner.ApiVersion) == ResourceType<T>.Group)
        {
            var ns = child.Metadata.NamespaceProperty;
            Queue.Add(new ObjectKey(string.IsNullOrEmpty(ns) ? null : ns, owner.Name));
        }
    }

    private static string ApiGroup(string? apiVersion) =>
        apiVersion is null ? string.Empty : apiVersion.Contains('/', StringComparison.Ordinal) ? apiVersion[..apiVersion.IndexOf('/', StringComparison.Ordinal)] : string.Empty;

    private async Task WorkerAsync()
    {
        while (true)
        {
            var (ok, key) = await Queue.GetAsync().ConfigureAwait(false);
            if (!ok)
            {
                return;
            }

            try
            {
                await ProcessAsync(key).ConfigureAwait(false);
            }
            finally
            {
                Queue.Done(key);
            }
        }
    }

    private async Task ProcessAsync(ObjectKey key)
    {
        var cached = informer.Cache.Get(key);
        if (cached is null)
        {
            // Gone from the API (finalizers, if any, were already removed): nothing left to converge.
            Queue.Forget(key);
            return;
        }

        var resource = KubernetesObjects.DeepClone(cached);
        var started = time.GetTimestamp();
        string result;
        try
        {
            Interlocked.Increment(ref reconcileCount);
            var outcome = await reconciler.ReconcileAsync(resource, reconcileCts.Token).ConfigureAwait(false);
            Queue.Forget(key);
            if (outcome.RequeueAfter is { } after)
            {
                Queue.AddAfter(key, after);
                result = ReconcileResults.Requeue;
            }
            else
            {
                result = ReconcileResults.Success;
            }

            logger.Reconciled(Kind, key, time.GetElapsedTime(started));
        }
        catch (TerminalReconcileException e)
        {
            Queue.Forget(key);
            result = ReconcileResults.Terminal;
            logger.ReconcileTerminal(Kind, key, e.Message);
        }
        catch (OperationCanceledException) when (reconcileCts.IsCancellationRequested)
        {
            result = ReconcileResults.Error;
        }
        catch (Exception e) when (KubernetesErrors.IsConflict(e) && !KubernetesErrors.IsAlreadyExists(e))
        {
            // The object changed after the cached copy was read (a guarded write got 409): nothing was written from the
            // stale copy. Requeue with the per-key backoff; the next reconcile recomputes from the fresh object.
            result = ReconcileResults.Conflict;
            logger.ReconcileConflict(Kind, key);
            Queue.AddRateLimited(key);
        }
        catch (Exception e)
        {
            result = ReconcileResults.Error;
            logger.ReconcileFailed(e, Kind, key, Queue.NumRequeues(key) + 1);
            Queue.AddRateLimited(key);
        }

        metrics?.RecordReconcile(Kind, result, time.GetElapsedTime(started));
    }
}
