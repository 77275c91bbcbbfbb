using Syllabus.Api;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Tests.Data;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class NoSilentSubstitutionTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 120, testRows: 30);

    public void Dispose() => _fixture.Dispose();

    private TrainingOutcome Train(string manifest) =>
        new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken);

    [Fact]
    public void A_test_file_that_is_empty_after_bad_rows_fails_with_a_message()
    {
        // Every test row has a label outside the classes: all bad, within maxBadRows, so the test set is empty.
        File.WriteAllText(Path.Combine(_fixture.Folder, "test.csv"), "label,difficulty,f0,f1,f2,f3,f4,f5,f6,f7\nbird,1,0,0,0,0,0,0,0,0\nemu,1,0,0,0,0,0,0,0,0\n");
        var manifest = _fixture.Manifest("empty-test", """
              gates: [{metric: accuracy, atLeast: 0.5}]
            """, dataExtra: "    maxBadRows: 10");

        var error = Assert.Throws<InputException>(() => Train(manifest));

        Assert.Contains("data.test: no usable rows in test.csv: 2 read, 2 bad", error.Message, StringComparison.Ordinal);
        Assert.Contains("unknown label 'bird'", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_fixture.Artifacts("empty-test"), "model", "model.safetensors")));
    }

    [Theory]
    [InlineData("  lrSchedule: {type: ReduceOnPlateau, monitor: loss, patience: 1}", "lrSchedule ReduceOnPlateau (monitor 'loss')")]
    [InlineData("  earlyStopping: {monitor: accuracy}", "earlyStopping (monitor 'accuracy')")]
    [InlineData("""
          curriculum:
            difficulty: {source: Column, column: difficulty}
            stages:
              - {name: easy, dataFraction: 0.5, minEpochs: 1, advanceWhen: {metric: accuracy, atLeast: 0.9}}
              - {name: all, dataFraction: 1.0}
        """, "curriculum stage 'easy' advanceWhen 'accuracy'")]
    public void An_empty_validation_split_is_rejected_at_start_when_something_needs_it(string extra, string named)
    {
        // One training row: holding out a share of it leaves no validation rows.
        var lines = File.ReadAllLines(Path.Combine(_fixture.Folder, "train.csv"));
        File.WriteAllLines(Path.Combine(_fixture.Folder, "train.csv"), lines[..2]);
        var manifest = _fixture.Manifest("empty-validation", extra);

        var error = Assert.Throws<InputException>(() => Train(manifest));

        Assert.Contains("the validation split is empty", error.Message, StringComparison.Ordinal);
        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_fixture.Artifacts("empty-validation"), "checkpoints")));
    }

    [Fact]
    public void Rows_skipped_for_missing_values_are_listed_with_file_and_line()
    {
        using var dir = new TempFolder();
        var train = dir.Csv("train.csv", "x,y,label", "1,2,a", "3,,b", "5,6,a", ",8,b", "9,10,b");
        var spec = Specs.Csv(train, train);
        spec.MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Skip };

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal(3, data.Train.Count);
        Assert.Equal(4, data.Report.SkippedMissingCount);
        var listed = data.Report.SkippedMissingRows.Where(r => r.File == dir.Full(train)).Take(2).ToList();
        Assert.Equal([(3L, "y"), (5L, "x")], listed.Select(r => (r.Line, r.Column!)));
        Assert.All(listed, r => Assert.Contains("missing value", r.Reason, StringComparison.Ordinal));
    }
}
