using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

/// <summary>The verbs a reconciler uses on one kind, custom or built-in. Reads for reconciling should come from the informer cache.</summary>
public interface IResourceClient<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>The object, or null when it does not exist.</summary>
    Task<T?> GetAsync(string ns, string name, CancellationToken ct = default);

    /// <summary>All objects in <paramref name="ns"/> (all namespaces when null), following continue tokens.</summary>
    Task<IReadOnlyList<T>> ListAsync(string? ns = null, string? labelSelector = null, CancellationToken ct = default);

    Task<T> CreateAsync(T obj, CancellationToken ct = default);

    /// <summary>Creates the object; if it already exists (AlreadyExists), returns the existing one instead.</summary>
    Task<T> CreateOrGetAsync(T obj, CancellationToken ct = default);

    /// <summary>Replaces the object (optimistic concurrency through metadata.resourceVersion: a stale copy gets 409).</summary>
    Task<T> ReplaceAsync(T obj, CancellationToken ct = default);

    Task<T> PatchAsync(string ns, string name, V1Patch patch, CancellationToken ct = default);

    /// <summary>Deletes with background propagation; false when it was already gone.</summary>
    Task<bool> DeleteAsync(string ns, string name, CancellationToken ct = default);

    /// <summary>
    /// Applies <paramref name="applyStatus"/> to a copy of <paramref name="resource"/> and writes it through the status
    /// subresource. On 409 Conflict it re-reads the object, applies the change again and retries with backoff.
    /// Returns the object as written.
    /// </summary>
    Task<T> UpdateStatusAsync(T resource, Action<T> applyStatus, CancellationToken ct = default);

    /// <summary>Adds the finalizer if missing (conflict-retried); returns the current object.</summary>
    Task<T> AddFinalizerAsync(T resource, string finalizer, CancellationToken ct = default);

    /// <summary>Removes the finalizer if present (conflict-retried); returns the object as written, or null if it was already gone.</summary>
    Task<T?> RemoveFinalizerAsync(T resource, string finalizer, CancellationToken ct = default);
}

public sealed class ResourceClient<T> : IResourceClient<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>Attempts per write before a conflict is given back to the caller (and so to the controller's backoff).</summary>
    public const int MaxConflictAttempts = 5;

    private static readonly TimeSpan ConflictBaseDelay = TimeSpan.FromMilliseconds(10);

    private readonly IKindApi<T> api;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private long conflictRetries;

    public ResourceClient(IKubernetes client, TimeProvider time, ILogger<ResourceClient<T>> logger)
        : this(KindApi.For<T>(client), time, logger)
    {
    }

    internal ResourceClient(IKindApi<T> api, TimeProvider time, ILogger logger)
    {
        this.api = api;
        this.time = time;
        this.logger = logger;
    }

    /// <summary>409s this client re-read and retried.</summary>
    public long ConflictRetries => Interlocked.Read(ref conflictRetries);

    public async Task<T?> GetAsync(string ns, string name, CancellationToken ct = default)
    {
        try
        {
            return await api.GetAsync(ns, name, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (KubernetesErrors.IsNotFound(e))
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<T>> ListAsync(string? ns = null, string? labelSelector = null, CancellationToken ct = default)
    {
        var items = new List<T>();
        string? continueToken = null;
        do
        {
            var page = await api.ListAsync(ns, labelSelector, continueToken, 500, ct).ConfigureAwait(false);
            items.AddRange(page.Items);
            continueToken = string.IsNullOrEmpty(page.Continue) ? null : page.Continue;
        }
        while (continueToken is not null);
        return items;
    }

    public Task<T> CreateAsync(T obj, CancellationToken ct = default) => api.CreateAsync(obj, ct);

    public async Task<T> CreateOrGetAsync(T obj, CancellationToken ct = default)
    {
        try
        {
            return await api.CreateAsync(obj, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (KubernetesErrors.IsAlreadyExists(e))
        {
            return await api.GetAsync(KindApi.RequireNamespace(obj), KindApi.RequireName(obj), ct).ConfigureAwait(false);
        }
    }

    public Task<T> ReplaceAsync(T obj, CancellationToken ct = default) => api.ReplaceAsync(obj, ct);

    public Task<T> PatchAsync(string ns, string name, V1Patch patch, CancellationToken ct = default) => api.PatchAsync(ns, name, patch, ct);

    public async Task<bool> DeleteAsync(string ns, string name, CancellationToken ct = default)
    {
        try
        {
            await api.DeleteAsync(ns, name, new V1DeleteOptions { PropagationPolicy = "Background" }, ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (KubernetesErrors.IsNotFound(e))
        {
            return false;
        }
    }

    public async Task<T> UpdateStatusAsync(T resource, Action<T> applyStatus, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(applyStatus);
        return await MutateWithRetryAsync(resource, r =>
        {
            applyStatus(r);
            return true;
        }, api.ReplaceStatusAsync, ct).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"{ResourceType<T>.Kind} {ObjectKey.From(resource)} disappeared while its status was being written.");
    }

    public async Task<T> AddFinalizerAsync(T resource, string finalizer, CancellationToken ct = default) =>
        await MutateWithRetryAsync(resource, r => Finalizers.Add(r, finalizer), api.ReplaceAsync, ct).ConfigureAwait(false)
        ?? throw new InvalidOperationException($"{ResourceType<T>.Kind} {ObjectKey.From(resource)} disappeared while its finalizer was being added.");

    public Task<T?> RemoveFinalizerAsync(T resource, string finalizer, CancellationToken ct = default) =>
        MutateWithRetryAsync(resource, r => Finalizers.Remove(r, finalizer), api.ReplaceAsync, ct);

    /// <summary>
    /// Get-mutate-write with "on 409, get and reapply". A small loop rather than a Polly pipeline because each retry
    /// must re-read and re-apply, and the delay must come from the injected TimeProvider.
    /// </summary>
    private async Task<T?> MutateWithRetryAsync(T resource, Func<T, bool> mutate, Func<T, CancellationToken, Task<T>> write, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var key = ObjectKey.From(resource);
        var current = KubernetesObjects.DeepClone(resource);
        for (var attempt = 1; ; attempt++)
        {
            if (!mutate(current))
            {
                return current;
            }

            try
            {
                return await write(current, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (KubernetesErrors.IsConflict(e) && attempt < MaxConflictAttempts)
            {
                Interlocked.Increment(ref conflictRetries);
                logger.StatusConflict(ResourceType<T>.Kind, key, attempt);
                var delay = ConflictBaseDelay * Math.Pow(2, attempt - 1) * (1 + Random.Shared.NextDouble());
                await Task.Delay(delay, time, ct).ConfigureAwait(false);
                var fresh = await GetAsync(KindApi.RequireNamespace(resource), key.Name, ct).ConfigureAwait(false);
                if (fresh is null)
                {
                    return null;
                }

                current = fresh;
            }
        }
    }
}
