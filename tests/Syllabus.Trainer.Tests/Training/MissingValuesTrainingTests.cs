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
        _fixture.WriteNaInEveryFifthRowOfSecondFeature();

        var manifest = _fixture.Manifest("na", dataExtra: "    missingValues: {policy: Impute, impute: Median}");

        var outcome = new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken);

        var data = outcome.Report.Data!;
        Assert.Equal(60 + 12, data["imputed"]!["f1"]!.GetValue<long>());
        Assert.Equal(0, data["badRowCount"]!.GetValue<long>());
        Assert.True(outcome.Report.Metrics!["accuracy"] > 0.8, $"accuracy {outcome.Report.Metrics["accuracy"]}");
    }
}
