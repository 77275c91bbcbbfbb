using System.Globalization;
using Spectre.Console;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Reporting;

/// <summary>One plain line per epoch, for logs (stdout not a terminal, or --no-progress).</summary>
public sealed class LogProgressCallback(TextWriter output) : ITrainerCallback
{
    public void OnTrainBegin(TrainerState state, TrainerControl control)
    {
        ArgumentNullException.ThrowIfNull(state);
        output.WriteLine(state.ResumedFromEpoch is { } epoch
            ? string.Create(CultureInfo.InvariantCulture, $"resumed from the checkpoint after epoch {epoch}; {state.TotalEpochs - epoch} epochs to go")
            : string.Create(CultureInfo.InvariantCulture, $"training for {state.TotalEpochs} epochs"));
    }

    public void OnEpochEnd(TrainerState state, TrainerControl control, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(record);
        output.WriteLine(EpochLine(state, record));
    }

    public void OnSave(TrainerState state, TrainerControl control, string checkpointFolder) =>
        output.WriteLine($"checkpoint {checkpointFolder}");

    public void OnTrainEnd(TrainerState state, TrainerControl control)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.StoppedEarly)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"early stopping after epoch {state.Epoch}; best epoch {state.BestEpoch}"));
        }
    }

    internal static string EpochLine(TrainerState state, EpochRecord record)
    {
        var validation = string.Join(" ", record.Validation
            .Where(kv => kv.Key is "loss" or "accuracy" or "macroF1")
            .Select(kv => string.Create(CultureInfo.InvariantCulture, $"val_{kv.Key} {kv.Value:F4}")));
        return string.Create(CultureInfo.InvariantCulture,
            $"epoch {record.Epoch}/{state.TotalEpochs} stage {record.Stage} data {record.DataFraction:P0} ({record.Examples} ex) loss {record.TrainLoss:F4} acc {record.TrainAccuracy:F4} {validation} lr {record.LearningRate:G4} {record.SamplesPerSecond:F0} samples/s {record.Seconds:F1}s");
    }
}

/// <summary>A live progress bar (stdout is a terminal); epoch summaries are printed above it.</summary>
public sealed class BarProgressCallback(ProgressTask task, IAnsiConsole console) : ITrainerCallback
{
    public void OnTrainBegin(TrainerState state, TrainerControl control)
    {
        ArgumentNullException.ThrowIfNull(state);
        task.MaxValue = state.TotalEpochs;
        task.Value = state.Epoch;
    }

    public void OnEpochBegin(TrainerState state, TrainerControl control, CurriculumEpoch epoch)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(epoch);
        task.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"epoch {state.Epoch + 1}/{state.TotalEpochs} [{epoch.Stage}]"));
    }

    public void OnStepEnd(TrainerState state, TrainerControl control, in StepInfo step) =>
        task.Value = step.Epoch - 1 + ((double)step.BatchInEpoch / step.BatchesInEpoch);

    public void OnEpochEnd(TrainerState state, TrainerControl control, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(state);
        task.Value = state.Epoch;
        console.MarkupLine(Markup.Escape(LogProgressCallback.EpochLine(state, record)));
    }
}
