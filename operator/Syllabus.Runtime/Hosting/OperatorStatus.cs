using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Syllabus.Runtime.Hosting;

/// <summary>What the probes report: is this instance leading, and are its caches synced.</summary>
public sealed class OperatorStatus
{
    private volatile bool isLeader;
    private volatile bool cachesSynced;
    private volatile string? leader;

    public bool IsLeader
    {
        get => isLeader;
        internal set => isLeader = value;
    }

    public bool CachesSynced
    {
        get => cachesSynced;
        internal set => cachesSynced = value;
    }

    /// <summary>The identity of the current leader as last observed, if leader election is on.</summary>
    public string? Leader
    {
        get => leader;
        internal set => leader = value;
    }

    /// <summary>This instance led and lost the lease; it is stopping and exits with <see cref="OperatorHost.LeaseLostExitCode"/>.</summary>
    public bool LeaseLost { get; internal set; }

    /// <summary>Set when the manager's loop ended unexpectedly; liveness then fails so the pod restarts.</summary>
    public string? Fault { get; internal set; }
}

/// <summary>/readyz: ready when leading with synced caches, or when standing by (leader election on, someone else leads).</summary>
internal sealed class ReadinessCheck(OperatorStatus status, IOptions<OperatorOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var electing = options.Value.LeaderElection.Enabled;
        HealthCheckResult result;
        if (electing && !status.IsLeader)
        {
            result = HealthCheckResult.Healthy($"standing by; leader is {status.Leader ?? "unknown"}");
        }
        else if (status.CachesSynced)
        {
            result = HealthCheckResult.Healthy(electing ? "leading; caches synced" : "caches synced");
        }
        else
        {
            result = HealthCheckResult.Unhealthy("caches not synced yet");
        }

        return Task.FromResult(result);
    }
}

/// <summary>/healthz: the process is alive and its manager loop has not died.</summary>
internal sealed class LivenessCheck(OperatorStatus status) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(status.Fault is { } fault ? HealthCheckResult.Unhealthy(fault) : HealthCheckResult.Healthy());
}
