using System.Text.Json;
using System.Text.Json.Nodes;
using Syllabus.Api;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Tests.Cli;
using Syllabus.Trainer.Tests.Data;
using Syllabus.Trainer.Tests.Training;

namespace Syllabus.Trainer.Tests.Drift;

/// <summary>
/// `train` then `drift` on real MNIST digits, as a user would (skipped when scripts/prepare-mnist.sh has not run):
/// held-out digits do not drift, inverted digits do, and bad windows exit 2 naming the problem.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class DriftCommandTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("syllabus-drift-").FullName;
    private string _model = "";
    private string[] _header = [];
    private List<string[]> _test = [];

    public async ValueTask InitializeAsync()
    {
        var mnist = TrainerFixture.MnistFolder();
        var manifest = Path.Combine(_folder, "mnist.yaml");
        File.WriteAllText(manifest, $$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata:
              name: mnist-drift
            spec:
              model: {architecture: MLP, hiddenLayers: [64], dropout: 0.1}
              data:
                train: {uri: {{mnist}}/train.csv}
                test: {uri: {{mnist}}/test.csv}
                validationFraction: 0.1
                limit: 1500
                normalization: Scale
                scale: 255
              optimizer: {type: Adam, learningRate: 0.003}
              epochs: 3
              batchSize: 64
              seed: 5
              artifacts: {uri: out}
            """);
        var (exitCode, _, error) = await TrainCommandTests.RunAsync("train", "-f", manifest, "--metrics-port", "0", "--no-progress");
        Assert.True(exitCode == 0, error);
        _model = Path.Combine(_folder, "out", "model");
        var lines = File.ReadLines(Path.Combine(mnist, "test.csv")).Take(401).Select(l => l.Split(',')).ToList();
        _header = lines[0];
        _test = lines.Skip(1).ToList();
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_folder, recursive: true);
        return ValueTask.CompletedTask;
    }

    private string Window(string name, IEnumerable<string[]> rows, string[]? header = null)
    {
        var path = Path.Combine(_folder, name + ".csv");
        File.WriteAllLines(path, new[] { string.Join(',', header ?? _header) }.Concat(rows.Select(r => string.Join(',', r))));
        return path;
    }

    private static string[] Inverted(string[] row) => [row[0], .. row.Skip(1).Select(v => (255 - int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToString(System.Globalization.CultureInfo.InvariantCulture))];

    [Fact]
    public async Task Held_out_digits_do_not_drift_and_inverted_digits_do()
    {
        var same = Window("same", _test.Take(300));
        var inverted = Window("inverted", _test.Skip(100).Take(300).Select(Inverted));

        var (sameExit, sameOutput, sameError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", same, "--out", Path.Combine(_folder, "same-out"));
        var (shiftedExit, shiftedOutput, shiftedError) = await TrainCommandTests.RunAsync(
            "drift", "--model", _model, "--current", inverted, "--out", Path.Combine(_folder, "inverted-out"), "--fail-on-drift");

        Assert.True(sameExit == 0, sameError);
        Assert.True(shiftedExit == 3, shiftedError + shiftedOutput);
        var ok = JsonSerializer.Deserialize<DriftReport>(File.ReadAllText(Path.Combine(_folder, "same-out", "drift.json")))!;
        var drifted = JsonSerializer.Deserialize<DriftReport>(File.ReadAllText(Path.Combine(_folder, "inverted-out", "drift.json")))!;

        Assert.Equal(784, ok.FeatureCount);
        Assert.Equal(300, ok.CurrentRows);
        Assert.False(ok.DatasetDrift);
        // Normed Wasserstein at 0.1 flags some sparse edge pixels on 300 held-out rows (about 10% here); far from the 50% share.
        Assert.True(ok.DriftedShare < 0.2, $"{ok.DriftedFeatures} features drifted on held-out digits");
        Assert.False(ok.PredictionDrift!.Drifted);
        Assert.False(ok.Confidence!.Drifted);
        // 1,350 training rows: Evidently's auto picks Wasserstein for pixels with more than 5 values, Jensen–Shannon for the rest.
        Assert.Equal(["jensenshannon", "wasserstein"], ok.Features.Select(f => f.Detector).Distinct().Order());
        Assert.Equal(300, ok.Performance!.LabelledRows);
        Assert.InRange(ok.Performance.Accuracy!.Value, 0.6, 1.0);
        // The model was temperature-scaled on its validation split: CBPE runs on calibrated confidences, both sides.
        Assert.True(ok.Performance.Calibrated);
        Assert.Contains("expected accuracy (CBPE, temperature-scaled softmax)", sameOutput, StringComparison.Ordinal);

        Assert.True(drifted.DatasetDrift);
        Assert.True(drifted.DriftedShare > 0.9);
        Assert.True(drifted.PredictionDrift!.Drifted);
        // A small model can be confidently wrong on inverted digits, so the confidence need not fall; it is measured on every row.
        Assert.Equal(300, drifted.Confidence!.CurrentHistogram.Sum());
        Assert.True(drifted.Performance!.Accuracy < 0.3);
        Assert.Contains("dataset drift: YES", shiftedOutput, StringComparison.Ordinal);
        Assert.Contains("dataset drift: no", sameOutput, StringComparison.Ordinal);
        // Every feature is printed with its detector, statistic, threshold and verdict.
        Assert.Contains(sameOutput.Split('\n'), l => l.StartsWith("p783 ", StringComparison.Ordinal));
        var png = File.ReadAllBytes(Path.Combine(_folder, "inverted-out", "drift.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png.Take(4));
    }

    [Fact]
    public async Task A_parquet_window_is_read_like_a_csv_one()
    {
        var rows = _test.Take(200).ToList();
        var parquet = Path.Combine(_folder, "window.parquet");
        await ParquetFixture.WriteAsync(parquet, [.. _header.Select((name, c) =>
            (ParquetFixture.Column)new ParquetFixture.Ints(name, [.. rows.Select(r => int.Parse(r[c], System.Globalization.CultureInfo.InvariantCulture))]))]);
        var csv = Window("as-csv", rows);

        var (parquetExit, _, parquetError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", parquet, "--out", Path.Combine(_folder, "parquet-out"));
        var (csvExit, _, csvError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", csv, "--out", Path.Combine(_folder, "csv-out"));

        Assert.True(parquetExit == 0, parquetError);
        Assert.True(csvExit == 0, csvError);
        var fromParquet = JsonSerializer.Deserialize<DriftReport>(File.ReadAllText(Path.Combine(_folder, "parquet-out", "drift.json")))!;
        var fromCsv = JsonSerializer.Deserialize<DriftReport>(File.ReadAllText(Path.Combine(_folder, "csv-out", "drift.json")))!;
        Assert.Equal(200, fromParquet.CurrentRows);
        Assert.Equal(fromCsv.Features.Select(f => f.Score), fromParquet.Features.Select(f => f.Score));
        Assert.Equal(fromCsv.Performance!.Accuracy, fromParquet.Performance!.Accuracy);
    }

    [Fact]
    public async Task Bonferroni_with_ks_reports_raw_and_adjusted_p_values()
    {
        var same = Window("ks", _test.Take(200));

        var (exitCode, _, error) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", same, "--out", Path.Combine(_folder, "ks-out"), "--detector", "ks", "--correction", "bonferroni");

        Assert.True(exitCode == 0, error);
        var report = JsonSerializer.Deserialize<DriftReport>(File.ReadAllText(Path.Combine(_folder, "ks-out", "drift.json")))!;
        Assert.Equal(MultipleTestCorrections.Bonferroni, report.Correction);
        Assert.All(report.Features, f => Assert.Equal(Math.Min(1, f.PValue!.Value * 784), f.AdjustedPValue!.Value, 12));
        Assert.All(report.Features, f => Assert.Equal(KsMethodsExact, f.Method));
    }

    private const string KsMethodsExact = "exact";

    [Fact]
    public async Task A_window_whose_columns_do_not_match_exits_2_naming_the_column()
    {
        var missing = Window("missing", _test.Take(5).Select(r => r[..^1]), _header[..^1]);
        var extra = Window("extra", _test.Take(5).Select(r => (string[])[.. r, "1"]), [.. _header, "colour"]);
        var text = Window("text", _test.Take(5).Select((r, i) => i == 2 ? (string[])[.. r[..10], "dark", .. r[11..]] : r));

        var (missingExit, _, missingError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", missing, "--out", Path.Combine(_folder, "x"));
        var (extraExit, _, extraError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", extra, "--out", Path.Combine(_folder, "x"));
        var (textExit, _, textError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", text, "--out", Path.Combine(_folder, "x"));

        Assert.Equal((2, true), (missingExit, missingError.Contains("column 'p783'", StringComparison.Ordinal)));
        Assert.Equal((2, true), (extraExit, extraError.Contains("column 'colour' is not an input of this model", StringComparison.Ordinal)));
        Assert.Equal((2, true), (textExit, textError.Contains("p9", StringComparison.Ordinal) && textError.Contains("'dark'", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_missing_an_old_or_a_foreign_profile_exits_2_saying_what_is_wrong()
    {
        var window = Window("w", _test.Take(20));
        var profilePath = Path.Combine(_folder, "out", "profile.json");
        var node = JsonNode.Parse(File.ReadAllText(profilePath))!.AsObject();
        var foreign = node.DeepClone().AsObject();
        foreign["schemaFingerprint"] = "0000";
        var foreignPath = Path.Combine(_folder, "foreign.json");
        File.WriteAllText(foreignPath, foreign.ToJsonString());
        var old = node.DeepClone().AsObject();
        old.Remove("sample");
        old.Remove("predictions");
        foreach (var feature in old["numeric"]!.AsArray())
        {
            feature!.AsObject().Remove("sample");
            feature.AsObject().Remove("quantileBinEdges");
            feature.AsObject().Remove("valueCounts");
            feature.AsObject().Remove("distinctCount");
        }

        var oldPath = Path.Combine(_folder, "old.json");
        File.WriteAllText(oldPath, old.ToJsonString());

        var (absentExit, _, absentError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", window, "--profile", Path.Combine(_folder, "nope.json"), "--out", Path.Combine(_folder, "x"));
        var (foreignExit, _, foreignError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", window, "--profile", foreignPath, "--out", Path.Combine(_folder, "x"));
        var (oldExit, _, oldError) = await TrainCommandTests.RunAsync("drift", "--model", _model, "--current", window, "--profile", oldPath, "--out", Path.Combine(_folder, "x"));

        Assert.Equal(2, absentExit);
        Assert.Contains("no data profile at", absentError, StringComparison.Ordinal);
        Assert.Equal(2, foreignExit);
        Assert.Contains("schema fingerprint 0000", foreignError, StringComparison.Ordinal);
        Assert.Equal(2, oldExit);
        Assert.Contains("reservoir sample for numeric feature 'p0'", oldError, StringComparison.Ordinal);
        Assert.NotNull(DataProfile.Load(profilePath).Predictions);
    }
}
