// TestKubelet: a kubelet stand-in for tests against a real control plane.
//
// What it does:
// - Registers each TestNode as a Node (capacity and allocatable: cpu, memory, pods=110, ephemeral-storage, and
//   the GPU resource when Gpus > 0; labels kubernetes.io/hostname|os|arch plus TestNode.Labels; taints), Ready,
//   address 127.0.0.1, and refreshes the Ready heartbeat every 15 s. Nodes are deleted on dispose.
// - List+watches all pods; for a pod bound (by the real scheduler, or spec.nodeName) to one of its nodes, it
//   materialises volumes under a per-pod temporary root (emptyDir: a folder; configMap/secret: files, items and
//   modes honoured; persistentVolumeClaim X: one stable folder per namespace/claim shared by all pods and
//   surviving restarts; hostPath: the host path itself), runs init containers in order and then the
//   containers as local processes (image -> program via TestKubeletOptions), and reports status like a
//   kubelet: Pending/ContainerCreating, Running with running.startedAt, then terminated with exit code, reason
//   Completed/Error and the termination message read from the file mapped to terminationMessagePath
//   (FallbackToLogsOnError honoured); phase Succeeded/Failed; conditions PodScheduled, Initialized,
//   ContainersReady and Ready with the kubelet's reasons (ContainersNotReady, ...). Status is written only
//   when it changed.
// - Pod network: each pod gets its own loopback address 127.B.x.y as podIP/podIPs (PodAddresses: Linux routes
//   all of 127.0.0.0/8 to lo); hostIP and hostNetwork pods are 127.0.0.1. So several pods can listen on one
//   containerPort, provided each program binds its pod IP (fieldRef status.podIP, ContainerLaunch.PodIp):
//   a program binding 0.0.0.0 takes the port on every address and collides with the others. Services are
//   reached with ServiceEndpoints, which reads the EndpointSlices the real controller writes (the Endpoints
//   object cannot hold loopback addresses: validation rejects them), and ServiceLoad sends traffic through it.
// - Probes, as the 1.20 kubelet runs them (PodRunner.Probes.cs): startup, liveness and readiness with
//   httpGet (pod IP, port number or name, HTTP/HTTPS, headers), tcpSocket and exec (run on this machine with
//   the container's environment and path mapping); initialDelaySeconds, periodSeconds, timeoutSeconds,
//   successThreshold, failureThreshold with Kubernetes' defaults; readiness starts failed; the startup probe
//   gates the others and containerStatuses[].started; a liveness or startup failure kills the container and
//   restarts it unless restartPolicy is Never. Lifecycle hooks postStart and preStop (exec, httpGet).
// - Paths: every volumeMount path and the terminationMessagePath are replaced by their host paths in args and
//   env values; SYLLABUS_PATH_MAP=containerPath=hostPath;... lets a program map paths it builds itself.
// - Env: value with $(VAR) expansion, envFrom configMapRef/secretRef, fieldRef (metadata.name|namespace|uid,
//   spec.nodeName|serviceAccountName, status.podIP|podIPs|hostIP), configMapKeyRef, secretKeyRef. The test process's
//   own environment stands in for the image's environment.
// - restartPolicy Always/OnFailure restart containers (CrashLoopBackOff while waiting, restartCount,
//   lastState) with a short doubling backoff (TestKubeletOptions.RestartBackoff, capped at 10 s).
// - Pod deletion: as a kubelet, starts nothing more, stops liveness/startup probes (so a slow shutdown is not
//   killed a second time), runs preStop hooks, sends
//   TERM (to the container's process group) and KILL once the deletion's grace period (else
//   terminationGracePeriodSeconds) has passed, capped by TestKubeletOptions.MaxTerminationGracePeriod (10 s by
//   default, so a test never waits 30 s for a process that ignores TERM) with the kubelet's 2 s minimum after
//   TERM; then deletes the pod with grace period 0 (otherwise pods bound to a node stay Terminating forever).
//   The endpointslice controller drops a pod from its Service as soon as its deletionTimestamp is set, as on
//   a real cluster; readiness probes go on meanwhile. A program that exits at once on TERM can still lose
//   requests routed to it just before the Service dropped it: give it a preStop pause, as on a real cluster.
// - With ProvisionVolumes, acts as a volume provisioner: a hostPath PersistentVolume pre-bound to every Pending
//   PVC (the controller manager's binder completes the binding) so pods with claims can be scheduled.
//
// What it does NOT model:
// - Images: nothing is pulled or isolated; the image name only selects a local program. No filesystem,
//   PID, user or network isolation: containers see the host filesystem and run as the test user.
// - readinessGates (Ready = ContainersReady), grpc probes (not in 1.20), the probers' random first tick (the
//   first probe runs exactly initialDelaySeconds after the start), probe-level terminationGracePeriodSeconds,
//   Events for probe failures (logged instead).
// - Resource limits: no cgroups, no CPU throttling, no OOM kills; GPU counts only exist for the scheduler.
// - Network isolation: a pod IP is only an address on lo; nothing stops a pod from binding another pod's
//   address or 0.0.0.0. No kube-proxy (no ClusterIP, no NodePort: route through ServiceEndpoints), DNS,
//   hostPort or network policy. SIGTERM goes to the container's whole process group, not only to PID 1.
//   ServiceAccount tokens are not mounted.
// - Kubelet-side admission (node resources are only checked by the scheduler), eviction, node pressure,
//   static pods, ephemeral containers, exec/attach/port-forward/logs through the API (read logs with
//   ReadContainerLog), Events, node Leases, readOnly mounts, downwardAPI/projected/other volume types,
//   the exact CrashLoopBackOff timings, activeDeadlineSeconds enforcement, grace periods beyond
//   MaxTerminationGracePeriod.
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Syllabus.Testing;

public sealed partial class TestKubelet : IAsyncDisposable
{
    private readonly IKubernetes client;
    private readonly TestKubeletOptions options;
    private readonly ILogger log;
    private readonly string root;
    private readonly bool ownsRoot;
    private readonly HashSet<string> nodeNames;
    private readonly Dictionary<string, PodRunner> runners = [];
    private readonly Lock runnersGate = new();
    private readonly List<Task> background = [];
    private readonly List<Task> cleanups = [];
    private readonly CancellationTokenSource stop = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> errors = new();

    private TestKubelet(IKubernetes client, TestKubeletOptions options, string root, bool ownsRoot)
    {
        this.client = client;
        this.options = options;
        this.root = root;
        this.ownsRoot = ownsRoot;
        log = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<TestKubelet>();
        nodeNames = [.. options.Nodes.Select(n => n.Name)];
    }

    /// <summary>Unexpected failures inside the kubelet (a pod runner or a loop crashed), for test diagnostics and assertions.</summary>
    public IReadOnlyList<string> Errors => [.. errors];

    private void ReportError(string where, Exception e) => errors.Enqueue($"{where}: {e}");

    /// <summary>Where pod roots and claim folders live.</summary>
    public string RootDirectory => root;

    public static async Task<TestKubelet> StartAsync(IKubernetes client, TestKubeletOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Nodes.Count == 0)
        {
            throw new ArgumentException("TestKubeletOptions.Nodes is empty: give at least one TestNode", nameof(options));
        }

        var duplicate = options.Nodes.GroupBy(n => n.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"TestKubeletOptions.Nodes names node \"{duplicate.Key}\" twice", nameof(options));
        }

        var ownsRoot = options.RootDirectory is null;
        var root = options.RootDirectory ?? OwnedTempDirectories.Create(Path.GetTempPath(), "syllabus-kubelet-");
        Directory.CreateDirectory(root);
        var kubelet = new TestKubelet(client, options, root, ownsRoot);
        try
        {
            foreach (var node in options.Nodes)
            {
                await kubelet.RegisterNodeAsync(node, ct);
            }

            kubelet.background.Add(Task.Run(() => kubelet.PodLoopAsync(kubelet.stop.Token), CancellationToken.None));
            kubelet.background.Add(Task.Run(() => kubelet.HeartbeatLoopAsync(kubelet.stop.Token), CancellationToken.None));
            if (options.ProvisionVolumes)
            {
                kubelet.background.Add(Task.Run(() => kubelet.ProvisionerLoopAsync(kubelet.stop.Token), CancellationToken.None));
            }

            return kubelet;
        }
        catch
        {
            await kubelet.DisposeAsync();
            throw;
        }
    }

    /// <summary>The host folder backing PersistentVolumeClaim <paramref name="claim"/> (created on demand), to seed inputs or inspect artifacts.</summary>
    public string ClaimDirectory(string @namespace, string claim)
    {
        var directory = PodRunner.ClaimDirectory(Path.Combine(root, "claims"), @namespace, claim);
        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>The output (stdout and stderr) of the latest run of a container of a pod this kubelet ran.</summary>
    public string ReadContainerLog(string @namespace, string pod, string container)
    {
        PodRunner? runner;
        lock (runnersGate)
        {
            runner = runners.Values.LastOrDefault(r => r.Namespace == @namespace && r.Name == pod);
        }

        var path = runner?.LogPath(container)
            ?? throw new InvalidOperationException($"TestKubelet has not run container {container} of pod {@namespace}/{pod}");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private async Task RegisterNodeAsync(TestNode node, CancellationToken ct)
    {
        var labels = new Dictionary<string, string>(node.Labels)
        {
            ["kubernetes.io/hostname"] = node.Name,
            ["kubernetes.io/os"] = "linux",
            ["kubernetes.io/arch"] = "amd64",
        };
        var body = new V1Node
        {
            ApiVersion = "v1",
            Kind = "Node",
            Metadata = new V1ObjectMeta { Name = node.Name, Labels = labels },
            Spec = new V1NodeSpec { Taints = node.Taints.Count == 0 ? null : [.. node.Taints] },
        };
        try
        {
            await client.CoreV1.CreateNodeAsync(body, cancellationToken: ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Left over from an earlier kubelet on the same control plane: take it over.
            var existing = await client.CoreV1.ReadNodeAsync(node.Name, cancellationToken: ct);
            existing.Metadata.Labels = labels;
            existing.Spec.Taints = body.Spec.Taints;
            await client.CoreV1.ReplaceNodeAsync(existing, node.Name, cancellationToken: ct);
        }

        var capacity = new Dictionary<string, ResourceQuantity>
        {
            ["cpu"] = new(node.Cpu),
            ["memory"] = new(node.Memory),
            ["pods"] = new("110"),
            ["ephemeral-storage"] = new("100Gi"),
        };
        if (node.Gpus > 0)
        {
            capacity[node.GpuResourceName] = new(node.Gpus.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var status = new V1NodeStatus
        {
            Capacity = capacity,
            Allocatable = capacity,
            Addresses = [new V1NodeAddress { Type = "InternalIP", Address = "127.0.0.1" }, new V1NodeAddress { Type = "Hostname", Address = node.Name }],
            Conditions = NodeConditions(),
            NodeInfo = new V1NodeSystemInfo
            {
                Architecture = "amd64",
                OperatingSystem = "linux",
                KubeletVersion = "v1.20.2-syllabus-test",
                KubeProxyVersion = "v1.20.2-syllabus-test",
                ContainerRuntimeVersion = "syllabus-test://1",
                OsImage = "Syllabus TestKubelet",
                KernelVersion = Environment.OSVersion.VersionString,
                MachineID = node.Name,
                SystemUUID = node.Name,
                BootID = Guid.NewGuid().ToString(),
            },
        };
        await PatchNodeStatusAsync(node.Name, status, ct);
    }

    private List<V1NodeCondition> NodeConditions()
    {
        var now = options.TimeProvider.GetUtcNow().UtcDateTime;
        V1NodeCondition Condition(string type, string status, string reason) =>
            new() { Type = type, Status = status, Reason = reason, LastHeartbeatTime = now, LastTransitionTime = now };
        return
        [
            Condition("Ready", "True", "KubeletReady"),
            Condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            Condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            Condition("PIDPressure", "False", "KubeletHasSufficientPID"),
        ];
    }

    private Task PatchNodeStatusAsync(string name, V1NodeStatus status, CancellationToken ct)
    {
        var patch = KubernetesJson.Serialize(new Dictionary<string, object> { ["status"] = status });
        return client.CoreV1.PatchNodeStatusAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), name, cancellationToken: ct);
    }

    private async Task HeartbeatLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(15), options.TimeProvider, ct);
                foreach (var node in nodeNames)
                {
                    await PatchNodeStatusAsync(node, new V1NodeStatus { Conditions = NodeConditions() }, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLoopError(log, "heartbeat", e);
                ReportError("heartbeat", e);
            }
        }
    }

    private async Task PodLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var list = await client.CoreV1.ListPodForAllNamespacesAsync(cancellationToken: ct);
                var seen = new HashSet<string>();
                foreach (var pod in list.Items)
                {
                    seen.Add(pod.Metadata.Uid);
                    Handle(pod);
                }

                // Pods deleted while we were not watching.
                List<PodRunner> gone;
                lock (runnersGate)
                {
                    gone = [.. runners.Values.Where(r => !seen.Contains(r.Uid))];
                }

                foreach (var runner in gone)
                {
                    Terminate(runner, null, deletePod: false);
                }

                Exception? watchError = null;
                var events = client.CoreV1.WatchListPodForAllNamespacesAsync(
                    resourceVersion: list.Metadata.ResourceVersion, timeoutSeconds: 300, onError: e => watchError = e, cancellationToken: ct);
                await foreach (var (type, pod) in events)
                {
                    if (type is WatchEventType.Added or WatchEventType.Modified)
                    {
                        Handle(pod);
                    }
                    else if (type == WatchEventType.Deleted)
                    {
                        PodRunner? runner;
                        lock (runnersGate)
                        {
                            runner = runners.GetValueOrDefault(pod.Metadata.Uid);
                        }

                        if (runner is not null)
                        {
                            // Removed without our deleting it (a forced deletion): kill with the pod's own grace period.
                            Terminate(runner, null, deletePod: false);
                        }
                    }
                }

                if (watchError is not null)
                {
                    // 410 Gone and friends: the next turn re-lists.
                    LogLoopError(log, "pod watch", watchError);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLoopError(log, "pod watch", e);
                ReportError("pod watch", e);
                await Task.Delay(TimeSpan.FromSeconds(1), options.TimeProvider, CancellationToken.None);
            }
        }
    }

    private void Handle(V1Pod pod)
    {
        if (pod.Spec?.NodeName is not { } node || !nodeNames.Contains(node))
        {
            return;
        }

        PodRunner? runner;
        lock (runnersGate)
        {
            runner = runners.GetValueOrDefault(pod.Metadata.Uid);
        }

        if (pod.Metadata.DeletionTimestamp is not null)
        {
            if (runner is not null)
            {
                Terminate(runner, pod.Metadata.DeletionGracePeriodSeconds, deletePod: true);
            }
            else
            {
                cleanups.Add(DeletePodNowAsync(pod.Metadata.NamespaceProperty, pod.Metadata.Name, pod.Metadata.Uid));
            }

            return;
        }

        if (runner is not null || pod.Status?.Phase is "Succeeded" or "Failed")
        {
            return;
        }

        var podRoot = Path.Combine(root, "pods", pod.Metadata.Uid);
        Directory.CreateDirectory(podRoot);
        // hostNetwork pods share the node's address, as on a real node; every other pod gets its own.
        var podIp = pod.Spec.HostNetwork == true ? PodRunner.HostIp : PodAddresses.Allocate().ToString();
        runner = new PodRunner(client, pod, podIp, options, podRoot, Path.Combine(root, "claims"), log, ReportError);
        lock (runnersGate)
        {
            runners[pod.Metadata.Uid] = runner;
        }

        LogPodStarting(log, pod.Metadata.NamespaceProperty, pod.Metadata.Name, node);
        runner.Start();
    }

    /// <summary>
    /// Kills a pod's containers as a kubelet does on deletion (<see cref="PodRunner.TerminateAsync"/>) with the
    /// deletion's grace period (else terminationGracePeriodSeconds, else 30 s) capped by
    /// <see cref="TestKubeletOptions.MaxTerminationGracePeriod"/>, then, when asked, deletes the pod with grace
    /// period 0. The runner stays registered meanwhile, so later events for the pod start nothing; once done it
    /// moves to a tombstone key, still findable for ReadContainerLog.
    /// </summary>
    private void Terminate(PodRunner runner, long? deletionGracePeriodSeconds, bool deletePod)
    {
        if (runner.Terminating)
        {
            return;
        }

        var requested = TimeSpan.FromSeconds(deletionGracePeriodSeconds ?? runner.TerminationGracePeriodSeconds ?? 30);
        var gracePeriod = runner.CapGracePeriod(requested);
        var termination = runner.TerminateAsync(gracePeriod);
        cleanups.Add(Task.Run(async () =>
        {
            await termination;
            lock (runnersGate)
            {
                runners.Remove(runner.Uid);
                runners[$"gone:{runner.Uid}"] = runner;
            }

            runner.ReleaseAddress();
            if (deletePod)
            {
                await DeletePodNowAsync(runner.Namespace, runner.Name, runner.Uid);
            }
        }));
    }

    private async Task DeletePodNowAsync(string @namespace, string name, string uid)
    {
        try
        {
            await client.CoreV1.DeleteNamespacedPodAsync(
                name, @namespace, new V1DeleteOptions { GracePeriodSeconds = 0, Preconditions = new V1Preconditions { Uid = uid } });
            LogPodDeleted(log, @namespace, name);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
        }
        catch (Exception e) when (e is HttpRequestException or HttpOperationException)
        {
            LogLoopError(log, $"deleting pod {@namespace}/{name}", e);
        }
    }

    private async Task ProvisionerLoopAsync(CancellationToken ct)
    {
        var provisioned = new HashSet<string>();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var claims = await client.CoreV1.ListPersistentVolumeClaimForAllNamespacesAsync(cancellationToken: ct);
                foreach (var claim in claims.Items)
                {
                    if (claim.Status?.Phase != "Pending" || !string.IsNullOrEmpty(claim.Spec.VolumeName) || !provisioned.Add(claim.Metadata.Uid))
                    {
                        continue;
                    }

                    await ProvisionAsync(claim, ct);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), options.TimeProvider, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLoopError(log, "volume provisioner", e);
                ReportError("volume provisioner", e);
                await Task.Delay(TimeSpan.FromSeconds(1), options.TimeProvider, CancellationToken.None);
            }
        }
    }

    private async Task ProvisionAsync(V1PersistentVolumeClaim claim, CancellationToken ct)
    {
        var ns = claim.Metadata.NamespaceProperty;
        var directory = ClaimDirectory(ns, claim.Metadata.Name);
        var size = claim.Spec.Resources?.Requests?.TryGetValue("storage", out var requested) == true ? requested : new ResourceQuantity("1Gi");
        var volume = new V1PersistentVolume
        {
            ApiVersion = "v1",
            Kind = "PersistentVolume",
            Metadata = new V1ObjectMeta
            {
                Name = $"syllabus-test-{claim.Metadata.Uid}",
                Labels = new Dictionary<string, string> { ["syllabus.dev/test-kubelet"] = "true" },
            },
            Spec = new V1PersistentVolumeSpec
            {
                Capacity = new Dictionary<string, ResourceQuantity> { ["storage"] = size },
                AccessModes = claim.Spec.AccessModes is { Count: > 0 } modes ? [.. modes] : ["ReadWriteOnce"],
                StorageClassName = claim.Spec.StorageClassName ?? string.Empty,
                VolumeMode = claim.Spec.VolumeMode,
                PersistentVolumeReclaimPolicy = "Retain",
                HostPath = new V1HostPathVolumeSource { Path = directory, Type = "DirectoryOrCreate" },
                ClaimRef = new V1ObjectReference { NamespaceProperty = ns, Name = claim.Metadata.Name, Uid = claim.Metadata.Uid },
            },
        };
        try
        {
            await client.CoreV1.CreatePersistentVolumeAsync(volume, cancellationToken: ct);
            LogVolumeProvisioned(log, ns, claim.Metadata.Name, directory);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        try
        {
            await Task.WhenAll(background);
        }
        catch (OperationCanceledException)
        {
        }

        List<PodRunner> all;
        lock (runnersGate)
        {
            all = [.. runners.Values];
            runners.Clear();
        }

        await Task.WhenAll(all.Select(r => r.StopAsync()));
        foreach (var runner in all)
        {
            runner.ReleaseAddress();
        }

        try
        {
            await Task.WhenAll(cleanups);
        }
        catch (Exception e) when (e is HttpRequestException or HttpOperationException or OperationCanceledException)
        {
        }

        foreach (var node in nodeNames)
        {
            try
            {
                await client.CoreV1.DeleteNodeAsync(node);
            }
            catch (Exception e) when (e is HttpRequestException or HttpOperationException)
            {
                // The control plane may already be gone.
            }
        }

        if (ownsRoot)
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Starting pod {Namespace}/{Pod} on {Node}")]
    private static partial void LogPodStarting(ILogger logger, string @namespace, string pod, string node);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deleted pod {Namespace}/{Pod} with grace period 0")]
    private static partial void LogPodDeleted(ILogger logger, string @namespace, string pod);

    [LoggerMessage(Level = LogLevel.Information, Message = "Provisioned a hostPath volume for claim {Namespace}/{Claim} at {Directory}")]
    private static partial void LogVolumeProvisioned(ILogger logger, string @namespace, string claim, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TestKubelet {Loop} failed; retrying")]
    private static partial void LogLoopError(ILogger logger, string loop, Exception exception);
}
