using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class ContinualMetricsTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 300, testRows: 90);

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public void Forgetting_and_backward_transfer_follow_avalanches_definitions()
    {
        TaskAccuracy Task(string name, double after) => new() { Name = name, TestData = "sha256:" + name, AccuracyAfterLearning = after };
        var own = ContinualReport.OwnTask("c", "sha256:c", 0.95)!;

        var report = ContinualReport.Build([Task("a", 0.90), Task("b", 0.80)], new Dictionary<string, double> { ["a"] = 0.60, ["b"] = 0.85 }, own);

        Assert.Equal(["a", "b", "c"], report.Tasks.Select(t => t.Name));
        Assert.Equal(0.30, report.Tasks[0].Forgetting!.Value, 12);
        Assert.Equal(-0.05, report.Tasks[1].Forgetting!.Value, 12); // b improved: negative forgetting, positive transfer
        Assert.Equal(0.125, report.Forgetting!.Value, 12); // mean over the earlier tasks only, not the new one
        Assert.Equal(-0.125, report.BackwardTransfer!.Value, 12);
        Assert.Equal(0.95, report.Tasks[2].AccuracyAfterLearning);

        // An earlier task not measured now is carried with its accuracy right after learning and counts nowhere.
        var partly = ContinualReport.Build([Task("a", 0.90), Task("b", 0.80)], new Dictionary<string, double> { ["b"] = 0.70 }, own);
        Assert.Null(partly.Tasks[0].Accuracy);
        Assert.Equal(0.10, partly.Forgetting!.Value, 12);
        Assert.Null(ContinualReport.Build([Task("a", 0.9)], new Dictionary<string, double>(), own).Forgetting);
    }

    [Fact]
    public void A_continuation_measures_its_base_models_tasks_and_gates_on_forgetting()
    {
        // Task 2 relabels the same inputs (cat→dog→fish→cat), so learning it must cost accuracy on task 1.
        Relabel("train.csv", "relabelled.csv");
        Relabel("test.csv", "relabelled-test.csv");
        var first = Train(_fixture.Manifest("first", epochs: 3, file: "first.yaml"));
        var second = Train(Continuation("second", "first", "[{name: first, test: {uri: test.csv}}]", "relabelled"));

        var continual = second.Report.Continual!;
        Assert.Equal(["first", "second"], continual.Tasks.Select(t => t.Name));
        var task1 = continual.Tasks[0];
        Assert.Equal(first.Report.Metrics!["accuracy"], task1.AccuracyAfterLearning);
        Assert.Equal(first.Report.TestData, task1.TestData);
        Assert.Equal(AccuracyOn(second.ModelFolder, "test.csv"), task1.Accuracy!.Value, 12);
        Assert.Equal(task1.AccuracyAfterLearning - task1.Accuracy.Value, continual.Forgetting!.Value, 12);
        Assert.True(continual.Forgetting > 0.3, $"forgetting {continual.Forgetting}");
        Assert.Equal(-continual.Forgetting.Value, continual.BackwardTransfer!.Value, 12);
        Assert.Equal(second.Report.Metrics!["accuracy"], continual.Tasks[1].AccuracyAfterLearning);
        Assert.Equal(continual.Forgetting.Value, second.Report.Metrics["forgetting"]);
        var gate = Assert.Single(second.Report.Gates);
        Assert.False(gate.Passed);
        Assert.Equal(continual.Forgetting.Value, gate.Value);
        Assert.Equal(continual.Forgetting.Value, TerminationMessage.FromReport(second.Report).Metrics!["forgetting"]);

        // A third task chains through the second's report: task 1 keeps the accuracy it had right after it was learnt.
        var third = Train(Continuation("third", "second", "[{name: first, test: {uri: test.csv}}, {name: second, test: {uri: relabelled-test.csv}}]", "train"));
        Assert.Equal(["first", "second", "third"], third.Report.Continual!.Tasks.Select(t => t.Name));
        Assert.Equal(task1.AccuracyAfterLearning, third.Report.Continual.Tasks[0].AccuracyAfterLearning);
        Assert.Equal(continual.Tasks[1].AccuracyAfterLearning, third.Report.Continual.Tasks[1].AccuracyAfterLearning);
        Assert.Equal(AccuracyOn(third.ModelFolder, "relabelled-test.csv"), third.Report.Continual.Tasks[1].Accuracy!.Value, 12);
    }

    [Fact]
    public void Unknown_tasks_other_test_sets_and_a_missing_base_model_are_errors_naming_the_field()
    {
        Relabel("train.csv", "relabelled.csv");
        Relabel("test.csv", "relabelled-test.csv");
        Train(_fixture.Manifest("first", epochs: 1, file: "first.yaml"));

        var unknown = Assert.Throws<InputException>(() => Train(Continuation("second", "first", "[{name: zeroth, test: {uri: test.csv}}]", "relabelled")));
        Assert.Contains("continual.previousTasks[0].name: 'zeroth' is not a task of the base model (its tasks: first)", unknown.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_fixture.Artifacts("second"), "checkpoints")), "refused before training, not after it");

        var other = Assert.Throws<InputException>(() => Train(Continuation("second", "first", "[{name: first, test: {uri: relabelled-test.csv}}]", "relabelled")));
        Assert.Contains("continual.previousTasks[0].test: relabelled-test.csv is not the test set task 'first' was measured on", other.Message, StringComparison.Ordinal);

        var noBase = _fixture.Manifest("alone", "  continual:\n    previousTasks: [{name: first, test: {uri: test.csv}}]", epochs: 1, file: "alone.yaml");
        var missing = Assert.Throws<InputException>(() => Train(noBase));
        Assert.Contains("continual.previousTasks: needs a baseModel", missing.Message, StringComparison.Ordinal);
    }

    private TrainingOutcome Train(string manifest) =>
        new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken);

    /// <summary>A manifest fine-tuning <paramref name="baseRun"/>'s model (by its folder) on &lt;data&gt;.csv, gated on forgetting.</summary>
    private string Continuation(string name, string baseRun, string previousTasks, string data)
    {
        var path = _fixture.Manifest(name, $$"""
              baseModel: {uri: out/{{baseRun}}/model}
              continual:
                previousTasks: {{previousTasks}}
              gates:
              - {metric: forgetting, atMost: 0.02}
            """, epochs: 3, file: name + ".yaml");
        // Only spec.data's files (the first mentions), not the previous tasks' test sets.
        var yaml = File.ReadAllText(path);
        yaml = ReplaceFirst(ReplaceFirst(yaml, "train: {uri: train.csv}", $"train: {{uri: {data}.csv}}"),
            "test: {uri: test.csv}", $"test: {{uri: {(data == "train" ? "test" : data + "-test")}.csv}}");
        File.WriteAllText(path, yaml);
        return path;
    }

    private static string ReplaceFirst(string text, string old, string replacement)
    {
        var at = text.IndexOf(old, StringComparison.Ordinal);
        return text[..at] + replacement + text[(at + old.Length)..];
    }

    private void Relabel(string from, string to)
    {
        var next = new Dictionary<string, string> { ["cat"] = "dog", ["dog"] = "fish", ["fish"] = "cat" };
        var lines = File.ReadAllLines(Path.Combine(_fixture.Folder, from));
        File.WriteAllLines(Path.Combine(_fixture.Folder, to),
            [lines[0], .. lines.Skip(1).Select(l => next[l[..l.IndexOf(',', StringComparison.Ordinal)]] + l[l.IndexOf(',', StringComparison.Ordinal)..])]);
    }

    private double AccuracyOn(string modelFolder, string file)
    {
        using var model = ModelBundle.Load(modelFolder, CPU);
        var data = DataLoader.LoadWithSchema(new Syllabus.Api.DatasetSource { Uri = file }, new Syllabus.Api.DataSpec(), model.Schema, _fixture.Folder, new DataLoadReport());
        return model.Evaluate(data).Accuracy;
    }
}
