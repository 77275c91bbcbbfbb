using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

/// <summary>The label on everything the operator creates; informers of owned kinds list and watch only objects carrying it.</summary>
public static class ManagedObjects
{
    public const string Label = "app.kubernetes.io/managed-by";

    /// <summary>The selector informers of owned kinds use.</summary>
    public static string Selector(string managedBy) => $"{Label}={managedBy}";
}

public sealed record ApplyOptions
{
    /// <summary>The field manager of every write (managedFields shows it).</summary>
    public string FieldManager { get; init; } = "syllabus-operator";

    /// <summary>The value of <see cref="ManagedObjects.Label"/> every applied object must carry (its pod template too).</summary>
    public string ManagedBy { get; init; } = "syllabus";
}

/// <summary>
/// Writes children the way controller-runtime's client.Apply does: one server-side apply for every kind, through
/// KubernetesClient's generic (custom-object) API, sending only the fields the operator sets, so it owns exactly
/// those and force-takes them back from anyone who edited them by hand, while fields others own are left alone.
/// </summary>
public interface IApplier
{
    /// <summary>Server-side applies <paramref name="desired"/> (creating it if absent) and returns the object as stored.</summary>
    Task<T> ApplyAsync<T>(T desired, CancellationToken ct = default)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>
    /// Applies <paramref name="desired"/> unless <paramref name="observed"/> (the cached object) already holds every field
    /// it sets with the same value; true when it wrote. A converged child costs no request.
    /// </summary>
    Task<bool> ApplyIfDriftedAsync<T>(T desired, T? observed, CancellationToken ct = default)
        where T : class, IKubernetesObject<V1ObjectMeta>;

    /// <summary>
    /// Creates <paramref name="desired"/> (POST), for children whose spec is immutable once created (Jobs): null when it
    /// already exists, which is success, not an error.
    /// </summary>
    Task<T?> CreateIfAbsentAsync<T>(T desired, CancellationToken ct = default)
        where T : class, IKubernetesObject<V1ObjectMeta>;
}

public sealed partial class ServerSideApplier(IKubernetes client, ApplyOptions options, ILogger<ServerSideApplier> logger) : IApplier
{
    private static readonly string[] ServerOwnedMetadata = ["resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"];

    public async Task<T> ApplyAsync<T>(T desired, CancellationToken ct = default)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var body = ApplyConfiguration(desired);
        var (ns, name) = (desired.Metadata.NamespaceProperty, desired.Metadata.Name);
        var patch = new V1Patch(body, V1Patch.PatchType.ApplyPatch);
        using var response = string.IsNullOrEmpty(ns)
            ? await client.CustomObjects.PatchClusterCustomObjectWithHttpMessagesAsync<T>(
                patch, ResourceType<T>.Group, ResourceType<T>.Version, ResourceType<T>.Plural, name, fieldManager: options.FieldManager, force: true, cancellationToken: ct).ConfigureAwait(false)
            : await client.CustomObjects.PatchNamespacedCustomObjectWithHttpMessagesAsync<T>(
                patch, ResourceType<T>.Group, ResourceType<T>.Version, ns, ResourceType<T>.Plural, name, fieldManager: options.FieldManager, force: true, cancellationToken: ct).ConfigureAwait(false);
        LogApplied(ResourceType<T>.Kind, ObjectKey.From(desired), response.Response.StatusCode == HttpStatusCode.Created ? "created" : "applied");
        return response.Body;
    }

    public async Task<bool> ApplyIfDriftedAsync<T>(T desired, T? observed, CancellationToken ct = default)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (observed is not null && JsonSubset.IsSubset(ApplyConfiguration(desired), JsonNode.Parse(KubernetesJson.Serialize(observed))))
        {
            return false;
        }

        await ApplyAsync(desired, ct).ConfigureAwait(false);
        return true;
    }

    public async Task<T?> CreateIfAbsentAsync<T>(T desired, CancellationToken ct = default)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var body = ApplyConfiguration(desired);
        var ns = desired.Metadata.NamespaceProperty;
        try
        {
            using var response = string.IsNullOrEmpty(ns)
                ? await client.CustomObjects.CreateClusterCustomObjectWithHttpMessagesAsync<T>(
                    body, ResourceType<T>.Group, ResourceType<T>.Version, ResourceType<T>.Plural, fieldManager: options.FieldManager, cancellationToken: ct).ConfigureAwait(false)
                : await client.CustomObjects.CreateNamespacedCustomObjectWithHttpMessagesAsync<T>(
                    body, ResourceType<T>.Group, ResourceType<T>.Version, ns, ResourceType<T>.Plural, fieldManager: options.FieldManager, cancellationToken: ct).ConfigureAwait(false);
            LogApplied(ResourceType<T>.Kind, ObjectKey.From(desired), "created");
            return response.Body;
        }
        catch (Exception e) when (KubernetesErrors.IsAlreadyExists(e))
        {
            return null;
        }
    }

    /// <summary>
    /// The JSON sent: the desired object with apiVersion and kind filled in, without status and the metadata the server
    /// owns, after checking it carries the managed-by label (else the operator's own cache would never see it).
    /// </summary>
    internal JsonObject ApplyConfiguration<T>(T desired)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(desired);
        var key = ObjectKey.From(desired);
        var json = JsonNode.Parse(KubernetesJson.Serialize(desired))?.AsObject()
            ?? throw new InvalidOperationException($"{ResourceType<T>.Kind} {key} serialised to nothing.");
        json["apiVersion"] = ResourceType<T>.ApiVersion;
        json["kind"] = ResourceType<T>.Kind;
        json.Remove("status");
        var metadata = json["metadata"]!.AsObject();
        foreach (var field in ServerOwnedMetadata)
        {
            metadata.Remove(field);
        }

        RequireManagedLabel(metadata, $"{ResourceType<T>.Kind} {key}");
        if (json["spec"]?["template"] is JsonObject template)
        {
            RequireManagedLabel(template["metadata"] as JsonObject, $"the pod template of {ResourceType<T>.Kind} {key}");
        }

        return json;
    }

    private void RequireManagedLabel(JsonObject? metadata, string what)
    {
        var value = metadata?["labels"]?[ManagedObjects.Label]?.GetValue<string>();
        if (value != options.ManagedBy)
        {
            throw new ArgumentException(
                $"{what} must carry the label {ManagedObjects.Label}={options.ManagedBy} (it has '{value ?? "none"}'): the operator's informers only see objects with it.");
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Kind} {Key} {What} by server-side apply")]
    private partial void LogApplied(string kind, ObjectKey key, string what);
}

/// <summary>Whether one JSON document holds every field of another with the same value (arrays element by element).</summary>
public static class JsonSubset
{
    public static bool IsSubset(JsonNode? wanted, JsonNode? actual) => wanted switch
    {
        null => true,
        JsonObject o => actual is JsonObject a && o.All(kv => a.TryGetPropertyValue(kv.Key, out var value) ? IsSubset(kv.Value, value) : kv.Value is null),
        JsonArray w => actual is JsonArray a && w.Count == a.Count && w.Zip(a).All(p => IsSubset(p.First, p.Second)),
        _ => actual is JsonValue && JsonNode.DeepEquals(wanted, actual),
    };
}

/// <summary>
/// Sends custom-object calls for the core group ("/apis//v1/...") to "/api/v1/...", so the generic custom-object API
/// reaches ConfigMaps, Pods and Services too; KubernetesClient's own GenericClient did the same with this rewrite.
/// </summary>
public sealed class CoreApiPathHandler : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.RequestUri is { } uri && uri.AbsolutePath.Contains("/apis//", StringComparison.Ordinal))
        {
            request.RequestUri = new UriBuilder(uri) { Path = uri.AbsolutePath.Replace("/apis//", "/api/", StringComparison.Ordinal) }.Uri;
        }

        return base.SendAsync(request, cancellationToken);
    }
}
