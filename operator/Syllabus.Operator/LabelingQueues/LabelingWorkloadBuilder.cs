using System.Globalization;
using System.Security.Cryptography;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;

namespace Syllabus.Operator.LabelingQueues;

/// <summary>A scoring round to start: batch, attempt, how many rows to select, with which model, adding which serve pods' uncertain rows.</summary>
public sealed record ScoringRound(int Batch, int Attempt, int Count, string ModelUri)
{
    /// <summary>The <c>GET /v2/models/M/uncertain</c> URLs of pool.deploymentRef's ready stable serve pods.</summary>
    public IReadOnlyList<string> Uncertain { get; init; } = [];

    /// <summary>QueryByCommittee: the models of strategy.committee's TrainingRuns, beside <see cref="ModelUri"/>.</summary>
    public IReadOnlyList<string> Committee { get; init; } = [];
}

/// <summary>A retraining round whose export finished: the TrainingRun to create.</summary>
public sealed record RetrainRound(int Round, string ExportUri, int Labels);

/// <summary>
/// The children of a LabelingQueue: the token Secret; the labelling service (a one-replica Deployment running
/// <c>syllabus-trainer label</c> over the store on the queue's claim, ready when <c>/healthz</c> answers, and its
/// Service); scoring Jobs (<c>syllabus-trainer score ... --exclude-store</c> into the batch folder the service polls);
/// export Jobs (<c>label --export</c>, the summary in the termination message); and the retrained TrainingRuns.
/// </summary>
public static class LabelingWorkloadBuilder
{
    /// <summary>The token Secret: 32 random bytes as hex, created once (never applied again, so never rotated).</summary>
    public static V1Secret BuildTokenSecret(LabelingQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var secret = new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Metadata = Metadata(queue, LabelingQueueNames.TokenSecret(queue.Metadata.Name), LabelingQueueNames.LabelRole),
            Type = "Opaque",
            StringData = new Dictionary<string, string> { [LabelingQueueNames.TokenKey] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) },
        };
        OwnerReferences.SetControllerReference(queue, secret);
        return secret;
    }

    /// <summary>The first 16 hex digits of the token's SHA-256: names a token without revealing it.</summary>
    public static string TokenHash(V1Secret secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret.StringData[LabelingQueueNames.TokenKey])))[..16];
    }

    /// <summary>The labelling Deployment; <paramref name="tokenHash"/> (status.tokenHash) annotates its pods, so a new token restarts them.</summary>
    public static V1Deployment BuildLabelDeployment(LabelingQueue queue, TrainerImageOptions image, string? tokenHash = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(image);
        var spec = queue.Spec;
        var store = LabelingQueueNames.MountedPath(spec.StoreUri);
        var selector = LabelingQueueNames.CommonLabels(queue, LabelingQueueNames.LabelRole);
        var (volumes, mounts) = ClaimVolumes(spec.StoreUri);
        volumes.Add(new V1Volume { Name = "token", Secret = new V1SecretVolumeSource { SecretName = LabelingQueueNames.TokenSecret(queue.Metadata.Name) } });
        mounts.Add(new V1VolumeMount { Name = "token", MountPath = LabelingQueueNames.TokenMountPath, ReadOnlyProperty = true });
        var container = Container(image, LabelingQueueNames.ContainerName,
        [
            "label",
            "--store", $"{store}/{LabelingQueueNames.StoreFile}",
            "--labels", string.Join(',', spec.Labels),
            "--budget", spec.Budget.ToString(CultureInfo.InvariantCulture),
            "--port", LabelingQueueNames.ContainerPort.ToString(CultureInfo.InvariantCulture),
            "--token-file", $"{LabelingQueueNames.TokenMountPath}/{LabelingQueueNames.TokenKey}",
            "--pool-dir", $"{store}/{LabelingQueueNames.BatchFolder}",
            "--pool-poll-seconds", PoolPollSeconds.ToString(CultureInfo.InvariantCulture),
        ], mounts);
        container.Ports = [new V1ContainerPort { Name = LabelingQueueNames.PortName, ContainerPort = LabelingQueueNames.ContainerPort, Protocol = "TCP" }];
        // The service's error (a store it cannot open, no batch that can create it) becomes the queue's Ready message.
        container.TerminationMessagePolicy = "FallbackToLogsOnError";
        container.ReadinessProbe = new V1Probe
        {
            HttpGet = new V1HTTPGetAction { Path = LabelingQueueNames.ReadinessPath, Port = LabelingQueueNames.PortName },
            PeriodSeconds = 2,
            FailureThreshold = 2,
        };
        container.LivenessProbe = new V1Probe
        {
            HttpGet = new V1HTTPGetAction { Path = LabelingQueueNames.ReadinessPath, Port = LabelingQueueNames.PortName },
            PeriodSeconds = 10,
            FailureThreshold = 3,
        };

        var deployment = new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Metadata(queue, LabelingQueueNames.LabelService(queue.Metadata.Name), LabelingQueueNames.LabelRole),
            Spec = new V1DeploymentSpec
            {
                Replicas = 1,
                Selector = new V1LabelSelector { MatchLabels = selector },
                // One SQLite writer: the old pod stops before the new one opens the store.
                Strategy = new V1DeploymentStrategy { Type = "Recreate" },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta
                    {
                        Labels = new Dictionary<string, string>(selector),
                        Annotations = tokenHash is null ? null : new Dictionary<string, string> { [LabelingQueueNames.TokenHashAnnotation] = tokenHash },
                    },
                    Spec = PodSpec(image, container, volumes, restartPolicy: null),
                },
            },
        };
        OwnerReferences.SetControllerReference(queue, deployment);
        return deployment;
    }

    public static V1Service BuildLabelService(LabelingQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var service = new V1Service
        {
            ApiVersion = "v1",
            Kind = "Service",
            Metadata = Metadata(queue, LabelingQueueNames.LabelService(queue.Metadata.Name), LabelingQueueNames.LabelRole),
            Spec = new V1ServiceSpec
            {
                Type = "ClusterIP",
                Selector = LabelingQueueNames.CommonLabels(queue, LabelingQueueNames.LabelRole),
                Ports = [new V1ServicePort { Name = LabelingQueueNames.PortName, Port = LabelingQueueNames.ServicePort, TargetPort = LabelingQueueNames.PortName, Protocol = "TCP" }],
            },
        };
        OwnerReferences.SetControllerReference(queue, service);
        return service;
    }

    /// <summary>The in-cluster URL of the labelling UI and API.</summary>
    public static string ServiceUrl(LabelingQueue queue) =>
        $"http://{LabelingQueueNames.LabelService(queue.Metadata.Name)}.{queue.Metadata.NamespaceProperty}.svc:{LabelingQueueNames.ServicePort}";

    /// <summary>
    /// A finished scoring or export Job's lifetime: an hour, long after the planner has read its outcome (a round ends
    /// within seconds of its Job's success; a failed round retries within 10 minutes). A failed export Job therefore
    /// retries by itself after an hour at the latest.
    /// </summary>
    public const int FinishedJobTtlSeconds = 3600;

    /// <summary>How often the labelling service looks for new batches.</summary>
    public const int PoolPollSeconds = 5;

    /// <summary>The scoring Job of <paramref name="round"/>: selects the next batch from the pool, leaving out what the store holds.</summary>
    /// <param name="labelPodRuns">Whether the labelling Deployment runs (it holds the store's claim): the Job then goes to its node.</param>
    public static V1Job BuildScoringJob(LabelingQueue queue, ScoringRound round, TrainerImageOptions image, bool labelPodRuns = false)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(round);
        ArgumentNullException.ThrowIfNull(image);
        var spec = queue.Spec;
        var pool = spec.Pool.Dataset;
        if (pool is null && round.Uncertain.Count == 0)
        {
            throw new InvalidOperationException("a scoring round needs a pool dataset or a serve pod's uncertain rows (the planner starts none without)");
        }

        var store = LabelingQueueNames.MountedPath(spec.StoreUri);
        var (volumes, mounts) = ClaimVolumes([spec.StoreUri, pool?.Uri, round.ModelUri, .. round.Committee]);
        var arguments = new List<string>
        {
            "score",
            "--model", round.ModelUri,
        };
        foreach (var member in round.Committee)
        {
            arguments.AddRange(["--model", member]);
        }

        if (pool is not null)
        {
            arguments.AddRange(["--pool", LabelingQueueNames.MountedPath(pool.Uri)]);
        }

        foreach (var url in round.Uncertain)
        {
            arguments.AddRange(["--uncertain", url]);
        }

        arguments.AddRange(
        [
            "--strategy", StrategyArgument(spec.Strategy),
            "--batch", round.Count.ToString(CultureInfo.InvariantCulture),
            // A fresh tie-breaking (and random-baseline) seed per batch, the same for every attempt of it.
            "--seed", round.Batch.ToString(CultureInfo.InvariantCulture),
            "--out", $"{store}/{LabelingQueueNames.BatchFolder}/{LabelingQueueNames.BatchFileName(round.Batch)}",
            // The counts (and the uncertain rows rejected) for the planner: the Job's termination message.
            "--termination-message-path", TrainerJobBuilder.TerminationMessagePath,
        ]);
        if (round.Batch > 1)
        {
            // The store exists from the first batch on: leave out every row it already holds.
            arguments.AddRange(["--exclude-store", $"{store}/{LabelingQueueNames.StoreFile}"]);
        }

        if (spec.Strategy.ClassBalance)
        {
            arguments.Add("--balance-classes");
        }

        var container = Container(image, "score", arguments, mounts);
        // Once the labelling Deployment runs (from the first batch on, or a store that existed before the queue), every
        // round goes to its node; before it, an affinity to it would never schedule.
        return Job(queue, LabelingQueueNames.ScoreJob(queue.Metadata.Name, round.Batch, round.Attempt), LabelingQueueNames.ScoreRole, image, container, volumes,
            labelPodRuns ? OnLabelPodNode(queue) : null);
    }

    /// <summary>The Job exporting every label so far for retraining round <paramref name="round"/>; its summary is its termination message.</summary>
    public static V1Job BuildExportJob(LabelingQueue queue, int round, TrainerImageOptions image)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(image);
        var spec = queue.Spec;
        var exportUri = LabelingQueueNames.ExportUri(spec.ExportUri ?? throw new InvalidOperationException("retrain needs exportUri (validation rejects it)"), round);
        var (volumes, mounts) = ClaimVolumes(spec.StoreUri, exportUri);
        var container = Container(image, "export",
        [
            "label",
            "--store", $"{LabelingQueueNames.MountedPath(spec.StoreUri)}/{LabelingQueueNames.StoreFile}",
            "--export", LabelingQueueNames.MountedPath(exportUri),
            "--export-format", "csv",
            "--termination-message-path", TrainerJobBuilder.TerminationMessagePath,
        ], mounts);
        // Labels exist, so the labelling Deployment does: the export runs on its node.
        return Job(queue, LabelingQueueNames.ExportJob(queue.Metadata.Name, round), LabelingQueueNames.ExportRole, image, container, volumes, OnLabelPodNode(queue));
    }

    /// <summary>
    /// The TrainingRun of a retraining round: the template, owned by the queue, labelled with it, trained on the
    /// template's training data with the round's export (every label collected so far) added as
    /// <c>data.additionalTrain</c>, annotated with that export and its label count.
    /// </summary>
    public static TrainingRun BuildRetrainRun(LabelingQueue queue, RetrainRound round)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(round);
        var template = queue.Spec.Retrain ?? throw new InvalidOperationException("the queue has no retrain template");
        var spec = SyllabusJson.Copy<TrainingRunSpec>(template.Template.Spec);
        spec.Data.AdditionalTrain = [.. spec.Data.AdditionalTrain ?? [], new DatasetSource { Uri = round.ExportUri, Format = DataFormats.Csv }];
        // Each round's run writes its own folder: a later round must never overwrite a model a ModelDeployment serves.
        spec.Artifacts.Uri = $"{spec.Artifacts.Uri.TrimEnd('/')}/{LabelingQueueNames.RetrainRun(queue.Metadata.Name, round.Round)}";
        var labels = new Dictionary<string, string>(template.Template.Metadata?.Labels ?? [])
        {
            [TrainingRunNames.ManagedByLabel] = TrainingRunNames.ManagedBy,
            [LabelingQueueNames.QueueLabel] = TrainingRunNames.LabelValue(queue.Metadata.Name),
        };
        var annotations = new Dictionary<string, string>(template.Template.Metadata?.Annotations ?? [])
        {
            [LabelingQueueNames.ExportAnnotation] = round.ExportUri,
            [LabelingQueueNames.LabelCountAnnotation] = round.Labels.ToString(CultureInfo.InvariantCulture),
            [LabelingQueueNames.RoundAnnotation] = round.Round.ToString(CultureInfo.InvariantCulture),
        };
        var run = new TrainingRun
        {
            ApiVersion = $"{SyllabusGroup.Name}/{SyllabusGroup.Version}",
            Kind = TrainingRun.KindName,
            Metadata = new V1ObjectMeta
            {
                Name = LabelingQueueNames.RetrainRun(queue.Metadata.Name, round.Round),
                NamespaceProperty = queue.Metadata.NamespaceProperty,
                Labels = labels,
                Annotations = annotations,
            },
            Spec = spec,
        };
        OwnerReferences.SetControllerReference(queue, run);
        return run;
    }

    /// <summary>The score mode's name of a strategy (a committee's by its disagreement measure).</summary>
    public static string StrategyArgument(StrategySpec strategy)
    {
        ArgumentNullException.ThrowIfNull(strategy);
        return strategy.Type switch
        {
            SelectionStrategies.LeastConfidence => "least-confidence",
            SelectionStrategies.Margin => "margin",
            SelectionStrategies.Entropy => "entropy",
            SelectionStrategies.Random => "random",
            SelectionStrategies.QueryByCommittee => strategy.Disagreement switch
            {
                CommitteeDisagreements.VoteEntropy => "vote-entropy",
                CommitteeDisagreements.ConsensusEntropy => "consensus-entropy",
                CommitteeDisagreements.MaxDisagreement => "max-disagreement",
                _ => throw new ArgumentException($"disagreement {strategy.Disagreement} is not a committee measure", nameof(strategy)),
            },
            _ => throw new ArgumentException($"strategy {strategy.Type} is not a score strategy", nameof(strategy)),
        };
    }

    /// <summary>
    /// Required pod affinity to the labelling pod's node: a Job mounting the store's claim, which may be ReadWriteOnce (one
    /// node at a time) and holds SQLite's WAL (which needs one host), must run beside the pod that has it mounted, or it
    /// would wait forever for an attach on another node. While the labelling pod is being replaced the Job waits for it.
    /// </summary>
    public static V1Affinity OnLabelPodNode(LabelingQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return new V1Affinity
        {
            PodAffinity = new V1PodAffinity
            {
                RequiredDuringSchedulingIgnoredDuringExecution =
                [
                    new V1PodAffinityTerm
                    {
                        LabelSelector = new V1LabelSelector { MatchLabels = LabelingQueueNames.CommonLabels(queue, LabelingQueueNames.LabelRole) },
                        TopologyKey = HostnameTopologyKey,
                    },
                ],
            },
        };
    }

    /// <summary>The well-known node label naming its host.</summary>
    public const string HostnameTopologyKey = "kubernetes.io/hostname";

    private static V1Job Job(LabelingQueue queue, string name, string role, TrainerImageOptions image, V1Container container, List<V1Volume> volumes, V1Affinity? affinity)
    {
        var labels = LabelingQueueNames.CommonLabels(queue, role);
        container.TerminationMessagePath = TrainerJobBuilder.TerminationMessagePath;
        container.TerminationMessagePolicy = "FallbackToLogsOnError";
        var job = new V1Job
        {
            ApiVersion = "batch/v1",
            Kind = "Job",
            Metadata = Metadata(queue, name, role),
            Spec = new V1JobSpec
            {
                // The operator retries (under a new name, with backoff): Kubernetes never reruns a pod.
                BackoffLimit = 0,
                // Where the TTL controller runs (beta from 1.21); the reconciler also deletes finished Jobs beyond the newest few.
                TtlSecondsAfterFinished = FinishedJobTtlSeconds,
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = labels },
                    Spec = PodSpec(image, container, volumes, restartPolicy: "Never"),
                },
            },
        };
        job.Spec.Template.Spec.Affinity = affinity;
        OwnerReferences.SetControllerReference(queue, job);
        return job;
    }

    private static V1ObjectMeta Metadata(LabelingQueue queue, string name, string role) => new()
    {
        Name = name,
        NamespaceProperty = queue.Metadata.NamespaceProperty,
        Labels = LabelingQueueNames.CommonLabels(queue, role),
    };

    private static V1Container Container(TrainerImageOptions image, string name, List<string> arguments, List<V1VolumeMount> mounts) => new()
    {
        Name = name,
        Image = image.Image,
        ImagePullPolicy = image.ImagePullPolicy,
        Command = ["syllabus-trainer"],
        Args = arguments,
        Env =
        [
            new V1EnvVar { Name = TrainerJobBuilder.PvcRootVariable, Value = TrainerJobBuilder.PvcMountRoot },
            new V1EnvVar { Name = "HOME", Value = TrainerJobBuilder.TmpMountPath },
            new V1EnvVar { Name = TrainerJobBuilder.DeviceVariable, Value = "cpu" },
        ],
        Resources = TrainerJobBuilder.BuildResources(new ComputeResources(), image),
        VolumeMounts = mounts,
        SecurityContext = TrainerJobBuilder.ContainerSecurity(),
    };

    private static V1PodSpec PodSpec(TrainerImageOptions image, V1Container container, List<V1Volume> volumes, string? restartPolicy) => new()
    {
        AutomountServiceAccountToken = false,
        EnableServiceLinks = false,
        RestartPolicy = restartPolicy,
        SecurityContext = TrainerJobBuilder.PodSecurity(image),
        Containers = [container],
        Volumes = volumes,
    };

    /// <summary>A tmp emptyDir and each distinct claim of <paramref name="uris"/>, mounted under the pvc root.</summary>
    private static (List<V1Volume> Volumes, List<V1VolumeMount> Mounts) ClaimVolumes(params string?[] uris)
    {
        var volumes = new List<V1Volume> { new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() } };
        var mounts = new List<V1VolumeMount> { new() { Name = "tmp", MountPath = TrainerJobBuilder.TmpMountPath } };
        var claims = uris.Select(ResolvedConfigBuilder.ClaimOf).OfType<string>().Distinct(StringComparer.Ordinal).ToList();
        for (var i = 0; i < claims.Count; i++)
        {
            volumes.Add(new V1Volume { Name = $"claim-{i}", PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = claims[i] } });
            mounts.Add(new V1VolumeMount { Name = $"claim-{i}", MountPath = $"{TrainerJobBuilder.PvcMountRoot}/{claims[i]}" });
        }

        return (volumes, mounts);
    }
}
