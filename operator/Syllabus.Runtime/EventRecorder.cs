using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

public static class EventTypes
{
    public const string Normal = "Normal";
    public const string Warning = "Warning";
}

/// <summary>Writes core/v1 Events about objects (what `kubectl describe` shows).</summary>
public interface IEventRecorder
{
    /// <summary>Records an event. Never throws for API errors: events are best effort and must not fail a reconcile.</summary>
    Task RecordAsync(IKubernetesObject<V1ObjectMeta> obj, string type, string reason, string message, CancellationToken ct = default);
}

/// <summary>
/// Writes one Event now (reconcilers go through <see cref="QueuedEventRecorder"/>, which calls this from its writer).
/// Like client-go's recorder with its EventCorrelator: a repeat of the same (object, type, reason, message) increments
/// count and lastTimestamp of the Event already written, rather than creating a new one.
/// </summary>
// Events are created, and a repeated one (same object, type, reason and message) gets its count patched.
[Rbac.RbacRule(Groups = [""], Resources = ["events"], Verbs = ["create", "patch"])]
public sealed class EventRecorder(IKubernetes client, EventRecorderOptions options, TimeProvider time, ILogger<EventRecorder> logger) : IEventRecorder
{
    private readonly Lock gate = new();
    private readonly Dictionary<(string Uid, string Type, string Reason, string Message), SeenEvent> seen = [];
    private readonly LinkedList<(string Uid, string Type, string Reason, string Message)> order = new();

    public async Task RecordAsync(IKubernetesObject<V1ObjectMeta> obj, string type, string reason, string message, CancellationToken ct = default)
    {
        Check(obj, type, reason);
        var meta = obj.Metadata;
        var ns = string.IsNullOrEmpty(meta.NamespaceProperty) ? "default" : meta.NamespaceProperty;
        var entity = obj.GetKubernetesTypeMetadata();
        var kind = entity?.Kind ?? obj.Kind ?? obj.GetType().Name;
        var aggregateKey = (meta.Uid ?? $"{ns}/{meta.Name}", type, reason, message);
        var now = time.GetUtcNow().UtcDateTime;
        try
        {
            SeenEvent? previous;
            lock (gate)
            {
                seen.TryGetValue(aggregateKey, out previous);
            }

            if (previous is not null)
            {
                var count = previous.Count + 1;
                // A partial Event: its unset fields are null and left out, so this is {"count": N, "lastTimestamp": ...}.
                var patch = new V1Patch(new Corev1Event { Count = count, LastTimestamp = now }, V1Patch.PatchType.MergePatch);
                try
                {
                    await client.CoreV1.PatchNamespacedEventAsync(patch, previous.Name, previous.Namespace, cancellationToken: ct).ConfigureAwait(false);
                    Remember(aggregateKey, previous with { Count = count });
                    return;
                }
                catch (Exception e) when (KubernetesErrors.IsNotFound(e))
                {
                    // The Event expired (the API server deletes them after an hour): start a new one.
                }
            }

            var created = await client.CoreV1.CreateNamespacedEventAsync(
                new Corev1Event
                {
                    Metadata = new V1ObjectMeta { Name = $"{meta.Name}.{time.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000 + Random.Shared.Next(1_000_000):x}", NamespaceProperty = ns },
                    InvolvedObject = new V1ObjectReference
                    {
                        ApiVersion = entity is null ? obj.ApiVersion : string.IsNullOrEmpty(entity.Group) ? entity.ApiVersion : $"{entity.Group}/{entity.ApiVersion}",
                        Kind = kind,
                        Name = meta.Name,
                        NamespaceProperty = meta.NamespaceProperty,
                        Uid = meta.Uid,
                        ResourceVersion = meta.ResourceVersion,
                    },
                    Type = type,
                    Reason = reason,
                    Message = message,
                    Count = 1,
                    FirstTimestamp = now,
                    LastTimestamp = now,
                    Source = new V1EventSource { Component = options.Component, Host = options.Host },
                    ReportingComponent = options.Component,
                    ReportingInstance = options.Host,
                },
                ns,
                cancellationToken: ct).ConfigureAwait(false);
            Remember(aggregateKey, new SeenEvent(created.Metadata.Name, ns, 1));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.EventFailed(e, reason, kind, ObjectKey.From(obj));
        }
    }

    /// <summary>The arguments every recorder rejects at the call site (a programming error, not an API one).</summary>
    internal static void Check(IKubernetesObject<V1ObjectMeta> obj, string type, string reason)
    {
        ArgumentNullException.ThrowIfNull(obj);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        if (type is not (EventTypes.Normal or EventTypes.Warning))
        {
            throw new ArgumentException($"Event type must be Normal or Warning, not '{type}'.", nameof(type));
        }
    }

    private void Remember((string, string, string, string) key, SeenEvent value)
    {
        lock (gate)
        {
            if (!seen.ContainsKey(key))
            {
                order.AddLast(key);
                if (order.Count > options.CacheSize)
                {
                    seen.Remove(order.First!.Value);
                    order.RemoveFirst();
                }
            }

            seen[key] = value;
        }
    }

    private sealed record SeenEvent(string Name, string Namespace, int Count);
}

public sealed record EventRecorderOptions
{
    public string Component { get; init; } = "syllabus-operator";

    public string Host { get; init; } = Environment.MachineName;

    /// <summary>Distinct (object, type, reason, message) tuples remembered for aggregation, as client-go's 4096.</summary>
    public int CacheSize { get; init; } = 4096;

    /// <summary>Events waiting to be written before new ones are dropped (with a warning), as client-go's 1,000.</summary>
    public int QueueLimit { get; init; } = 1000;
}
