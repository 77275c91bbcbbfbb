using System.Text.Json.Nodes;

namespace Syllabus.Trainer.Schedules;

/// <summary>Drives the optimizer's learning rates through a run; the loop calls the two Step methods at fixed points.</summary>
public interface ILearningRateSchedule
{
    /// <summary>The first parameter group's learning rate now.</summary>
    double LearningRate { get; }

    /// <summary>Call after each <c>optimizer.step()</c>.</summary>
    void StepBatch();

    /// <summary>Call after each epoch's validation; <c>null</c> when the epoch was not validated.</summary>
    void StepEpoch(IReadOnlyDictionary<string, double>? validationMetrics);

    /// <summary>Everything needed to continue the same learning-rate curve after a restart.</summary>
    JsonObject SaveState();

    /// <summary>Restores a state from <see cref="SaveState"/> of a schedule built from the same spec.</summary>
    void LoadState(JsonObject state);
}
