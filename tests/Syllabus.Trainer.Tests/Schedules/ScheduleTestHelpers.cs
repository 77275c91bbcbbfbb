using System.Text.Json.Nodes;
using Syllabus.Api;
using Syllabus.Trainer.Schedules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Schedules;

internal static class ScheduleTestHelpers
{
    /// <summary>An SGD optimizer over throw-away parameters, one group per learning rate.</summary>
    public static optim.Optimizer Optimizer(params double[] learningRates)
    {
        var groups = learningRates.Select(lr => new SGD.ParamGroup([new Parameter(zeros(1))], lr, 0, 0, 0, false, false));
        return optim.SGD(groups, learningRates[0], 0, 0, 0, false, false);
    }

    /// <summary>Learning rate in use during each of <paramref name="count"/> epochs (schedule stepped after each).</summary>
    public static double[] PerEpoch(ILearningRateSchedule schedule, int count, Func<int, IReadOnlyDictionary<string, double>?>? metrics = null)
    {
        var lrs = new double[count];
        for (var e = 0; e < count; e++)
        {
            lrs[e] = schedule.LearningRate;
            schedule.StepEpoch(metrics?.Invoke(e) ?? new Dictionary<string, double> { ["loss"] = 1.0 });
        }

        return lrs;
    }

    /// <summary>Learning rate in use at each optimisation step over <paramref name="epochs"/> epochs.</summary>
    public static double[] PerStep(ILearningRateSchedule schedule, int epochs, int stepsPerEpoch)
    {
        var lrs = new List<double>();
        for (var e = 0; e < epochs; e++)
        {
            for (var b = 0; b < stepsPerEpoch; b++)
            {
                lrs.Add(schedule.LearningRate);
                schedule.StepBatch();
            }

            schedule.StepEpoch(new Dictionary<string, double> { ["loss"] = 1.0 });
        }

        return [.. lrs];
    }

    public static void Close(double expected, double actual, string what)
        => Assert.True(Math.Abs(expected - actual) <= 1e-12 + (1e-9 * Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");

    public static void Close(IReadOnlyList<double> expected, IReadOnlyList<double> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Close(expected[i], actual[i], $"t={i}");
        }
    }

    /// <summary>A checkpoint round-trip: the state goes through JSON text as it does on disk.</summary>
    public static JsonObject RoundTrip(JsonObject state) => JsonNode.Parse(state.ToJsonString())!.AsObject();

    public static ILearningRateSchedule Create(LrScheduleSpec spec, optim.Optimizer optimizer, int epochs, int stepsPerEpoch = 1)
        => LearningRateScheduleFactory.Create(spec, optimizer, epochs, stepsPerEpoch);
}
