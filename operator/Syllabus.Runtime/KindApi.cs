using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>One page of a list: the items and the resourceVersion to watch from.</summary>
internal sealed record ListPage<T>(IList<T> Items, string ResourceVersion, string? Continue);

/// <summary>
/// The verbs the runtime needs for one kind, over either the custom-object API or a typed client.
/// A null namespace means "all namespaces" for list and watch.
/// </summary>
internal interface IKindApi<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    Task<ListPage<T>> ListAsync(string? ns, string? labelSelector, string? continueToken, int? limit, CancellationToken ct);

    IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string? ns, string? labelSelector, string resourceVersion, int timeoutSeconds, Action<Exception> onError, CancellationToken ct);

    Task<T> GetAsync(string ns, string name, CancellationToken ct);

    Task<T> CreateAsync(T obj, CancellationToken ct);

    // No PUT (replace): a whole-object write would re-serialise fields this client's types do not know or default
    // differently, and bump metadata.generation. Metadata and status are written with patches only.
    Task<T> PatchAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct);

    Task<T> PatchStatusAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct);

    Task DeleteAsync(string ns, string name, V1DeleteOptions options, CancellationToken ct);
}

internal static class KindApi
{
    /// <summary>The typed client for a built-in kind the runtime knows, else the custom-object API named by [KubernetesEntity].</summary>
    public static IKindApi<T> For<T>(IKubernetes client)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(client);
        var typed = BuiltInKinds.Create<T>(client);
        if (typed is not null)
        {
            return typed;
        }

        if (string.IsNullOrEmpty(ResourceType<T>.Group))
        {
            throw new NotSupportedException(
                $"{typeof(T).Name} is a core/v1 kind without a typed binding in BuiltInKinds; add one there (the custom-object API cannot reach /api/v1).");
        }

        return new CustomObjectKindApi<T>(client);
    }

    internal static string RequireNamespace(IKubernetesObject<V1ObjectMeta> obj) =>
        obj.Metadata?.NamespaceProperty is { Length: > 0 } ns
            ? ns
            : throw new ArgumentException($"{obj.Kind ?? obj.GetType().Name} '{obj.Metadata?.Name}' has no metadata.namespace; only namespaced kinds are supported.");

    internal static string RequireName(IKubernetesObject<V1ObjectMeta> obj) =>
        obj.Metadata?.Name is { Length: > 0 } name
            ? name
            : throw new ArgumentException($"{obj.Kind ?? obj.GetType().Name} has no metadata.name.");
}

/// <summary>Custom resources through /apis/{group}/{version}/namespaces/{ns}/{plural}.</summary>
internal sealed class CustomObjectKindApi<T>(IKubernetes client) : IKindApi<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private static string Group => ResourceType<T>.Group;

    private static string Version => ResourceType<T>.Version;

    private static string Plural => ResourceType<T>.Plural;

    public async Task<ListPage<T>> ListAsync(string? ns, string? labelSelector, string? continueToken, int? limit, CancellationToken ct)
    {
        using var response = ns is null
            ? await client.CustomObjects.ListCustomObjectForAllNamespacesWithHttpMessagesAsync<ResourceList<T>>(
                Group, Version, Plural, labelSelector: labelSelector, continueParameter: continueToken, limit: limit, cancellationToken: ct).ConfigureAwait(false)
            : await client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync<ResourceList<T>>(
                Group, Version, ns, Plural, labelSelector: labelSelector, continueParameter: continueToken, limit: limit, cancellationToken: ct).ConfigureAwait(false);
        var list = response.Body;
        return new ListPage<T>(list.Items, list.Metadata.ResourceVersion, list.Metadata.ContinueProperty);
    }

    public IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string? ns, string? labelSelector, string resourceVersion, int timeoutSeconds, Action<Exception> onError, CancellationToken ct)
    {
        var response = ns is null
            ? client.CustomObjects.ListCustomObjectForAllNamespacesWithHttpMessagesAsync(
                Group, Version, Plural, allowWatchBookmarks: true, labelSelector: labelSelector, resourceVersion: resourceVersion,
                timeoutSeconds: timeoutSeconds, watch: true, cancellationToken: ct)
            : client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                Group, Version, ns, Plural, allowWatchBookmarks: true, labelSelector: labelSelector, resourceVersion: resourceVersion,
                timeoutSeconds: timeoutSeconds, watch: true, cancellationToken: ct);
        // The non-obsolete WatchList*CustomObjectAsync yields untyped objects; this overload deserializes straight into T.
#pragma warning disable CS0618
        return response.WatchAsync<T, object>(onError, ct);
#pragma warning restore CS0618
    }

    public Task<T> GetAsync(string ns, string name, CancellationToken ct) =>
        client.CustomObjects.GetNamespacedCustomObjectAsync<T>(Group, Version, ns, Plural, name, ct);

    public Task<T> CreateAsync(T obj, CancellationToken ct) =>
        client.CustomObjects.CreateNamespacedCustomObjectAsync<T>(obj, Group, Version, KindApi.RequireNamespace(obj), Plural, cancellationToken: ct);

    public Task<T> PatchAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) =>
        client.CustomObjects.PatchNamespacedCustomObjectAsync<T>(patch, Group, Version, ns, Plural, name, fieldManager: fieldManager, cancellationToken: ct);

    public Task<T> PatchStatusAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) =>
        client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<T>(patch, Group, Version, ns, Plural, name, fieldManager: fieldManager, cancellationToken: ct);

    public Task DeleteAsync(string ns, string name, V1DeleteOptions options, CancellationToken ct) =>
        client.CustomObjects.DeleteNamespacedCustomObjectAsync<object>(Group, Version, ns, Plural, name, options, cancellationToken: ct);
}

/// <summary>
/// The delegates that bind one built-in kind's reads and deletes to its typed client (see <see cref="BuiltInKinds"/>).
/// Writes need no binding: they go through the generic custom-object API (<see cref="CoreApiPathHandler"/> routes
/// core/v1 kinds), as the operator's server-side applies do.
/// </summary>
internal sealed record TypedBinding<T, TList>(
    Func<IKubernetes, string?, string?, string?, int?, string?, int?, bool, CancellationToken, Task<HttpOperationResponse<TList>>> List,
    Func<IKubernetes, string, string, CancellationToken, Task<T>> Get,
    Func<IKubernetes, string, string, V1DeleteOptions, CancellationToken, Task> Delete);

internal sealed class TypedKindApi<T, TList>(IKubernetes client, TypedBinding<T, TList> binding) : IKindApi<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
    where TList : IKubernetesObject<V1ListMeta>, IItems<T>
{
    private readonly CustomObjectKindApi<T> writes = new(client);

    public async Task<ListPage<T>> ListAsync(string? ns, string? labelSelector, string? continueToken, int? limit, CancellationToken ct)
    {
        using var response = await binding.List(client, ns, labelSelector, null, limit, continueToken, null, false, ct).ConfigureAwait(false);
        var list = response.Body;
        return new ListPage<T>(list.Items, list.Metadata.ResourceVersion, list.Metadata.ContinueProperty);
    }

    public IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string? ns, string? labelSelector, string resourceVersion, int timeoutSeconds, Action<Exception> onError, CancellationToken ct)
    {
        // Same watch code path as custom objects (one place to reason about ERROR/410 handling).
#pragma warning disable CS0618
        return binding.List(client, ns, labelSelector, resourceVersion, null, null, timeoutSeconds, true, ct).WatchAsync<T, TList>(onError, ct);
#pragma warning restore CS0618
    }

    public Task<T> GetAsync(string ns, string name, CancellationToken ct) => binding.Get(client, ns, name, ct);

    public Task<T> CreateAsync(T obj, CancellationToken ct) => writes.CreateAsync(obj, ct);

    public Task<T> PatchAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) => writes.PatchAsync(ns, name, patch, fieldManager, ct);

    public Task<T> PatchStatusAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) => writes.PatchStatusAsync(ns, name, patch, fieldManager, ct);

    public Task DeleteAsync(string ns, string name, V1DeleteOptions options, CancellationToken ct) => binding.Delete(client, ns, name, options, ct);
}
