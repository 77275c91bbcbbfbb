using System.Globalization;
using Syllabus.Api;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Training;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>Helpers shared by the benchmarks: MNIST location, specs, running a TrainingRun manifest quietly.</summary>
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

    /// <summary>An MLP on MNIST pixels scaled to 0..1, Adam at a constant learning rate, no checkpoints.</summary>
    public static TrainingRunSpec MnistSpec(string train, string test, int epochs, IReadOnlyList<int> hiddenLayers, int seed) => new()
    {
        Model = new ModelSpec { Architecture = ModelArchitectures.Mlp, HiddenLayers = [.. hiddenLayers], Dropout = 0 },
        Data = new DataSpec
        {
            Train = new DatasetSource { Uri = train },
            Test = new DatasetSource { Uri = test },
            Normalization = Normalizations.Scale,
            Scale = 255,
        },
        Optimizer = new OptimizerSpec { Type = OptimizerTypes.Adam, LearningRate = 1e-3 },
        Epochs = epochs,
        BatchSize = 50,
        Seed = seed,
        Checkpoint = new CheckpointSpec { EveryEpochs = 1000, Keep = 1 },
    };

    /// <summary>
    /// Writes <paramref name="spec"/> as a TrainingRun manifest to &lt;root&gt;/&lt;name&gt;.yaml and runs it the way
    /// `syllabus-trainer train -f` does: the manifest resolver (schema and cross-field validation, model references)
    /// and then a TrainingJob. Artifacts go to &lt;root&gt;/&lt;name&gt;/.
    /// </summary>
    public static TrainingReport Train(string root, string name, TrainingRunSpec spec)
    {
        var artifacts = Path.Combine(root, name);
        if (Directory.Exists(artifacts))
        {
            Directory.Delete(artifacts, recursive: true);
        }

        spec.Artifacts = new ArtifactsSpec { Uri = artifacts };
        var manifest = Path.Combine(root, name + ".yaml");
        File.WriteAllText(manifest, Manifests.ToYaml(new TrainingRun { Metadata = new() { Name = name }, Spec = spec }));
        var run = ManifestResolver.Resolve([manifest], null, null, Environment.GetEnvironmentVariable);
        return new TrainingJob(run, TimeProvider.System).Run().Report;
    }

    public static string ModelFolder(string root, string name) => Path.Combine(root, name, "model");

    public static double Accuracy(TrainingReport report) => report.Metrics!["accuracy"];

    /// <summary>Optimiser steps the run took: one per batch of each epoch's examples.</summary>
    public static long Steps(TrainingReport report, int batchSize) =>
        report.History.Sum(h => (long)((h.Examples + batchSize - 1) / batchSize));

    public static string F(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>An MNIST CSV (label,p0..p783) held as its header and raw rows, for writing seeded subsets.</summary>
internal sealed class MnistCsv
{
    private MnistCsv(string header, string[] rows)
    {
        Header = header;
        Rows = rows;
    }

    public string Header { get; }

    /// <summary>Data rows as written, label first.</summary>
    public string[] Rows { get; }

    public int Count => Rows.Length;

    public static MnistCsv Read(string path)
    {
        var lines = File.ReadAllLines(path);
        if (lines.Length < 2 || !lines[0].StartsWith("label,", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: expected a header 'label,p0,...' and data rows (run `bash scripts/prepare-mnist.sh`)");
        }

        return new MnistCsv(lines[0], [.. lines.Skip(1).Where(l => l.Length > 0)]);
    }

    public string Label(int row) => Rows[row][..Rows[row].IndexOf(',', StringComparison.Ordinal)];

    /// <summary>
    /// Writes the given rows, with labels replaced where <paramref name="labels"/> says and, when
    /// <paramref name="extraColumn"/> is given, one more numeric column at the end.
    /// </summary>
    public void Write(string path, IEnumerable<int> rows, IReadOnlyDictionary<int, string>? labels = null, (string Name, Func<int, double> Value)? extraColumn = null)
    {
        using var writer = new StreamWriter(path);
        writer.WriteLine(extraColumn is { } column ? $"{Header},{column.Name}" : Header);
        foreach (var row in rows)
        {
            var line = Rows[row];
            if (labels is not null && labels.TryGetValue(row, out var label))
            {
                line = label + line[line.IndexOf(',', StringComparison.Ordinal)..];
            }

            writer.WriteLine(extraColumn is { } extra ? $"{line},{extra.Value(row).ToString("R", CultureInfo.InvariantCulture)}" : line);
        }
    }

    /// <summary>
    /// Symmetric label noise: exactly round(<paramref name="rate"/> x n) of <paramref name="rows"/>, chosen with the
    /// seed, get a label drawn uniformly from the other classes. Returns row -> new label.
    /// </summary>
    public Dictionary<int, string> SymmetricNoise(IReadOnlyList<int> rows, double rate, int seed)
    {
        var classes = rows.Select(Label).Distinct().Order(StringComparer.Ordinal).ToArray();
        var random = new Random(seed);
        var chosen = rows.ToArray();
        random.Shuffle(chosen);
        var flipped = new Dictionary<int, string>();
        foreach (var row in chosen.Take((int)Math.Round(rate * chosen.Length, MidpointRounding.AwayFromZero)))
        {
            var others = classes.Where(c => c != Label(row)).ToArray();
            flipped[row] = others[random.Next(others.Length)];
        }

        return flipped;
    }
}

/// <summary>Mean and sample standard deviation of per-seed results.</summary>
internal static class Stats
{
    public static double Mean(IReadOnlyCollection<double> values) => values.Average();

    /// <summary>Sample standard deviation (n - 1); 0 for a single value.</summary>
    public static double Std(IReadOnlyCollection<double> values)
    {
        if (values.Count < 2)
        {
            return 0;
        }

        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }

    public static string MeanStd(IReadOnlyCollection<double> values, string format = "F4") =>
        $"{Mean(values).ToString(format, CultureInfo.InvariantCulture)} ± {Std(values).ToString(format, CultureInfo.InvariantCulture)}";

    /// <summary>A signed mean ± std, for paired differences.</summary>
    public static string SignedMeanStd(IReadOnlyCollection<double> values, string format = "F4") =>
        $"{(Mean(values) >= 0 ? "+" : "")}{MeanStd(values, format)}";
}
