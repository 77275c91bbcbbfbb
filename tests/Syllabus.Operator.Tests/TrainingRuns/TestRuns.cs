using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.Tests.TrainingRuns;

/// <summary>Runs, Jobs and pods as the API server would return them, for the pure functions' tests.</summary>
internal static class TestRuns
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    public static TrainerImageOptions Options() => new()
    {
        Image = "ghcr.io/syllabus-dev/syllabus-trainer:0.1.0",
        MetricsPort = 9090,
        ProgressInterval = TimeSpan.FromSeconds(15),
        BackoffBase = TimeSpan.FromSeconds(10),
        BackoffCap = TimeSpan.FromMinutes(10),
    };

    public static TrainingRun Run(string name = "mnist-mlp", Action<TrainingRunSpec>? configure = null)
    {
        var run = new TrainingRun
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ml", Uid = "0b6a3c1e-0000-4000-8000-000000000001", Generation = 1 },
            Spec = new TrainingRunSpec
            {
                Model = new ModelSpec { Architecture = ModelArchitectures.Mlp, HiddenLayers = [128, 64] },
                Data = new DataSpec
                {
                    Train = new DatasetSource { Uri = "pvc://datasets/mnist/train.csv" },
                    Test = new DatasetSource { Uri = "pvc://datasets/mnist/test.csv" },
                    ValidationFraction = 0.1,
                    Normalization = Normalizations.Scale,
                    Scale = 255,
                },
                Epochs = 5,
                Artifacts = new ArtifactsSpec { Uri = $"pvc://artifacts/runs/{name}" },
                Gates = [new Gate { Metric = "accuracy", AtLeast = 0.9 }, new Gate { Metric = "ece", AtMost = 0.1 }],
                BackoffLimit = 2,
            },
        };
        configure?.Invoke(run.Spec);
        return run;
    }

    public static V1Job Job(TrainingRun run, int attempt, params V1JobCondition[] conditions)
    {
        var config = ResolvedConfigBuilder.Build(run, null, run.Spec.BaseModel?.TrainingRun is null ? null : "pvc://artifacts/base/model");
        var job = TrainerJobBuilder.Build(run, config, Options(), attempt);
        job.Metadata.CreationTimestamp = T0.UtcDateTime;
        job.Status = new V1JobStatus { Conditions = conditions.Length == 0 ? null : conditions };
        return job;
    }

    public static V1Pod Pod(TrainingRun run, int attempt, string phase, V1ContainerState? state = null, params V1PodCondition[] conditions) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = $"{TrainingRunNames.Job(run.Metadata.Name, attempt)}-abcde",
            NamespaceProperty = run.Metadata.NamespaceProperty,
            Labels = new Dictionary<string, string>
            {
                [TrainingRunNames.RunLabel] = run.Metadata.Name,
                [TrainingRunNames.AttemptLabel] = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
            CreationTimestamp = T0.UtcDateTime,
        },
        Spec = new V1PodSpec { NodeName = phase == "Pending" && state is null ? null : "gpu-node-1", Containers = [new V1Container { Name = TrainingRunNames.ContainerName }] },
        Status = new V1PodStatus
        {
            Phase = phase,
            PodIP = phase == "Running" ? "10.0.0.7" : null,
            Conditions = conditions.Length == 0 ? null : conditions,
            ContainerStatuses = state is null ? null : [new V1ContainerStatus { Name = TrainingRunNames.ContainerName, Image = "trainer", ImageID = "", Ready = phase == "Running", RestartCount = 0, State = state }],
        },
    };

    public static V1ContainerState Running(DateTimeOffset at) => new() { Running = new V1ContainerStateRunning { StartedAt = at.UtcDateTime } };

    public static V1ContainerState Terminated(int exitCode, DateTimeOffset at, string? message = null, string? reason = null) => new()
    {
        Terminated = new V1ContainerStateTerminated { ExitCode = exitCode, FinishedAt = at.UtcDateTime, Message = message, Reason = reason ?? (exitCode == 0 ? "Completed" : "Error") },
    };

    public const string PassingSummary = """{"phase":"Succeeded","modelUri":"pvc://artifacts/runs/mnist-mlp/model","reportUri":"pvc://artifacts/runs/mnist-mlp/report.json","profileUri":"pvc://artifacts/runs/mnist-mlp/profile.json","epochs":5,"metrics":{"accuracy":0.9612,"macroF1":0.9601,"ece":0.021,"loss":0.13},"gatesPassed":2}""";

    public const string FailingSummary = """{"phase":"Succeeded","modelUri":"pvc://artifacts/runs/mnist-mlp/model","reportUri":"pvc://artifacts/runs/mnist-mlp/report.json","epochs":5,"metrics":{"accuracy":0.71,"ece":0.02},"gatesPassed":1,"gatesFailed":["accuracy"]}""";

    /// <summary>The folder of this source file's test data (golden files live next to the tests, not in bin/).</summary>
    public static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
