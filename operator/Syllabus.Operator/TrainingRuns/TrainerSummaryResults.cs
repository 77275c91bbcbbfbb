using Syllabus.Api;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>What the operator makes of the trainer's termination message (<see cref="TrainerSummary"/>).</summary>
public static class TrainerSummaryResults
{
    /// <summary>
    /// status.result: the URIs, metrics and one outcome per gate of the spec. A gate failed when the summary names it
    /// (<c>metric</c> or <c>metric@slice</c>); its value is the summary's gate value, else the headline metric.
    /// </summary>
    public static TrainingResult ToResult(this TrainerSummary summary, IReadOnlyList<Gate>? gates)
    {
        ArgumentNullException.ThrowIfNull(summary);
        var failed = new HashSet<string>(summary.GatesFailed ?? [], StringComparer.Ordinal);
        var truncated = failed.Contains(TrainerSummary.Truncated);
        return new TrainingResult
        {
            ModelUri = summary.ModelUri,
            ReportUri = summary.ReportUri,
            ProfileUri = summary.ProfileUri,
            Epochs = summary.Epochs,
            TestData = summary.TestData,
            Metrics = summary.Metrics is { Count: > 0 } ? new Dictionary<string, double>(summary.Metrics.Where(m => double.IsFinite(m.Value))) : null,
            Gates = gates is { Count: > 0 }
                ? [.. gates.Select(g =>
                {
                    var key = TrainerSummary.GateKey(g.Metric, g.Slice);
                    double? value = summary.GateValues?.TryGetValue(key, out var measured) == true && double.IsFinite(measured) ? measured
                        : g.Slice is null && summary.Metrics?.TryGetValue(g.Metric, out var v) == true && double.IsFinite(v) ? v : null;
                    var passed = !failed.Contains(key) && !(truncated && !PassesOnValue(g, value));
                    return new GateResult
                    {
                        Metric = g.Metric,
                        Slice = g.Slice,
                        AtLeast = g.AtLeast,
                        AtMost = g.AtMost,
                        Value = value,
                        Passed = passed,
                        Message = passed ? null : value is null ? "failed (see the report)" : $"{g.Metric} = {value:0.####} is {(g.AtLeast is not null ? $"below {g.AtLeast}" : $"above {g.AtMost}")}",
                    };
                })]
                : null,
        };
    }

    private static bool PassesOnValue(Gate gate, double? value) =>
        value is { } v && (gate.AtLeast is not { } least || v >= least) && (gate.AtMost is not { } most || v <= most);
}
