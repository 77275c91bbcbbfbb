using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>What a reconcile asks for next: nothing (wait for the next change), or another look after a delay.</summary>
public readonly record struct ReconcileResult(TimeSpan? RequeueAfter = null)
{
    public static ReconcileResult Done => default;

    public static ReconcileResult After(TimeSpan delay) => new(delay);
}

/// <summary>
/// Level-based: called with the current (cached, copied) object whenever it or something it owns may have changed.
/// Throwing retries the key with per-key exponential backoff; <see cref="TerminalReconcileException"/> does not retry.
/// </summary>
public interface IReconciler<in T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    Task<ReconcileResult> ReconcileAsync(T resource, CancellationToken ct);
}

/// <summary>A failure that retrying cannot fix (a spec error, say): logged and counted, never retried until the object changes.</summary>
public sealed class TerminalReconcileException : Exception
{
    public TerminalReconcileException()
    {
    }

    public TerminalReconcileException(string message)
        : base(message)
    {
    }

    public TerminalReconcileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Filters which updates enqueue a reconcile (adds, deletes and resyncs always do).</summary>
public static class Predicates
{
    /// <summary>Every update.</summary>
    public static bool Any<T>(T oldObj, T newObj)
        where T : IKubernetesObject<V1ObjectMeta> => true;

    /// <summary>
    /// controller-runtime's GenerationChangedPredicate plus metadata the operator acts on: a status-only write
    /// (our own, usually) does not trigger another reconcile; a spec change, deletion, or finalizer/label/annotation change does.
    /// </summary>
    public static bool GenerationOrMetadataChanged<T>(T oldObj, T newObj)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        var o = oldObj.Metadata;
        var n = newObj.Metadata;
        return o.Generation != n.Generation
            || o.DeletionTimestamp != n.DeletionTimestamp
            || !SameItems(o.Finalizers, n.Finalizers)
            || !SameMap(o.Labels, n.Labels)
            || !SameMap(o.Annotations, n.Annotations);
    }

    private static bool SameItems(IList<string>? a, IList<string>? b) =>
        (a is null || a.Count == 0) ? (b is null || b.Count == 0) : (b is not null && a.SequenceEqual(b));

    private static bool SameMap(IDictionary<string, string>? a, IDictionary<string, string>? b)
    {
        if (a is null || a.Count == 0)
        {
            return b is null || b.Count == 0;
        }

        return b is not null && a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var v) && v == kv.Value);
    }
}
