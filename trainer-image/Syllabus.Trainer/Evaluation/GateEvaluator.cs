using System.Globalization;
using Syllabus.Api;

namespace Syllabus.Trainer.Evaluation;

/// <summary>Judges evaluation gates: a metric (optionally on a slice) at least or at most a bound.</summary>
public static class GateEvaluator
{
    /// <param name="runMetrics">Metrics of the run beyond the evaluation split's (forgetting, backwardTransfer), unsliced.</param>
    public static IReadOnlyList<GateResult> Evaluate(IEnumerable<Gate> gates, EvaluationResult result, IReadOnlyDictionary<string, double>? runMetrics = null)
    {
        ArgumentNullException.ThrowIfNull(gates);
        ArgumentNullException.ThrowIfNull(result);
        return [.. gates.Select(g => EvaluateOne(g, result, runMetrics ?? new Dictionary<string, double>()))];
    }

    private static GateResult EvaluateOne(Gate gate, EvaluationResult result, IReadOnlyDictionary<string, double> runMetrics)
    {
        var outcome = new GateResult { Metric = gate.Metric, Slice = gate.Slice, AtLeast = gate.AtLeast, AtMost = gate.AtMost };
        if (gate.AtLeast.HasValue == gate.AtMost.HasValue)
        {
            outcome.Message = $"gate on '{gate.Metric}' needs exactly one of atLeast or atMost";
            return outcome;
        }

        if (gate.Slice is not null && !result.Slices.ContainsKey(gate.Slice))
        {
            outcome.Message = result.Slices.Count == 0
                ? $"slice '{gate.Slice}' not found: the evaluation data has no slices (is data.sliceColumn set?)"
                : $"slice '{gate.Slice}' not found (slices: {string.Join(", ", result.Slices.Keys)})";
            return outcome;
        }

        var value = double.NaN;
        if (!(gate.Slice is null && runMetrics.TryGetValue(gate.Metric, out value)) && !result.TryGetMetric(gate.Metric, gate.Slice, out value))
        {
            var available = result.ToMetricMap().Keys.Concat(runMetrics.Keys).Where(k => !k.Contains('/', StringComparison.Ordinal));
            var hint = gate.Metric is MetricDirection.Forgetting or "backwardTransfer" ? "; forgetting and backwardTransfer need continual.previousTasks and are not per slice" : "";
            outcome.Message = $"metric '{gate.Metric}' not found (metrics: {string.Join(", ", available)}, precision/<class>, recall/<class>, f1/<class>{hint})";
            return outcome;
        }

        outcome.Value = value;
        var where = gate.Slice is null ? "" : $" on slice '{gate.Slice}'";
        if (double.IsNaN(value))
        {
            outcome.Message = $"{gate.Metric}{where} is not a number";
        }
        else if (gate.AtLeast is { } atLeast)
        {
            outcome.Passed = value >= atLeast;
            outcome.Message = outcome.Passed ? null : $"{gate.Metric}{where} {F(value)} < atLeast {F(atLeast)}";
        }
        else
        {
            var atMost = gate.AtMost!.Value;
            outcome.Passed = value <= atMost;
            outcome.Message = outcome.Passed ? null : $"{gate.Metric}{where} {F(value)} > atMost {F(atMost)}";
        }

        return outcome;
    }

    private static string F(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);
}
