using Syllabus.Api;
using static TorchSharp.torch.optim;
using static TorchSharp.torch.optim.lr_scheduler;

namespace Syllabus.Trainer.Schedules;

/// <summary>Builds the learning-rate schedule a <see cref="LrScheduleSpec"/> describes on TorchSharp's schedulers.</summary>
public static class LearningRateScheduleFactory
{
    /// <summary>
    /// Drives <paramref name="optimizer"/>'s param groups; each keeps its own initial learning rate, so a transfer-learning
    /// group with a lower rate scales along (Cyclic and OneCycle peaks keep each group's ratio to the first group).
    /// Interval lengths (tMax, totalIters, warm-up) count epochs or optimisation steps as <c>spec.interval</c> says;
    /// Cyclic and OneCycle always count steps, ReduceOnPlateau epochs.
    /// </summary>
    public static ILearningRateSchedule Create(LrScheduleSpec spec, Optimizer optimizer, int epochs, int stepsPerEpoch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stepsPerEpoch, 1);
        return Create(spec, optimizer, epochs, Enumerable.Repeat(stepsPerEpoch, epochs).ToArray());
    }

    /// <param name="spec">The schedule.</param>
    /// <param name="optimizer">The optimizer whose learning rates (and, for Cyclic and OneCycle, momentum or beta1) it drives.</param>
    /// <param name="epochs">Epochs of the run.</param>
    /// <param name="batchesPerEpoch">
    /// The optimisation steps each epoch takes (<see cref="Training.StepPlan"/>: a curriculum trains on fewer examples
    /// early on), so schedules sized by the run (OneCycle; Cosine and Polynomial without tMax/totalIters, by step) end
    /// where the run ends. Null when the count is unknown before the run (stages that advance on a metric); those
    /// schedules are then rejected.
    /// </param>
    public static ILearningRateSchedule Create(LrScheduleSpec spec, Optimizer optimizer, int epochs, IReadOnlyList<int>? batchesPerEpoch)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(epochs, 1);
        var initial = optimizer.ParamGroups.Select(g => g.InitialLearningRate).ToArray();
        if (initial.Length == 0)
        {
            throw new ArgumentException("the optimizer has no parameter groups", nameof(optimizer));
        }

        var perBatch = spec.Type is LrScheduleTypes.Cyclic or LrScheduleTypes.OneCycle
            || (spec.Type != LrScheduleTypes.ReduceOnPlateau && spec.Interval == ScheduleIntervals.Step);
        if (spec.Interval is not (ScheduleIntervals.Epoch or ScheduleIntervals.Step))
        {
            throw new ArgumentException($"lrSchedule.interval: '{spec.Interval}' is not Epoch or Step");
        }

        // Warm-up intervals follow spec.interval (for ReduceOnPlateau too, whose own decisions are per epoch).
        var warmupPerBatch = spec.Interval == ScheduleIntervals.Step || spec.Type is LrScheduleTypes.Cyclic or LrScheduleTypes.OneCycle;
        var warmup = spec.Warmup?.Steps ?? 0;
        if (spec.Warmup is { } w)
        {
            if (spec.Type == LrScheduleTypes.OneCycle)
            {
                throw new ArgumentException("lrSchedule.warmup: OneCycle has its own warm-up phase; remove warmup");
            }

            if (w.Steps < 1 || w.StartFactor <= 0 || w.StartFactor > 1)
            {
                throw new ArgumentException($"lrSchedule.warmup: steps must be >= 1 and startFactor in (0, 1], got {w.Steps} and {w.StartFactor}");
            }
        }

        var sizedByRun = spec.Type == LrScheduleTypes.OneCycle
            || (spec.Type == LrScheduleTypes.Cosine && spec.TMax is null)
            || (spec.Type == LrScheduleTypes.Polynomial && spec.TotalIters is null);
        if (perBatch && sizedByRun && batchesPerEpoch is null)
        {
            throw new ArgumentException(
                $"lrSchedule: {spec.Type} by step is sized by the optimisation steps the run takes, which curriculum stages that advance on a metric make unknown before the run; "
                + "use pacing or stages without advanceWhen, interval Epoch, or set tMax/totalIters");
        }

        var runIntervals = perBatch ? Math.Max(1, batchesPerEpoch?.Sum(b => (long)b) ?? 1) : epochs;
        // Defaults span what is left of the run after the warm-up, so the decay ends where the run ends.
        var rest = (int)Math.Clamp(runIntervals - warmup, 1, int.MaxValue);
        var ratio = initial.Select(lr => lr / initial[0]).ToArray();

        if (spec.Type == LrScheduleTypes.ReduceOnPlateau)
        {
            return new PlateauSchedule(spec, optimizer, warmupPerBatch);
        }

        Func<LRScheduler>? main = spec.Type switch
        {
            LrScheduleTypes.Constant => null,
            LrScheduleTypes.Step => () => StepLR(optimizer, Required(spec.StepSize, "stepSize", spec.Type), spec.Gamma ?? 0.1),
            LrScheduleTypes.MultiStep => () => MultiStepLR(optimizer, Milestones(spec), spec.Gamma ?? 0.1),
            LrScheduleTypes.Exponential => () => ExponentialLR(optimizer, Required(spec.Gamma, "gamma", spec.Type)),
            LrScheduleTypes.Cosine => () => CosineAnnealingLR(optimizer, spec.TMax ?? rest, spec.MinLearningRate),
            LrScheduleTypes.CosineWarmRestarts => CosineWarmRestarts(spec, optimizer, initial),
            LrScheduleTypes.Cyclic => Cyclic(spec, optimizer, initial, ratio),
            LrScheduleTypes.OneCycle => OneCycle(spec, optimizer, initial, ratio, (int)Math.Min(runIntervals, int.MaxValue)),
            LrScheduleTypes.Polynomial => Polynomial(spec, optimizer, initial, spec.TotalIters ?? rest),
            _ => throw new ArgumentException($"lrSchedule.type: unknown schedule '{spec.Type}'"),
        };

        Func<LRScheduler>? build = (spec.Warmup, main) switch
        {
            (null, _) => main,
            ({ } wu, null) => () => LinearLR(optimizer, wu.StartFactor, 1.0, wu.Steps),
            // PyTorch's SequentialLR(LinearLR, schedule, milestones=[warm-up]): the schedule restarts from its own t = 0.
            ({ } wu, { } m) => () =>
            {
                var linear = LinearLR(optimizer, wu.StartFactor, 1.0, wu.Steps);
                var after = m();
                return SequentialLR(optimizer, [linear, after], [wu.Steps]);
            },
        };

        return new TorchSharpSchedule(spec.Type, optimizer, perBatch, build, Momentum(spec, optimizer, (int)Math.Min(runIntervals, int.MaxValue), warmup));
    }

    /// <summary>
    /// The momentum (SGD) or beta1 (Adam, AdamW) at each step for Cyclic and OneCycle with cycleMomentum, as
    /// PyTorch's cycle_momentum=True; null for every other schedule. During a Cyclic warm-up PyTorch's SequentialLR
    /// leaves the momentum where the cyclic schedule put it when built: its value at t = 0.
    /// </summary>
    private static Func<long, double>? Momentum(LrScheduleSpec spec, Optimizer optimizer, int totalSteps, int warmup)
    {
        if (!spec.CycleMomentum || spec.Type is not (LrScheduleTypes.Cyclic or LrScheduleTypes.OneCycle))
        {
            return null;
        }

        if (optimizer.ParamGroups.Any(g => g is not (IMomentum or IBetas)))
        {
            throw new ArgumentException("lrSchedule.cycleMomentum: the optimizer has neither momentum nor beta1 to cycle; set cycleMomentum: false");
        }

        if (spec.Type == LrScheduleTypes.OneCycle)
        {
            double low = spec.BaseMomentum ?? 0.85, high = spec.MaxMomentum ?? 0.95;
            return t => ScheduleFormulas.OneCycleMomentum((int)Math.Min(t, int.MaxValue), totalSteps, spec.PctStart, low, high);
        }

        double baseMomentum = spec.BaseMomentum ?? 0.8, maxMomentum = spec.MaxMomentum ?? 0.9;
        var mode = spec.Mode ?? CyclicModes.Triangular;
        var gamma = spec.Gamma ?? 1.0;
        return t => ScheduleFormulas.CyclicMomentum(Math.Max(0, t - warmup), spec.StepSizeUp, mode, gamma, baseMomentum, maxMomentum);
    }

    private static Func<LRScheduler> CosineWarmRestarts(LrScheduleSpec spec, Optimizer optimizer, double[] initial)
    {
        var t0 = Required(spec.T0, "t0", spec.Type);
        if (spec.TMult < 1)
        {
            throw new ArgumentException($"lrSchedule.tMult: must be >= 1, got {spec.TMult}");
        }

        var etaMin = spec.MinLearningRate;
        var lambdas = initial.Select(lr => (Func<int, double>)(t => ScheduleFormulas.CosineWarmRestarts(t, t0, spec.TMult, lr, etaMin) / lr)).ToArray();
        return () => new impl.LambdaLR(optimizer, lambdas);
    }

    private static Func<LRScheduler> Cyclic(LrScheduleSpec spec, Optimizer optimizer, double[] initial, double[] ratio)
    {
        var max = Required(spec.MaxLearningRate, "maxLearningRate", spec.Type);
        if (max <= initial[0])
        {
            throw new ArgumentException($"lrSchedule.maxLearningRate: {max} must exceed the optimizer's learning rate {initial[0]} (the cycle's lower bound)");
        }

        var maxLrs = ratio.Select(r => max * r).ToArray();
        var mode = spec.Mode ?? CyclicModes.Triangular;
        // PyTorch's exp_range scales by gamma^iteration (scale_mode "iterations"); TorchSharp's built-in ExpRange uses
        // gamma^cycle, so pass PyTorch's scale function explicitly. Momentum is cycled by TorchSharpSchedule (see Momentum).
        return mode switch
        {
            CyclicModes.Triangular => () => CyclicLR(optimizer, initial, maxLrs, spec.StepSizeUp, -1,
                impl.CyclicLR.Mode.Triangular, 1.0, null, impl.CyclicLR.ScaleMode.Cycle, false, null, null),
            CyclicModes.Triangular2 => () => CyclicLR(optimizer, initial, maxLrs, spec.StepSizeUp, -1,
                impl.CyclicLR.Mode.Triangular2, 1.0, null, impl.CyclicLR.ScaleMode.Cycle, false, null, null),
            CyclicModes.ExpRange => ExpRange(spec.Gamma ?? 1.0),
            _ => throw new ArgumentException($"lrSchedule.mode: unknown cyclic mode '{mode}' (Triangular, Triangular2, ExpRange)"),
        };

        Func<LRScheduler> ExpRange(double gamma) => () => CyclicLR(optimizer, initial, maxLrs, spec.StepSizeUp, -1,
            impl.CyclicLR.Mode.ExpRange, gamma, x => Math.Pow(gamma, x), impl.CyclicLR.ScaleMode.Iterations, false, null, null);
    }

    private static Func<LRScheduler> OneCycle(LrScheduleSpec spec, Optimizer optimizer, double[] initial, double[] ratio, int totalSteps)
    {
        var max = Required(spec.MaxLearningRate, "maxLearningRate", spec.Type);
        if (spec.PctStart is <= 0 or >= 1)
        {
            throw new ArgumentException($"lrSchedule.pctStart: must be in (0, 1), got {spec.PctStart}");
        }

        // LambdaLR multiplies each group's initial rate, so divide it back out of the absolute one-cycle value.
        var lambdas = initial.Select((lr, i) => (Func<int, double>)(t =>
            ScheduleFormulas.OneCycle(t, totalSteps, spec.PctStart, max * ratio[i], spec.DivFactor, spec.FinalDivFactor) / lr)).ToArray();
        return () => new impl.LambdaLR(optimizer, lambdas);
    }

    private static Func<LRScheduler> Polynomial(LrScheduleSpec spec, Optimizer optimizer, double[] initial, int totalIters)
    {
        if (spec.Power < 0)
        {
            throw new ArgumentException($"lrSchedule.power: must be >= 0, got {spec.Power}");
        }

        var lambdas = initial.Select(lr => (Func<int, double>)(t => ScheduleFormulas.Polynomial(t, totalIters, spec.Power, lr) / lr)).ToArray();
        return () => new impl.LambdaLR(optimizer, lambdas);
    }

    private static List<int> Milestones(LrScheduleSpec spec)
    {
        var milestones = spec.Milestones is { Count: > 0 } m ? m : throw new ArgumentException("lrSchedule.milestones: required for MultiStep");
        for (var i = 0; i < milestones.Count; i++)
        {
            if (milestones[i] < 1 || (i > 0 && milestones[i] <= milestones[i - 1]))
            {
                throw new ArgumentException($"lrSchedule.milestones: must be positive and increasing, got [{string.Join(", ", milestones)}]");
            }
        }

        return [.. milestones];
    }

    private static T Required<T>(T? value, string field, string type)
        where T : struct
        => value ?? throw new ArgumentException($"lrSchedule.{field}: required for {type}");
}
