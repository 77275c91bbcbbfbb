using Syllabus.Api;
using static Syllabus.Trainer.Tests.Schedules.ScheduleTestHelpers;

namespace Syllabus.Trainer.Tests.Schedules;

// Each expected value is PyTorch's documented closed form at step t, written out here independently of the code.
public sealed class LearningRateScheduleTests
{
    private const double Base = 0.1;

    [Fact]
    public void ConstantKeepsTheBaseRate()
    {
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Constant }, Optimizer(Base), 5, 3);
        Close(Enumerable.Repeat(Base, 15).ToArray(), PerStep(s, 5, 3));
    }

    [Fact]
    public void StepDecaysEveryStepSize()
    {
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Step, StepSize = 3, Gamma = 0.5 }, Optimizer(Base), 10);
        Close([.. Enumerable.Range(0, 10).Select(t => Base * Math.Pow(0.5, t / 3))], PerEpoch(s, 10));
    }

    [Fact]
    public void MultiStepDecaysAtMilestones()
    {
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.MultiStep, Milestones = [2, 5], Gamma = 0.1 }, Optimizer(Base), 8);
        Close([.. Enumerable.Range(0, 8).Select(t => Base * Math.Pow(0.1, (t >= 2 ? 1 : 0) + (t >= 5 ? 1 : 0)))], PerEpoch(s, 8));
    }

    [Fact]
    public void ExponentialMultipliesEachInterval()
    {
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Exponential, Gamma = 0.9 }, Optimizer(Base), 12);
        Close([.. Enumerable.Range(0, 12).Select(t => Base * Math.Pow(0.9, t))], PerEpoch(s, 12));
    }

    [Fact]
    public void CosineAnnealsToMinimumAtTMax()
    {
        const double etaMin = 0.001;
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Cosine, TMax = 10, MinLearningRate = etaMin }, Optimizer(Base), 20);
        Close([.. Enumerable.Range(0, 11).Select(t => etaMin + ((Base - etaMin) * (1 + Math.Cos(Math.PI * t / 10)) / 2))], PerEpoch(s, 11));
    }

    [Fact]
    public void CosineDefaultsToTheWholeRunInSteps()
    {
        // interval Step: T_max = epochs * stepsPerEpoch = 12, so the last step of the run is at t = 11 and the rate after the run is eta_min.
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Cosine, Interval = ScheduleIntervals.Step }, Optimizer(Base), 3, 4);
        var lrs = PerStep(s, 3, 4);
        Close([.. Enumerable.Range(0, 12).Select(t => Base * (1 + Math.Cos(Math.PI * t / 12)) / 2)], lrs);
        Close(0.0, s.LearningRate, "after the run");
    }

    [Fact]
    public void CosineWarmRestartsRestartsWithGrowingPeriods()
    {
        const double etaMin = 0.01;
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.CosineWarmRestarts, T0 = 3, TMult = 2, MinLearningRate = etaMin }, Optimizer(Base), 30);
        var expected = new double[25];
        int tCur = 0, tI = 3;
        for (var t = 0; t < expected.Length; t++)
        {
            expected[t] = etaMin + ((Base - etaMin) * (1 + Math.Cos(Math.PI * tCur / tI)) / 2);
            if (++tCur == tI)
            {
                tCur = 0;
                tI *= 2;
            }
        }

        var lrs = PerEpoch(s, 25);
        Close(expected, lrs);
        Close(Base, lrs[3], "first restart");
        Close(Base, lrs[9], "second restart (3 + 6)");
        Close(Base, lrs[21], "third restart (3 + 6 + 12)");
    }

    [Fact]
    public void CosineWarmRestartsWithTMultOneRepeats()
    {
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.CosineWarmRestarts, T0 = 4 }, Optimizer(Base), 12);
        Close([.. Enumerable.Range(0, 12).Select(t => Base * (1 + Math.Cos(Math.PI * (t % 4) / 4)) / 2)], PerEpoch(s, 12));
    }

    [Theory]
    [InlineData(CyclicModes.Triangular)]
    [InlineData(CyclicModes.Triangular2)]
    [InlineData(CyclicModes.ExpRange)]
    public void CyclicFollowsTheClrPolicyPerBatch(string mode)
    {
        const double max = 0.5, gamma = 0.97;
        const int up = 4;
        var spec = new LrScheduleSpec
        {
            Type = LrScheduleTypes.Cyclic, MaxLearningRate = max, StepSizeUp = up, Mode = mode,
            Gamma = mode == CyclicModes.ExpRange ? gamma : null,
        };
        var s = Create(spec, Optimizer(Base), 4, 10);
        var lrs = PerStep(s, 4, 10);
        for (var t = 0; t < lrs.Length; t++)
        {
            // Smith (2017) as in PyTorch's docs: cycle = floor(1 + t / 2up), x = |t/up - 2 cycle + 1|.
            var cycle = Math.Floor(1 + (t / (2.0 * up)));
            var x = Math.Abs((t / (double)up) - (2 * cycle) + 1);
            var scale = mode switch
            {
                CyclicModes.Triangular => 1.0,
                CyclicModes.Triangular2 => 1 / Math.Pow(2, cycle - 1), // amplitude halves every cycle
                _ => Math.Pow(gamma, t), // exp_range scales by gamma^iterations
            };
            Close(Base + ((max - Base) * Math.Max(0, 1 - x) * scale), lrs[t], $"{mode} t={t}");
        }

        Close(mode == CyclicModes.ExpRange ? Base + ((max - Base) * Math.Pow(gamma, 4)) : max, lrs[4], "first peak");
        if (mode == CyclicModes.Triangular2)
        {
            Close(Base + ((max - Base) / 2), lrs[12], "second peak at half amplitude");
            Close(Base + ((max - Base) / 4), lrs[20], "third peak at a quarter");
        }
    }

    [Fact]
    public void OneCycleRisesThenAnnealsWithDivFactors()
    {
        const double max = 0.2, div = 25, finalDiv = 1e4, pct = 0.3;
        const int epochs = 5, steps = 20, total = epochs * steps;
        var spec = new LrScheduleSpec { Type = LrScheduleTypes.OneCycle, MaxLearningRate = max, PctStart = pct, DivFactor = div, FinalDivFactor = finalDiv };
        // Second group at a tenth of the first: its peak keeps that ratio.
        var optimizer = Optimizer(Base, Base / 10);
        var s = Create(spec, optimizer, epochs, steps);
        var group2 = new List<double>();
        var lrs = new List<double>();
        for (var t = 0; t < total; t++)
        {
            lrs.Add(s.LearningRate);
            group2.Add(optimizer.ParamGroups.ElementAt(1).LearningRate);
            s.StepBatch();
        }

        static double Cos(double from, double to, double pct) => to + ((from - to) * (1 + Math.Cos(Math.PI * pct)) / 2);
        double Expected(int t, double peak)
        {
            var initial = peak / div;
            var end1 = (pct * total) - 1; // 29
            return t <= end1 ? Cos(initial, peak, t / end1) : Cos(peak, initial / finalDiv, (t - end1) / (total - 1 - end1));
        }

        Close([.. Enumerable.Range(0, total).Select(t => Expected(t, max))], lrs);
        Close([.. Enumerable.Range(0, total).Select(t => Expected(t, max / 10))], group2);
        Close(max / div, lrs[0], "start = max/div");
        Close(max, lrs[29], "peak at pct_start");
        Close(max / div / finalDiv, lrs[^1], "end = initial/final_div");
    }

    [Fact]
    public void PolynomialDecaysToZeroAtTotalIters()
    {
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Polynomial, Power = 2.5, TotalIters = 8 }, Optimizer(Base), 12);
        Close([.. Enumerable.Range(0, 12).Select(t => Base * Math.Pow(1 - (Math.Min(t, 8) / 8.0), 2.5))], PerEpoch(s, 12));
    }

    [Fact]
    public void PolynomialDefaultsToTheWholeRun()
    {
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Polynomial }, Optimizer(Base), 5);
        Close([.. Enumerable.Range(0, 5).Select(t => Base * (1 - (t / 5.0)))], PerEpoch(s, 5));
    }

    [Fact]
    public void ReduceOnPlateauHonoursPatienceCooldownAndRelativeThreshold()
    {
        var spec = new LrScheduleSpec { Type = LrScheduleTypes.ReduceOnPlateau, Patience = 1, Cooldown = 1, Factor = 0.5, Threshold = 0.1 };
        var s = Create(spec, Optimizer(1.0), 20);
        double[] losses = [1.0, 0.95, 0.8, 0.79, 0.78, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6];
        // Worked by hand with PyTorch's rule: better means loss < best * (1 - threshold); reduce when bad epochs > patience,
        // then ignore cooldown epochs. 0.95 is not 10% better than 1.0; 0.79, 0.78 not better than 0.8 -> reduce after 0.78.
        double[] after = [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125];
        for (var e = 0; e < losses.Length; e++)
        {
            s.StepEpoch(new Dictionary<string, double> { ["loss"] = losses[e], ["accuracy"] = 0.1 });
            Close(after[e], s.LearningRate, $"after epoch {e}");
        }
    }

    [Fact]
    public void ReduceOnPlateauMaximisesOtherMetricsAndStopsAtMinimum()
    {
        var spec = new LrScheduleSpec { Type = LrScheduleTypes.ReduceOnPlateau, Patience = 0, Factor = 0.1, Monitor = "accuracy", MinLearningRate = 0.005 };
        var s = Create(spec, Optimizer(1.0), 20);
        s.StepEpoch(new Dictionary<string, double> { ["accuracy"] = 0.5 });
        Close(1.0, s.LearningRate, "first value is the best so far");
        s.StepEpoch(new Dictionary<string, double> { ["accuracy"] = 0.6 });
        Close(1.0, s.LearningRate, "higher accuracy is an improvement");
        s.StepEpoch(new Dictionary<string, double> { ["accuracy"] = 0.55 });
        Close(0.1, s.LearningRate, "lower accuracy with patience 0 reduces");
        s.StepEpoch(null);
        Close(0.1, s.LearningRate, "an epoch without validation changes nothing");
        s.StepEpoch(new Dictionary<string, double> { ["accuracy"] = 0.55 });
        s.StepEpoch(new Dictionary<string, double> { ["accuracy"] = 0.55 });
        s.StepEpoch(new Dictionary<string, double> { ["accuracy"] = 0.55 });
        Close(0.005, s.LearningRate, "floored at minLearningRate");
        var e = Assert.Throws<InvalidOperationException>(() => s.StepEpoch(new Dictionary<string, double> { ["loss"] = 1 }));
        Assert.Contains("accuracy", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WarmupRampsLinearlyThenRunsTheScheduleFromItsStart()
    {
        const double start = 0.1;
        var spec = new LrScheduleSpec { Type = LrScheduleTypes.Cosine, Warmup = new WarmupSpec { Steps = 3, StartFactor = start } };
        var s = Create(spec, Optimizer(Base), 10);
        var lrs = PerEpoch(s, 10);
        // LinearLR: base (start + (1 - start) t / W) for t < W; then cosine restarted at t - W over the remaining 7 epochs.
        var expected = Enumerable.Range(0, 10).Select(t => t < 3
            ? Base * (start + ((1 - start) * t / 3.0))
            : Base * (1 + Math.Cos(Math.PI * (t - 3) / 7.0)) / 2).ToArray();
        Close(expected, lrs);
    }

    [Fact]
    public void WarmupCountsStepsWhenTheIntervalIsStep()
    {
        var spec = new LrScheduleSpec { Type = LrScheduleTypes.Constant, Interval = ScheduleIntervals.Step, Warmup = new WarmupSpec { Steps = 5, StartFactor = 0.2 } };
        var s = Create(spec, Optimizer(Base), 2, 4);
        Close([.. Enumerable.Range(0, 8).Select(t => Base * (t < 5 ? 0.2 + (0.8 * t / 5.0) : 1.0))], PerStep(s, 2, 4));
    }

    [Fact]
    public void WarmupBeforeReduceOnPlateauIgnoresMetricsDuringWarmup()
    {
        var spec = new LrScheduleSpec
        {
            Type = LrScheduleTypes.ReduceOnPlateau, Patience = 0, Factor = 0.5, Warmup = new WarmupSpec { Steps = 2, StartFactor = 0.5 },
        };
        var s = Create(spec, Optimizer(1.0), 10);
        var lrs = PerEpoch(s, 5, e => new Dictionary<string, double> { ["loss"] = 1.0 });
        // Warm-up epochs 0, 1 at 0.5 and 0.75; then 1.0; the flat loss is first seen after epoch 2 (best), reduces after epoch 3.
        Close([0.5, 0.75, 1.0, 1.0, 0.5], lrs);
    }

    [Fact]
    public void EverySchedulesScalesEachParamGroupFromItsOwnRate()
    {
        var optimizer = Optimizer(Base, Base / 4);
        var s = Create(new LrScheduleSpec { Type = LrScheduleTypes.Step, StepSize = 1, Gamma = 0.5 }, optimizer, 5);
        s.StepEpoch(null);
        s.StepEpoch(null);
        Close(Base / 4, optimizer.ParamGroups.First().LearningRate, "group 0");
        Close(Base / 16, optimizer.ParamGroups.ElementAt(1).LearningRate, "group 1");
    }

    [Fact]
    public void EpochSchedulesIgnoreBatchesAndBatchSchedulesIgnoreEpochs()
    {
        var epochly = Create(new LrScheduleSpec { Type = LrScheduleTypes.Exponential, Gamma = 0.5 }, Optimizer(Base), 5, 10);
        epochly.StepBatch();
        epochly.StepBatch();
        Close(Base, epochly.LearningRate, "epoch interval after batches");
        var cyclic = Create(new LrScheduleSpec { Type = LrScheduleTypes.Cyclic, MaxLearningRate = 1, StepSizeUp = 2 }, Optimizer(Base), 5, 10);
        cyclic.StepEpoch(null);
        Close(Base, cyclic.LearningRate, "cyclic after an epoch end");
    }

    [Theory]
    [InlineData(LrScheduleTypes.Step, "stepSize")]
    [InlineData(LrScheduleTypes.MultiStep, "milestones")]
    [InlineData(LrScheduleTypes.Exponential, "gamma")]
    [InlineData(LrScheduleTypes.CosineWarmRestarts, "t0")]
    [InlineData(LrScheduleTypes.Cyclic, "maxLearningRate")]
    [InlineData(LrScheduleTypes.OneCycle, "maxLearningRate")]
    [InlineData("Sawtooth", "type")]
    public void MissingParametersAreNamed(string type, string field)
    {
        var e = Assert.Throws<ArgumentException>(() => Create(new LrScheduleSpec { Type = type }, Optimizer(Base), 5));
        Assert.Contains(field, e.Message, StringComparison.Ordinal);
    }
}
