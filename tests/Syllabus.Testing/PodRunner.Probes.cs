using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Testing;

/// <summary>
/// Probes, lifecycle hooks, kills and pod conditions, following the 1.20 kubelet's prober workers and
/// kuberuntime: probes start with the container's run (the first at initialDelaySeconds after it, then every
/// periodSeconds; the kubelet's first tick falls anywhere in the first period, here it is exactly at the delay);
/// a result counts once it repeated successThreshold / failureThreshold times in a row; an error that keeps a
/// probe from running (a port name the container lacks) discards that try. Until the startup probe succeeds
/// the others are skipped and the container is not started; readiness starts as Failure; a liveness or
/// startup failure kills the container (preStop, TERM, KILL after terminationGracePeriodSeconds) and it
/// restarts unless restartPolicy is Never.
/// </summary>
internal sealed partial class PodRunner
{
    private const string Liveness = "liveness";
    private const string Readiness = "readiness";
    private const string Startup = "startup";

    /// <summary>The kubelet never leaves less than this between TERM and KILL (minimumGracePeriodInSeconds).</summary>
    private static readonly TimeSpan MinimumGracePeriod = TimeSpan.FromSeconds(2);

    private Task[] StartProbes(ContainerState state, ManagedProcess process, CancellationToken ct)
    {
        var workers = new List<Task>();
        foreach (var (kind, probe) in new[] { (Startup, state.Spec.StartupProbe), (Liveness, state.Spec.LivenessProbe), (Readiness, state.Spec.ReadinessProbe) })
        {
            if (probe is not null)
            {
                workers.Add(Task.Run(() => ProbeLoopAsync(state, process, kind, probe, ct), CancellationToken.None));
            }
        }

        return [.. workers];
    }

    private async Task ProbeLoopAsync(ContainerState state, ManagedProcess process, string kind, V1Probe probe, CancellationToken ct)
    {
        var container = state.Spec.Name;
        try
        {
            var period = TimeSpan.FromSeconds(probe.PeriodSeconds is > 0 and var p ? p : 10);
            var successThreshold = probe.SuccessThreshold is > 0 and var s ? s : 1;
            var failureThreshold = probe.FailureThreshold is > 0 and var f ? f : 3;
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(0, probe.InitialDelaySeconds ?? 0)), options.TimeProvider, ct);
            bool? last = null;
            var streak = 0;
            while (true)
            {
                bool skip;
                lock (gate)
                {
                    // Liveness and startup probes stop once the pod is being deleted; nothing but startup runs before it passed.
                    skip = (kind != Readiness && termination is not null) || (kind != Startup && !state.Started);
                }

                if (!skip)
                {
                    var outcome = await ContainerActions.ProbeAsync(probe, state.Context!, ct);
                    if (outcome.Success is not { } success)
                    {
                        LogProbeErrored(log, kind, Namespace, Name, container, outcome.Error ?? string.Empty);
                    }
                    else
                    {
                        streak = success == last ? streak + 1 : 1;
                        last = success;
                        if (streak >= (success ? successThreshold : failureThreshold) && await ApplyProbeResultAsync(state, process, kind, success, outcome.Output, ct))
                        {
                            return;
                        }
                    }
                }

                await Task.Delay(period, options.TimeProvider, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested || stop.IsCancellationRequested)
        {
            // The run ended, or the pod is gone (PublishAsync found it deleted and stopped the runner).
        }
        catch (Exception e)
        {
            LogRunnerFailed(log, Namespace, Name, e);
            reportError($"{kind} probe of {Namespace}/{Name}/{container}", e);
        }
    }

    /// <summary>Acts on a probe result that reached its threshold; true when this worker is done for this run.</summary>
    private async Task<bool> ApplyProbeResultAsync(ContainerState state, ManagedProcess process, string kind, bool success, string output, CancellationToken ct)
    {
        var container = state.Spec.Name;
        if (kind == Readiness)
        {
            bool changed;
            lock (gate)
            {
                changed = state.ReadinessPassed != success;
                state.ReadinessPassed = success;
            }

            if (changed)
            {
                LogProbeResult(log, kind, Namespace, Name, container, success ? "succeeded" : "failed", output);
                await PublishAsync(ct);
            }

            return false;
        }

        if (success)
        {
            if (kind != Startup)
            {
                return false;
            }

            lock (gate)
            {
                state.Started = true;
            }

            LogProbeResult(log, kind, Namespace, Name, container, "succeeded", output);
            await PublishAsync(ct);
            return true;
        }

        lock (gate)
        {
            if (termination is not null)
            {
                return true;
            }

            state.KillReason = kind;
        }

        LogProbeResult(log, kind, Namespace, Name, container, "failed; killing the container", output);
        await KillOnceAsync(state, process, ProbeKillGracePeriod(), runPreStop: true);
        return true;
    }

    /// <summary>Runs the postStart hook if any; false when it failed and the container was killed.</summary>
    private async Task<bool> RunPostStartAsync(ContainerState state, ManagedProcess process)
    {
        if (state.IsInit || state.Spec.Lifecycle?.PostStart is not { } hook)
        {
            return true;
        }

        // The kubelet reports the container only once postStart returned; the hook has no timeout of its own.
        var outcome = await ContainerActions.HookAsync(hook, state.Context!, Timeout.InfiniteTimeSpan, stop.Token);
        if (outcome.Success == true)
        {
            return true;
        }

        LogHookFailed(log, "PostStart", Namespace, Name, state.Spec.Name, outcome.Error ?? outcome.Output);
        lock (gate)
        {
            state.KillReason = "FailedPostStartHook";
        }

        await KillOnceAsync(state, process, ProbeKillGracePeriod(), runPreStop: true);
        return false;
    }

    /// <summary>The grace period of a kill for a failed probe or hook: the pod's terminationGracePeriodSeconds, capped.</summary>
    private TimeSpan ProbeKillGracePeriod() => CapGracePeriod(TimeSpan.FromSeconds(pod.Spec.TerminationGracePeriodSeconds ?? 30));

    internal TimeSpan CapGracePeriod(TimeSpan requested) => requested < options.MaxTerminationGracePeriod ? requested : options.MaxTerminationGracePeriod;

    /// <summary>preStop hook (within the grace period), then TERM, then KILL after what is left of it (at least 2 s); once per run.</summary>
    private Task KillOnceAsync(ContainerState state, ManagedProcess process, TimeSpan gracePeriod, bool runPreStop)
    {
        lock (gate)
        {
            return state.Kill ??= Task.Run(async () =>
            {
                var clock = options.TimeProvider.GetTimestamp();
                if (runPreStop && state.Spec.Lifecycle?.PreStop is { } hook && state.Context is { } context && !process.HasExited)
                {
                    var outcome = await ContainerActions.HookAsync(hook, context, gracePeriod, CancellationToken.None);
                    if (outcome.Success != true)
                    {
                        LogHookFailed(log, "PreStop", Namespace, Name, state.Spec.Name, outcome.Error ?? outcome.Output);
                    }
                }

                var left = gracePeriod - options.TimeProvider.GetElapsedTime(clock);
                await process.StopAsync(left < MinimumGracePeriod ? MinimumGracePeriod : left);
            });
        }
    }

    // Under gate. The kubelet's status generator: PodScheduled, Initialized, ContainersReady and Ready, with its reasons.
    private List<V1PodCondition> Conditions()
    {
        var completed = phase == "Succeeded";
        var unready = containers.Values.Where(c => !c.IsReady).Select(c => c.Spec.Name).ToList();
        var uninitialized = initContainers.Values.Where(c => !c.IsReady).Select(c => c.Spec.Name).ToList();
        var containersReady = completed
            ? (false, "PodCompleted", (string?)null)
            : unready.Count == 0 ? (true, null, null) : (false, "ContainersNotReady", $"containers with unready status: [{string.Join(' ', unready)}]");
        return
        [
            Condition("PodScheduled", (true, null, null)),
            Condition("Initialized", completed ? (true, "PodCompleted", null)
                : initialized ? (true, null, null)
                : (false, "ContainersNotInitialized", $"containers with incomplete status: [{string.Join(' ', uninitialized)}]")),
            Condition("ContainersReady", containersReady),
            // Ready = ContainersReady: readinessGates are not modelled.
            Condition("Ready", containersReady),
        ];
    }

    private V1PodCondition Condition(string type, (bool Status, string? Reason, string? Message) value)
    {
        var status = value.Status ? "True" : "False";
        if (!conditions.TryGetValue(type, out var existing) || existing.Status != status)
        {
            existing = (status, Now());
            conditions[type] = existing;
        }

        return new V1PodCondition { Type = type, Status = status, Reason = value.Reason, Message = value.Message, LastTransitionTime = existing.Since };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Kind} probe of {Namespace}/{Pod}/{Container} {Result}: {Output}")]
    private static partial void LogProbeResult(ILogger logger, string kind, string @namespace, string pod, string container, string result, string output);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Kind} probe of {Namespace}/{Pod}/{Container} errored (result discarded): {Error}")]
    private static partial void LogProbeErrored(ILogger logger, string kind, string @namespace, string pod, string container, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Hook} hook of {Namespace}/{Pod}/{Container} failed: {Error}")]
    private static partial void LogHookFailed(ILogger logger, string hook, string @namespace, string pod, string container, string error);
}
