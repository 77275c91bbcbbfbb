using Syllabus.Api;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class ResumeFingerprintTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 300, testRows: 60);

    public void Dispose() => _fixture.Dispose();

    private TrainingOutcome Train(string manifest) =>
        new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken);

    [Fact]
    public void An_edited_gate_resources_and_deadline_keep_the_checkpoints()
    {
        var first = Train(_fixture.Manifest("edit", """
              gates: [{metric: accuracy, atLeast: 0.5}]
            """, epochs: 2));
        Assert.Null(first.Report.ResumedFromEpoch);

        var edited = Train(_fixture.Manifest("edit", """
              gates: [{metric: accuracy, atLeast: 0.99}, {metric: ece, atMost: 0.2}]
              resources: {gpus: 1, cpu: 2}
              activeDeadlineSeconds: 600
              backoffLimit: 5
              checkpoint: {everyEpochs: 2, keep: 1}
            """, epochs: 2));

        // The finished run resumed from its last checkpoint instead of training again; the new gates were judged.
        Assert.Equal(2, edited.Report.ResumedFromEpoch);
        Assert.Equal(first.Report.Metrics!["accuracy"], edited.Report.Metrics!["accuracy"]);
        Assert.Equal(2, edited.Report.Gates.Count);
    }

    [Fact]
    public void An_edited_optimizer_starts_fresh()
    {
        Train(_fixture.Manifest("optimizer", epochs: 2));
        File.WriteAllText(Path.Combine(_fixture.Folder, "run.yaml"), File.ReadAllText(Path.Combine(_fixture.Folder, "run.yaml"))
            .Replace("learningRate: 0.01", "learningRate: 0.02", StringComparison.Ordinal));
        var again = Train(Path.Combine(_fixture.Folder, "run.yaml"));
        Assert.Null(again.Report.ResumedFromEpoch);
    }

    [Fact]
    public void The_fingerprint_covers_the_trajectory_and_nothing_else()
    {
        static TrainingRunSpec Spec() => new() { Data = new DataSpec { Train = new DatasetSource { Uri = "train.csv" } }, Epochs = 3 };
        var baseline = ResumeFingerprint.Of(Spec());

        var harmless = Spec();
        harmless.Gates = [new Gate { Metric = "accuracy", AtLeast = 0.9 }];
        harmless.Resources = new ComputeResources { Gpus = 2 };
        harmless.ActiveDeadlineSeconds = 60;
        harmless.TtlSecondsAfterFinished = 10;
        harmless.Data.Test = new DatasetSource { Uri = "test.csv" };
        harmless.Continual = new ContinualSpec { PreviousTasks = [new PreviousTask { Name = "first", Test = new DatasetSource { Uri = "old-test.csv" } }] };
        Assert.Equal(baseline, ResumeFingerprint.Of(harmless));

        Action<TrainingRunSpec>[] trajectoryEdits =
        [
            s => s.Seed++,
            s => s.BatchSize++,
            s => s.Epochs++,
            s => s.Optimizer.LearningRate *= 2,
            s => s.LrSchedule.Type = LrScheduleTypes.Cosine,
            s => s.Model.HiddenLayers = [3],
            s => s.Data.Limit = 10,
            s => s.Curriculum = new CurriculumSpec { Pacing = new PacingSpec() },
            s => s.EarlyStopping = new EarlyStoppingSpec(),
            s => s.Continual = new ContinualSpec { Ewc = new EwcSpec(), PreviousTasks = [new PreviousTask { Name = "first", Test = new DatasetSource { Uri = "old-test.csv" } }] },
            s => s.Data.Replay = new ReplaySpec { Data = new DatasetSource { Uri = "old.csv" }, BufferSize = 100 },
        ];
        foreach (var edit in trajectoryEdits)
        {
            var spec = Spec();
            edit(spec);
            Assert.NotEqual(baseline, ResumeFingerprint.Of(spec));
        }
    }
}
