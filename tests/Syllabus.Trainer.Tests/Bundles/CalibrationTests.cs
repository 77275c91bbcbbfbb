using System.Text.Json.Nodes;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Evaluation;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Serving;
using Syllabus.Trainer.Tests.Training;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Bundles;

/// <summary>Temperature scaling end to end: fitted after training, stored in model.json, applied by every bundle.</summary>
[Collection(TorchCollection.Name)]
public sealed class CalibrationTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 400, testRows: 80);

    public void Dispose() => _fixture.Dispose();

    private TrainingOutcome Train(string name, int epochs = 6) =>
        new TrainingJob(_fixture.Resolve(_fixture.Manifest(name, epochs: epochs)), TimeProvider.System).Run(TestContext.Current.CancellationToken);

    private TabularData TestSplit(ModelBundle bundle) =>
        DataLoader.LoadWithSchema(new DatasetSource { Uri = Path.Combine(_fixture.Folder, "test.csv") }, new DataSpec(), bundle.Schema, _fixture.Folder, new DataLoadReport());

    private static float[] Softmax(ModelBundle bundle, TabularData data, double temperature)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = tensor(data.Features, [data.Count, data.FeatureCount]);
        return nn.functional.softmax(bundle.Network.forward(x).div(temperature), 1).data<float>().ToArray();
    }

    [Fact]
    public void Training_fits_a_temperature_on_validation_stores_it_and_every_probability_of_the_loaded_bundle_uses_it()
    {
        var outcome = Train("calibrated");
        var calibration = outcome.Report.Calibration!;

        Assert.True(calibration.Calibrated);
        Assert.Equal(ModelCalibration.TemperatureScaling, calibration.Method);
        Assert.Equal("validation", calibration.FitSplit);
        Assert.Equal(80, calibration.FitRows);
        Assert.True(calibration.NllAfter <= calibration.NllBefore, $"NLL {calibration.NllBefore} -> {calibration.NllAfter}");
        Assert.Equal("test", calibration.EceSplit);
        // The report's evaluation is of the calibrated probabilities.
        Assert.Equal(calibration.EceAfter!.Value, outcome.Report.Metrics!["ece"], 5);
        var temperature = calibration.Temperature;
        Assert.True(Math.Abs(temperature - 1) > 1e-3, $"T = {temperature}: too close to 1 for this test to tell scaled from raw probabilities");

        using var bundle = ModelBundle.Load(outcome.ModelFolder);
        var test = TestSplit(bundle);
        Assert.Equal(temperature, ModelArtifactTemperature(outcome.ModelFolder));
        Assert.Equal(temperature, bundle.Temperature);
        Assert.True(bundle.Calibrated);
        var expected = Softmax(bundle, test, temperature);
        Assert.Equal(expected, bundle.PredictProbabilities(test, out _), new FloatTolerance(1e-6f));
        using (var features = tensor(test.Features, [test.Count, test.FeatureCount]))
        using (var fromTensor = bundle.PredictProbabilities(features))
        {
            Assert.Equal(expected, fromTensor.data<float>().ToArray(), new FloatTolerance(1e-6f));
        }

        Assert.Equal(expected, TemperatureScaling.Probabilities(bundle.PredictLogits(test), bundle.Classes.Count, temperature), new FloatTolerance(1e-5f));
        Assert.NotEqual(Softmax(bundle, test, 1), bundle.PredictProbabilities(test, out _), new FloatTolerance(1e-6f));
        Assert.Equal(outcome.Report.Metrics["ece"], bundle.Evaluate(test).ExpectedCalibrationError, 9);

        // The drift profile's held-out confidences are the calibrated ones, and say at which temperature.
        var profile = DataProfile.Load(Path.Combine(_fixture.Artifacts("calibrated"), "profile.json"));
        Assert.Equal(temperature, profile.Predictions!.Temperature);
        Assert.Equal(PredictionProfile.Build("test", expected, bundle.Classes, test.Labels, temperature).MeanConfidence, profile.Predictions.MeanConfidence, 6);
    }

    [Fact]
    public void A_bundle_from_before_calibration_loads_with_temperature_one_and_the_raw_softmax()
    {
        var outcome = Train("old", epochs: 2);
        var path = Path.Combine(outcome.ModelFolder, ModelDocument.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.True(json.Remove("calibration"));
        File.WriteAllText(path, json.ToJsonString());

        using var bundle = ModelBundle.Load(outcome.ModelFolder);
        var test = TestSplit(bundle);

        Assert.Null(bundle.Document.Calibration);
        Assert.Equal(1, bundle.Temperature);
        Assert.False(bundle.Calibrated);
        Assert.Equal(Softmax(bundle, test, 1), bundle.PredictProbabilities(test, out _), new FloatTolerance(1e-6f));
    }

    [Theory]
    [InlineData("""{"method": "TemperatureScaling", "calibrated": true, "temperature": 0}""", "calibration.temperature 0 is not a finite number > 0")]
    [InlineData("""{"method": "TemperatureScaling", "calibrated": true, "temperature": -2}""", "calibration.temperature -2 is not a finite number > 0")]
    [InlineData("""{"method": "TemperatureScaling", "calibrated": false, "temperature": 2}""", "calibration.temperature is 2 but calibration.calibrated is false")]
    [InlineData("""{"method": "Platt", "calibrated": true, "temperature": 2}""", "calibration.method 'Platt' is not TemperatureScaling")]
    public void A_bundle_with_an_impossible_calibration_is_refused_naming_the_field(string calibration, string message)
    {
        var outcome = Train("bad", epochs: 1);
        var path = Path.Combine(outcome.ModelFolder, ModelDocument.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["calibration"] = JsonNode.Parse(calibration);
        File.WriteAllText(path, json.ToJsonString());

        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(outcome.ModelFolder));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_validation_rows_the_calibration_stage_keeps_temperature_one_recorded_as_not_calibrated()
    {
        // The loader always holds out at least one row; a run composed from the stages may have none (or none labelled).
        var job = new TrainingJob(_fixture.Resolve(_fixture.Manifest("no-validation", epochs: 1)), TimeProvider.System);
        using var loaded = job.LoadAndFit();
        using var prepared = new PreparedRun { Data = loaded.Data with { Validation = TabularData.Empty(loaded.Data.Schema.FeatureCount) }, Config = loaded.Config, Device = loaded.Device };
        using var built = job.BuildOrTransfer(prepared);

        var calibration = job.Calibrate(prepared, built);
        var evaluation = job.Evaluate(prepared, built, calibration);

        Assert.False(calibration.Calibrated);
        Assert.Equal(1, calibration.Temperature);
        Assert.Contains("no labelled validation rows", calibration.Reason, StringComparison.Ordinal);
        Assert.Null(calibration.EceBefore);
        using var bundle = ModelBundle.Of(built.Network, built.Config, prepared.Data.Schema, evaluation.Calibration);
        Assert.False(bundle.Calibrated);
        Assert.Equal(1, bundle.Temperature);
    }

    [Fact]
    public void A_diverged_network_is_left_at_temperature_one_saying_why()
    {
        var job = new TrainingJob(_fixture.Resolve(_fixture.Manifest("diverged", epochs: 1)), TimeProvider.System);
        using var prepared = job.LoadAndFit();
        using var built = job.BuildOrTransfer(prepared);
        using (no_grad())
        {
            built.Network.named_parameters().First(p => p.name == "head.bias").parameter.fill_(float.NaN);
        }

        var calibration = job.Calibrate(prepared, built);

        Assert.False(calibration.Calibrated);
        Assert.Equal(1, calibration.Temperature);
        Assert.Contains("validation logits include NaN or infinity", calibration.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_refuses_a_profile_at_another_temperature_than_its_model()
    {
        var outcome = Train("serve-profile", epochs: 2);
        var profilePath = Path.Combine(_fixture.Artifacts("serve-profile"), "profile.json");
        var json = JsonNode.Parse(File.ReadAllText(profilePath))!;
        Assert.True(json["predictions"]!.AsObject().Remove("temperature"));
        var rawProfile = Path.Combine(_fixture.Folder, "raw-profile.json");
        File.WriteAllText(rawProfile, json.ToJsonString());

        var error = await Assert.ThrowsAsync<InputException>(() => InferenceServer.StartAsync(
            new ServeOptions { Model = outcome.ModelFolder, Profile = rawProfile, Urls = ["http://127.0.0.1:0"] }, _ => { }, TestContext.Current.CancellationToken));

        Assert.Contains("--profile: the data profile's held-out confidences were computed at temperature 1 (raw softmax), the model's at ", error.Message, StringComparison.Ordinal);
    }

    private static double? ModelArtifactTemperature(string folder) => ModelArtifact.LoadDocument(folder).Calibration?.Temperature;

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
