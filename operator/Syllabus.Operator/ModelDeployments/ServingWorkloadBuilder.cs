using System.Globalization;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>What one arm serves: the revision, its model and image, and how many replicas.</summary>
public sealed record ArmPlan(int Revision, string ModelUri, string Image, int Replicas);

/// <summary>
/// The children of a ModelDeployment, as server-side apply configurations: a Deployment per arm running
/// <c>syllabus-trainer serve</c> on the revision's model (ready when <c>/v2/health/ready</c> answers 200, rolled
/// with maxUnavailable 0 so a promotion never drops capacity), and one Service selecting the pods of both arms, so
/// each arm gets its share of connections.
/// </summary>
public static class ServingWorkloadBuilder
{
    /// <summary>Where pvc:// claims are mounted, as for trainers (the serve mode resolves pvc:// under it).</summary>
    public const string PvcMountRoot = TrainerJobBuilder.PvcMountRoot;

    /// <summary>How long a deleted serving pod keeps answering before SIGTERM (endpoint propagation).</summary>
    public const int PreStopSeconds = 3;

    public static V1Deployment BuildDeployment(ModelDeployment deployment, string arm, ArmPlan plan, TrainerImageOptions image)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(image);
        var name = deployment.Metadata.Name;
        var selector = ModelDeploymentNames.CommonLabels(deployment);
        selector[ModelDeploymentNames.ArmLabel] = arm;
        var podLabels = new Dictionary<string, string>(selector)
        {
            [ModelDeploymentNames.RevisionLabel] = plan.Revision.ToString(CultureInfo.InvariantCulture),
        };

        var volumes = new List<V1Volume> { new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() } };
        var mounts = new List<V1VolumeMount> { new() { Name = "tmp", MountPath = TrainerJobBuilder.TmpMountPath } };
        if (ResolvedConfigBuilder.ClaimOf(plan.ModelUri) is { } claim)
        {
            volumes.Add(new V1Volume { Name = "model", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = claim, ReadOnlyProperty = true } });
            mounts.Add(new V1VolumeMount { Name = "model", MountPath = $"{PvcMountRoot}/{claim}", ReadOnlyProperty = true });
        }

        var resources = deployment.Spec.Resources ?? new ComputeResources();
        var container = new V1Container
        {
            Name = ModelDeploymentNames.ContainerName,
            Image = plan.Image,
            ImagePullPolicy = image.ImagePullPolicy,
            // A serve that refuses to start (a profile of another schema, a model it cannot load) says why in its pod's
            // status, where the operator reads it for the conditions.
            TerminationMessagePolicy = "FallbackToLogsOnError",
            Command = ["syllabus-trainer"],
            Args =
            [
                "serve",
                "--model", plan.ModelUri,
                "--name", name,
                "--model-version", plan.Revision.ToString(CultureInfo.InvariantCulture),
                "--port", ModelDeploymentNames.ContainerPort.ToString(CultureInfo.InvariantCulture),
            ],
            Env =
            [
                new V1EnvVar { Name = TrainerJobBuilder.PvcRootVariable, Value = PvcMountRoot },
                new V1EnvVar { Name = "HOME", Value = TrainerJobBuilder.TmpMountPath },
                new V1EnvVar { Name = TrainerJobBuilder.DeviceVariable, Value = resources.Gpus > 0 ? "cuda" : "cpu" },
            ],
            Ports = [new V1ContainerPort { Name = ModelDeploymentNames.PortName, ContainerPort = ModelDeploymentNames.ContainerPort, Protocol = "TCP" }],
            ReadinessProbe = new V1Probe
            {
                HttpGet = new V1HTTPGetAction { Path = ModelDeploymentNames.ReadinessPath, Port = ModelDeploymentNames.PortName },
                PeriodSeconds = 2,
                FailureThreshold = 2,
            },
            LivenessProbe = new V1Probe
            {
                HttpGet = new V1HTTPGetAction { Path = ModelDeploymentNames.LivenessPath, Port = ModelDeploymentNames.PortName },
                PeriodSeconds = 10,
                FailureThreshold = 3,
            },
            // Endpoints drop a deleted pod a moment after its deletion starts: keep serving through that moment, so a
            // scale-down or rollout refuses no request (Kestrel stops accepting at SIGTERM).
            Lifecycle = new V1Lifecycle { PreStop = new V1LifecycleHandler { Exec = new V1ExecAction { Command = ["sleep", PreStopSeconds.ToString(CultureInfo.InvariantCulture)] } } },
            Resources = TrainerJobBuilder.BuildResources(resources, image),
            VolumeMounts = mounts,
            SecurityContext = TrainerJobBuilder.ContainerSecurity(),
        };

        var result = new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = new V1ObjectMeta
            {
                Name = ModelDeploymentNames.Deployment(name, arm),
                NamespaceProperty = deployment.Metadata.NamespaceProperty,
                Labels = new Dictionary<string, string>(selector),
            },
            Spec = new V1DeploymentSpec
            {
                Replicas = plan.Replicas,
                Selector = new V1LabelSelector { MatchLabels = selector },
                // Never below the serving capacity while a promotion or a rollback replaces the pods.
                Strategy = new V1DeploymentStrategy
                {
                    Type = "RollingUpdate",
                    RollingUpdate = new V1RollingUpdateDeployment { MaxUnavailable = "0", MaxSurge = "1" },
                },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = podLabels },
                    Spec = new V1PodSpec
                    {
                        AutomountServiceAccountToken = false,
                        EnableServiceLinks = false,
                        NodeSelector = resources.NodeSelector is { Count: > 0 } nodeSelector ? new Dictionary<string, string>(nodeSelector) : null,
                        Tolerations = resources.Tolerations is { Count: > 0 } tolerations ? [.. tolerations] : null,
                        PriorityClassName = string.IsNullOrEmpty(resources.PriorityClassName) ? null : resources.PriorityClassName,
                        SecurityContext = TrainerJobBuilder.PodSecurity(image),
                        Containers = [container],
                        Volumes = volumes,
                    },
                },
            },
        };
        OwnerReferences.SetControllerReference(deployment, result);
        return result;
    }

    /// <summary>The arm's Deployment scaled to zero, its pod template kept (so a later scale-up is not a rollout).</summary>
    public static V1Deployment ScaledToZero(V1Deployment desired)
    {
        ArgumentNullException.ThrowIfNull(desired);
        desired.Spec.Replicas = 0;
        return desired;
    }

    public static V1Service BuildService(ModelDeployment deployment)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        var labels = ModelDeploymentNames.CommonLabels(deployment);
        var service = new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = new V1ObjectMeta
            {
                Name = ModelDeploymentNames.Service(deployment.Metadata.Name),
                NamespaceProperty = deployment.Metadata.NamespaceProperty,
                Labels = new Dictionary<string, string>(labels),
            },
            Spec = new V1ServiceSpec
            {
                Type = "ClusterIP",
                // Both arms: the canary's share of traffic is its share of ready replicas.
                Selector = labels,
                Ports =
                [
                    new V1ServicePort { Name = ModelDeploymentNames.PortName, Port = ModelDeploymentNames.ServicePort, TargetPort = ModelDeploymentNames.PortName, Protocol = "TCP" },
                ],
            },
        };
        OwnerReferences.SetControllerReference(deployment, service);
        return service;
    }
}
