using k8s;
using k8s.LeaderElection;

namespace Syllabus.Runtime.Hosting;

/// <summary>
/// Whether this instance may still write as the leader. Like client-go's renew loop, a leader whose last successful
/// renewal started more than RenewDeadline ago is no longer leading. Because RenewDeadline &lt; LeaseDuration and a
/// standby only takes a lease that it has seen unrenewed for a whole LeaseDuration, the fence closes before anyone
/// else can lead. Time is the monotonic clock of <see cref="TimeProvider.GetTimestamp"/>: a process frozen (SIGSTOP)
/// past its lease finds the fence closed the moment it resumes, before its own renew loop notices.
/// </summary>
public sealed class LeaseFence(TimeProvider time, TimeSpan renewDeadline)
{
    private readonly Lock gate = new();
    private long renewedAt;
    private bool held;
    private bool lost;

    /// <summary>Raised once, on the first observation that the lease is no longer held (deadline passed or another holder seen).</summary>
    public event Action<string>? Lost;

    /// <summary>True while leading and the last renewal started less than RenewDeadline ago.</summary>
    public bool IsHeld
    {
        get
        {
            lock (gate)
            {
                if (!held)
                {
                    return false;
                }

                if (time.GetElapsedTime(renewedAt) < renewDeadline)
                {
                    return true;
                }
            }

            MarkLost($"no successful renewal for {renewDeadline.TotalSeconds:0.#} s (the renew deadline)");
            return false;
        }
    }

    /// <summary>True once leadership was held and then lost; a lost fence never opens again (the process restarts).</summary>
    public bool IsLost
    {
        get
        {
            lock (gate)
            {
                return lost;
            }
        }
    }

    /// <summary>
    /// True once leadership was held and is no longer: lost, or (checked now, on the monotonic clock) past the renew
    /// deadline. Such an instance must not write the Lease either: like client-go's leader after its renew deadline, it
    /// never renews again, even if it resumes between the read and the update of a renewal.
    /// </summary>
    internal bool HasClosed
    {
        get
        {
            _ = IsHeld; // closes the fence if the deadline has passed
            return IsLost;
        }
    }

    /// <summary>A create or update of the lease that started at <paramref name="startedAt"/> succeeded with this instance as holder.</summary>
    internal void Renewed(long startedAt)
    {
        lock (gate)
        {
            if (lost)
            {
                return;
            }

            held = true;
            renewedAt = Math.Max(renewedAt, startedAt);
        }
    }

    /// <summary>Closes the fence for good and raises <see cref="Lost"/> if it was held.</summary>
    internal void MarkLost(string reason)
    {
        lock (gate)
        {
            if (!held || lost)
            {
                return;
            }

            held = false;
            lost = true;
        }

        Lost?.Invoke(reason);
    }

    internal long Timestamp() => time.GetTimestamp();
}

/// <summary>
/// Wraps the Lease lock so that the <see cref="LeaseFence"/> learns of every successful renewal (the time the request
/// started, the conservative end) and of a read showing another holder, which ends leadership at once instead of after
/// the library's renew deadline.
/// </summary>
internal sealed class FencedLock(ILock inner, LeaseFence fence) : ILock
{
    public string Identity => inner.Identity;

    public string Describe() => inner.Describe();

    public async Task<LeaderElectionRecord> GetAsync(CancellationToken cancellationToken = default)
    {
        var record = await inner.GetAsync(cancellationToken).ConfigureAwait(false);
        if (record is not null && !string.IsNullOrEmpty(record.HolderIdentity) && record.HolderIdentity != Identity)
        {
            fence.MarkLost($"the lease is now held by {record.HolderIdentity}");
        }

        return record!;
    }

    public async Task<bool> CreateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default)
    {
        if (fence.HasClosed)
        {
            return false;
        }

        var started = fence.Timestamp();
        var created = await inner.CreateAsync(record, cancellationToken).ConfigureAwait(false);
        if (created && record.HolderIdentity == Identity)
        {
            fence.Renewed(started);
        }

        return created;
    }

    public async Task<bool> UpdateAsync(LeaderElectionRecord record, CancellationToken cancellationToken = default)
    {
        if (fence.HasClosed)
        {
            return false;
        }

        var started = fence.Timestamp();
        var updated = await inner.UpdateAsync(record, cancellationToken).ConfigureAwait(false);
        if (updated && record.HolderIdentity == Identity)
        {
            fence.Renewed(started);
        }

        return updated;
    }
}

/// <summary>
/// The innermost of the operator's own handlers on a client (only handlers added with AddKubernetesClientHandler and
/// the socket handler come after it): with leader election on, a write (POST, PUT, PATCH, DELETE) leaves only while
/// the <see cref="LeaseFence"/> allows it, so an instance that lost its lease (or was frozen past it) cannot write
/// even from a reconcile that has not yet seen its cancellation, nor send a Lease renewal it prepared before it was
/// frozen. Reads pass: they change nothing.
/// </summary>
internal sealed class LeaderWriteFenceHandler : DelegatingHandler
{
    private readonly Func<bool> mayWrite;

    private LeaderWriteFenceHandler(Func<bool> mayWrite) => this.mayWrite = mayWrite;

    /// <summary>For the reconcile client: writes only while the lease is held.</summary>
    public static LeaderWriteFenceHandler ForReconciles(LeaseFence? fence) =>
        new(fence is null ? static () => true : () => fence.IsHeld);

    /// <summary>For the client that renews the Lease: every write until the fence has closed (acquiring is a Lease write).</summary>
    public static LeaderWriteFenceHandler ForLease(LeaseFence? fence) =>
        new(fence is null ? static () => true : () => !fence.HasClosed);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (IsWrite(request.Method) && !mayWrite())
        {
            return Task.FromException<HttpResponseMessage>(new LeaseLostException(
                $"{request.Method} {request.RequestUri?.AbsolutePath} refused: this instance does not hold the leader lease."));
        }

        return base.SendAsync(request, cancellationToken);
    }

    private static bool IsWrite(HttpMethod method) =>
        method == HttpMethod.Post || method == HttpMethod.Put || method == HttpMethod.Patch || method == HttpMethod.Delete;
}

/// <summary>A write was refused because this instance is not (or no longer) the leader.</summary>
public sealed class LeaseLostException(string message) : OperationCanceledException(message);

/// <summary>
/// The client that renews the Lease: its own <see cref="Kubernetes"/> instance and connection pool, without the
/// client-side rate limiter, so renewals never queue behind reconcile traffic (client-go gives leader election its own
/// rest client for the same reason).
/// </summary>
internal sealed class LeaderElectionClient(IKubernetes client) : IDisposable
{
    public IKubernetes Client { get; } = client;

    public void Dispose() => Client.Dispose();
}
