using Syllabus.Api;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Training;

/// <summary>Checks made once the data is loaded and before any training, so a run never quietly does less than its spec says.</summary>
public static class RunPreconditions
{
    /// <summary>
    /// Rejects an empty validation split when something needs validation metrics: reduce-on-plateau, early stopping,
    /// curriculum stages that advance on a metric, or gates judged on the validation split (no data.test).
    /// Without the check these would silently never act (or judge the gates on nothing).
    /// </summary>
    /// <exception cref="InputException">The validation split is empty and something needs it.</exception>
    public static void RequireValidationWhereUsed(TrainingRunSpec spec, LoadedData data)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Validation.Count > 0)
        {
            return;
        }

        var users = new List<string>();
        if (spec.LrSchedule?.Type == LrScheduleTypes.ReduceOnPlateau)
        {
            users.Add($"lrSchedule ReduceOnPlateau (monitor '{spec.LrSchedule.Monitor}')");
        }

        if (spec.EarlyStopping is { } stopping)
        {
            users.Add($"earlyStopping (monitor '{stopping.Monitor}')");
        }

        foreach (var stage in spec.Curriculum?.Stages ?? [])
        {
            if (stage.AdvanceWhen is { } gate)
            {
                users.Add($"curriculum stage '{stage.Name}' advanceWhen '{TrainerSummary.GateKey(gate.Metric, gate.Slice)}'");
            }
        }

        if (spec.Gates is { Count: > 0 } && data.Test is null)
        {
            users.Add("gates (without data.test they are judged on the validation split)");
        }

        if (users.Count == 0)
        {
            return;
        }

        var source = spec.Data.Validation is { } validation
            ? $"data.validation ({validation.Uri}) has no usable rows"
            : $"holding out data.validationFraction {spec.Data.ValidationFraction ?? DataLoader.DefaultValidationFraction} of {data.Train.Count} training row(s) leaves no validation rows";
        throw new InputException($"the validation split is empty: {source}; these need validation metrics: {string.Join("; ", users)}. Give data.validation, more training rows or a larger validationFraction.");
    }
}
