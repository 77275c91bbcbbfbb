using System.Text.Json.Nodes;
using static TorchSharp.torch.optim;
using static TorchSharp.torch.optim.lr_scheduler;

namespace Syllabus.Trainer.Schedules;

/// <summary>
/// A TorchSharp scheduler stepped once per batch or once per epoch. TorchSharp schedulers have no state_dict and most
/// update the learning rate recursively, so a resume rebuilds the scheduler from the initial rates and replays the
/// recorded number of steps: the same arithmetic, so the same curve.
/// </summary>
internal sealed class TorchSharpSchedule : ILearningRateSchedule
{
    private readonly string _type;
    private readonly Optimizer _optimizer;
    private readonly bool _perBatch;
    private readonly Func<LRScheduler>? _build;
    private readonly Func<long, double>? _momentumAt;
    private LRScheduler? _scheduler;
    private long _steps;

    /// <param name="momentumAt">The momentum (SGD) or beta1 (Adam) after t steps, or null to leave it alone.</param>
    public TorchSharpSchedule(string type, Optimizer optimizer, bool perBatch, Func<LRScheduler>? build, Func<long, double>? momentumAt = null)
    {
        _type = type;
        _optimizer = optimizer;
        _perBatch = perBatch;
        _build = build;
        _momentumAt = momentumAt;
        Reset();
    }

    /// <summary>The first parameter group's momentum or beta1 now (null for optimizers without either).</summary>
    public double? Momentum => _optimizer.ParamGroups.First() switch
    {
        IMomentum m => m.Momentum,
        IBetas b => b.Betas.Item1,
        _ => null,
    };

    public double LearningRate => _optimizer.ParamGroups.First().LearningRate;

    public void StepBatch()
    {
        if (_perBatch)
        {
            Advance();
        }
    }

    public void StepEpoch(IReadOnlyDictionary<string, double>? validationMetrics)
    {
        if (!_perBatch)
        {
            Advance();
        }
    }

    public JsonObject SaveState() => new()
    {
        ["type"] = _type,
        ["interval"] = _perBatch ? "Step" : "Epoch",
        ["steps"] = _steps,
        ["learningRates"] = new JsonArray([.. _optimizer.ParamGroups.Select(g => JsonValue.Create(g.LearningRate))]),
    };

    public void LoadState(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        ScheduleState.ExpectType(state, _type);
        var steps = ScheduleState.Long(state, "steps");
        Reset();
        for (var i = 0L; i < steps; i++)
        {
            Advance();
        }

        ScheduleState.CheckLearningRates(state, _optimizer);
    }

    private void Advance()
    {
        _scheduler?.step();
        _steps++;
        SetMomentum();
    }

    private void SetMomentum()
    {
        if (_momentumAt is null)
        {
            return;
        }

        var momentum = _momentumAt(_steps);
        foreach (var group in _optimizer.ParamGroups)
        {
            switch (group)
            {
                case IMomentum m:
                    m.Momentum = momentum;
                    break;
                case IBetas b:
                    b.Betas = (momentum, b.Betas.Item2);
                    break;
            }
        }
    }

    private void Reset()
    {
        foreach (var group in _optimizer.ParamGroups)
        {
            group.LearningRate = group.InitialLearningRate;
        }

        _scheduler = _build?.Invoke();
        _steps = 0;
        SetMomentum();
    }
}
