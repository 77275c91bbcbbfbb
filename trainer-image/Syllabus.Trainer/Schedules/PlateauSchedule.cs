using System.Text.Json.Nodes;
using Syllabus.Api;
using static TorchSharp.torch.optim;
using static TorchSharp.torch.optim.lr_scheduler;

namespace Syllabus.Trainer.Schedules;

/// <summary>
/// ReduceOnPlateau on TorchSharp's ReduceLROnPlateau (threshold mode 'rel', as PyTorch's default), optionally after a
/// LinearLR warm-up; it looks at the monitored validation metric once per validated epoch after the warm-up.
/// Its mode (min or max) is the metric's <see cref="MetricDirection"/>. The scheduler keeps best/patience counters private,
/// so state is the warm-up step count plus the metric history, replayed on resume.
/// </summary>
internal sealed class PlateauSchedule : ILearningRateSchedule
{
    private readonly LrScheduleSpec _spec;
    private readonly Optimizer _optimizer;
    private readonly bool _warmupPerBatch;
    private readonly int _warmup;
    private readonly List<double> _metrics = [];
    private LRScheduler _plateau = null!;
    private LRScheduler? _linear;
    private long _warmupSteps;

    public PlateauSchedule(LrScheduleSpec spec, Optimizer optimizer, bool warmupPerBatch)
    {
        if (spec.Patience is < 0 || spec.Cooldown < 0 || spec.Factor is <= 0 or >= 1 || spec.Threshold < 0)
        {
            throw new ArgumentException(
                $"lrSchedule: ReduceOnPlateau needs patience >= 0, cooldown >= 0, 0 < factor < 1 and threshold >= 0 (got {spec.Patience}, {spec.Cooldown}, {spec.Factor}, {spec.Threshold})");
        }

        if (string.IsNullOrWhiteSpace(spec.Monitor))
        {
            throw new ArgumentException("lrSchedule.monitor: a validation metric name is required for ReduceOnPlateau");
        }

        if (!MetricDirection.HasDirection(spec.Monitor))
        {
            throw new ArgumentException($"lrSchedule.monitor: '{spec.Monitor}' counts examples and neither improves nor worsens; monitor a quality metric");
        }

        _spec = spec;
        _optimizer = optimizer;
        _warmupPerBatch = warmupPerBatch;
        _warmup = spec.Warmup?.Steps ?? 0;
        Reset();
    }

    public double LearningRate => _optimizer.ParamGroups.First().LearningRate;

    public void StepBatch()
    {
        if (_warmupPerBatch)
        {
            StepWarmup();
        }
    }

    public void StepEpoch(IReadOnlyDictionary<string, double>? validationMetrics)
    {
        if (!_warmupPerBatch && _warmupSteps < _warmup)
        {
            StepWarmup();
            return;
        }

        if (_warmupSteps < _warmup || validationMetrics is null)
        {
            return;
        }

        if (!validationMetrics.TryGetValue(_spec.Monitor, out var value))
        {
            throw new InvalidOperationException(
                $"lrSchedule.monitor: validation produced no metric '{_spec.Monitor}' (it has {string.Join(", ", validationMetrics.Keys.Order(StringComparer.Ordinal))})");
        }

        _plateau.step(value);
        _metrics.Add(value);
    }

    public JsonObject SaveState() => new()
    {
        ["type"] = LrScheduleTypes.ReduceOnPlateau,
        ["warmupSteps"] = _warmupSteps,
        ["metrics"] = new JsonArray([.. _metrics.Select(m => JsonValue.Create(m))]),
        ["learningRates"] = new JsonArray([.. _optimizer.ParamGroups.Select(g => JsonValue.Create(g.LearningRate))]),
    };

    public void LoadState(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        ScheduleState.ExpectType(state, LrScheduleTypes.ReduceOnPlateau);
        var warmupSteps = ScheduleState.Long(state, "warmupSteps");
        var metrics = state["metrics"] as JsonArray ?? throw new InvalidDataException("schedule state: 'metrics' missing");
        Reset();
        for (var i = 0L; i < warmupSteps; i++)
        {
            StepWarmup();
        }

        foreach (var m in metrics)
        {
            var value = m!.GetValue<double>();
            _plateau.step(value);
            _metrics.Add(value);
        }

        ScheduleState.CheckLearningRates(state, _optimizer);
    }

    private void StepWarmup()
    {
        // LinearLR leaves the rate alone once past its total_iters, so extra steps are harmless.
        _linear?.step();
        _warmupSteps++;
    }

    private void Reset()
    {
        foreach (var group in _optimizer.ParamGroups)
        {
            group.LearningRate = group.InitialLearningRate;
        }

        _linear = _spec.Warmup is { } w ? LinearLR(_optimizer, w.StartFactor, 1.0, w.Steps) : null;
        _plateau = ReduceLROnPlateau(_optimizer, MetricDirection.IsMinimised(_spec.Monitor) ? "min" : "max", _spec.Factor, _spec.Patience ?? 10,
            _spec.Threshold, "rel", _spec.Cooldown, [_spec.MinLearningRate], 1e-8);
        _warmupSteps = 0;
        _metrics.Clear();
    }
}
