using k8s;
using k8s.Models;

namespace Syllabus.Operator.Tests.ControlPlaneTests;

/// <summary>
/// The whole loop a training Job goes through, with real binaries: the controller manager creates pods, the
/// real scheduler places them on the TestKubelet's 2-GPU node (or refuses), the TestKubelet runs them.
/// </summary>
public sealed partial class WorkloadTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private ClusterFixture Fixture => fixture;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static V1Job GpuJob(string name, string script, int gpus, int backoffLimit) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new V1JobSpec
        {
            BackoffLimit = backoffLimit,
            Template = new V1PodTemplateSpec
            {
                Spec = new V1PodSpec
                {
                    RestartPolicy = "Never",
                    Containers =
                    [
                        new V1Container
                        {
                            Name = "trainer",
                            Image = "busybox",
                            Command = ["sh", "-c", script],
                            Resources = new V1ResourceRequirements
                            {
                                Limits = new Dictionary<string, ResourceQuantity> { ["nvidia.com/gpu"] = new(gpus.ToString(System.Globalization.CultureInfo.InvariantCulture)) },
                            },
                        },
                    ],
                },
            },
        },
    };

    private async Task<V1Job> WaitForJobConditionAsync(IKubernetes client, string ns, string name, string type)
    {
        V1Job? last = null;
        IList<V1Pod> pods = [];
        return await Eventually.GetAsync(
            async () =>
            {
                last = await client.BatchV1.ReadNamespacedJobAsync(name, ns, cancellationToken: Ct);
                pods = await JobPodsAsync(client, ns, name);
                return last.Status?.Conditions?.Any(c => c.Type == type && c.Status == "True") == true ? last : null;
            },
            Timeout,
            () => $"job {ns}/{name} has no {type}=True condition; status: {KubernetesJson.Serialize(last?.Status)}; pods: {string.Join(", ", pods.Select(p => $"{p.Metadata.Name} on {p.Spec.NodeName}: {KubernetesJson.Serialize(p.Status)}"))}; kubelet errors: {string.Join("\n", fixture.Kubelet?.Errors ?? [])}");
    }

    private static async Task<IList<V1Pod>> JobPodsAsync(IKubernetes client, string ns, string job) =>
        (await client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"job-name={job}", cancellationToken: Ct)).Items;

    [Fact]
    public async Task Gpu_job_is_scheduled_runs_and_completes_with_a_termination_message()
    {
        var (_, client, _) = fixture.Require();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "job-ok");
        await client.BatchV1.CreateNamespacedJobAsync(GpuJob("train", "echo hi > /dev/termination-log; echo working; exit 0", gpus: 2, backoffLimit: 0), ns, cancellationToken: Ct);

        var job = await WaitForJobConditionAsync(client, ns, "train", "Complete");
        Assert.Equal(1, job.Status.Succeeded);

        var pod = Assert.Single(await JobPodsAsync(client, ns, "train"));
        Assert.Equal(ClusterFixture.NodeName, pod.Spec.NodeName);
        Assert.Equal("Succeeded", pod.Status.Phase);
        Assert.Equal("127.0.0.1", pod.Status.HostIP);
        Assert.Matches(@"^127\.([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4])\.[0-9]+\.[0-9]+$", pod.Status.PodIP); // its own loopback address, not the node's
        var terminated = Assert.Single(pod.Status.ContainerStatuses).State.Terminated;
        Assert.NotNull(terminated);
        Assert.Equal(0, terminated.ExitCode);
        Assert.Equal("Completed", terminated.Reason);
        Assert.Equal("hi\n", terminated.Message);
        Assert.NotNull(terminated.StartedAt);
        Assert.True(terminated.FinishedAt >= terminated.StartedAt);
        Assert.Contains(pod.Status.Conditions, c => c.Type == "PodScheduled" && c.Status == "True");
        Assert.Empty(fixture.Kubelet!.Errors);
    }

    [Fact]
    public async Task Pod_asking_for_more_gpus_than_the_node_has_stays_Pending_and_Unschedulable()
    {
        var (_, client, _) = fixture.Require();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "too-big");
        var template = GpuJob("unused", "exit 0", gpus: 4, backoffLimit: 0).Spec.Template;
        await client.CoreV1.CreateNamespacedPodAsync(new V1Pod { Metadata = new V1ObjectMeta { Name = "greedy" }, Spec = template.Spec }, ns, cancellationToken: Ct);

        V1Pod? last = null;
        var pod = await Eventually.GetAsync(
            async () =>
            {
                last = await client.CoreV1.ReadNamespacedPodAsync("greedy", ns, cancellationToken: Ct);
                return last.Status?.Conditions?.Any(c => c.Type == "PodScheduled" && c.Status == "False" && c.Reason == "Unschedulable") == true ? last : null;
            },
            Timeout,
            () => $"pod not marked Unschedulable; status: {KubernetesJson.Serialize(last?.Status)}");

        Assert.Equal("Pending", pod.Status.Phase);
        Assert.Null(pod.Spec.NodeName);
        Assert.Contains("nvidia.com/gpu", pod.Status.Conditions.Single(c => c.Type == "PodScheduled").Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failing_job_reports_exit_code_1_and_fails_after_its_backoff_limit()
    {
        var (_, client, _) = fixture.Require();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "job-fail");
        await client.BatchV1.CreateNamespacedJobAsync(GpuJob("broken", "echo 'loss is NaN' > /dev/termination-log; exit 1", gpus: 1, backoffLimit: 1), ns, cancellationToken: Ct);

        var job = await WaitForJobConditionAsync(client, ns, "broken", "Failed");
        Assert.Equal("BackoffLimitExceeded", job.Status.Conditions.Single(c => c.Type == "Failed").Reason);

        var pods = await JobPodsAsync(client, ns, "broken");
        Assert.Equal(2, pods.Count); // the first try and one retry (backoffLimit 1)
        Assert.All(pods, pod =>
        {
            Assert.Equal("Failed", pod.Status.Phase);
            var terminated = Assert.Single(pod.Status.ContainerStatuses).State.Terminated;
            Assert.NotNull(terminated);
            Assert.Equal(1, terminated.ExitCode);
            Assert.Equal("Error", terminated.Reason);
            Assert.Equal("loss is NaN\n", terminated.Message);
        });
    }

    [Fact]
    public async Task Volumes_env_and_path_mapping_reach_the_process_and_claims_outlive_pods()
    {
        var (_, client, kubelet) = fixture.Require();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "volumes");
        await client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "run-config" }, Data = new Dictionary<string, string> { ["config.yaml"] = "epochs: 3\n", ["mode"] = "train" } },
            ns, cancellationToken: Ct);
        await client.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(
            new V1PersistentVolumeClaim
            {
                Metadata = new V1ObjectMeta { Name = "artifacts" },
                Spec = new V1PersistentVolumeClaimSpec
                {
                    AccessModes = ["ReadWriteOnce"],
                    Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("1Gi") } },
                },
            },
            ns, cancellationToken: Ct);

        V1Pod Pod(string name, string script) => new()
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                Volumes =
                [
                    new V1Volume { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = "run-config" } },
                    new V1Volume { Name = "artifacts", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = "artifacts" } },
                ],
                Containers =
                [
                    new V1Container
                    {
                        Name = "main",
                        Image = "busybox:1.36",
                        Command = ["sh", "-c", script],
                        Env =
                        [
                            new V1EnvVar { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
                            new V1EnvVar { Name = "MODE", ValueFrom = new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Name = "run-config", Key = "mode" } } },
                            new V1EnvVar { Name = "OUT", Value = "/artifacts/$(POD_NAME).txt" },
                        ],
                        VolumeMounts =
                        [
                            new V1VolumeMount { Name = "config", MountPath = "/etc/syllabus" },
                            new V1VolumeMount { Name = "artifacts", MountPath = "/artifacts" },
                        ],
                    },
                ],
            },
        };

        await client.CoreV1.CreateNamespacedPodAsync(
            Pod("writer", "cat /etc/syllabus/config.yaml > $OUT; echo \"$MODE $POD_NAME\" >> $OUT; printf '%s' \"$SYLLABUS_PATH_MAP\" > /dev/termination-log"),
            ns, cancellationToken: Ct);
        var writer = await WaitForPhaseAsync(client, ns, "writer", "Succeeded");

        var claimDirectory = kubelet.ClaimDirectory(ns, "artifacts");
        Assert.Equal("epochs: 3\ntrain writer\n", await File.ReadAllTextAsync(Path.Combine(claimDirectory, "writer.txt"), Ct));
        var pathMap = writer.Status.ContainerStatuses.Single().State.Terminated.Message;
        Assert.Contains($"/artifacts={claimDirectory}", pathMap, StringComparison.Ordinal);
        Assert.Contains("/etc/syllabus=", pathMap, StringComparison.Ordinal);

        // A later pod sees what the first one left on the claim.
        await client.CoreV1.CreateNamespacedPodAsync(Pod("reader", "cat /artifacts/writer.txt; test -s /artifacts/writer.txt"), ns, cancellationToken: Ct);
        await WaitForPhaseAsync(client, ns, "reader", "Succeeded");
        Assert.Equal("epochs: 3\ntrain writer\n", kubelet.ReadContainerLog(ns, "reader", "main"));
        Assert.Empty(kubelet.Errors);
    }

    [Fact]
    public async Task Deleting_a_running_pod_kills_it_and_removes_it()
    {
        var (_, client, _) = fixture.Require();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "delete");
        var spec = GpuJob("unused", "sleep 600", gpus: 0, backoffLimit: 0).Spec.Template.Spec;
        await client.CoreV1.CreateNamespacedPodAsync(new V1Pod { Metadata = new V1ObjectMeta { Name = "sleeper" }, Spec = spec }, ns, cancellationToken: Ct);
        var running = await WaitForPhaseAsync(client, ns, "sleeper", "Running");
        Assert.NotNull(running.Status.ContainerStatuses.Single().State.Running?.StartedAt);

        await client.CoreV1.DeleteNamespacedPodAsync("sleeper", ns, cancellationToken: Ct); // default 30 s grace

        await Eventually.GetAsync(
            async () => (await client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items.Count == 0 ? "gone" : null,
            TimeSpan.FromSeconds(20),
            () => "pod still present: a bound pod needs the kubelet to delete it with grace 0");
    }

    [Fact]
    public async Task Unknown_image_leaves_the_container_waiting_in_image_pull_backoff()
    {
        var (_, client, _) = fixture.Require();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "no-image");
        var spec = GpuJob("unused", "exit 0", gpus: 0, backoffLimit: 0).Spec.Template.Spec;
        spec.Containers[0].Image = "registry.example/not-mapped:1.0";
        await client.CoreV1.CreateNamespacedPodAsync(new V1Pod { Metadata = new V1ObjectMeta { Name = "pull" }, Spec = spec }, ns, cancellationToken: Ct);

        V1Pod? last = null;
        await Eventually.GetAsync(
            async () =>
            {
                last = await client.CoreV1.ReadNamespacedPodAsync("pull", ns, cancellationToken: Ct);
                return last.Status?.ContainerStatuses?.SingleOrDefault()?.State?.Waiting?.Reason == "ImagePullBackOff" ? last : null;
            },
            Timeout,
            () => $"no ImagePullBackOff; status: {KubernetesJson.Serialize(last?.Status)}");
        Assert.Equal("Pending", last!.Status.Phase);
    }

    [Fact]
    public async Task OnFailure_restarts_a_failed_container_in_place()
    {
        var (_, client, _) = fixture.Require();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "restart");
        var spec = GpuJob("unused", "if [ -f /scratch/tried ]; then exit 0; fi; touch /scratch/tried; exit 3", gpus: 0, backoffLimit: 0).Spec.Template.Spec;
        spec.RestartPolicy = "OnFailure";
        spec.Volumes = [new V1Volume { Name = "scratch", EmptyDir = new V1EmptyDirVolumeSource() }];
        spec.Containers[0].VolumeMounts = [new V1VolumeMount { Name = "scratch", MountPath = "/scratch" }];
        await client.CoreV1.CreateNamespacedPodAsync(new V1Pod { Metadata = new V1ObjectMeta { Name = "flaky" }, Spec = spec }, ns, cancellationToken: Ct);

        var pod = await WaitForPhaseAsync(client, ns, "flaky", "Succeeded");
        var status = Assert.Single(pod.Status.ContainerStatuses);
        Assert.Equal(1, status.RestartCount);
        Assert.Equal(3, status.LastState.Terminated?.ExitCode);
        Assert.Equal(0, status.State.Terminated?.ExitCode);
    }

    private static async Task<V1Pod> WaitForPhaseAsync(IKubernetes client, string ns, string name, string phase)
    {
        V1Pod? last = null;
        return await Eventually.GetAsync(
            async () =>
            {
                last = await client.CoreV1.ReadNamespacedPodAsync(name, ns, cancellationToken: Ct);
                return last.Status?.Phase == phase ? last : null;
            },
            Timeout,
            () => $"pod {ns}/{name} not {phase}; status: {KubernetesJson.Serialize(last?.Status)}");
    }
}
