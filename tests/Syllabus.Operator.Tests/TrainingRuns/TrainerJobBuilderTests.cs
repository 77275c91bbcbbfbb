using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.Tests.TrainingRuns;

public sealed class TrainerJobBuilderTests
{
    private static TrainingRun GpuRun() => TestRuns.Run(configure: s =>
    {
        s.Resources = new ComputeResources
        {
            Gpus = 2,
            Cpu = new ResourceQuantity("4"),
            Memory = new ResourceQuantity("16Gi"),
            NodeSelector = new Dictionary<string, string> { ["cloud.google.com/gke-accelerator"] = "nvidia-l4" },
            Tolerations = [new V1Toleration { Key = "nvidia.com/gpu", OperatorProperty = "Exists", Effect = "NoSchedule" }],
            PriorityClassName = "training",
            QueueName = "team-a",
        };
    });

    /// <summary>Compares with a golden file; SYLLABUS_UPDATE_GOLDEN=1 rewrites it (review the diff).</summary>
    private static void AssertGolden(string name, object value)
    {
        var path = Path.Combine(TestRuns.SourceDirectory(), "golden", name);
        var actual = KubernetesYaml.Serialize(value).ReplaceLineEndings("\n");
        if (Environment.GetEnvironmentVariable("SYLLABUS_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.True(File.Exists(path), $"golden file {path} is missing; run with SYLLABUS_UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(path).ReplaceLineEndings("\n"), actual);
    }

    [Fact]
    public void The_job_of_a_GPU_run_matches_the_golden_file()
    {
        var run = GpuRun();
        var config = ResolvedConfigBuilder.Build(run, null, null);
        AssertGolden("job-gpu.yaml", TrainerJobBuilder.Build(run, config, TestRuns.Options(), attempt: 3, activeDeadlineSeconds: 3600));
    }

    [Fact]
    public void The_config_map_matches_the_golden_file()
    {
        var run = GpuRun();
        AssertGolden("configmap.yaml", TrainerJobBuilder.BuildConfigMap(run, ResolvedConfigBuilder.Build(run, null, null)));
    }

    [Fact]
    public void Every_child_carries_the_managed_by_label_the_operators_informers_filter_on_and_job_metadata_matches_the_created_job()
    {
        // One truth: the builders' value is the runtime's default Operator:ManagedBy.
        Assert.Equal(TrainingRunNames.ManagedBy, new Syllabus.Runtime.Hosting.OperatorOptions().ManagedBy);
        Assert.Equal(TrainingRunNames.ManagedByLabel, Syllabus.Runtime.ManagedObjects.Label);

        var run = GpuRun();
        var config = ResolvedConfigBuilder.Build(run, null, null);
        var job = TrainerJobBuilder.Build(run, config, TestRuns.Options(), 2);
        Assert.Equal(TrainingRunNames.ManagedBy, job.Metadata.Labels[TrainingRunNames.ManagedByLabel]);
        Assert.Equal(TrainingRunNames.ManagedBy, job.Spec.Template.Metadata.Labels[TrainingRunNames.ManagedByLabel]);
        Assert.Equal(TrainingRunNames.ManagedBy, TrainerJobBuilder.BuildConfigMap(run, config).Metadata.Labels[TrainingRunNames.ManagedByLabel]);

        // What is re-applied to an existing Job is exactly the created Job's metadata, and nothing of its spec.
        var metadataOnly = TrainerJobBuilder.BuildJobMetadata(run, config, 2);
        Assert.Null(metadataOnly.Spec);
        Assert.Equal(KubernetesJson.Serialize(job.Metadata), KubernetesJson.Serialize(metadataOnly.Metadata));
    }

    [Fact]
    public void The_job_is_locked_down_owned_and_labelled()
    {
        var run = GpuRun();
        var job = TrainerJobBuilder.Build(run, ResolvedConfigBuilder.Build(run, null, null), TestRuns.Options(), 1);
        var pod = job.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);

        Assert.Equal("mnist-mlp-1", job.Metadata.Name);
        Assert.Equal(0, job.Spec.BackoffLimit);
        Assert.Equal("Never", pod.RestartPolicy);
        Assert.False(pod.AutomountServiceAccountToken);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], container.SecurityContext.Capabilities.Drop);
        Assert.Equal("2", container.Resources.Limits["nvidia.com/gpu"].ToString());
        Assert.Equal("team-a", job.Metadata.Labels[TrainingRunNames.KueueQueueLabel]);
        Assert.Equal("mnist-mlp", job.Spec.Template.Metadata.Labels[TrainingRunNames.RunLabel]);
        Assert.Equal("syllabus-trainer", job.Metadata.Labels["app.kubernetes.io/name"]);
        var owner = Assert.Single(job.Metadata.OwnerReferences);
        Assert.True(owner.Controller);
        Assert.Equal(run.Metadata.Uid, owner.Uid);
        Assert.Equal("TrainingRun", owner.Kind);

        // Both claims the run reads or writes are mounted where SYLLABUS_PVC_ROOT points.
        Assert.Equal(["/var/run/syllabus/pvc/artifacts", "/var/run/syllabus/pvc/datasets"],
            container.VolumeMounts.Where(m => m.Name.StartsWith("claim-", StringComparison.Ordinal)).Select(m => m.MountPath));
        Assert.Equal(TrainerJobBuilder.PvcMountRoot, container.Env.Single(e => e.Name == TrainerJobBuilder.PvcRootVariable).Value);
        Assert.Contains("/etc/syllabus/trainingrun.yaml", container.Args);
    }

    [Fact]
    public void No_GPU_means_no_GPU_limit_and_no_queue_label()
    {
        var run = TestRuns.Run();
        var job = TrainerJobBuilder.Build(run, ResolvedConfigBuilder.Build(run, null, null), TestRuns.Options(), 1);
        Assert.Null(job.Spec.Template.Spec.Containers[0].Resources.Limits);
        Assert.False(job.Metadata.Labels.ContainsKey(TrainingRunNames.KueueQueueLabel));
        Assert.Null(job.Spec.ActiveDeadlineSeconds);
    }

    [Fact]
    public void The_operators_GPU_resource_name_replaces_the_schema_default_but_not_an_explicit_one()
    {
        var options = TestRuns.Options();
        options.GpuResourceName = "amd.com/gpu";
        Assert.Equal("amd.com/gpu", TrainerJobBuilder.GpuResourceName(new ComputeResources { Gpus = 1 }, options));
        Assert.Equal("gpu.intel.com/i915", TrainerJobBuilder.GpuResourceName(new ComputeResources { Gpus = 1, GpuResourceName = "gpu.intel.com/i915" }, options));

        var run = TestRuns.Run(configure: s => s.Resources = new ComputeResources { Gpus = 1 });
        var job = TrainerJobBuilder.Build(run, ResolvedConfigBuilder.Build(run, null, null), options, 1);
        Assert.True(job.Spec.Template.Spec.Containers[0].Resources.Limits.ContainsKey("amd.com/gpu"));
    }

    [Fact]
    public void A_run_image_overrides_the_default_and_a_Custom_model_keeps_its_own_entrypoint()
    {
        var run = TestRuns.Run(configure: s => s.Image = "registry.example/trainer:dev");
        Assert.Equal("registry.example/trainer:dev", TrainerJobBuilder.Build(run, ResolvedConfigBuilder.Build(run, null, null), TestRuns.Options(), 1).Spec.Template.Spec.Containers[0].Image);

        var custom = TestRuns.Run(configure: s => s.Model = new ModelSpec { Architecture = ModelArchitectures.Custom, Image = "registry.example/my-trainer:1" });
        var container = TrainerJobBuilder.Build(custom, ResolvedConfigBuilder.Build(custom, null, null), TestRuns.Options(), 1).Spec.Template.Spec.Containers[0];
        Assert.Equal("registry.example/my-trainer:1", container.Image);
        Assert.Null(container.Command);
    }

    [Fact]
    public void File_URIs_mount_no_claims()
    {
        var run = TestRuns.Run(configure: s =>
        {
            s.Data.Train.Uri = "file:///data/train.csv";
            s.Data.Test = null;
            s.Artifacts.Uri = "file:///tmp/out";
        });
        var job = TrainerJobBuilder.Build(run, ResolvedConfigBuilder.Build(run, null, null), TestRuns.Options(), 1);
        Assert.DoesNotContain(job.Spec.Template.Spec.Volumes, v => v.PersistentVolumeClaim is not null);
    }

    [Theory]
    [InlineData("mnist", 1, "mnist-1")]
    [InlineData("a-run-whose-name-is-exactly-sixty-one-characters-long-xxxxxxx", 1, "a-run-whose-name-is-exactly-sixty-one-characters-long-xxxxxxx-1")]
    public void Job_names_are_run_dash_attempt_when_they_fit(string run, int attempt, string expected) =>
        Assert.Equal(expected, TrainingRunNames.Job(run, attempt));

    [Fact]
    public void Long_names_are_truncated_with_a_stable_hash_that_tells_them_apart()
    {
        var longName = new string('r', 120);
        var first = TrainingRunNames.Job(longName, 1);
        var second = TrainingRunNames.Job(longName, 2);
        Assert.Equal(63, first.Length);
        Assert.NotEqual(first, second);
        Assert.Equal(first, TrainingRunNames.Job(longName, 1));
        Assert.Matches("^r+-[0-9a-f]{8}$", first);
        Assert.True(TrainingRunNames.ConfigMap(longName).Length <= 63);
    }
}
