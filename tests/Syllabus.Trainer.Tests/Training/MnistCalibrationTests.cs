using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Tests.Cli;

namespace Syllabus.Trainer.Tests.Training;

/// <summary>Temperature scaling on real MNIST digits (skipped when scripts/prepare-mnist.sh has not run).</summary>
[Collection(TorchCollection.Name)]
public sealed class MnistCalibrationTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("syllabus-mnist-calibration-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Temperature_scaling_fitted_on_validation_lowers_the_test_calibration_error()
    {
        var mnist = TrainerFixture.MnistFolder();
        var manifest = Path.Combine(_folder, "mnist.yaml");
        // No dropout and enough epochs on 1,500 digits: the MLP ends overconfident, the case temperature scaling is for.
        File.WriteAllText(manifest, $$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata:
              name: mnist-calibration
            spec:
              model: {architecture: MLP, hiddenLayers: [64]}
              data:
                train: {uri: {{mnist}}/train.csv}
                test: {uri: {{mnist}}/test.csv}
                validationFraction: 0.2
                limit: 1500
                normalization: Scale
                scale: 255
              optimizer: {type: Adam, learningRate: 0.003}
              epochs: 8
              batchSize: 32
              seed: 4
              artifacts: {uri: out}
            """);

        var (exitCode, output, error) = await TrainCommandTests.RunAsync("train", "-f", manifest, "--metrics-port", "0", "--no-progress");

        Assert.True(exitCode == 0, error);
        var report = TrainingReport.Load(Path.Combine(_folder, "out", TrainingReport.FileName));
        var calibration = report.Calibration!;
        TestContext.Current.SendDiagnosticMessage(
            $"T = {calibration.Temperature:G4}; validation NLL {calibration.NllBefore:G4} -> {calibration.NllAfter:G4}; test ECE {calibration.EceBefore:G4} -> {calibration.EceAfter:G4}; accuracy {report.Metrics!["accuracy"]:G4}");
        Assert.True(calibration.Calibrated);
        Assert.Equal(300, calibration.FitRows);
        Assert.Equal("test", calibration.EceSplit);
        // Overconfident: the fitted temperature softens the softmax.
        Assert.True(calibration.Temperature > 1, $"T = {calibration.Temperature}");
        Assert.True(calibration.NllAfter <= calibration.NllBefore);
        Assert.True(calibration.EceAfter <= calibration.EceBefore, $"test ECE {calibration.EceBefore} -> {calibration.EceAfter}");
        Assert.Equal(calibration.EceAfter!.Value, report.Metrics["ece"], 5);
        Assert.Contains("temperature scaling: T = ", output, StringComparison.Ordinal);
        using var bundle = ModelBundle.Load(Path.Combine(_folder, "out", "model"));
        Assert.Equal(calibration.Temperature, bundle.Temperature);
    }
}
