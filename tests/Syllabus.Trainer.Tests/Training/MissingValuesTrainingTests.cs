using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class MissingValuesTrainingTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 300, testRows: 60);

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public void A_file_with_NA_cells_trains_under_Impute()
    {
        // As R's write.csv leaves missing values: NA in every fifth row's second feature, in train and test.
        foreach (var name in new[] { "train.csv", "test.csv" })
        {
            var path = Path.Combine(_fixture.Folder, name);
            var lines = File.ReadAllLines(path);
            for (var i = 1; i < lines.Length; i += 5)
            {
                var cells = lines[i].Split(',');
                cells[3] = "NA";
                lines[i] = string.Join(',', cells);
            }

            File.WriteAllLines(path, lines);
        }

        var manifest = _fixture.Manifest("na", dataExtra: "    missingValues: {policy: Impute, impute: Median}");

        var outcome = new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken);

        var data = outcome.Report.Data!;
        Assert.Equal(60 + 12, data["imputed"]!["f1"]!.GetValue<long>());
        Assert.Equal(0, data["badRowCount"]!.GetValue<long>());
        Assert.True(outcome.Report.Metrics!["accuracy"] > 0.8, $"accuracy {outcome.Report.Metrics["accuracy"]}");
    }
}
