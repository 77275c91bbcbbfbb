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
/// Each leadership term gets fresh informers and queues; losing the lease stops them.
/// On shutdown it stops taking keys and lets in-flight reconciles finish until HostOptions.ShutdownTimeout.
/// </summary>
internal sealed partial class ControllerManager(
    IServiceProvider services,
    IEnumerable<ControllerRegistration> registrations,
    IKubernetes client,
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
                await RunTermAsync(list, stoppingToken).ConfigureAwait(false);
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
        var leaseLock = new LeaseLock(client, le.LeaseNamespace, le.LeaseName, identity);
        using var elector = new LeaderElector(new LeaderElectionConfig(leaseLock)
        {
            LeaseDuration = le.LeaseDuration,
            RenewDeadline = le.RenewDeadline,
            RetryPeriod = le.RetryPeriod,
        });

        var gate = new Lock();
        CancellationTokenSource? termCts = null;
        Task term = Task.CompletedTask;
        elector.OnStartedLeading += () =>
        {
            lock (gate)
            {
                status.IsLeader = true;
                LogLeading(identity, le.LeaseNamespace, le.LeaseName);
                termCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                var token = termCts.Token;
                term = Task.Run(() => RunTermAsync(list, token), CancellationToken.None);
            }
        };
        elector.OnStoppedLeading += () =>
        {
            lock (gate)
            {
                status.IsLeader = false;
                LogLostLease(identity);
                termCts?.Cancel();
            }
        };
        elector.OnNewLeader += leader =>
        {
            status.Leader = leader;
            LogNewLeader(leader);
        };
        elector.OnError += e => LogElectionError(e);

        try
        {
            await elector.RunAndTryToHoldLeadershipForeverAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
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
            termCts?.Dispose();
            if (status.IsLeader || elector.IsLeader())
            {
                status.IsLeader = false;
                await ReleaseAsync(leaseLock, identity).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Hands the lease back on a clean stop (client-go's ReleaseOnCancel) so a standby need not wait for it to expire.</summary>
    private async Task ReleaseAsync(LeaseLock leaseLock, string identity)
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
            await leaseLock.UpdateAsync(
                new LeaderElectionRecord
                {
                    HolderIdentity = string.Empty,
                    LeaseDurationSeconds = 1,
                    AcquireTime = now,
                    RenewTime = now,
                    LeaderTransitions = current.LeaderTransitions,
                },
                timeout.Token).ConfigureAwait(false);
            LogReleased(identity);
        }
        catch (Exception e)
        {
            LogReleaseFailed(e);
        }
    }

    /// <summary>One term: start informers, wait for their caches, run the controllers until <paramref name="ct"/>, then drain.</summary>
    private async Task RunTermAsync(List<ControllerRegistration> list, CancellationToken ct)
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
            await informers.WaitForSyncAsync(ct).ConfigureAwait(false);
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
            await Task.WhenAll(started.Select(c => c.StopAsync(abort.Token))).ConfigureAwait(false);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Identity} lost the lease; stopping controllers")]
    private partial void LogLostLease(string identity);

    [LoggerMessage(Level = LogLevel.Information, Message = "Leader is {Leader}")]
    private partial void LogNewLeader(string leader);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leader election error")]
    private partial void LogElectionError(Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Identity} released the lease")]
    private partial void LogReleased(string identity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release the lease; a standby takes over when it expires")]
    private partial void LogReleaseFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "The controller manager failed")]
    private partial void LogFailed(Exception exception);
}
