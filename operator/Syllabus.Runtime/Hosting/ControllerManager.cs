using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Syllabus.Runtime;

namespace Syllabus.Runtime.Hosting;

/// <summary>
/// Runs the registered controllers: directly, or (leader election on) only while this instance holds the Lease.
/// Each leadership term gets fresh informers and queues. Losing the lease cancels in-flight reconciles, closes the
/// write fence and stops the application (exit code <see cref="OperatorHost.LeaseLostExitCode"/>), as controller-runtime
/// exits on OnStoppedLeading. On shutdown it stops taking keys and lets in-flight reconciles finish (still renewing
/// the lease) until HostOptions.ShutdownTimeout, then hands the lease back.
/// </summary>
// Leader election: the LeaseLock reads, creates and replaces one Lease in the operator's own namespace.
[Rbac.RbacRule(Groups = ["coordination.k8s.io"], Resources = ["leases"], Verbs = ["get", "create", "update"], Scope = Rbac.RbacScope.OperatorNamespace)]
internal sealed partial class ControllerManager(
    IServiceProvider services,
    IEnumerable<ControllerRegistration> registrations,
    IKubernetes client,
    LeaderElectionClient leaseClient,
    LeaseFence fence,
    IHostApplicationLifetime lifetime,
    IOptions<OperatorOptions> options,
    OperatorStatus status,
    CacheProvider caches,
    TimeProvider time,
    ILoggerFactory loggerFactory,
    ILogger<ControllerManager> logger) : BackgroundService
{
    private readonly CancellationTokenSource abort = new();

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The host cancels this token when ShutdownTimeout runs out: only then are running reconciles cancelled.
        using var registration = cancellationToken.Register(abort.Cancel);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public override void Dispose()
    {
        abort.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var opts = options.Value;
        var list = registrations.ToList();
        LogStarting(list.Count, opts.Namespaces.Count == 0 ? "all namespaces" : string.Join(",", opts.Namespaces), opts.LeaderElection.Enabled);
        try
        {
            if (!opts.LeaderElection.Enabled)
            {
                await RunTermAsync(list, stoppingToken, abort.Token).ConfigureAwait(false);
                return;
            }

            await RunWithLeaderElectionAsync(list, opts.LeaderElection, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            status.Fault = $"controller manager failed: {e.Message}";
            LogFailed(e);
            throw;
        }
    }

    private async Task RunWithLeaderElectionAsync(List<ControllerRegistration> list, LeaderElectionOptions le, CancellationToken stoppingToken)
    {
        var identity = le.Identity ?? $"{Environment.MachineName}_{Guid.NewGuid():N}";
        var leaseLock = new FencedLock(new LeaseLock(leaseClient.Client, le.LeaseNamespace, le.LeaseName, identity), fence);
        using var elector = new LeaderElector(new LeaderElectionConfig(leaseLock)
        {
            LeaseDuration = le.LeaseDuration,
            RenewDeadline = le.RenewDeadline,
            RetryPeriod = le.RetryPeriod,
        });

        // The elector keeps renewing while a stopping leader drains its reconciles; it stops at once when the lease is lost.
        using var electorCts = new CancellationTokenSource();
        var ending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new Lock();
        CancellationTokenSource? termCts = null;
        CancellationTokenSource? termAbort = null;
        Task term = Task.CompletedTask;

        void OnLost(string reason)
        {
            lock (gate)
            {
                status.IsLeader = false;
                status.LeaseLost = true;
                LogLostLease(identity, reason);

                // controller-runtime's OnStoppedLeading: stop every write now. In-flight reconciles are cancelled (not
                // drained), the fence already refuses their writes, and the process exits so it restarts clean.
                termAbort?.Cancel();
                termCts?.Cancel();
            }

            electorCts.Cancel();
            ending.TrySetResult();
            lifetime.StopApplication();
        }

        fence.Lost += OnLost;
        elector.OnStartedLeading += () =>
        {
            lock (gate)
            {
                if (fence.IsLost || ending.Task.IsCompleted)
                {
                    return;
                }

                status.IsLeader = true;
                LogLeading(identity, le.LeaseNamespace, le.LeaseName);
                termCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                termAbort = CancellationTokenSource.CreateLinkedTokenSource(abort.Token);
                var token = termCts.Token;
                var abortToken = termAbort.Token;
                term = Task.Run(() => RunTermAsync(list, token, abortToken), CancellationToken.None);
            }
        };
        elector.OnStoppedLeading += () =>
        {
            // Also raised when this instance stops the elector itself (a clean stop, after draining): not a loss.
            if (!electorCts.IsCancellationRequested)
            {
                fence.MarkLost($"the lease could not be renewed within {le.RenewDeadline.TotalSeconds:0.#} s");
            }
        };
        elector.OnNewLeader += leader =>
        {
            status.Leader = leader;
            LogNewLeader(leader);
        };
        elector.OnError += e =>
        {
            if (!(e is OperationCanceledException && electorCts.IsCancellationRequested))
            {
                LogElectionError(e);
            }
        };

        using var stopping = stoppingToken.Register(() => ending.TrySetResult());
        var electing = elector.RunAndTryToHoldLeadershipForeverAsync(electorCts.Token);
        var watchdog = WatchFenceAsync(le, electorCts.Token);
        try
        {
            await Task.WhenAny(electing, ending.Task).ConfigureAwait(false);
        }
        finally
        {
            Task running;
            lock (gate)
            {
                termCts?.Cancel();
                running = term;
            }

            await running.ConfigureAwait(false);
            await electorCts.CancelAsync().ConfigureAwait(false);
            await IgnoreCancellationAsync(electing).ConfigureAwait(false);
            await IgnoreCancellationAsync(watchdog).ConfigureAwait(false);
            fence.Lost -= OnLost;
            termCts?.Dispose();
            termAbort?.Dispose();
            if (!status.LeaseLost && (status.IsLeader || elector.IsLeader()))
            {
                status.IsLeader = false;
                await ReleaseAsync(leaseLock, identity).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Checks the fence between renewals, so a leader whose renewals stopped (API unreachable, process frozen) stops
    /// its controllers when the renew deadline passes even if it makes no write that would find the fence closed.
    /// </summary>
    private async Task WatchFenceAsync(LeaderElectionOptions le, CancellationToken ct)
    {
        var interval = TimeSpan.FromTicks(Math.Min(le.RetryPeriod.Ticks, TimeSpan.FromMilliseconds(250).Ticks));
        while (!ct.IsCancellationRequested)
        {
            await Task.Delay(interval, time, ct).ConfigureAwait(false);
            if (status.IsLeader)
            {
                _ = fence.IsHeld; // raises Lost when the deadline has passed
            }
        }
    }

    private static async Task IgnoreCancellationAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Hands the lease back on a clean stop (client-go's ReleaseOnCancel) so a standby need not wait for it to expire.</summary>
    private async Task ReleaseAsync(ILock leaseLock, string identity)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var current = await leaseLock.GetAsync(timeout.Token).ConfigureAwait(false);
            if (current.HolderIdentity != identity)
            {
                return;
            }

            var now = time.GetUtcNow().UtcDateTime;
            var released = await leaseLock.UpdateAsync(
                new LeaderElectionRecord
                {
                    HolderIdentity = string.Empty,
                    LeaseDurationSeconds = 1,
                    AcquireTime = now,
                    RenewTime = now,
                    LeaderTransitions = current.LeaderTransitions,
                },
                timeout.Token).ConfigureAwait(false);
            if (released)
            {
                LogReleased(identity);
            }
            else
            {
                LogNotReleased(identity);
            }
        }
        catch (Exception e)
        {
            LogReleaseFailed(e);
        }
    }

    /// <summary>
    /// One term: start informers, wait for their caches, run the controllers until <paramref name="ct"/>, then drain;
    /// <paramref name="abortReconciles"/> cancels the reconciles still running (shutdown timeout, lease lost).
    /// </summary>
    private async Task RunTermAsync(List<ControllerRegistration> list, CancellationToken ct, CancellationToken abortReconciles)
    {
        var opts = options.Value;
        var informers = new InformerFactory(
            client,
            new InformerOptions { Namespaces = opts.Namespaces, ResyncPeriod = opts.ResyncPeriod },
            time,
            loggerFactory,
            ManagedObjects.Selector(opts.ManagedBy));
        var controllers = list.Select(r => r.Build(services, informers, opts)).ToList();
        using var informerCts = new CancellationTokenSource();
        var informersRunning = informers.RunAsync(informerCts.Token);
        var started = new List<IController>();
        try
        {
            // As controller-runtime's CacheSyncTimeout: an informer that cannot list (a CRD not installed, a permission
            // missing) fails the start, naming it, instead of leaving the manager unready and silent forever.
            using (var syncDeadline = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                syncDeadline.CancelAfter(opts.CacheSyncTimeout);
                try
                {
                    await informers.WaitForSyncAsync(syncDeadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    var unsynced = string.Join(", ", informers.Informers.Where(i => !i.HasSynced).Select(i => i.Kind));
                    throw new InvalidOperationException(
                        $"the caches of {unsynced} did not sync within Operator:CacheSyncTimeout ({opts.CacheSyncTimeout}); is the CRD installed and the kind granted list and watch? (see the informer warnings above)");
                }
            }

            caches.Current = informers;
            status.CachesSynced = true;
            LogSynced(informers.Informers.Count);
            foreach (var controller in controllers)
            {
                await controller.StartAsync(ct).ConfigureAwait(false);
                started.Add(controller);
            }

            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(started.Select(c => c.StopAsync(abortReconciles))).ConfigureAwait(false);
            status.CachesSynced = false;
            caches.Current = null;
            await informerCts.CancelAsync().ConfigureAwait(false);
            await informersRunning.ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Controller manager starting {Count} controllers watching {Namespaces}; leader election {LeaderElection}")]
    private partial void LogStarting(int count, string namespaces, bool leaderElection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Caches of {Count} informers synced")]
    private partial void LogSynced(int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} is now leading through Lease {Namespace}/{Name}")]
    private partial void LogLeading(string identity, string @namespace, string name);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Identity} lost the lease ({Reason}); cancelling reconciles and exiting so the pod restarts clean")]
    private partial void LogLostLease(string identity, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Leader is {Leader}")]
    private partial void LogNewLeader(string leader);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leader election error")]
    private partial void LogElectionError(Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} released the lease")]
    private partial void LogReleased(string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} did not release the lease (it changed meanwhile, or this instance's renew deadline had passed); a standby takes over when it expires")]
    private partial void LogNotReleased(string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release the lease; a standby takes over when it expires")]
    private partial void LogReleaseFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The controller manager failed")]
    private partial void LogFailed(Exception exception);
}
