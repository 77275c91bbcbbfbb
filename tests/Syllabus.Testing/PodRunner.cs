using System.Diagnostics;
using System.Net;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Testing;

/// <summary>Runs one pod's containers as local processes and reports its status the way a kubelet does.</summary>
internal sealed partial class PodRunner(IKubernetes client, V1Pod pod, string podIp, TestKubeletOptions options, string podRoot, string claimsRoot, ILogger log, Action<string, Exception> reportError)
{
    /// <summary>The node's address (every TestKubelet node is this machine).</summary>
    internal const string HostIp = "127.0.0.1";
    private const int MaxTerminationMessageBytes = 4096;

    private readonly Lock gate = new();
    private readonly SemaphoreSlim publishing = new(1, 1);
    private readonly CancellationTokenSource stop = new();
    private readonly Dictionary<string, ContainerState> containers = [];
    private readonly Dictionary<string, ContainerState> initContainers = [];
    private readonly Dictionary<string, (string Status, DateTime Since)> conditions = [];
    private readonly Dictionary<string, ManagedProcess> running = [];
    private readonly DateTime startTime = options.TimeProvider.GetUtcNow().UtcDateTime;
    private string phase = "Pending";
    private bool initialized;
    private Task? termination;
    private string? lastPublished;
    private int addressReleased;
    private Task? task;

    public string Uid => pod.Metadata.Uid;

    public string Namespace => pod.Metadata.NamespaceProperty;

    public string Name => pod.Metadata.Name;

    public string PodIp => podIp;

    public long? TerminationGracePeriodSeconds => pod.Spec.TerminationGracePeriodSeconds;

    public bool Finished { get; private set; }

    public void Start() => task = Task.Run(RunAsync);

    /// <summary>The log file of the container's latest run, or null.</summary>
    public string? LogPath(string container)
    {
        lock (gate)
        {
            return containers.GetValueOrDefault(container)?.LogPath ?? initContainers.GetValueOrDefault(container)?.LogPath;
        }
    }

    /// <summary>Whether <see cref="TerminateAsync"/> or <see cref="StopAsync"/> has begun.</summary>
    public bool Terminating
    {
        get
        {
            lock (gate)
            {
                return termination is not null;
            }
        }
    }

    /// <summary>
    /// Pod deletion, as a kubelet kills a pod: no container starts or restarts any more, liveness and startup
    /// probes stop (readiness probes go on), and every running container gets its preStop hook, then TERM, then
    /// KILL once <paramref name="gracePeriod"/> (already capped by the caller) has passed since the hook began,
    /// with at least 2 s between TERM and KILL (the kubelet's minimum). Waits for the runner to finish.
    /// Later calls wait for the first one.
    /// </summary>
    public Task TerminateAsync(TimeSpan gracePeriod) => TerminateCoreAsync(gracePeriod, runPreStop: true);

    /// <summary>Kills the containers without hooks (TERM, then KILL after 5 s) and waits for the runner to finish: kubelet shutdown.</summary>
    public Task StopAsync() => TerminateCoreAsync(TimeSpan.FromSeconds(5), runPreStop: false);

    /// <summary>Returns the pod's address to the pool once (after the pod's processes are gone).</summary>
    public void ReleaseAddress()
    {
        if (podIp != HostIp && Interlocked.Exchange(ref addressReleased, 1) == 0)
        {
            PodAddresses.Release(IPAddress.Parse(podIp));
        }
    }

    private Task TerminateCoreAsync(TimeSpan gracePeriod, bool runPreStop)
    {
        lock (gate)
        {
            return termination ??= Task.Run(async () =>
            {
                List<(ContainerState State, ManagedProcess Process)> kills;
                lock (gate)
                {
                    kills = [.. running.Select(r => (containers.GetValueOrDefault(r.Key) ?? initContainers[r.Key], r.Value))];
                }

                await Task.WhenAll(kills.Select(k => KillOnceAsync(k.State, k.Process, gracePeriod, runPreStop)));
                await stop.CancelAsync();
                if (task is not null)
                {
                    try
                    {
                        await task;
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            });
        }
    }

    private async Task RunAsync()
    {
        var ct = stop.Token;
        try
        {
            var spec = pod.Spec;
            foreach (var c in spec.InitContainers ?? [])
            {
                initContainers[c.Name] = new ContainerState(c, isInit: true);
            }

            foreach (var c in spec.Containers)
            {
                containers[c.Name] = new ContainerState(c, isInit: false);
            }

            lock (gate)
            {
                initialized = initContainers.Count == 0;
            }

            await PublishAsync(ct);

            var volumes = await PrepareVolumesAsync(ct);
            if (volumes is null)
            {
                return;
            }

            foreach (var init in spec.InitContainers ?? [])
            {
                if (!await RunContainerAsync(initContainers[init.Name], volumes, isInit: true, ct))
                {
                    lock (gate)
                    {
                        phase = "Failed";
                    }

                    await PublishAsync(ct);
                    return;
                }
            }

            lock (gate)
            {
                initialized = true;
            }

            await Task.WhenAll(spec.Containers.Select(c => RunContainerAsync(containers[c.Name], volumes, isInit: false, ct)));
            lock (gate)
            {
                phase = containers.Values.All(c => c.Terminated?.ExitCode == 0) ? "Succeeded" : "Failed";
            }

            await PublishAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogRunnerFailed(log, Namespace, Name, e);
            reportError($"pod {Namespace}/{Name}", e);
        }
        finally
        {
            Finished = true;
        }
    }

    /// <summary>Host folders for each volume, or null when the pod was stopped while waiting for a missing object.</summary>
    private async Task<Dictionary<string, string>?> PrepareVolumesAsync(CancellationToken ct)
    {
        while (true)
        {
            try
            {
                return await MaterialiseVolumesAsync(ct);
            }
            catch (PodConfigException e)
            {
                // A kubelet keeps retrying (ConfigMap not there yet, ...); so do we, visibly.
                MarkAllWaiting(e.Reason, e.Message);
                await PublishAsync(ct);
                await Task.Delay(TimeSpan.FromSeconds(1), options.TimeProvider, ct);
            }
        }
    }

    private async Task<Dictionary<string, string>> MaterialiseVolumesAsync(CancellationToken ct)
    {
        var result = new Dictionary<string, string>();
        foreach (var volume in pod.Spec.Volumes ?? [])
        {
            var host = Path.Combine(podRoot, "volumes", volume.Name);
            if (volume.EmptyDir is not null)
            {
                Directory.CreateDirectory(host);
            }
            else if (volume.PersistentVolumeClaim is { } claim)
            {
                host = ClaimDirectory(claimsRoot, Namespace, claim.ClaimName);
                Directory.CreateDirectory(host);
            }
            else if (volume.HostPath is { } hostPath)
            {
                host = hostPath.Path;
            }
            else if (volume.ConfigMap is { } configMapSource)
            {
                var configMap = await ReadOptionalAsync(
                    () => client.CoreV1.ReadNamespacedConfigMapAsync(configMapSource.Name, Namespace, cancellationToken: ct),
                    configMapSource.Optional == true, $"configmap \"{configMapSource.Name}\" not found");
                var files = new Dictionary<string, byte[]>();
                foreach (var (key, value) in configMap?.Data ?? new Dictionary<string, string>())
                {
                    files[key] = Encoding.UTF8.GetBytes(value);
                }

                foreach (var (key, value) in configMap?.BinaryData ?? new Dictionary<string, byte[]>())
                {
                    files[key] = value;
                }

                WriteProjectedFiles(host, files, configMapSource.Items, configMapSource.DefaultMode, $"configmap {configMapSource.Name}");
            }
            else if (volume.Secret is { } secretSource)
            {
                var secret = await ReadOptionalAsync(
                    () => client.CoreV1.ReadNamespacedSecretAsync(secretSource.SecretName, Namespace, cancellationToken: ct),
                    secretSource.Optional == true, $"secret \"{secretSource.SecretName}\" not found");
                WriteProjectedFiles(host, secret?.Data ?? new Dictionary<string, byte[]>(), secretSource.Items, secretSource.DefaultMode, $"secret {secretSource.SecretName}");
            }
            else
            {
                throw new PodConfigException("CreateContainerConfigError", $"TestKubelet does not support the type of volume \"{volume.Name}\" (supported: emptyDir, configMap, secret, persistentVolumeClaim, hostPath)");
            }

            result[volume.Name] = host;
        }

        return result;
    }

    internal static string ClaimDirectory(string claimsRoot, string @namespace, string claim) => Path.Combine(claimsRoot, @namespace, claim);

    private static async Task<T?> ReadOptionalAsync<T>(Func<Task<T>> read, bool optional, string missing)
        where T : class
    {
        try
        {
            return await read();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return optional ? null : throw new PodConfigException("CreateContainerConfigError", missing);
        }
    }

    private static void WriteProjectedFiles(string directory, IDictionary<string, byte[]> data, IList<V1KeyToPath>? items, int? defaultMode, string what)
    {
        Directory.CreateDirectory(directory);
        IEnumerable<(string Key, string Path, int? Mode)> selected = items is { Count: > 0 }
            ? items.Select(i => (i.Key, i.Path, i.Mode))
            : data.Keys.Select(k => (k, k, (int?)null));
        foreach (var (key, relative, mode) in selected)
        {
            if (!data.TryGetValue(key, out var bytes))
            {
                throw new PodConfigException("CreateContainerConfigError", $"{what} has no key \"{key}\"");
            }

            var file = Path.Combine(directory, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllBytes(file, bytes);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(file, (UnixFileMode)(mode ?? defaultMode ?? Convert.ToInt32("644", 8)));
            }
        }
    }

    /// <summary>Runs a container until it will not be restarted; true when its last run exited 0.</summary>
    private async Task<bool> RunContainerAsync(ContainerState state, Dictionary<string, string> volumes, bool isInit, CancellationToken ct)
    {
        var container = state.Spec;
        var backoff = options.RestartBackoff;
        var restartPolicy = pod.Spec.RestartPolicy ?? "Always";
        while (true)
        {
            ProcessStartInfo? startInfo;
            try
            {
                startInfo = await BuildProcessAsync(container, volumes, state, ct);
            }
            catch (PodConfigException e)
            {
                SetWaiting(state, e.Reason, e.Message);
                await PublishAsync(ct);
                if (e.Reason == "ErrImagePull")
                {
                    // The image never appears: stay in ImagePullBackOff, as a kubelet would.
                    await Task.Delay(TimeSpan.FromSeconds(1), options.TimeProvider, ct);
                    SetWaiting(state, "ImagePullBackOff", $"Back-off pulling image \"{container.Image}\"");
                    await PublishAsync(ct);
                    await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                }

                await Task.Delay(TimeSpan.FromSeconds(1), options.TimeProvider, ct);
                continue;
            }

            var logPath = Path.Combine(podRoot, "logs", $"{container.Name}-{state.RestartCount}.log");
            Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
            ManagedProcess process;
            DateTime startedAt;
            lock (gate)
            {
                ct.ThrowIfCancellationRequested();
                if (termination is not null)
                {
                    return false; // A pod being deleted starts nothing.
                }

                process = ManagedProcess.Start($"{Namespace}/{Name}/{container.Name}", startInfo, logPath);
                running[container.Name] = process;
                startedAt = Now();
                state.LogPath = logPath;
                state.Waiting = null;
                state.Terminated = null;
                state.ContainerId = $"syllabus-test://{process.ProcessId}";
                state.Started = container.StartupProbe is null;
                state.ReadinessPassed = false;
                state.KillReason = null;
                state.Kill = null;
            }

            LogContainerStarted(log, Namespace, Name, container.Name, startInfo.FileName, process.ProcessId);
            using var probes = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task[] probeWorkers = [];
            if (await RunPostStartAsync(state, process))
            {
                lock (gate)
                {
                    state.Running = new V1ContainerStateRunning { StartedAt = startedAt };
                    if (phase == "Pending")
                    {
                        phase = "Running";
                    }
                }

                await PublishAsync(ct);
                probeWorkers = isInit ? [] : StartProbes(state, process, probes.Token);
            }

            int exitCode;
            try
            {
                exitCode = await process.WaitForExitAsync(ct);
            }
            finally
            {
                // Probes belong to this run: none outlives it, even when the runner is stopped.
                await probes.CancelAsync();
                await Task.WhenAll(probeWorkers);
            }

            var message = ReadTerminationMessage(state, exitCode);
            string? killedBy;
            lock (gate)
            {
                running.Remove(container.Name);
                killedBy = state.KillReason;
                state.Terminated = new V1ContainerStateTerminated
                {
                    ExitCode = exitCode,
                    ContainerID = state.ContainerId,
                    FinishedAt = Now(),
                    Message = message.Length == 0 ? null : message,
                    Reason = exitCode == 0 ? "Completed" : "Error",
                    StartedAt = startedAt,
                };
                state.Running = null;
            }

            await process.DisposeAsync();
            LogContainerExited(log, Namespace, Name, container.Name, exitCode);

            // A container killed for failing its liveness or startup probe restarts unless the policy is Never,
            // whatever its exit code (kuberuntime's computePodActions); otherwise the policy and exit code decide.
            var restart = killedBy is "liveness" or "startup"
                ? restartPolicy != "Never"
                : restartPolicy switch
                {
                    "Always" => !isInit,
                    "OnFailure" => exitCode != 0,
                    _ => false,
                } || (isInit && restartPolicy != "Never" && exitCode != 0);
            lock (gate)
            {
                restart &= termination is null;
            }

            if (!restart)
            {
                await PublishAsync(ct);
                return exitCode == 0;
            }

            lock (gate)
            {
                state.LastTerminated = state.Terminated;
                state.Terminated = null;
                state.RestartCount++;
                state.Waiting = new V1ContainerStateWaiting { Message = $"back-off {backoff.TotalSeconds:0.#}s restarting failed container={container.Name} pod={Name}", Reason = "CrashLoopBackOff" };
            }

            await PublishAsync(ct);
            await Task.Delay(backoff, options.TimeProvider, ct);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
        }
    }

    private async Task<ProcessStartInfo> BuildProcessAsync(V1Container container, Dictionary<string, string> volumes, ContainerState state, CancellationToken ct)
    {
        var containerRoot = Path.Combine(podRoot, "containers", container.Name);
        Directory.CreateDirectory(containerRoot);

        var paths = new Dictionary<string, string>();
        foreach (var mount in container.VolumeMounts ?? [])
        {
            if (!volumes.TryGetValue(mount.Name, out var host))
            {
                throw new PodConfigException("CreateContainerConfigError", $"volumeMount \"{mount.Name}\" names no volume of the pod");
            }

            if (!string.IsNullOrEmpty(mount.SubPath))
            {
                host = Path.Combine(host, mount.SubPath);
                Directory.CreateDirectory(host);
            }

            paths[mount.MountPath] = host;
        }

        var terminationPath = string.IsNullOrEmpty(container.TerminationMessagePath) ? "/dev/termination-log" : container.TerminationMessagePath;
        var terminationFile = Path.Combine(containerRoot, "termination-log");
        if (state.RestartCount == 0 || !File.Exists(terminationFile))
        {
            File.WriteAllBytes(terminationFile, []);
        }

        paths[terminationPath] = terminationFile;
        state.TerminationFile = terminationFile;
        var map = new PathMap(paths);

        var environment = await BuildEnvironmentAsync(container, ct);
        string? Lookup(string name) => environment.TryGetValue(name, out var value) ? value : null;
        var arguments = (container.Command?.Skip(1) ?? []).Concat(container.Args ?? [])
            .Select(a => map.Apply(PathMap.Expand(a, Lookup)))
            .ToList();
        foreach (var key in environment.Keys.ToList())
        {
            environment[key] = map.Apply(environment[key]);
        }

        environment["SYLLABUS_PATH_MAP"] = map.ToEnvironmentValue();
        environment.TryAdd("HOSTNAME", Name);

        var workingDirectory = string.IsNullOrEmpty(container.WorkingDir) ? null : map.Apply(container.WorkingDir);
        if (workingDirectory is null || !Directory.Exists(workingDirectory))
        {
            workingDirectory = Path.Combine(containerRoot, "workdir");
            Directory.CreateDirectory(workingDirectory);
        }

        state.Context = new ContainerContext(podIp, container, environment, map, workingDirectory);
        var launch = new ContainerLaunch(pod, container, arguments, environment, map.Entries, workingDirectory) { PodIp = podIp };
        var image = container.Image ?? string.Empty;
        ProcessStartInfo startInfo;
        if (ForImage(options.ImageLaunchers, image) is { } launcher)
        {
            startInfo = launcher(launch);
        }
        else if (ForImage(options.Images, image) is { } program)
        {
            startInfo = new ProcessStartInfo(program);
            foreach (var argument in arguments)
            {
                startInfo.ArgumentList.Add(argument);
            }
        }
        else
        {
            throw new PodConfigException("ErrImagePull", $"TestKubelet has no program for image \"{image}\" (TestKubeletOptions.Images)");
        }

        // The test process's environment stands in for the image's; the container's own env wins.
        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        if (string.IsNullOrEmpty(startInfo.WorkingDirectory))
        {
            startInfo.WorkingDirectory = workingDirectory;
        }

        return startInfo;
    }

    private static T? ForImage<T>(IReadOnlyDictionary<string, T> byImage, string image)
        where T : class
    {
        if (byImage.TryGetValue(image, out var exact))
        {
            return exact;
        }

        var name = image.Split('@')[0];
        var colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/'))
        {
            name = name[..colon];
        }

        return byImage.GetValueOrDefault(name);
    }

    private async Task<Dictionary<string, string>> BuildEnvironmentAsync(V1Container container, CancellationToken ct)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var source in container.EnvFrom ?? [])
        {
            if (source.ConfigMapRef is { } configMapRef)
            {
                var configMap = await ReadOptionalAsync(() => client.CoreV1.ReadNamespacedConfigMapAsync(configMapRef.Name, Namespace, cancellationToken: ct), configMapRef.Optional == true, $"configmap \"{configMapRef.Name}\" not found");
                foreach (var (key, value) in configMap?.Data ?? new Dictionary<string, string>())
                {
                    environment[source.Prefix + key] = value;
                }
            }
            else if (source.SecretRef is { } secretRef)
            {
                var secret = await ReadOptionalAsync(() => client.CoreV1.ReadNamespacedSecretAsync(secretRef.Name, Namespace, cancellationToken: ct), secretRef.Optional == true, $"secret \"{secretRef.Name}\" not found");
                foreach (var (key, value) in secret?.Data ?? new Dictionary<string, byte[]>())
                {
                    environment[source.Prefix + key] = Encoding.UTF8.GetString(value);
                }
            }
        }

        foreach (var variable in container.Env ?? [])
        {
            string? value;
            if (variable.ValueFrom is null)
            {
                value = PathMap.Expand(variable.Value ?? string.Empty, n => environment.TryGetValue(n, out var v) ? v : null);
            }
            else if (variable.ValueFrom.FieldRef is { } fieldRef)
            {
                value = fieldRef.FieldPath switch
                {
                    "metadata.name" => Name,
                    "metadata.namespace" => Namespace,
                    "metadata.uid" => Uid,
                    "spec.nodeName" => pod.Spec.NodeName,
                    "spec.serviceAccountName" => pod.Spec.ServiceAccountName,
                    "status.podIP" or "status.podIPs" => podIp,
                    "status.hostIP" => HostIp,
                    _ => throw new PodConfigException("CreateContainerConfigError", $"TestKubelet does not support fieldRef {fieldRef.FieldPath} (env {variable.Name})"),
                };
            }
            else if (variable.ValueFrom.ConfigMapKeyRef is { } keyRef)
            {
                var configMap = await ReadOptionalAsync(() => client.CoreV1.ReadNamespacedConfigMapAsync(keyRef.Name, Namespace, cancellationToken: ct), keyRef.Optional == true, $"configmap \"{keyRef.Name}\" not found");
                value = configMap?.Data?.TryGetValue(keyRef.Key, out var v) == true ? v
                    : keyRef.Optional == true ? null
                    : throw new PodConfigException("CreateContainerConfigError", $"couldn't find key {keyRef.Key} in ConfigMap {Namespace}/{keyRef.Name}");
            }
            else if (variable.ValueFrom.SecretKeyRef is { } secretKeyRef)
            {
                var secret = await ReadOptionalAsync(() => client.CoreV1.ReadNamespacedSecretAsync(secretKeyRef.Name, Namespace, cancellationToken: ct), secretKeyRef.Optional == true, $"secret \"{secretKeyRef.Name}\" not found");
                value = secret?.Data?.TryGetValue(secretKeyRef.Key, out var v) == true ? Encoding.UTF8.GetString(v)
                    : secretKeyRef.Optional == true ? null
                    : throw new PodConfigException("CreateContainerConfigError", $"couldn't find key {secretKeyRef.Key} in Secret {Namespace}/{secretKeyRef.Name}");
            }
            else
            {
                throw new PodConfigException("CreateContainerConfigError", $"TestKubelet does not support the valueFrom of env {variable.Name}");
            }

            if (value is not null)
            {
                environment[variable.Name] = value;
            }
        }

        return environment;
    }

    private string ReadTerminationMessage(ContainerState state, int exitCode)
    {
        var message = string.Empty;
        if (state.TerminationFile is { } file && File.Exists(file))
        {
            var bytes = File.ReadAllBytes(file);
            message = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, MaxTerminationMessageBytes));
        }

        if (message.Length == 0 && exitCode != 0 && state.Spec.TerminationMessagePolicy == "FallbackToLogsOnError" && state.LogPath is { } logPath)
        {
            var tail = ManagedProcess.ReadTail(logPath, 80);
            message = tail.Length > 2048 ? tail[^2048..] : tail;
        }

        return message;
    }

    private void MarkAllWaiting(string reason, string message)
    {
        lock (gate)
        {
            foreach (var state in initContainers.Values.Concat(containers.Values))
            {
                state.Waiting = new V1ContainerStateWaiting { Message = message, Reason = reason };
            }
        }
    }

    private void SetWaiting(ContainerState state, string reason, string message)
    {
        lock (gate)
        {
            state.Waiting = new V1ContainerStateWaiting { Message = message, Reason = reason };
        }
    }

    private DateTime Now() => options.TimeProvider.GetUtcNow().UtcDateTime;

    private V1PodStatus Snapshot()
    {
        lock (gate)
        {
            return new V1PodStatus
            {
                Phase = phase,
                HostIP = HostIp,
                PodIP = podIp,
                PodIPs = [new V1PodIP { Ip = podIp }],
                StartTime = startTime,
                Conditions = Conditions(),
                InitContainerStatuses = initContainers.Count == 0 ? null : [.. initContainers.Values.Select(s => s.ToStatus())],
                ContainerStatuses = [.. containers.Values.Select(s => s.ToStatus())],
            };
        }
    }

    /// <summary>Writes the pod's status when it differs from what was last written.</summary>
    private async Task PublishAsync(CancellationToken ct)
    {
        await publishing.WaitAsync(ct);
        try
        {
            // Merge patch: lists (conditions, containerStatuses) are replaced whole, so stale states never mix.
            // metadata.uid makes it a precondition: a new pod with the same name is not touched.
            var patch = KubernetesJson.Serialize(new Dictionary<string, object>
            {
                ["metadata"] = new Dictionary<string, string> { ["uid"] = Uid },
                ["status"] = Snapshot(),
            });
            if (patch == lastPublished)
            {
                return;
            }

            await client.CoreV1.PatchNamespacedPodStatusAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), Name, Namespace, cancellationToken: ct);
            lastPublished = patch;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
            // The pod is gone (or replaced): nothing to report to.
            await stop.CancelAsync();
            throw new OperationCanceledException("pod gone", e, stop.Token);
        }
        finally
        {
            publishing.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Started container {Namespace}/{Pod}/{Container}: {Program} (pid {Pid})")]
    private static partial void LogContainerStarted(ILogger logger, string @namespace, string pod, string container, string program, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Container {Namespace}/{Pod}/{Container} exited with {ExitCode}")]
    private static partial void LogContainerExited(ILogger logger, string @namespace, string pod, string container, int exitCode);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pod runner for {Namespace}/{Pod} failed")]
    private static partial void LogRunnerFailed(ILogger logger, string @namespace, string pod, Exception exception);

    private sealed class ContainerState(V1Container spec, bool isInit)
    {
        public V1Container Spec { get; } = spec;

        public bool IsInit { get; } = isInit;

        /// <summary>The startup probe has succeeded in this run (true from the start without one); gates the other probes.</summary>
        public bool Started { get; set; }

        /// <summary>The readiness probe's current result in this run (starts false, as the kubelet's initial readiness is Failure).</summary>
        public bool ReadinessPassed { get; set; }

        /// <summary>Why this run is being killed by the kubelet: "liveness", "startup", "FailedPostStartHook"; null otherwise.</summary>
        public string? KillReason { get; set; }

        /// <summary>The kill of this run in progress, so hooks and signals happen once.</summary>
        public Task? Kill { get; set; }

        /// <summary>Where this run's probes and hooks run.</summary>
        public ContainerContext? Context { get; set; }

        /// <summary>Ready as the kubelet reports it: init containers once exited 0; others running, started, and passing readiness if probed.</summary>
        public bool IsReady => IsInit
            ? Terminated?.ExitCode == 0
            : Running is not null && Started && (Spec.ReadinessProbe is null || ReadinessPassed);

        public V1ContainerStateWaiting? Waiting { get; set; } = new() { Reason = "ContainerCreating" };

        public V1ContainerStateRunning? Running { get; set; }

        public V1ContainerStateTerminated? Terminated { get; set; }

        public V1ContainerStateTerminated? LastTerminated { get; set; }

        public int RestartCount { get; set; }

        public string? ContainerId { get; set; }

        public string? LogPath { get; set; }

        public string? TerminationFile { get; set; }

        public V1ContainerStatus ToStatus() => new()
        {
            Name = Spec.Name,
            Image = Spec.Image,
            ImageID = $"syllabus-test://{Spec.Image}",
            ContainerID = ContainerId,
            Ready = IsReady,
            Started = Running is not null && (IsInit || Started),
            RestartCount = RestartCount,
            State = new V1ContainerState
            {
                Running = Running,
                Terminated = Running is null ? Terminated : null,
                Waiting = Running is null && Terminated is null ? Waiting : null,
            },
            LastState = LastTerminated is null ? new V1ContainerState() : new V1ContainerState { Terminated = LastTerminated },
        };
    }
}

/// <summary>The pod cannot start yet (missing ConfigMap, unknown image, unsupported feature); Reason is the kubelet's waiting reason.</summary>
internal sealed class PodConfigException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;
}
