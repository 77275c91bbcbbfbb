using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>metav1.Condition helpers, like apimachinery's meta.SetStatusCondition.</summary>
public static class Conditions
{
    public const string True = "True";
    public const string False = "False";
    public const string Unknown = "Unknown";

    /// <summary>
    /// Sets (adds or updates) the condition of <paramref name="type"/>. lastTransitionTime moves only when the status
    /// changes. Returns whether anything changed, so status is written only when it did.
    /// </summary>
    public static bool SetCondition(
        IList<V1Condition> conditions,
        string type,
        string status,
        string reason,
        string message,
        long? observedGeneration,
        DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        ArgumentException.ThrowIfNullOrEmpty(type);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        if (status is not (True or False or Unknown))
        {
            throw new ArgumentException($"Condition status must be True, False or Unknown, not '{status}'.", nameof(status));
        }

        message ??= string.Empty;
        var existing = Find(conditions, type);
        if (existing is null)
        {
            conditions.Add(new V1Condition
            {
                Type = type,
                Status = status,
                Reason = reason,
                Message = message,
                ObservedGeneration = observedGeneration,
                LastTransitionTime = now.UtcDateTime,
            });
            return true;
        }

        var changed = false;
        if (existing.Status != status)
        {
            existing.Status = status;
            existing.LastTransitionTime = now.UtcDateTime;
            changed = true;
        }

        if (existing.Reason != reason)
        {
            existing.Reason = reason;
            changed = true;
        }

        if (existing.Message != message)
        {
            existing.Message = message;
            changed = true;
        }

        if (existing.ObservedGeneration != observedGeneration)
        {
            existing.ObservedGeneration = observedGeneration;
            changed = true;
        }

        return changed;
    }

    public static V1Condition? Find(IEnumerable<V1Condition>? conditions, string type) =>
        conditions?.FirstOrDefault(c => c.Type == type);

    public static bool IsTrue(IEnumerable<V1Condition>? conditions, string type) => Find(conditions, type)?.Status == True;

    public static bool IsFalse(IEnumerable<V1Condition>? conditions, string type) => Find(conditions, type)?.Status == False;

    public static bool Remove(IList<V1Condition> conditions, string type)
    {
        ArgumentNullException.ThrowIfNull(conditions);
        var existing = Find(conditions, type);
        return existing is not null && conditions.Remove(existing);
    }
}
