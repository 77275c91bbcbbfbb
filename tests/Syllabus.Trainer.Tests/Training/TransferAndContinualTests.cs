using System.Globalization;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Tests.Bundles;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Training;

/// <summary>Fine-tuning keeps the base model's world (preprocessing, classes); EWC protects the old tasks.</summary>
[Collection(TorchCollection.Name)]
public sealed class TransferAndContinualTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 300, testRows: 60);

    public void Dispose() => _fixture.Dispose();

    private TrainingOutcome Train(string manifest, string? run = null) =>
        new TrainingJob(_fixture.Resolve(manifest, run), TimeProvider.System).Run(TestContext.Current.CancellationToken);

    /// <summary>The fixture's training data with every feature scaled and shifted: other statistics, same columns.</summary>
    private string Shifted()
    {
        var lines = File.ReadAllLines(Path.Combine(_fixture.Folder, "train.csv"));
        var header = lines[0].Split(',');
        var shifted = lines.Skip(1).Where(l => l.Length > 0).Select(l => string.Join(',', l.Split(',').Select((v, i) =>
            header[i].StartsWith('f') ? (double.Parse(v, CultureInfo.InvariantCulture) * 3 + 10).ToString("R", CultureInfo.InvariantCulture) : v)));
        File.WriteAllLines(Path.Combine(_fixture.Folder, "shifted.csv"), [lines[0], .. shifted]);
        return "shifted.csv";
    }

    private string Chain(string finetuneSpec, string dataExtra = "", string pretrainExtra = "", Func<string, string>? editFinetune = null)
    {
        var manifest = _fixture.Manifest("pretrain", pretrainExtra, epochs: 2, hidden: "[12]");
        var finetune = File.ReadAllText(_fixture.Manifest("finetune", finetuneSpec, epochs: 1, hidden: "[12]", file: "finetune.yaml", dataExtra: dataExtra));
        File.AppendAllText(manifest, "---\n" + (editFinetune?.Invoke(finetune) ?? finetune));
        return manifest;
    }

    /// <summary>A copy of a fixture file with only the rows of the given classes.</summary>
    private string OnlyClasses(string file, params string[] classes)
    {
        var lines = File.ReadAllLines(Path.Combine(_fixture.Folder, file));
        var name = $"{string.Join("-", classes)}-{file}";
        File.WriteAllLines(Path.Combine(_fixture.Folder, name), [lines[0], .. lines.Skip(1).Where(l => classes.Contains(l.Split(',')[0]))]);
        return name;
    }

    [Fact]
    public void A_fine_tuned_model_untrained_scores_the_base_models_raw_inputs_as_the_base_does()
    {
        var shifted = Shifted();
        // Other data (other means and spreads) and the classes in another order: the head maps them by name.
        var manifest = Chain("""
              baseModel:
                trainingRun: {name: pretrain}
            """);
        File.WriteAllText(manifest, File.ReadAllText(manifest)
            .Replace("train: {uri: train.csv}\n    test: {uri: test.csv}\n    labelColumn: label\n    classes: [cat, dog, fish]\n    difficultyColumn: difficulty\n    validationFraction: 0.2\n\n  optimizer: {type: Adam, learningRate: 0.01}\n  epochs: 1",
                $"train: {{uri: {shifted}}}\n    test: {{uri: test.csv}}\n    labelColumn: label\n    classes: [fish, cat, dog]\n    difficultyColumn: difficulty\n    validationFraction: 0.2\n\n  optimizer: {{type: Adam, learningRate: 0.01}}\n  epochs: 1", StringComparison.Ordinal));
        Train(manifest, "pretrain");
        using var baseModel = ModelBundle.Load(Path.Combine(_fixture.Artifacts("pretrain"), "model"));
        var job = new TrainingJob(_fixture.Resolve(manifest, "finetune"), TimeProvider.System);

        // The stages up to the loop: load and fit, build or transfer; nothing is trained.
        using var prepared = job.LoadAndFit();
        using var built = job.BuildOrTransfer(prepared);
        // At the base model's temperature: a fine-tuned model fits its own after training; the network is what transfers.
        using var fineTuned = ModelBundle.Of(built.Network, built.Config, prepared.Data.Schema, baseModel.Document.Calibration);
        var rows = ModelBundleTests.RawRows(Path.Combine(_fixture.Folder, "test.csv"));
        using var expected = baseModel.PredictProbabilities(rows);
        using var actual = fineTuned.PredictProbabilities(rows);

        Assert.Equal(["fish", "cat", "dog"], fineTuned.Classes);
        Assert.Equal(baseModel.Schema.Columns.Select(c => (c.Shift, c.Divisor)), fineTuned.Schema.Columns.Select(c => (c.Shift, c.Divisor)));
        // Refitting on the shifted data would have moved every mean by about 10.
        Assert.All(fineTuned.Schema.Columns, c => Assert.InRange(c.Shift, -1, 3));
        Assert.Contains(prepared.Data.Report.Notes, n => n.Contains("base model's preprocessing is kept", StringComparison.Ordinal));
        var columns = baseModel.ClassIndices(fineTuned.Classes);
        using var reordered = expected.index_select(1, tensor(columns.Select(c => (long)c).ToArray()));
        Assert.True(allclose(reordered, actual, rtol: 1e-5, atol: 1e-6), $"max difference {(reordered - actual).abs().max().item<float>()}");
        Assert.True(expected.max().item<float>() > 0.5f);
    }

    [Fact]
    public void A_teacher_scores_the_training_rows_with_its_own_preprocessing()
    {
        var shifted = Shifted();
        // The teacher learnt on the shifted data, so its normalisation statistics are not the student's.
        var manifest = _fixture.Manifest("teacher", epochs: 2, hidden: "[12]", file: "teacher.yaml");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("train: {uri: train.csv}", $"train: {{uri: {shifted}}}", StringComparison.Ordinal));
        var student = File.ReadAllText(_fixture.Manifest("student", """
              curriculum:
                difficulty: {source: TeacherLoss, teacher: {trainingRun: {name: teacher}}}
                pacing: {function: Linear, startFraction: 0.25, fullDataAt: 0.75}
            """, epochs: 1, file: "student.yaml"));
        // A validation file of its own keeps the training rows in file order.
        File.AppendAllText(manifest, "---\n" + student.Replace("validationFraction: 0.2", "validation: {uri: test.csv}", StringComparison.Ordinal));
        Train(manifest, "teacher");
        var job = new TrainingJob(_fixture.Resolve(manifest, "student"), TimeProvider.System);

        using var prepared = job.LoadAndFit();
        var difficulty = job.CurriculumDifficulty(prepared)!;

        using var teacher = ModelBundle.Load(Path.Combine(_fixture.Artifacts("teacher"), "model"));
        var rows = ModelBundleTests.RawRows(Path.Combine(_fixture.Folder, "train.csv"));
        using var probabilities = teacher.PredictProbabilities(rows);
        var p = probabilities.data<float>().ToArray();
        var expected = rows.Select((r, i) => -Math.Log(p[(i * teacher.Classes.Count) + teacher.ClassIndices([r["label"]!])[0]])).ToArray();
        Assert.NotEqual(teacher.Schema.Columns[0].Shift, prepared.Data.Schema.Columns[0].Shift);
        Assert.Equal(rows.Count, difficulty.Length);
        Assert.All(expected.Zip(difficulty), d => Assert.Equal(d.First, d.Second, 1e-5));
    }

    [Fact]
    public void A_base_model_whose_features_are_in_another_order_is_an_error_naming_the_column()
    {
        var manifest = Chain("""
              baseModel:
                trainingRun: {name: pretrain}
            """, dataExtra: "    featureColumns: [f1, f0, f2, f3, f4, f5, f6, f7]");
        Train(manifest, "pretrain");

        var error = Assert.Throws<InputException>(() => Train(manifest, "finetune"));

        Assert.Contains("column 'f1' is feature 1, where the fitted model has 'f0'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(Normalizations.Standard, null, "data.normalization is Standard but the base model was fitted with Scale")]
    [InlineData(Normalizations.Scale, 1.0, "data.scale is 1 but the base model divides column 'x' by 255")]
    public void Kept_preprocessing_refuses_another_normalisation(string normalization, double? scale, string message)
    {
        using var dir = new Data.TempFolder();
        var spec = Data.Specs.Csv(dir.Csv("train.csv", "x,label", "1,a", "200,b", "3,a", "40,b"), "train.csv", Normalizations.Scale);
        spec.Scale = 255;
        var fitted = DataLoader.Load(spec, dir.Path, 1).Schema;
        spec.Normalization = normalization;
        spec.Scale = scale;

        var error = Assert.Throws<DataException>(() => DataLoader.Load(spec, dir.Path, 1, fitted));

        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kept_head_needs_the_base_models_classes_and_resetHead_allows_others()
    {
        var manifest = Chain("""
              baseModel:
                trainingRun: {name: pretrain}
            """);
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("classes: [cat, dog, fish]\n    difficultyColumn: difficulty\n    validationFraction: 0.2\n\n  optimizer: {type: Adam, learningRate: 0.01}\n  epochs: 1",
            "classes: [cat, dog, fish, bird]\n    difficultyColumn: difficulty\n    validationFraction: 0.2\n\n  optimizer: {type: Adam, learningRate: 0.01}\n  epochs: 1", StringComparison.Ordinal));
        Train(manifest, "pretrain");

        var error = Assert.Throws<InputException>(() => Train(manifest, "finetune"));
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("trainingRun: {name: pretrain}", "trainingRun: {name: pretrain}\n    resetHead: true", StringComparison.Ordinal));
        var reset = Train(manifest, "finetune");

        Assert.Contains("resetHead", error.Message, StringComparison.Ordinal);
        Assert.Contains("new: bird", error.Message, StringComparison.Ordinal);
        Assert.Equal(["cat", "dog", "fish", "bird"], reset.Report.Model!.Classes);
        Assert.True(reset.Report.Model.BaseModel!.HeadReset);
    }

    [Fact]
    public void Ewc_without_the_old_tasks_data_is_an_error_not_a_silent_use_of_the_new_data()
    {
        var manifest = Chain("""
              baseModel:
                trainingRun: {name: pretrain}
              continual:
                ewc: {lambda: 10}
            """);
        Train(manifest, "pretrain");

        var error = Assert.Throws<InputException>(() => Train(manifest, "finetune"));

        Assert.Contains("continual.ewc.fisherData", error.Message, StringComparison.Ordinal);
        Assert.Contains("data.replay", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ewc_with_a_reset_head_reads_the_old_tasks_data_with_the_old_classes()
    {
        var train = OnlyClasses("train.csv", "cat", "dog");
        var test = OnlyClasses("test.csv", "cat", "dog");
        // The old task's data holds fish, which the new task does not predict: its labels are the base model's.
        var manifest = Chain("""
              baseModel:
                trainingRun: {name: pretrain}
                resetHead: true
              continual:
                ewc: {lambda: 10, fisherSamples: 30, fisherData: {uri: train.csv}}
            """, editFinetune: yaml => yaml
                .Replace("train: {uri: train.csv}", $"train: {{uri: {train}}}", StringComparison.Ordinal)
                .Replace("test: {uri: test.csv}", $"test: {{uri: {test}}}", StringComparison.Ordinal)
                .Replace("classes: [cat, dog, fish]", "classes: [cat, dog]", StringComparison.Ordinal));
        Train(manifest, "pretrain");

        var outcome = Train(manifest, "finetune");

        Assert.Equal(["cat", "dog"], outcome.Report.Model!.Classes);
        Assert.Equal(["features.0.bias", "features.0.weight"], outcome.Report.Model.EwcParameters!.Order(StringComparer.Ordinal));
        Assert.Equal(0, outcome.Report.Data!["badRowCount"]!.GetValue<long>());
    }

    [Fact]
    public void A_third_task_adds_its_penalty_to_the_second_tasks()
    {
        var manifest = Chain("""
              baseModel:
                trainingRun: {name: pretrain}
              continual:
                ewc: {lambda: 10, fisherSamples: 40, fisherData: {uri: train.csv}}
            """);
        File.AppendAllText(manifest, "---\n" + File.ReadAllText(_fixture.Manifest("third", """
              baseModel:
                trainingRun: {name: finetune}
              continual:
                ewc: {lambda: 5, fisherSamples: 30, fisherData: {uri: test.csv}}
            """, epochs: 1, hidden: "[12]", file: "third.yaml")));
        Train(manifest, "pretrain");
        var second = Train(manifest, "finetune");

        var third = Train(manifest, "third");

        var secondPenalty = SafeTensors.Load(Path.Combine(second.ModelFolder, ElasticWeightConsolidation.FileName), out var secondMeta);
        var thirdPenalty = SafeTensors.Load(Path.Combine(third.ModelFolder, ElasticWeightConsolidation.FileName), out var thirdMeta);
        using var secondWeights = ModelBundle.Load(second.ModelFolder);
        var anchors = secondWeights.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal("1", secondMeta["tasks"]);
        Assert.Equal("2", thirdMeta["tasks"]);
        Assert.False(File.Exists(Path.Combine(_fixture.Artifacts("pretrain"), "model", ElasticWeightConsolidation.FileName)));
        foreach (var name in new[] { "features.0.weight", "features.0.bias", "head.weight", "head.bias" })
        {
            // Precision P₃ = P₂ + λ₃ F₃, anchor ā₃ = (P₂ ā₂ + λ₃ F₃ θ₂) / P₃ with θ₂ the second task's weights.
            var p2 = secondPenalty[$"precision.{name}"];
            var f3 = thirdPenalty[$"fisher.{name}"];
            var p3 = thirdPenalty[$"precision.{name}"];
            Assert.True(allclose(p3, p2 + (5 * f3), rtol: 1e-5, atol: 1e-9), name);
            Assert.True(f3.sum().item<float>() > 0, name);
            var anchor = ((p2 * secondPenalty[$"anchor.{name}"]) + (5 * f3 * anchors[name])) / p3;
            Assert.True(allclose(thirdPenalty[$"anchor.{name}"], where(p3 > 0, anchor, anchors[name]), rtol: 1e-4, atol: 1e-6), name);
        }
    }
}
