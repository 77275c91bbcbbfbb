using Syllabus.Api;
using static Syllabus.Trainer.Tests.Schedules.ScheduleTestHelpers;

namespace Syllabus.Trainer.Tests.Schedules;

public sealed class ScheduleResumeTests
{
    public static TheoryData<string> Specs => [.. SpecsByName.Keys];

    private static readonly Dictionary<string, LrScheduleSpec> SpecsByName = new()
    {
        ["cosine+warmup"] = new() { Type = LrScheduleTypes.Cosine, Interval = ScheduleIntervals.Step, MinLearningRate = 1e-4, Warmup = new() { Steps = 7, StartFactor = 0.1 } },
        ["step"] = new() { Type = LrScheduleTypes.Step, StepSize = 2, Gamma = 0.5 },
        ["warmRestarts"] = new() { Type = LrScheduleTypes.CosineWarmRestarts, Interval = ScheduleIntervals.Step, T0 = 5, TMult = 2 },
        ["cyclic"] = new() { Type = LrScheduleTypes.Cyclic, MaxLearningRate = 1.0, StepSizeUp = 3, Mode = CyclicModes.Triangular2 },
        ["oneCycle"] = new() { Type = LrScheduleTypes.OneCycle, MaxLearningRate = 1.0 },
        ["polynomial+warmup"] = new() { Type = LrScheduleTypes.Polynomial, Power = 0.5, Warmup = new() { Steps = 2 } },
        ["plateau+warmup"] = new() { Type = LrScheduleTypes.ReduceOnPlateau, Patience = 1, Factor = 0.5, Warmup = new() { Steps = 1 } },
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void AResumedScheduleContinuesTheSameCurve(string name)
    {
        var spec = SpecsByName[name];
        const int epochs = 8, steps = 4, stopAfter = 3;
        // Losses that plateau now and then, so ReduceOnPlateau has something to do.
        static Dictionary<string, double> Metrics(int e) => new() { ["loss"] = 1.0 / (1 + (e / 3)) };

        var whole = Run(Create(spec, Optimizer(0.1, 0.05), epochs, steps), 0, epochs);

        var first = Create(spec, Optimizer(0.1, 0.05), epochs, steps);
        var before = Run(first, 0, stopAfter);
        var saved = RoundTrip(first.SaveState());

        var resumed = Create(spec, Optimizer(0.1, 0.05), epochs, steps);
        resumed.LoadState(saved);
        var after = Run(resumed, stopAfter, epochs);

        Close(whole, [.. before, .. after]);

        static List<double> Run(Syllabus.Trainer.Schedules.ILearningRateSchedule s, int from, int to)
        {
            var lrs = new List<double>();
            for (var e = from; e < to; e++)
            {
                for (var b = 0; b < steps; b++)
                {
                    lrs.Add(s.LearningRate);
                    s.StepBatch();
                }

                s.StepEpoch(Metrics(e));
            }

            return lrs;
        }
    }

    [Fact]
    public void AStateFromAnotherScheduleIsRefused()
    {
        var cosine = Create(new LrScheduleSpec { Type = LrScheduleTypes.Cosine }, Optimizer(0.1), 5);
        var step = Create(new LrScheduleSpec { Type = LrScheduleTypes.Step, StepSize = 1 }, Optimizer(0.1), 5);
        var e = Assert.Throws<InvalidDataException>(() => step.LoadState(cosine.SaveState()));
        Assert.Contains("Cosine", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AStateWhoseRatesNoLongerMatchIsRefused()
    {
        var a = Create(new LrScheduleSpec { Type = LrScheduleTypes.Step, StepSize = 1, Gamma = 0.5 }, Optimizer(0.1), 5);
        a.StepEpoch(null);
        var b = Create(new LrScheduleSpec { Type = LrScheduleTypes.Step, StepSize = 1, Gamma = 0.9 }, Optimizer(0.1), 5);
        Assert.Throws<InvalidDataException>(() => b.LoadState(a.SaveState()));
    }
}
