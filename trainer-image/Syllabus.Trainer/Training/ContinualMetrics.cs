using System.Text.Json.Serialization;
using Syllabus.Api;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Reporting;

namespace Syllabus.Trainer.Training;

/// <summary>
/// The report's continual-learning section: every task the model has learnt, in order (the base model's chain, then
/// this run's own task), with its accuracy right after it was learnt and, for the tasks measured now, its accuracy
/// now. Forgetting and backward transfer follow Avalanche: forgetting on task i = accuracy right after learning i −
/// accuracy now; BWT = mean over the earlier tasks measured of (accuracy now − accuracy right after learning).
/// </summary>
public sealed class ContinualReport
{
    /// <summary>Metric names, also in the metrics map (and so in gates and the termination summary).</summary>
    public const string ForgettingMetric = MetricDirection.Forgetting;

    public const string BackwardTransferMetric = "backwardTransfer";

    [JsonPropertyName("tasks")]
    public IReadOnlyList<TaskAccuracy> Tasks { get; init; } = [];

    /// <summary>Mean forgetting over the earlier tasks measured now; null when none was.</summary>
    [JsonPropertyName("forgetting")]
    public double? Forgetting { get; init; }

    /// <summary>Mean (accuracy now − accuracy right after learning) over the earlier tasks measured now: −forgetting.</summary>
    [JsonPropertyName("backwardTransfer")]
    public double? BackwardTransfer { get; init; }

    /// <summary>
    /// The section for a run: <paramref name="chain"/> (the base model's tasks, oldest first) with the accuracies
    /// measured now by task name, then this run's own task, whose accuracy right after learning is its accuracy now.
    /// </summary>
    public static ContinualReport Build(IReadOnlyList<TaskAccuracy> chain, IReadOnlyDictionary<string, double> measuredNow, TaskAccuracy? own)
    {
        ArgumentNullException.ThrowIfNull(chain);
        ArgumentNullException.ThrowIfNull(measuredNow);
        var tasks = new List<TaskAccuracy>();
        foreach (var task in chain)
        {
            var now = measuredNow.TryGetValue(task.Name, out var value) ? value : (double?)null;
            tasks.Add(new TaskAccuracy
            {
                Name = task.Name,
                TestData = task.TestData,
                AccuracyAfterLearning = task.AccuracyAfterLearning,
                Accuracy = now,
                Forgetting = now is { } n ? task.AccuracyAfterLearning - n : null,
            });
        }

        var measured = tasks.Where(t => t.Forgetting is not null).ToList();
        if (own is not null)
        {
            tasks.Add(own);
        }

        double? forgetting = measured.Count == 0 ? null : measured.Average(t => t.Forgetting!.Value);
        return new ContinualReport { Tasks = tasks, Forgetting = forgetting, BackwardTransfer = forgetting is { } f ? -f : null };
    }

    /// <summary>
    /// The tasks a base model has learnt, from its report: its continual section when it has one, otherwise its own
    /// task alone (its run, test set fingerprint and test accuracy). Null when it was evaluated on no named test set.
    /// </summary>
    public static IReadOnlyList<TaskAccuracy>? ChainOf(TrainingReport baseReport)
    {
        ArgumentNullException.ThrowIfNull(baseReport);
        if (baseReport.Continual is { Tasks.Count: > 0 } continual)
        {
            return continual.Tasks;
        }

        return OwnTask(baseReport.Run, baseReport.TestData, baseReport.Metrics?.GetValueOrDefault(Evaluation.MetricNames.Accuracy)) is { } own ? [own] : null;
    }

    /// <summary>A run's own task: accuracy right after learning it is its test accuracy now. Null without a named test set.</summary>
    public static TaskAccuracy? OwnTask(string run, string? testData, double? accuracy) =>
        testData is null || accuracy is not { } a ? null : new TaskAccuracy { Name = run, TestData = testData, AccuracyAfterLearning = a, Accuracy = a };

    /// <summary>
    /// The base model's chain read from <paramref name="baseReportPath"/>, after checking that it names every task of
    /// <paramref name="previous"/> once and that each test set is the one the task was measured on (its fingerprint).
    /// Cheap (a report and file hashes), so a run checks it before training as well as when it measures.
    /// </summary>
    /// <exception cref="ArgumentException">A base report that cannot give a chain, a task the chain does not name or
    /// names twice, or a test set that is not the one the task was measured on.</exception>
    public static IReadOnlyList<TaskAccuracy> CheckPreviousTasks(IReadOnlyList<PreviousTask> previous, string baseReportPath, string baseDirectory)
    {
        ArgumentNullException.ThrowIfNull(previous);
        if (!File.Exists(baseReportPath))
        {
            throw new ArgumentException($"continual.previousTasks: the base model's report {baseReportPath} does not exist; the accuracies right after learning the earlier tasks come from it");
        }

        TrainingReport baseReport;
        try
        {
            baseReport = TrainingReport.Load(baseReportPath);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ArgumentException($"continual.previousTasks: the base model's report {baseReportPath} is not a valid report: {e.Message}", e);
        }

        var chain = ChainOf(baseReport)
            ?? throw new ArgumentException($"continual.previousTasks: the base model's report {baseReportPath} has no test accuracy on a named test set (data.test), so there is no accuracy right after learning to compare with");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < previous.Count; i++)
        {
            var task = previous[i];
            var field = $"continual.previousTasks[{i}]";
            var known = chain.FirstOrDefault(t => t.Name == task.Name)
                ?? throw new ArgumentException($"{field}.name: '{task.Name}' is not a task of the base model (its tasks: {string.Join(", ", chain.Select(t => t.Name))})");
            if (!seen.Add(task.Name))
            {
                throw new ArgumentException($"{field}.name: '{task.Name}' is listed twice");
            }

            var fingerprint = DataLoader.FilesFingerprint(DataLoader.ResolveFiles(task.Test, baseDirectory));
            if (fingerprint != known.TestData)
            {
                throw new ArgumentException(
                    $"{field}.test: {task.Test.Uri} is not the test set task '{task.Name}' was measured on right after learning (fingerprint {fingerprint}, the report's {known.TestData})");
            }
        }

        return chain;
    }

    /// <summary>
    /// Measures <paramref name="model"/> on each of <paramref name="previous"/>'s test sets (encoded with the model's
    /// schema) against the base model's chain read from <paramref name="baseReportPath"/> (<see cref="CheckPreviousTasks"/>).
    /// </summary>
    /// <exception cref="ArgumentException">What <see cref="CheckPreviousTasks"/> refuses, or a test set without a label on every row.</exception>
    public static (IReadOnlyList<TaskAccuracy> Chain, Dictionary<string, double> Measured) Measure(
        IReadOnlyList<PreviousTask> previous, string baseReportPath, ModelBundle model, DataSpec dataSpec, string baseDirectory, DataLoadReport loadReport)
    {
        ArgumentNullException.ThrowIfNull(model);
        var chain = CheckPreviousTasks(previous, baseReportPath, baseDirectory);
        var measured = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < previous.Count; i++)
        {
            var task = previous[i];
            var test = DataLoader.LoadWithSchema(task.Test, dataSpec, model.Schema, baseDirectory, loadReport);
            if (test.Count == 0 || test.Labels.Any(l => l < 0))
            {
                throw new ArgumentException($"continual.previousTasks[{i}].test: {task.Test.Uri} needs a label on every row to measure accuracy");
            }

            measured[task.Name] = model.Evaluate(test).Accuracy;
        }

        return (chain, measured);
    }
}

/// <summary>One task of the chain: its test set, accuracy right after it was learnt, and now.</summary>
public sealed class TaskAccuracy
{
    /// <summary>The TrainingRun that learnt the task.</summary>
    [JsonPropertyName("name")]
    public string Name { get; init; } = "";

    /// <summary>Fingerprint of the task's test set (the files the accuracies were measured on).</summary>
    [JsonPropertyName("testData")]
    public string TestData { get; init; } = "";

    [JsonPropertyName("accuracyAfterLearning")]
    public double AccuracyAfterLearning { get; init; }

    /// <summary>Accuracy of this run's model; null for an earlier task not measured now.</summary>
    [JsonPropertyName("accuracy")]
    public double? Accuracy { get; init; }

    /// <summary>AccuracyAfterLearning − Accuracy (positive: forgotten); null when not measured now.</summary>
    [JsonPropertyName("forgetting")]
    public double? Forgetting { get; init; }
}
