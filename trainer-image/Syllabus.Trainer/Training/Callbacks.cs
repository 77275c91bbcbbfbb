using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Cli;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>A monitored validation metric (its direction is <see cref="MetricDirection"/>'s).</summary>
public static class MonitoredMetric
{
    /// <summary>Rejects a metric that has no direction (support/&lt;class&gt; counts examples).</summary>
    public static void RequireDirection(string metric, string field)
    {
        ArgumentNullException.ThrowIfNull(metric);
        if (!MetricDirection.HasDirection(metric))
        {
            throw new InputException($"{field}: '{metric}' counts examples and neither improves nor worsens; monitor a quality metric (loss, accuracy, macroF1, ...)");
        }
    }

    public static double Value(IReadOnlyDictionary<string, double> metrics, string metric, string field)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        if (!metrics.TryGetValue(metric, out var value))
        {
            // A misspelt metric is bad input (exit 2), found once the first validation ran.
            throw new InputException($"{field}: '{metric}' is not a validation metric (available: {string.Join(", ", metrics.Keys.Order(StringComparer.Ordinal))})");
        }

        return value;
    }
}

/// <summary>
/// Stops when the monitored validation metric has not improved by minDelta for patience epochs, and keeps the
/// best weights so the final model is the best one (Keras' restore_best_weights).
/// </summary>
public sealed class EarlyStoppingCallback : ITrainerCallback, IDisposable
{
    private readonly EarlyStoppingSpec spec;
    private readonly nn.Module<Tensor, Tensor> model;
    private Dictionary<string, Tensor>? _best;

    public EarlyStoppingCallback(EarlyStoppingSpec spec, nn.Module<Tensor, Tensor> model)
    {
        ArgumentNullException.ThrowIfNull(spec);
        MonitoredMetric.RequireDirection(spec.Monitor, "earlyStopping.monitor");
        this.spec = spec;
        this.model = model;
    }

    /// <summary>The best epoch's weights, if any epoch was evaluated in this process (or restored).</summary>
    public IReadOnlyDictionary<string, Tensor>? BestWeights => _best;

    public void OnEpochEnd(TrainerState state, TrainerControl control, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(control);
        ArgumentNullException.ThrowIfNull(record);
        if (record.Validation.Count == 0)
        {
            return;
        }

        var value = MonitoredMetric.Value(record.Validation, spec.Monitor, "earlyStopping.monitor");
        var improved = state.BestMetric is not { } best || MetricDirection.Improves(spec.Monitor, value, best, spec.MinDelta);
        if (improved)
        {
            state.BestMetric = value;
            state.BestEpoch = record.Epoch;
            state.EpochsWithoutImprovement = 0;
            Snapshot();
        }
        else if (++state.EpochsWithoutImprovement >= spec.Patience)
        {
            state.StoppedEarly = true;
            control.ShouldStop = true;
        }
    }

    public void OnTrainEnd(TrainerState state, TrainerControl control)
    {
        if (_best is null)
        {
            return;
        }

        using var noGrad = no_grad();
        foreach (var (name, target) in model.state_dict())
        {
            if (_best.TryGetValue(name, out var source))
            {
                target.copy_(source);
            }
        }
    }

    /// <summary>Restores the best weights saved with a checkpoint.</summary>
    public void Restore(string bestWeightsPath)
    {
        if (!File.Exists(bestWeightsPath))
        {
            return;
        }

        Dispose();
        _best = SafeTensors.Load(bestWeightsPath, out _);
    }

    private void Snapshot()
    {
        Dispose();
        _best = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    public void Dispose()
    {
        if (_best is null)
        {
            return;
        }

        foreach (var t in _best.Values)
        {
            t.Dispose();
        }

        _best = null;
    }
}

/// <summary>Asks for a checkpoint every <c>everyEpochs</c> epochs and after the last one.</summary>
public sealed class CheckpointCallback(CheckpointSpec spec) : ITrainerCallback
{
    public void OnEpochEnd(TrainerState state, TrainerControl control, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(control);
        if (state.Epoch % spec.EveryEpochs == 0 || state.Epoch == state.TotalEpochs || control.ShouldStop)
        {
            control.ShouldSave = true;
        }
    }
}
