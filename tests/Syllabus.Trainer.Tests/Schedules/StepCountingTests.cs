using Syllabus.Api;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Schedules;
using Syllabus.Trainer.Tests.Training;
using Syllabus.Trainer.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Schedules;

/// <summary>Step-sized schedules count the batches that run, and OneCycle/Cyclic cycle momentum as PyTorch does.</summary>
[Collection(TorchCollection.Name)]
public sealed class StepCountingTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 400, testRows: 60);

    public void Dispose() => _fixture.Dispose();

    private const string RootPacing = """
          curriculum:
            difficulty: {source: Column, column: difficulty}
            pacing: {function: Root, startFraction: 0.2, fullDataAt: 0.8}
        """;

    [Fact]
    public void A_OneCycle_run_under_root_pacing_ends_at_its_final_learning_rate()
    {
        var manifest = _fixture.Manifest("onecycle-root", RootPacing + "\n" + """
              lrSchedule: {type: OneCycle, maxLearningRate: 0.05, pctStart: 0.3, divFactor: 25, finalDivFactor: 1000}
            """, epochs: 5);

        var report = new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken).Report;

        // The pacing really shrank the early epochs, so sizing by full epochs would have stopped far from the end.
        var examples = report.History.Select(h => h.Examples).ToList();
        Assert.True(examples[0] < examples[^1] / 2, $"examples per epoch: {string.Join(", ", examples)}");
        Assert.Equal(0.05 / 25 / 1000, report.History[^1].LearningRate, 1e-12);
        // The rate passed its peak inside the run, not after it.
        Assert.True(report.History.Take(report.History.Count - 1).Max(h => h.LearningRate) > 0.01);
    }

    [Fact]
    public void The_planned_steps_are_the_steps_the_trainer_runs()
    {
        var manifest = _fixture.Manifest("plan", RootPacing, epochs: 4);
        var run = _fixture.Resolve(manifest);

        var report = new TrainingJob(run, TimeProvider.System).Run(TestContext.Current.CancellationToken).Report;

        var planned = report.History.Select(h => (h.Examples + 31) / 32).ToArray();
        Assert.Equal(planned.Sum(), ReadGlobalStep());
        Assert.True(planned[0] < planned[^1]);

        long ReadGlobalStep()
        {
            var last = Directory.GetDirectories(Path.Combine(_fixture.Artifacts("plan"), "checkpoints")).Order(StringComparer.Ordinal).Last();
            return TrainerState.FromJson(File.ReadAllText(Path.Combine(last, Syllabus.Trainer.Artifacts.CheckpointStore.StateFileName))).GlobalStep;
        }
    }

    [Fact]
    public void Step_cosine_over_uneven_epochs_ends_at_its_minimum()
    {
        using var parameter = new Parameter(zeros(1));
        using var optimizer = optim.SGD([parameter], 0.1);
        var schedule = LearningRateScheduleFactory.Create(
            new LrScheduleSpec { Type = LrScheduleTypes.Cosine, Interval = ScheduleIntervals.Step, MinLearningRate = 0.001 }, optimizer, 3, [2, 3, 5]);
        for (var i = 0; i < 10; i++)
        {
            schedule.StepBatch();
        }

        Assert.Equal(0.001, schedule.LearningRate, 12);
    }

    [Fact]
    public void OneCycle_with_metric_gated_stages_is_rejected_as_bad_input()
    {
        var manifest = _fixture.Manifest("gated", """
              curriculum:
                difficulty: {source: Column, column: difficulty}
                stages:
                  - {name: easy, dataFraction: 0.5, minEpochs: 1, advanceWhen: {metric: accuracy, atLeast: 0.9}}
                  - {name: all, dataFraction: 1.0}
              lrSchedule: {type: OneCycle, maxLearningRate: 0.05}
            """);

        var error = Assert.Throws<InputException>(() => new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken));

        Assert.Contains("OneCycle by step is sized by the optimisation steps the run takes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OneCycle_cycles_SGD_momentum_between_PyTorch_defaults()
    {
        using var parameter = new Parameter(zeros(1));
        using var optimizer = optim.SGD([parameter], 0.01, momentum: 0.5);
        // total 10, pctStart 0.3: phase one ends at step 2, phase two at step 9 (PyTorch's OneCycleLR).
        var schedule = LearningRateScheduleFactory.Create(
            new LrScheduleSpec { Type = LrScheduleTypes.OneCycle, MaxLearningRate = 0.1, PctStart = 0.3 }, optimizer, 1, 10);
        var momentum = new List<double> { Momentum(optimizer) };
        for (var i = 0; i < 9; i++)
        {
            schedule.StepBatch();
            momentum.Add(Momentum(optimizer));
        }

        Assert.Equal(0.95, momentum[0], 12);
        Assert.Equal(0.90, momentum[1], 12);
        Assert.Equal(0.85, momentum[2], 12);
        Assert.Equal(0.95 - (0.05 * (1 + Math.Cos(Math.PI * 3 / 7))), momentum[5], 12);
        Assert.Equal(0.95, momentum[9], 12);
    }

    [Fact]
    public void OneCycle_cycles_Adam_beta1_and_keeps_beta2_and_a_resume_restores_it()
    {
        using var parameter = new Parameter(zeros(1));
        using var optimizer = optim.Adam([parameter], 0.01, beta1: 0.9, beta2: 0.99);
        var spec = new LrScheduleSpec { Type = LrScheduleTypes.OneCycle, MaxLearningRate = 0.1, PctStart = 0.3, BaseMomentum = 0.8, MaxMomentum = 0.9 };
        var schedule = LearningRateScheduleFactory.Create(spec, optimizer, 1, 10);
        Assert.Equal((0.9, 0.99), Betas(optimizer));
        schedule.StepBatch();
        schedule.StepBatch();
        Assert.Equal(0.8, Betas(optimizer).Item1, 12);
        Assert.Equal(0.99, Betas(optimizer).Item2);

        var saved = schedule.SaveState();
        using var other = optim.Adam([parameter], 0.01, beta1: 0.9, beta2: 0.99);
        var resumed = LearningRateScheduleFactory.Create(spec, other, 1, 10);
        resumed.LoadState(saved);
        Assert.Equal(0.8, Betas(other).Item1, 12);
    }

    [Fact]
    public void Cyclic_cycles_momentum_inversely_with_PyTorch_defaults_and_triangular2_halving()
    {
        using var parameter = new Parameter(zeros(1));
        using var optimizer = optim.SGD([parameter], 0.01);
        var schedule = LearningRateScheduleFactory.Create(
            new LrScheduleSpec { Type = LrScheduleTypes.Cyclic, MaxLearningRate = 0.1, StepSizeUp = 2, Mode = CyclicModes.Triangular2 }, optimizer, 1, 10);
        var momentum = new List<double> { Momentum(optimizer) };
        for (var i = 0; i < 6; i++)
        {
            schedule.StepBatch();
            momentum.Add(Momentum(optimizer));
        }

        // PyTorch's CyclicLR defaults: base 0.8 at the peak rate, max 0.9 at the lowest; the second cycle swings half as far.
        Assert.Equal([0.9, 0.85, 0.8, 0.85, 0.9, 0.875, 0.85], momentum.Select(m => Math.Round(m, 12)));
    }

    [Fact]
    public void Momentum_is_left_alone_when_cycleMomentum_is_false()
    {
        using var parameter = new Parameter(zeros(1));
        using var optimizer = optim.SGD([parameter], 0.01, momentum: 0.5);
        var schedule = LearningRateScheduleFactory.Create(
            new LrScheduleSpec { Type = LrScheduleTypes.OneCycle, MaxLearningRate = 0.1, CycleMomentum = false }, optimizer, 1, 10);
        schedule.StepBatch();
        Assert.Equal(0.5, Momentum(optimizer));
    }

    private static double Momentum(optim.Optimizer optimizer) => ((optim.IMomentum)optimizer.ParamGroups.First()).Momentum;

    private static (double, double) Betas(optim.Optimizer optimizer) => ((optim.IBetas)optimizer.ParamGroups.First()).Betas;
}
