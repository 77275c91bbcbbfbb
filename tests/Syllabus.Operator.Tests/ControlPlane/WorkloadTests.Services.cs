using System.Diagnostics;
using System.Net;
using k8s;
using k8s.Models;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.ControlPlaneTests;

/// <summary>
/// Pod networking, probes and graceful deletion with the real deployment, endpointslice and scheduler
/// controllers: HTTP servers (<see cref="TestHttpServer"/>) in pods at their own loopback addresses, reached
/// through <see cref="ServiceEndpoints"/> as kube-proxy would route them.
/// </summary>
public sealed partial class WorkloadTests
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(5) };

    private (IKubernetes Client, TestKubelet Kubelet) RequireServers()
    {
        var (_, client, kubelet) = Fixture.Require();
        if (TestHttpServer.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        return (client, kubelet);
    }

    private static V1Deployment ServerDeployment(string name, int replicas, Action<V1PodSpec>? customize = null)
    {
        var labels = new Dictionary<string, string> { ["app"] = name };
        var spec = new V1PodSpec { Containers = [TestHttpServer.Container()] };
        spec.Containers[0].ReadinessProbe = TestHttpServer.HttpProbe("/ready");
        customize?.Invoke(spec);
        return new V1Deployment
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1DeploymentSpec
            {
                Replicas = replicas,
                Selector = new V1LabelSelector { MatchLabels = labels },
                Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = labels }, Spec = spec },
            },
        };
    }

    private static V1Service ServerService(string name) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1ServiceSpec
        {
            Selector = new Dictionary<string, string> { ["app"] = name },
            Ports = [new V1ServicePort { Name = "web", Port = 80, TargetPort = "http" }],
        },
    };

    private static async Task<IList<V1Pod>> PodsAsync(IKubernetes client, string ns, string app) =>
        (await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"app={app}", cancellationToken: Ct)).Items;

    private static bool IsReady(V1Pod pod) => pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    /// <summary>GET once the server listens: a container reported Running may not have bound its port yet.</summary>
    private static Task<string> GetWhenListeningAsync(string ip, string path) =>
        Eventually.GetAsync(
            async () =>
            {
                try
                {
                    return await GetAsync(ip, path);
                }
                catch (HttpRequestException)
                {
                    return null;
                }
            },
            Timeout,
            () => $"the server at {ip} to answer {path}");

    private static async Task<string> GetAsync(string ip, string path)
    {
        using var response = await Http.GetAsync(new Uri($"http://{ip}:{TestHttpServer.Port}{path}"), Ct);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync(Ct);
    }

    /// <summary>The kubelet's unexpected failures about this test's namespace, in full (other tests' own do not fail this one).</summary>
    private static void AssertNoKubeletErrors(TestKubelet kubelet, string ns)
    {
        var errors = kubelet.Errors.Where(e => e.Contains(ns, StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 0, $"kubelet errors:\n{string.Join("\n", errors)}");
    }

    private static IPEndPoint EndpointOf(V1Pod pod) => new(IPAddress.Parse(pod.Status.PodIP), TestHttpServer.Port);

    [Fact]
    public async Task Two_pods_of_a_deployment_listen_on_one_port_at_their_own_addresses()
    {
        var (client, kubelet) = RequireServers();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "two-pods");
        await client.AppsV1.CreateNamespacedDeploymentAsync(ServerDeployment("web", replicas: 2), ns, cancellationToken: Ct);
        await client.CoreV1.CreateNamespacedServiceAsync(ServerService("web"), ns, cancellationToken: Ct);

        IList<V1Pod> pods = [];
        await Eventually.GetAsync(
            async () =>
            {
                pods = await PodsAsync(client, ns, "web");
                return pods.Count == 2 && pods.All(IsReady) ? pods : null;
            },
            Timeout,
            () => $"two Ready pods; have: {string.Join("; ", pods.Select(p => $"{p.Metadata.Name} {KubernetesJson.Serialize(p.Status)}"))}; kubelet errors: {string.Join("\n", kubelet.Errors)}");

        Assert.NotEqual(pods[0].Status.PodIP, pods[1].Status.PodIP);
        foreach (var pod in pods)
        {
            Assert.Equal([pod.Status.PodIP], pod.Status.PodIPs.Select(i => i.Ip));
            Assert.NotEqual("127.0.0.1", pod.Status.PodIP);
            // Each answers at its own address with its own name: both bound port 8080.
            Assert.Equal(pod.Metadata.Name, await GetAsync(pod.Status.PodIP, "/"));
            var status = Assert.Single(pod.Status.ContainerStatuses);
            Assert.True(status.Ready);
            Assert.True(status.Started);
        }

        await using var endpoints = await ServiceEndpoints.StartAsync(client, ns, "web", "web", Ct);
        await endpoints.WaitUntilAsync(e => e.ToHashSet().SetEquals(pods.Select(EndpointOf)), Timeout, Ct);
        Assert.Empty(endpoints.Errors);
        AssertNoKubeletErrors(kubelet, ns);
    }

    [Fact]
    public async Task A_failing_readiness_probe_keeps_the_pod_out_of_the_service_until_it_passes()
    {
        var (client, kubelet) = RequireServers();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "readiness");
        await client.AppsV1.CreateNamespacedDeploymentAsync(
            ServerDeployment("shy", replicas: 1, spec => spec.Containers[0] = WithReadiness(TestHttpServer.Container(startUnready: true))), ns, cancellationToken: Ct);
        await client.CoreV1.CreateNamespacedServiceAsync(ServerService("shy"), ns, cancellationToken: Ct);
        await using var endpoints = await ServiceEndpoints.StartAsync(client, ns, "shy", ct: Ct);

        // Running and answering, but /ready says 503: several probe periods pass and it stays out.
        V1Pod? pod = null;
        await Eventually.GetAsync(
            async () =>
            {
                pod = (await PodsAsync(client, ns, "shy")).SingleOrDefault();
                return pod?.Status?.ContainerStatuses?.SingleOrDefault()?.State?.Running is not null ? pod : null;
            },
            Timeout,
            () => $"a running pod; have {KubernetesJson.Serialize(pod?.Status)}");
        Assert.Equal(pod!.Metadata.Name, await GetWhenListeningAsync(pod.Status.PodIP, "/"));
        await Task.Delay(TimeSpan.FromSeconds(3), Ct);
        pod = await client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, ns, cancellationToken: Ct);
        Assert.False(IsReady(pod));
        var ready = pod.Status.Conditions.Single(c => c.Type == "Ready");
        Assert.Equal("ContainersNotReady", ready.Reason);
        Assert.Equal("containers with unready status: [server]", ready.Message);
        var status = Assert.Single(pod.Status.ContainerStatuses);
        Assert.False(status.Ready);
        Assert.True(status.Started);
        Assert.Empty(endpoints.Current);
        Assert.All(endpoints.History, h => Assert.Empty(h.Endpoints));

        // The probe passes: the pod turns Ready and the Service routes to it.
        await GetAsync(pod.Status.PodIP, "/control/ready");
        await endpoints.WaitUntilAsync(e => e.SequenceEqual([EndpointOf(pod)]), Timeout, Ct);
        pod = await client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, ns, cancellationToken: Ct);
        Assert.True(IsReady(pod));

        // And fails again (failureThreshold 2): out again, while the process keeps running.
        await GetAsync(pod.Status.PodIP, "/control/unready");
        await endpoints.WaitUntilAsync(e => e.Count == 0, Timeout, Ct);
        pod = await client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, ns, cancellationToken: Ct);
        Assert.False(IsReady(pod));
        Assert.Equal(0, pod.Status.ContainerStatuses.Single().RestartCount);
        AssertNoKubeletErrors(kubelet, ns);

        static V1Container WithReadiness(V1Container container)
        {
            container.ReadinessProbe = TestHttpServer.HttpProbe("/ready", failureThreshold: 2);
            return container;
        }
    }

    [Fact]
    public async Task A_rolling_update_with_maxUnavailable_0_serves_every_request_through_the_service()
    {
        var (client, kubelet) = RequireServers();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "rollout");
        var deployment = ServerDeployment("api", replicas: 2, spec =>
        {
            // Endpoint removal and TERM race, as on a real cluster: the preStop pause lets the endpoints drop the pod first.
            spec.Containers[0].Lifecycle = new V1Lifecycle { PreStop = new V1LifecycleHandler { Exec = new V1ExecAction { Command = ["sleep", "2"] } } };
            spec.TerminationGracePeriodSeconds = 10;
        });
        deployment.Spec.Strategy = new V1DeploymentStrategy
        {
            Type = "RollingUpdate",
            RollingUpdate = new V1RollingUpdateDeployment { MaxUnavailable = 0, MaxSurge = 1 },
        };
        await client.AppsV1.CreateNamespacedDeploymentAsync(deployment, ns, cancellationToken: Ct);
        await client.CoreV1.CreateNamespacedServiceAsync(ServerService("api"), ns, cancellationToken: Ct);
        await using var endpoints = await ServiceEndpoints.StartAsync(client, ns, "api", "web", Ct);
        var before = await endpoints.WaitUntilAsync(e => e.Count == 2, Timeout, Ct);

        await using var load = ServiceLoad.Start(endpoints);
        await Task.Delay(TimeSpan.FromSeconds(1), Ct);

        // A new template: the deployment controller surges one new pod at a time and deletes an old one once it is Ready.
        var patch = """{"spec":{"template":{"metadata":{"annotations":{"syllabus.dev/revision":"2"}}}}}""";
        await client.AppsV1.PatchNamespacedDeploymentAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch), "api", ns, cancellationToken: Ct);

        V1Deployment? rolled = null;
        IList<V1Pod> pods = [];
        await Eventually.GetAsync(
            async () =>
            {
                rolled = await client.AppsV1.ReadNamespacedDeploymentAsync("api", ns, cancellationToken: Ct);
                pods = await PodsAsync(client, ns, "api");
                var s = rolled.Status;
                return s.ObservedGeneration >= rolled.Metadata.Generation && s.UpdatedReplicas == 2 && s.Replicas == 2 && s.AvailableReplicas == 2 && pods.Count == 2 ? rolled : null;
            },
            Timeout,
            () => $"rollout not done: {KubernetesJson.Serialize(rolled?.Status)}; pods: {string.Join(", ", pods.Select(p => p.Metadata.Name))}; load: {load.Describe()}");
        var after = await endpoints.WaitUntilAsync(e => e.Count == 2 && !e.Intersect(before).Any(), Timeout, Ct);
        await Task.Delay(TimeSpan.FromSeconds(1), Ct);
        await load.StopAsync();

        Assert.True(load.Failures.Count == 0, $"failed requests during the rollout: {load.Describe()}");
        var servedBy = load.ServedBy;
        Assert.All(before.Concat(after), e => Assert.True(servedBy.GetValueOrDefault(e) > 0, $"{e} served nothing: {load.Describe()}"));
        Assert.True(load.Served > 50, load.Describe());
        Assert.Empty(endpoints.Errors);
        AssertNoKubeletErrors(kubelet, ns);
    }

    [Fact]
    public async Task A_failing_liveness_probe_restarts_the_container()
    {
        var (client, kubelet) = RequireServers();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "liveness");
        await client.AppsV1.CreateNamespacedDeploymentAsync(
            ServerDeployment("sick", replicas: 1, spec => spec.Containers[0].LivenessProbe = TestHttpServer.HttpProbe("/healthz", failureThreshold: 2)), ns, cancellationToken: Ct);
        V1Pod? pod = null;
        await Eventually.GetAsync(
            async () => (pod = (await PodsAsync(client, ns, "sick")).SingleOrDefault()) is { } p && IsReady(p) ? p : null,
            Timeout,
            () => $"a Ready pod; have {KubernetesJson.Serialize(pod?.Status)}");
        var firstContainer = pod!.Status.ContainerStatuses.Single().ContainerID;

        await GetAsync(pod.Status.PodIP, "/control/sick");

        await Eventually.GetAsync(
            async () =>
            {
                pod = await client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, ns, cancellationToken: Ct);
                var s = pod.Status.ContainerStatuses.Single();
                return s.RestartCount == 1 && s.Ready ? pod : null;
            },
            Timeout,
            () => $"no restart after the liveness failure; status: {KubernetesJson.Serialize(pod?.Status)}");
        var status = pod!.Status.ContainerStatuses.Single();
        Assert.NotEqual(firstContainer, status.ContainerID);
        // The kubelet stopped it with TERM: python's default handler exits by the signal, 128 + 15.
        Assert.Equal(143, status.LastState.Terminated?.ExitCode);
        Assert.Equal("Error", status.LastState.Terminated?.Reason);
        Assert.Equal(pod.Metadata.Name, await GetAsync(pod.Status.PodIP, "/healthz")); // the new process is healthy
        AssertNoKubeletErrors(kubelet, ns);
    }

    [Fact]
    public async Task A_startup_probe_holds_back_readiness_until_it_passes_and_exec_and_tcp_probes_run()
    {
        var (client, kubelet) = RequireServers();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "startup");
        var flags = Directory.CreateTempSubdirectory("syllabus-startup-flags-");
        try
        {
            await client.AppsV1.CreateNamespacedDeploymentAsync(
                ServerDeployment("slow", replicas: 1, spec =>
                {
                    spec.Volumes = [new V1Volume { Name = "flags", HostPath = new V1HostPathVolumeSource { Path = flags.FullName } }];
                    var server = spec.Containers[0];
                    server.VolumeMounts = [new V1VolumeMount { Name = "flags", MountPath = "/flags" }];
                    server.StartupProbe = new V1Probe { Exec = new V1ExecAction { Command = ["test", "-f", "/flags/started"] }, PeriodSeconds = 1, FailureThreshold = 60 };
                    server.LivenessProbe = new V1Probe { TcpSocket = new V1TCPSocketAction { Port = "http" }, PeriodSeconds = 1, FailureThreshold = 1 };
                }),
                ns, cancellationToken: Ct);

            V1Pod? pod = null;
            await Eventually.GetAsync(
                async () => (pod = (await PodsAsync(client, ns, "slow")).SingleOrDefault())?.Status?.ContainerStatuses?.SingleOrDefault()?.State?.Running is not null ? pod : null,
                Timeout,
                () => $"a running pod; have {KubernetesJson.Serialize(pod?.Status)}");
            // A running process may not be listening yet: readiness would pass once it answers...
            Assert.Equal(pod!.Metadata.Name, await GetWhenListeningAsync(pod.Status.PodIP, "/ready"));
            await Task.Delay(TimeSpan.FromSeconds(3), Ct);
            pod = await client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, ns, cancellationToken: Ct);
            var waiting = pod.Status.ContainerStatuses.Single();
            Assert.False(waiting.Started); // ...but the startup probe has not passed, so it is not run
            Assert.False(waiting.Ready);
            Assert.False(IsReady(pod));

            await File.WriteAllTextAsync(Path.Combine(flags.FullName, "started"), "yes", Ct);
            await Eventually.GetAsync(
                async () => IsReady(pod = await client.CoreV1.ReadNamespacedPodAsync(pod.Metadata.Name, ns, cancellationToken: Ct)) ? pod : null,
                Timeout,
                () => $"not Ready after the startup probe passed: {KubernetesJson.Serialize(pod?.Status)}");
            await Task.Delay(TimeSpan.FromSeconds(2), Ct); // a few liveness periods over TCP
            pod = await client.CoreV1.ReadNamespacedPodAsync(pod!.Metadata.Name, ns, cancellationToken: Ct);
            var started = pod.Status.ContainerStatuses.Single();
            Assert.True(started.Started);
            Assert.True(started.Ready);
            Assert.Equal(0, started.RestartCount);
            AssertNoKubeletErrors(kubelet, ns);
        }
        finally
        {
            flags.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Deletion_runs_preStop_then_TERM_and_KILLs_after_the_grace_period()
    {
        var (client, kubelet) = RequireServers();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "grace");
        var flags = Directory.CreateTempSubdirectory("syllabus-grace-flags-");
        try
        {
            var spec = GpuJob("unused", "trap 'echo got TERM' TERM; echo started; while true; do sleep 0.2; done", gpus: 0, backoffLimit: 0).Spec.Template.Spec;
            spec.RestartPolicy = "Always";
            spec.TerminationGracePeriodSeconds = 3;
            spec.Volumes = [new V1Volume { Name = "flags", HostPath = new V1HostPathVolumeSource { Path = flags.FullName } }];
            spec.Containers[0].VolumeMounts = [new V1VolumeMount { Name = "flags", MountPath = "/flags" }];
            spec.Containers[0].Lifecycle = new V1Lifecycle { PreStop = new V1LifecycleHandler { Exec = new V1ExecAction { Command = ["sh", "-c", "date +%s.%N > /flags/prestop"] } } };
            await client.CoreV1.CreateNamespacedPodAsync(new V1Pod { Metadata = new V1ObjectMeta { Name = "stubborn" }, Spec = spec }, ns, cancellationToken: Ct);
            await WaitForPhaseAsync(client, ns, "stubborn", "Running");
            await Eventually.TrueAsync(() => kubelet.ReadContainerLog(ns, "stubborn", "trainer").Contains("started", StringComparison.Ordinal), "the shell's trap is set");

            var clock = Stopwatch.StartNew();
            await client.CoreV1.DeleteNamespacedPodAsync("stubborn", ns, cancellationToken: Ct); // default grace: the pod's 3 s
            await Eventually.GetAsync(
                async () => (await client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items.Count == 0 ? "gone" : null,
                TimeSpan.FromSeconds(20),
                () => "pod still present");
            clock.Stop();

            Assert.True(File.Exists(Path.Combine(flags.FullName, "prestop")), "the preStop hook did not run");
            Assert.Contains("got TERM", kubelet.ReadContainerLog(ns, "stubborn", "trainer"), StringComparison.Ordinal);
            // The shell survives TERM, so only KILL at the end of the 3 s grace period ends it.
            Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.5), $"deleted after {clock.Elapsed.TotalSeconds:0.0} s, before its grace period of 3 s");
            AssertNoKubeletErrors(kubelet, ns);
        }
        finally
        {
            flags.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task ServiceEndpoints_names_what_is_wrong_with_the_service_it_is_given()
    {
        var (client, _) = RequireServers();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "bad-svc");
        var twoPorts = ServerService("two");
        twoPorts.Spec.Ports = [new V1ServicePort { Name = "web", Port = 80, TargetPort = "http" }, new V1ServicePort { Name = "metrics", Port = 9090, TargetPort = 9090 }];
        await client.CoreV1.CreateNamespacedServiceAsync(twoPorts, ns, cancellationToken: Ct);
        var headless = ServerService("headless");
        headless.Spec.ClusterIP = "None";
        await client.CoreV1.CreateNamespacedServiceAsync(headless, ns, cancellationToken: Ct);

        var missing = await Assert.ThrowsAsync<ArgumentException>(() => ServiceEndpoints.StartAsync(client, ns, "nothing", ct: Ct));
        Assert.Contains($"Service {ns}/nothing does not exist", missing.Message, StringComparison.Ordinal);
        var ambiguous = await Assert.ThrowsAsync<ArgumentException>(() => ServiceEndpoints.StartAsync(client, ns, "two", ct: Ct));
        Assert.Contains("has 2 ports (web 80, metrics 9090): name one", ambiguous.Message, StringComparison.Ordinal);
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() => ServiceEndpoints.StartAsync(client, ns, "two", "grpc", Ct));
        Assert.Contains("has no port named \"grpc\" (it has: web 80, metrics 9090)", unknown.Message, StringComparison.Ordinal);
        var notRouted = await Assert.ThrowsAsync<ArgumentException>(() => ServiceEndpoints.StartAsync(client, ns, "headless", ct: Ct));
        Assert.Contains("is headless", notRouted.Message, StringComparison.Ordinal);

        // A Service with no pods behind it: no endpoints, and a load through it fails every request, visibly.
        await using var endpoints = await ServiceEndpoints.StartAsync(client, ns, "two", "metrics", Ct);
        Assert.Empty(endpoints.Current);
        await using var load = ServiceLoad.Start(endpoints);
        await Eventually.TrueAsync(() => load.Failures.Count >= 3, "failures recorded");
        await load.StopAsync();
        Assert.Equal(0, load.Served);
        Assert.All(load.Failures, f => Assert.Null(f.Endpoint));
    }
}
