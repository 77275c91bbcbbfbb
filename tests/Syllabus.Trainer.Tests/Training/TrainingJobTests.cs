using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class TrainingJobTests : IDisposable
{
    private readonly TrainerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private TrainingOutcome Train(string manifest, string? run = null) =>
        new TrainingJob(_fixture.Resolve(manifest, run), TimeProvider.System).Run(TestContext.Current.CancellationToken);

    [Fact]
    public void Same_seed_gives_identical_weights_and_another_seed_does_not()
    {
        var first = Train(_fixture.Manifest("first", hidden: "[16, 8]", file: "a.yaml", dropout: 0.2));
        var second = Train(_fixture.Manifest("second", hidden: "[16, 8]", file: "b.yaml", dropout: 0.2));
        File.WriteAllText(Path.Combine(_fixture.Folder, "c.yaml"), File.ReadAllText(Path.Combine(_fixture.Folder, "b.yaml"))
            .Replace("seed: 3", "seed: 4", StringComparison.Ordinal).Replace("name: second", "name: third", StringComparison.Ordinal)
            .Replace("out/second", "out/third", StringComparison.Ordinal));
        var third = Train(Path.Combine(_fixture.Folder, "c.yaml"));

        var weights = (TrainingOutcome o) => File.ReadAllBytes(Path.Combine(o.ModelFolder, ModelArtifact.WeightsFileName));
        Assert.Equal(weights(first), weights(second));
        Assert.NotEqual(weights(first), weights(third));
        Assert.Equal(first.Report.History.Select(h => h.TrainLoss), second.Report.History.Select(h => h.TrainLoss));
    }

    [Fact]
    public void Report_model_profile_and_curves_are_written_with_gates()
    {
        var manifest = _fixture.Manifest("report", """
              gates:
                - {metric: accuracy, atLeast: 0.8}
                - {metric: accuracy, atLeast: 1.01}
              lrSchedule: {type: Step, stepSize: 1, gamma: 0.5}
            """, epochs: 4);

        var outcome = Train(manifest);
        var artifacts = _fixture.Artifacts("report");
        var report = TrainingReport.Load(outcome.ReportPath);

        Assert.Equal("Succeeded", report.Phase);
        Assert.Equal(4, report.EpochsTrained);
        Assert.Equal([1, 2, 3, 4], report.History.Select(h => h.Epoch));
        // Step schedule halves the rate after every epoch: the history shows it.
        Assert.Equal([0.01, 0.005, 0.0025, 0.00125], report.History.Select(h => Math.Round(h.LearningRate, 6)));
        Assert.Equal("test", report.EvaluationSplit);
        Assert.True(report.Metrics!["accuracy"] > 0.8, $"accuracy {report.Metrics["accuracy"]}");
        Assert.Equal([true, false], report.Gates.Select(g => g.Passed));
        Assert.False(report.GatesPassed);
        Assert.Equal(new Uri(Path.Combine(artifacts, "model")).AbsoluteUri, report.ModelUri);
        Assert.Equal(["cat", "dog", "fish"], report.Model!.Classes);
        Assert.NotNull(report.Data);
        Assert.NotNull(report.Spec);
        Assert.True(File.Exists(Path.Combine(artifacts, "model", "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(artifacts, "model", "model.json")));
        Assert.True(File.Exists(Path.Combine(artifacts, "profile.json")));
        var png = File.ReadAllBytes(Path.Combine(artifacts, CurvePlotter.FileName));
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        var document = ModelArtifact.LoadDocument(Path.Combine(artifacts, "model"));
        Assert.NotNull(document.FeatureSchema);
        Assert.Equal(_fixture.FeatureCount, document.Config.InputFeatures);
    }

    [Fact]
    public void Early_stopping_stops_and_keeps_the_best_epoch()
    {
        // No epoch can improve accuracy by more than 1: the first epoch is the best, two more and it stops.
        var manifest = _fixture.Manifest("early", """
              earlyStopping: {monitor: accuracy, patience: 2, minDelta: 1.0}
            """, epochs: 40);

        var outcome = Train(manifest);
        var report = outcome.Report;

        Assert.True(report.StoppedEarly);
        Assert.Equal(3, report.EpochsTrained);
        Assert.Equal(1, report.BestEpoch);
        // The final model is the best epoch's, kept in the last checkpoint as best.safetensors.
        var best = SafeTensors.Load(Path.Combine(_fixture.Artifacts("early"), "checkpoints", "epoch-0003", CheckpointStore.BestWeightsFileName), out _);
        var final = SafeTensors.Load(Path.Combine(outcome.ModelFolder, ModelArtifact.WeightsFileName), out _);
        Assert.Equal(best["head.weight"].data<float>().ToArray(), final["head.weight"].data<float>().ToArray());

        // Started again, the finished run resumes from its last checkpoint and does not train on.
        var again = Train(manifest).Report;
        Assert.Equal(3, again.ResumedFromEpoch);
        Assert.Equal(3, again.EpochsTrained);
        Assert.Equal(report.Metrics!["accuracy"], again.Metrics!["accuracy"]);
    }

    [Fact]
    public void Transfer_learning_freezes_loads_resets_the_head_and_splits_learning_rates()
    {
        var baseConfig = ModelFactory.Describe(new ModelSpec { HiddenLayers = [6, 5] }, 4, ["a", "b", "c"]);
        using var baseNetwork = ModelFactory.Create(baseConfig);
        var baseSchema = new FeatureSchema { Classes = ["a", "b", "c"], Columns = [.. Enumerable.Range(0, 4).Select(i => new FeatureColumn { Name = $"f{i}" })] };
        using var baseModel = ModelBundle.Of(baseNetwork, baseConfig, baseSchema);

        var config = ModelFactory.Describe(new ModelSpec { HiddenLayers = [6, 5] }, 4, ["x", "y"]);
        random.manual_seed(1);
        using var model = ModelFactory.Create(config);
        var spec = new BaseModelSpec { Freeze = [@"^features\.0\."], ResetHead = true, BaseLearningRateMultiplier = 0.25 };

        var groups = TransferLearning.Apply(model, config, baseModel, spec, out var summary);

        var baseWeights = baseNetwork.state_dict();
        var weights = model.state_dict();
        Assert.Equal(baseWeights["features.0.weight"].data<float>().ToArray(), weights["features.0.weight"].data<float>().ToArray());
        Assert.Equal(baseWeights["features.2.weight"].data<float>().ToArray(), weights["features.2.weight"].data<float>().ToArray());
        Assert.Equal([2L, 5L], weights["head.weight"].shape);
        Assert.Equal(["features.0.weight", "features.0.bias"], summary.Frozen);
        Assert.DoesNotContain(summary.Loaded, n => n.StartsWith("head.", StringComparison.Ordinal));
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.False(parameters["features.0.weight"].requires_grad);
        Assert.True(parameters["features.2.weight"].requires_grad);

        using var optimizer = OptimizerFactory.Create(new OptimizerSpec { Type = "SGD", LearningRate = 0.1, Momentum = 0.9, Nesterov = true }, groups);
        Assert.Equal([0.1, 0.025], optimizer.ParamGroups.Select(g => Math.Round(g.LearningRate, 9)));
        var optimised = optimizer.parameters().ToList();
        Assert.DoesNotContain(optimised, p => ReferenceEquals(p, parameters["features.0.weight"]));
        Assert.Equal(4, optimised.Count);

        var badFreeze = new BaseModelSpec { Freeze = ["^nothing"], ResetHead = true };
        Assert.StartsWith("baseModel.freeze[0]", Assert.Throws<ArgumentException>(() => TransferLearning.Apply(model, config, baseModel, badFreeze, out _)).Message, StringComparison.Ordinal);
        var noReset = new BaseModelSpec();
        Assert.StartsWith("baseModel.resetHead", Assert.Throws<ArgumentException>(() => TransferLearning.Apply(model, config, baseModel, noReset, out _)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fine_tuning_from_another_run_keeps_frozen_weights_and_reports_the_base_model()
    {
        var manifest = _fixture.Manifest("pretrain", epochs: 2, hidden: "[12, 6]");
        File.AppendAllText(manifest, "---\n" + File.ReadAllText(_fixture.Manifest("finetune", """
              baseModel:
                trainingRun: {name: pretrain}
                freeze: ['^features\.0\.']
                resetHead: true
                baseLearningRateMultiplier: 0.5
              continual:
                ewc: {lambda: 10, fisherSamples: 50, fisherData: {uri: train.csv}}
            """, epochs: 2, hidden: "[12, 6]", file: "finetune-only.yaml")));
        Train(manifest, "pretrain");

        var outcome = Train(manifest, "finetune");

        var before = SafeTensors.Load(Path.Combine(_fixture.Artifacts("pretrain"), "model", ModelArtifact.WeightsFileName), out _);
        var after = SafeTensors.Load(Path.Combine(outcome.ModelFolder, ModelArtifact.WeightsFileName), out _);
        Assert.Equal(before["features.0.weight"].data<float>().ToArray(), after["features.0.weight"].data<float>().ToArray());
        Assert.NotEqual(before["features.2.weight"].data<float>().ToArray(), after["features.2.weight"].data<float>().ToArray());
        var transfer = outcome.Report.Model!.BaseModel!;
        Assert.True(transfer.HeadReset);
        Assert.Equal(["features.0.weight", "features.0.bias"], transfer.Frozen);
        // EWC anchors the trainable base parameters, not the frozen ones nor the re-initialised head.
        Assert.Equal(["features.2.bias", "features.2.weight"], outcome.Report.Model.EwcParameters!.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Curriculum_replay_and_example_weights_shape_each_epoch()
    {
        var manifest = _fixture.Manifest("paced", """
              curriculum:
                difficulty: {source: Column, column: difficulty}
                pacing: {function: Linear, startFraction: 0.25, fullDataAt: 0.75}
            """, epochs: 4, dataExtra: """
                weightColumn: difficulty
                replay:
                  data: {uri: test.csv}
                  fraction: 0.5
            """);

        var report = Train(manifest).Report;

        var fractions = report.History.Select(h => h.DataFraction).ToArray();
        Assert.Equal(0.25, fractions[0], 3);
        Assert.Equal(1.0, fractions[^1], 3);
        Assert.True(fractions.Zip(fractions.Skip(1)).All(p => p.Second >= p.First), string.Join(", ", fractions));
        Assert.Equal(["pacing", "full"], report.History.Select(h => h.Stage).Distinct());
        // 480 training rows (600 less 20% validation); replay adds half as many again each epoch.
        Assert.Equal(120, report.History[0].Examples - report.History[0].ReplayExamples);
        Assert.All(report.History, h => Assert.Equal((int)Math.Round(0.5 * (h.Examples - h.ReplayExamples)), h.ReplayExamples));
        Assert.Equal(480 + 240, report.History[^1].Examples);
    }

    [Fact]
    public void A_column_curriculum_reads_its_own_column_without_data_difficultyColumn()
    {
        var manifest = _fixture.Manifest("curriculum-column", """
              curriculum:
                difficulty: {source: Column, column: difficulty}
                pacing: {function: Linear, startFraction: 0.25, fullDataAt: 0.75}
            """, epochs: 2);
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("    difficultyColumn: difficulty\n", "", StringComparison.Ordinal));
        Assert.DoesNotContain("difficultyColumn", File.ReadAllText(manifest), StringComparison.Ordinal);

        var outcome = Train(manifest);

        Assert.Equal(0.25, outcome.Report.History[0].DataFraction, 3);
        // The difficulty column is the curriculum's, not a feature.
        using var bundle = ModelBundle.Load(outcome.ModelFolder, CPU);
        Assert.DoesNotContain("difficulty", bundle.Schema.FeatureNames);
        Assert.Equal("difficulty", bundle.Schema.DifficultyColumn);
    }

    [Fact]
    public void A_data_difficultyColumn_that_differs_from_the_curriculums_column_is_an_error_naming_both()
    {
        var manifest = _fixture.Manifest("curriculum-conflict", """
              curriculum:
                difficulty: {source: Column, column: f0}
                pacing: {function: Linear, startFraction: 0.25}
            """, epochs: 2);

        var error = Assert.Throws<Syllabus.Trainer.Cli.InputException>(() => Train(manifest));

        Assert.Contains("spec.data.difficultyColumn 'difficulty'", error.Message, StringComparison.Ordinal);
        Assert.Contains("spec.curriculum.difficulty.column 'f0'", error.Message, StringComparison.Ordinal);
    }
}
