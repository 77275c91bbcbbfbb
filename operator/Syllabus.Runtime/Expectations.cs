using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>
/// client-go's ControllerExpectations, by name: after a reconcile creates a child, the owner's next reconciles wait
/// until the informer cache shows that child, so a cache that lags our own write is never mistaken for "the child is
/// missing" (which would create it again, or count it as deleted). An expectation nobody observes lapses after
/// <see cref="Timeout"/>, so a lost watch event cannot wedge an owner forever.
/// </summary>
public sealed class Expectations<TOwner>(TimeProvider time)
    where TOwner : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>How long an unobserved expectation holds (client-go uses 5 minutes; a watch delivers in well under a second).</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    private readonly Lock gate = new();
    private readonly Dictionary<ObjectKey, List<Pending>> pending = [];

    /// <summary>Records that <paramref name="owner"/> created something the cache does not show until <paramref name="observed"/> says so.</summary>
    public void Expect(ObjectKey owner, string what, Func<bool> observed)
    {
        ArgumentNullException.ThrowIfNull(observed);
        lock (gate)
        {
            if (!pending.TryGetValue(owner, out var list))
            {
                pending[owner] = list = [];
            }

            list.Add(new Pending(what, observed, time.GetUtcNow() + Timeout));
        }
    }

    /// <summary>
    /// Whether every expectation of <paramref name="owner"/> is met (observed or lapsed); when not, how long the
    /// longest one may still take and what it waits for. Met ones are dropped.
    /// </summary>
    public bool IsSatisfied(ObjectKey owner, out TimeSpan wait, out string? waitingFor)
    {
        wait = TimeSpan.Zero;
        waitingFor = null;
        lock (gate)
        {
            if (!pending.TryGetValue(owner, out var list))
            {
                return true;
            }

            var now = time.GetUtcNow();
            list.RemoveAll(p => p.Deadline <= now || p.Observed());
            if (list.Count == 0)
            {
                pending.Remove(owner);
                return true;
            }

            wait = list.Max(p => p.Deadline) - now;
            waitingFor = string.Join(", ", list.Select(p => p.What));
            return false;
        }
    }

    /// <summary>Drops every expectation of <paramref name="owner"/> (it is gone).</summary>
    public void Forget(ObjectKey owner)
    {
        lock (gate)
        {
            pending.Remove(owner);
        }
    }

    private sealed record Pending(string What, Func<bool> Observed, DateTimeOffset Deadline);
}
