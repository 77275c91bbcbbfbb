using Syllabus.Api;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Reporting;

/// <summary>
/// Builds and writes the container's termination message, a <see cref="TrainerSummary"/> (the operator's contract),
/// so the operator learns the outcome even when it cannot read the artifact store.
/// </summary>
public static class TerminationMessage
{
    public const int MaxBytes = TrainerSummary.MaxBytes;
    public const string DefaultPath = "/dev/termination-log";

    private static readonly string[] Headline = ["accuracy", "macroF1", "weightedF1", "ece", "loss", ContinualReport.ForgettingMetric, ContinualReport.BackwardTransferMetric];

    /// <summary>The summary from a report: the headline metrics and the failed gates.</summary>
    public static TrainerSummary FromReport(TrainingReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return new TrainerSummary
        {
            Phase = report.Phase,
            Message = report.Error,
            ModelUri = report.ModelUri,
            ReportUri = report.ReportUri,
            ProfileUri = report.ProfileUri,
            Epochs = report.EpochsTrained,
            TestData = report.TestData,
            Metrics = report.Metrics?.Where(m => Headline.Contains(m.Key)).ToDictionary(m => m.Key, m => m.Value),
            GatesPassed = report.Gates.Count(g => g.Passed),
            GatesFailed = report.Gates.Where(g => !g.Passed).Select(g => TrainerSummary.GateKey(g.Metric, g.Slice)).ToList() is { Count: > 0 } failed ? failed : null,
            GateValues = report.Gates.Where(g => g.Value is { } v && double.IsFinite(v))
                .GroupBy(g => TrainerSummary.GateKey(g.Metric, g.Slice))
                .ToDictionary(g => g.Key, g => g.First().Value!.Value) is { Count: > 0 } values ? values : null,
        };
    }

    /// <summary>
    /// Writes <paramref name="summary"/> to <paramref name="path"/>, or, when none is given, to /dev/termination-log if
    /// it exists and is writable.
    /// </summary>
    /// <returns>The path written, or null when skipped.</returns>
    public static string? Write(this TrainerSummary summary, string? path)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var target = path;
        if (target is null)
        {
            if (!File.Exists(DefaultPath))
            {
                return null;
            }

            target = DefaultPath;
        }

        try
        {
            File.WriteAllText(target, summary.ToJson());
            return target;
        }
        catch (Exception e) when (path is null && e is UnauthorizedAccessException or IOException)
        {
            return null;
        }
    }
}
