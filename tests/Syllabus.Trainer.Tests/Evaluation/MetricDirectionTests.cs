using Syllabus.Api;
using Syllabus.Trainer.Schedules;
using Syllabus.Trainer.Tests.Training;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Evaluation;

[Collection(TorchCollection.Name)]
public sealed class MetricDirectionTests
{
    [Theory]
    [InlineData("loss", true)]
    [InlineData("ece", true)]
    [InlineData("loss@hard", true)]
    [InlineData("ece@night shift", true)]
    [InlineData("accuracy", false)]
    [InlineData("accuracy@loss", false)]
    [InlineData("precision/loss", false)]
    [InlineData("recall/ece@loss", false)]
    public void The_metric_name_decides_the_direction_whatever_the_class_or_slice(string key, bool minimised) =>
        Assert.Equal(minimised, MetricDirection.IsMinimised(key));

    [Fact]
    public void Improvement_respects_direction_and_min_delta()
    {
        Assert.True(MetricDirection.Improves("loss@a", 0.5, 0.6, 0.05));
        Assert.False(MetricDirection.Improves("loss@a", 0.58, 0.6, 0.05));
        Assert.True(MetricDirection.Improves("accuracy@a", 0.7, 0.6, 0.05));
        Assert.False(MetricDirection.Improves("accuracy@a", 0.5, 0.6));
    }

    [Fact]
    public void Early_stopping_on_a_sliced_loss_treats_a_falling_value_as_improvement()
    {
        using var model = nn.Linear(2, 2);
        using var callback = new EarlyStoppingCallback(new EarlyStoppingSpec { Monitor = "loss@hard", Patience = 1 }, model);
        var state = new TrainerState();
        var control = new TrainerControl();
        foreach (var (epoch, loss) in new[] { (1, 0.9), (2, 0.5), (3, 0.4) })
        {
            callback.OnEpochEnd(state, control, new EpochRecord { Epoch = epoch, Validation = new() { ["loss@hard"] = loss } });
        }

        Assert.False(control.ShouldStop);
        Assert.Equal(3, state.BestEpoch);
        Assert.Equal(0.4, state.BestMetric);
    }

    [Fact]
    public void Reduce_on_plateau_on_a_sliced_loss_reduces_when_it_rises()
    {
        using var parameter = new TorchSharp.Modules.Parameter(zeros(1));
        using var optimizer = optim.SGD([parameter], 0.1);
        var schedule = LearningRateScheduleFactory.Create(
            new LrScheduleSpec { Type = LrScheduleTypes.ReduceOnPlateau, Monitor = "loss@hard", Patience = 0, Factor = 0.5 }, optimizer, 5, 1);
        foreach (var loss in new[] { 1.0, 1.1 })
        {
            schedule.StepEpoch(new Dictionary<string, double> { ["loss@hard"] = loss });
        }

        // A falling loss keeps the rate; the rise after it halves it (had loss@hard been maximised, the rise would have been an improvement).
        Assert.Equal(0.05, schedule.LearningRate, 12);
    }

    [Fact]
    public void Monitoring_a_count_is_rejected()
    {
        using var model = nn.Linear(2, 2);
        Assert.Throws<Syllabus.Trainer.Cli.InputException>(() => new EarlyStoppingCallback(new EarlyStoppingSpec { Monitor = "support/cat" }, model));
    }
}
