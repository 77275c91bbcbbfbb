using System.Text.Json;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Tests.Cli;

namespace Syllabus.Trainer.Tests.Training;

/// <summary>The whole `train` command on a few hundred real MNIST digits (skipped when scripts/prepare-mnist.sh has not run).</summary>
[Collection(TorchCollection.Name)]
public sealed class MnistEndToEndTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("syllabus-mnist-e2e-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Trains_an_mlp_on_real_digits_and_reports_it()
    {
        var mnist = TrainerFixture.MnistFolder();
        var manifest = Path.Combine(_folder, "mnist.yaml");
        File.WriteAllText(manifest, $$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata:
              name: mnist-small
            spec:
              model: {architecture: MLP, hiddenLayers: [64], dropout: 0.1}
              data:
                train: {uri: {{mnist}}/train.csv}
                test: {uri: {{mnist}}/test.csv}
                validationFraction: 0.1
                limit: 400
                normalization: Scale
                scale: 255
              optimizer: {type: Adam, learningRate: 0.003}
              epochs: 4
              batchSize: 32
              gates:
                - {metric: accuracy, atLeast: 0.6}
                - {metric: recall/3, atLeast: 0.0}
              artifacts: {uri: out}
            """);
        var termination = Path.Combine(_folder, "termination-log");

        var (exitCode, output, error) = await TrainCommandTests.RunAsync(
            "train", "-f", manifest, "--metrics-port", "0", "--no-progress", "--termination-message-path", termination);

        Assert.True(exitCode == 0, error);
        var report = TrainingReport.Load(Path.Combine(_folder, "out", TrainingReport.FileName));
        // The label budget of 400 holds the validation share too: 360 train, 40 validate.
        Assert.Equal(360, report.History[0].Examples);
        Assert.Equal(4, report.EpochsTrained);
        Assert.Equal("test", report.EvaluationSplit);
        Assert.InRange(report.Metrics!["accuracy"], 0.6, 1.0);
        Assert.True(report.History[^1].TrainLoss < report.History[0].TrainLoss);
        Assert.True(report.GatesPassed);
        Assert.Equal(Enumerable.Range(0, 10).Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)), report.Model!.Classes);
        Assert.Equal(784 * 64 + 64 + (64 * 10) + 10, report.Model.Parameters);
        var confusion = report.Evaluation!["confusionMatrix"]!.AsArray();
        Assert.Equal(2000, confusion.Sum(row => row!.AsArray().Sum(c => c!.GetValue<int>())));
        Assert.Contains("done: 4 epochs", output, StringComparison.Ordinal);
        using var message = JsonDocument.Parse(File.ReadAllText(termination));
        Assert.Equal(report.ModelUri, message.RootElement.GetProperty("modelUri").GetString());
        Assert.Equal(2, message.RootElement.GetProperty("gatesPassed").GetInt32());
    }
}
