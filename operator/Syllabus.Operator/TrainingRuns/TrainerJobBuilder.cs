using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>The desired ConfigMap and per-attempt Job of a TrainingRun: pure functions of the run, its resolved config and the options.</summary>
public static class TrainerJobBuilder
{
    public const string ConfigMountPath = "/etc/syllabus";
    public const string PvcMountRoot = "/var/run/syllabus/pvc";
    public const string TerminationMessagePath = "/dev/termination-log";
    public const string TmpMountPath = "/tmp";
    public const string MetricsPortName = "metrics";
    public const string PvcRootVariable = "SYLLABUS_PVC_ROOT";

    /// <summary>The trainer's device (auto, cpu, cuda): cuda for a pod given GPUs, so a CPU-only image fails loudly there.</summary>
    public const string DeviceVariable = "SYLLABUS_DEVICE";
    public const string AttemptVariable = "SYLLABUS_ATTEMPT";

    /// <summary>The ConfigMap <c>RUN-config</c> holding the resolved manifest, controlled by the run.</summary>
    public static V1ConfigMap BuildConfigMap(TrainingRun run, ResolvedTrainerConfig config)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(config);
        var configMap = new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta
            {
                Name = TrainingRunNames.ConfigMap(run.Metadata.Name),
                NamespaceProperty = run.Metadata.NamespaceProperty,
                Labels = Labels(run, attempt: null),
                Annotations = new Dictionary<string, string> { [TrainingRunNames.ConfigHashAnnotation] = config.Hash },
            },
            Data = new Dictionary<string, string> { [ResolvedTrainerConfig.FileName] = config.Yaml },
        };
        OwnerReferences.SetControllerReference(run, configMap);
        return configMap;
    }

    /// <summary>
    /// The Job of attempt <paramref name="attempt"/> (1-based): one pod, never restarted by Kubernetes (the operator
    /// counts attempts and backs off), resuming from the checkpoint on the artifact volume.
    /// </summary>
    /// <param name="activeDeadlineSeconds">What is left of the run's deadline for this attempt, if it has one.</param>
    public static V1Job Build(TrainingRun run, ResolvedTrainerConfig config, TrainerImageOptions image, int attempt, long? activeDeadlineSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var spec = run.Spec;
        var resources = spec.Resources ?? new ComputeResources();
        var metadata = JobMetadata(run, config, attempt);
        var labels = metadata.Labels;

        var configMapName = TrainingRunNames.ConfigMap(run.Metadata.Name);
        var volumes = new List<V1Volume>
        {
            new() { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = configMapName } },
            new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() },
        };
        var mounts = new List<V1VolumeMount>
        {
            new() { Name = "config", MountPath = ConfigMountPath, ReadOnlyProperty = true },
            new() { Name = "tmp", MountPath = TmpMountPath },
        };
        foreach (var (claim, index) in config.Claims.Select((c, i) => (c, i)))
        {
            var volume = $"claim-{index}";
            volumes.Add(new V1Volume { Name = volume, PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = claim } });
            mounts.Add(new V1VolumeMount { Name = volume, MountPath = $"{PvcMountRoot}/{claim}" });
        }

        var custom = spec.Model?.Architecture == ModelArchitectures.Custom;
        var container = new V1Container
        {
            Name = TrainingRunNames.ContainerName,
            Image = custom ? spec.Model!.Image : spec.Image ?? image.Image,
            ImagePullPolicy = image.ImagePullPolicy,
            // A Custom image without a command keeps its own entrypoint.
            Command = custom ? (spec.Model!.Command is { Count: > 0 } command ? [.. command] : null) : ["syllabus-trainer"],
            Args =
            [
                "train",
                "-f", $"{ConfigMountPath}/{ResolvedTrainerConfig.FileName}",
                "--metrics-port", image.MetricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--termination-message-path", TerminationMessagePath,
                "--no-progress",
            ],
            Env =
            [
                new V1EnvVar { Name = PvcRootVariable, Value = PvcMountRoot },
                new V1EnvVar { Name = AttemptVariable, Value = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                new V1EnvVar { Name = "HOME", Value = TmpMountPath },
                new V1EnvVar { Name = DeviceVariable, Value = resources.Gpus > 0 ? "cuda" : "cpu" },
            ],
            Ports = [new V1ContainerPort { Name = MetricsPortName, ContainerPort = image.MetricsPort, Protocol = "TCP" }],
            Resources = BuildResources(resources, image),
            VolumeMounts = mounts,
            TerminationMessagePath = TerminationMessagePath,
            TerminationMessagePolicy = "FallbackToLogsOnError",
            SecurityContext = ContainerSecurity(),
        };

        var job = new V1Job
        {
            ApiVersion = "batch/v1",
            Kind = "Job",
            Metadata = metadata,
            Spec = new V1JobSpec
            {
                BackoffLimit = 0,
                Completions = 1,
                Parallelism = 1,
                ActiveDeadlineSeconds = activeDeadlineSeconds,
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string>(labels) },
                    Spec = new V1PodSpec
                    {
                        RestartPolicy = "Never",
                        AutomountServiceAccountToken = false,
                        EnableServiceLinks = false,
                        NodeSelector = resources.NodeSelector is { Count: > 0 } selector ? new Dictionary<string, string>(selector) : null,
                        Tolerations = resources.Tolerations is { Count: > 0 } tolerations ? [.. tolerations] : null,
                        PriorityClassName = string.IsNullOrEmpty(resources.PriorityClassName) ? null : resources.PriorityClassName,
                        SecurityContext = PodSecurity(image),
                        Containers = [container],
                        Volumes = volumes,
                    },
                },
            },
        };
        OwnerReferences.SetControllerReference(run, job);
        return job;
    }

    /// <summary>
    /// What the operator keeps applying to an existing Job of attempt <paramref name="attempt"/>: its labels, annotations and
    /// controller reference only (the spec, and its pod template above all, is immutable once created).
    /// </summary>
    public static V1Job BuildJobMetadata(TrainingRun run, ResolvedTrainerConfig config, int attempt)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(config);
        var job = new V1Job { ApiVersion = "batch/v1", Kind = "Job", Metadata = JobMetadata(run, config, attempt) };
        OwnerReferences.SetControllerReference(run, job);
        return job;
    }

    /// <summary>
    /// The GPU resource: the run's own name unless it kept the schema default, in which case the operator's
    /// configured default applies (clusters whose device plugin advertises e.g. amd.com/gpu).
    /// </summary>
    public static string GpuResourceName(ComputeResources? resources, TrainerImageOptions image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var name = resources?.GpuResourceName;
        return string.IsNullOrEmpty(name) || name == new ComputeResources().GpuResourceName ? image.GpuResourceName : name;
    }

    /// <summary>Every pod the operator runs (trainers, servers, labelling): non-root as the image's user, RuntimeDefault seccomp.</summary>
    internal static V1PodSecurityContext PodSecurity(TrainerImageOptions image) => new()
    {
        RunAsNonRoot = true,
        RunAsUser = image.RunAsUser,
        RunAsGroup = image.RunAsUser,
        FsGroup = image.RunAsUser,
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    /// <summary>Every container the operator runs: no privilege escalation, read-only root, no capabilities.</summary>
    internal static V1SecurityContext ContainerSecurity() => new()
    {
        AllowPrivilegeEscalation = false,
        ReadOnlyRootFilesystem = true,
        RunAsNonRoot = true,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
    };

    internal static V1ResourceRequirements BuildResources(ComputeResources resources, TrainerImageOptions image)
    {
        var requests = new Dictionary<string, ResourceQuantity>();
        var limits = new Dictionary<string, ResourceQuantity>();
        if (resources.Cpu is { } cpu)
        {
            requests["cpu"] = cpu;
            limits["cpu"] = cpu;
        }

        if (resources.Memory is { } memory)
        {
            requests["memory"] = memory;
            limits["memory"] = memory;
        }

        if (resources.Gpus > 0)
        {
            // Extended resources are limits only; the API server copies them into requests.
            limits[GpuResourceName(resources, image)] = new ResourceQuantity(resources.Gpus.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return new V1ResourceRequirements
        {
            Requests = requests.Count == 0 ? null : requests,
            Limits = limits.Count == 0 ? null : limits,
        };
    }

    private static V1ObjectMeta JobMetadata(TrainingRun run, ResolvedTrainerConfig config, int attempt)
    {
        var labels = Labels(run, attempt);
        if (run.Spec.Resources?.QueueName is { Length: > 0 } queue)
        {
            labels[TrainingRunNames.KueueQueueLabel] = queue;
        }

        return new V1ObjectMeta
        {
            Name = TrainingRunNames.Job(run.Metadata.Name, attempt),
            NamespaceProperty = run.Metadata.NamespaceProperty,
            Labels = labels,
            Annotations = new Dictionary<string, string> { [TrainingRunNames.ConfigHashAnnotation] = config.Hash },
        };
    }

    internal static Dictionary<string, string> Labels(TrainingRun run, int? attempt)
    {
        var labels = new Dictionary<string, string>
        {
            [TrainingRunNames.RunLabel] = TrainingRunNames.LabelValue(run.Metadata.Name),
            [TrainingRunNames.AppNameLabel] = TrainingRunNames.AppName,
            [TrainingRunNames.ManagedByLabel] = TrainingRunNames.ManagedBy,
        };
        if (attempt is { } a)
        {
            labels[TrainingRunNames.AttemptLabel] = a.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return labels;
    }
}
