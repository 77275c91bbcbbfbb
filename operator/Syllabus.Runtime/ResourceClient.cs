using k8s;
using k8s.Models;
using System.Text.Json.Nodes;

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

    /// <summary>A patch of the object (metadata and spec), attributed to this client's field manager.</summary>
    Task<T> PatchAsync(string ns, string name, V1Patch patch, CancellationToken ct = default);

    /// <summary>
    /// Deletes whatever object holds the name now, with background propagation; false when it was already gone. A
    /// reconciler deletes what it observed with <see cref="DeleteAsync(T, CancellationToken)"/> instead.
    /// </summary>
    Task<bool> DeleteAsync(string ns, string name, CancellationToken ct = default);

    /// <summary>
    /// Deletes exactly <paramref name="observed"/> (background propagation), guarded by its UID: if the name now belongs
    /// to another object (the one read was deleted and a new one created under its name since), the API answers 409
    /// and nothing is deleted. True when deleted; false when it is already gone or was replaced.
    /// </summary>
    Task<bool> DeleteAsync(T observed, CancellationToken ct = default);

    /// <summary>
    /// Writes <paramref name="status"/> through the status subresource as a merge patch of what changed against
    /// <paramref name="observed"/>'s status, guarded by <paramref name="observed"/>'s resourceVersion: if the object
    /// changed since it was read, the API answers 409 Conflict and nothing is written. The conflict is thrown, not
    /// retried: the status was computed from an old object, so the controller requeues the key and the next reconcile
    /// recomputes it from the fresh one (controller-runtime's semantics). Returns the object as written, or
    /// <paramref name="observed"/> when nothing changed.
    /// </summary>
    Task<T> UpdateStatusAsync(T observed, object? status, CancellationToken ct = default);

    /// <summary>
    /// Adds the finalizer if missing with a merge patch of metadata.finalizers guarded by the resourceVersion (409 on a
    /// stale copy, thrown); returns the object as written.
    /// </summary>
    Task<T> AddFinalizerAsync(T resource, string finalizer, CancellationToken ct = default);

    /// <summary>Removes the finalizer if present, like <see cref="AddFinalizerAsync"/>; null when the object is already gone.</summary>
    Task<T?> RemoveFinalizerAsync(T resource, string finalizer, CancellationToken ct = default);
}

/// <summary>The field manager every write of the operator is attributed to (metadata.managedFields).</summary>
public static class FieldManagers
{
    public const string Operator = "syllabus-operator";
}

public sealed class ResourceClient<T> : IResourceClient<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly IKindApi<T> api;
    private readonly string fieldManager;

    /// <param name="client">The client the requests go through.</param>
    /// <param name="fieldManager">Whom metadata.managedFields credits with this client's writes.</param>
    public ResourceClient(IKubernetes client, string fieldManager = FieldManagers.Operator)
        : this(KindApi.For<T>(client), fieldManager)
    {
    }

    internal ResourceClient(IKindApi<T> api, string fieldManager)
    {
        ArgumentException.ThrowIfNullOrEmpty(fieldManager);
        this.api = api;
        this.fieldManager = fieldManager;
    }

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

    public Task<T> PatchAsync(string ns, string name, V1Patch patch, CancellationToken ct = default) => api.PatchAsync(ns, name, patch, fieldManager, ct);

    public Task<bool> DeleteAsync(string ns, string name, CancellationToken ct = default) => DeleteAsync(ns, name, null, ct);

    public async Task<bool> DeleteAsync(T observed, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(observed);
        var uid = observed.Metadata?.Uid;
        if (string.IsNullOrEmpty(uid))
        {
            throw new ArgumentException($"{observed.Kind ?? typeof(T).Name} {observed.Metadata?.Name} has no metadata.uid: only an object read from the API can be deleted by identity.", nameof(observed));
        }

        return await DeleteAsync(KindApi.RequireNamespace(observed), KindApi.RequireName(observed), new V1Preconditions { Uid = uid }, ct).ConfigureAwait(false);
    }

    /// <summary>Background propagation; false when gone or, with <paramref name="preconditions"/>, when they failed.</summary>
    private async Task<bool> DeleteAsync(string ns, string name, V1Preconditions? preconditions, CancellationToken ct)
    {
        try
        {
            await api.DeleteAsync(ns, name, new V1DeleteOptions { PropagationPolicy = "Background", Preconditions = preconditions }, ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (KubernetesErrors.IsNotFound(e) || KubernetesErrors.IsPreconditionFailed(e))
        {
            // A failed precondition: the name is another object's now; it is not ours to delete. Any other 409 is thrown.
            return false;
        }
    }

    public async Task<T> UpdateStatusAsync(T observed, object? status, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(observed);
        var current = JsonNode.Parse(KubernetesJson.Serialize(observed))?["status"];
        var desired = status is null ? null : JsonNode.Parse(KubernetesJson.Serialize(status));
        var diff = MergePatch.Diff(current, desired, out var changed);
        if (!changed)
        {
            return observed;
        }

        var patch = Guarded(observed, new JsonObject { ["status"] = diff });
        return await api.PatchStatusAsync(KindApi.RequireNamespace(observed), KindApi.RequireName(observed), patch, fieldManager, ct).ConfigureAwait(false);
    }

    public async Task<T> AddFinalizerAsync(T resource, string finalizer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var finalizers = resource.Metadata?.Finalizers?.ToList() ?? [];
        if (finalizers.Contains(finalizer))
        {
            return resource;
        }

        finalizers.Add(finalizer);
        return await PatchFinalizersAsync(resource, finalizers, ct).ConfigureAwait(false);
    }

    public async Task<T?> RemoveFinalizerAsync(T resource, string finalizer, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(resource);
        var finalizers = resource.Metadata?.Finalizers?.ToList() ?? [];
        if (finalizers.RemoveAll(f => f == finalizer) == 0)
        {
            return resource;
        }

        try
        {
            return await PatchFinalizersAsync(resource, finalizers, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (KubernetesErrors.IsNotFound(e))
        {
            return null;
        }
    }

    private Task<T> PatchFinalizersAsync(T resource, List<string> finalizers, CancellationToken ct)
    {
        // A merge patch replaces the list whole; the resourceVersion makes that safe against a concurrent edit of it.
        var patch = Guarded(resource, new JsonObject { ["metadata"] = new JsonObject { ["finalizers"] = new JsonArray([.. finalizers.Select(f => (JsonNode)f)]) } });
        return api.PatchAsync(KindApi.RequireNamespace(resource), KindApi.RequireName(resource), patch, fieldManager, ct);
    }

    /// <summary>A merge patch carrying the object's resourceVersion: the API answers 409 if the object changed since.</summary>
    private static V1Patch Guarded(T observed, JsonObject patch)
    {
        var version = observed.Metadata?.ResourceVersion;
        if (string.IsNullOrEmpty(version))
        {
            throw new ArgumentException($"{ResourceType<T>.Kind} {ObjectKey.From(observed)} has no metadata.resourceVersion; a guarded patch needs the version it was computed from.", nameof(observed));
        }

        var metadata = patch["metadata"] as JsonObject ?? new JsonObject();
        metadata["resourceVersion"] = version;
        patch["metadata"] = metadata;
        return new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch);
    }
}
