using Syllabus.Api;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Training;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>Helpers shared by the benchmarks: MNIST location, specs, running a TrainingJob quietly.</summary>
internal static class Bench
{
    public static string MnistFolder()
    {
        var folder = LocalCache.MnistFolder();
        if (!File.Exists(Path.Combine(folder, "train.csv")))
        {
            throw new InvalidOperationException($"MNIST CSVs not found in {folder}: run `bash scripts/prepare-mnist.sh` first");
        }

        return folder;
    }

    public static TrainingRunSpec MnistSpec(string train, string test, int epochs, int? limit = null) => new()
    {
        Model = new ModelSpec { Architecture = ModelArchitectures.Mlp, HiddenLayers = [512, 256], Dropout = 0.3 },
        Data = new DataSpec
        {
            Train = new DatasetSource { Uri = train },
            Test = new DatasetSource { Uri = test },
            ValidationFraction = 0.1,
            Normalization = Normalizations.Scale,
            Scale = 255,
            Limit = limit,
        },
        Optimizer = new OptimizerSpec { Type = OptimizerTypes.Adam, LearningRate = 1e-3 },
        Epochs = epochs,
        BatchSize = 64,
        Seed = 42,
        Checkpoint = new CheckpointSpec { EveryEpochs = 1000, Keep = 1 },
    };

    /// <summary>Trains a spec into a fresh folder under <paramref name="root"/> and returns the report.</summary>
    public static TrainingReport Train(string root, string name, TrainingRunSpec spec, string? baseModelFolder = null, string? teacherFolder = null)
    {
        var artifacts = Path.Combine(root, name);
        if (Directory.Exists(artifacts))
        {
            Directory.Delete(artifacts, recursive: true);
        }

        spec.Artifacts = new ArtifactsSpec { Uri = new Uri(artifacts).AbsoluteUri };
        var run = new ResolvedRun(name, spec, root, spec.Artifacts.Uri, artifacts, baseModelFolder, teacherFolder);
        return new TrainingJob(run, TimeProvider.System).Run().Report;
    }

    public static double Accuracy(TrainingReport report) => report.Metrics!["accuracy"];

    /// <summary>First epoch whose validation accuracy reached <paramref name="threshold"/>, or null.</summary>
    public static int? EpochsTo(TrainingReport report, double threshold) =>
        report.History.FirstOrDefault(h => h.Validation.GetValueOrDefault("accuracy") >= threshold)?.Epoch;
}
