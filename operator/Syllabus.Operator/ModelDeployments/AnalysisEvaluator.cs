using System.Globalization;
using Syllabus.Api;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>One metric's new measurement: a value, or none with why (no data yet, or an error).</summary>
public sealed record MeasuredValue(double? Value, string? Problem = null, bool IsError = false)
{
    public static MeasuredValue Of(double value) => new(value);

    public static MeasuredValue NoData(string why) => new(null, why);

    public static MeasuredValue Failed(string why) => new(null, why, IsError: true);
}

/// <summary>
/// Argo Rollouts' AnalysisRun semantics as pure functions: a measurement is Successful or Failed against its
/// threshold, Inconclusive without data, Error when it could not be taken. A metric fails when its failed
/// measurements exceed failureLimit, errs when its consecutive errors exceed consecutiveErrorLimit, is inconclusive
/// when its inconclusive measurements exceed inconclusiveLimit, and completes after count measurements; the run ends
/// as soon as one metric fails, errs or is inconclusive, and succeeds when every metric completed (or the time is up).
/// </summary>
public static class AnalysisEvaluator
{
    /// <summary>Measurements kept per metric in status (Argo keeps 10 by default too).</summary>
    public const int MeasurementsKept = 10;

    /// <summary>A fresh run for <paramref name="arm"/> at <paramref name="revision"/>.</summary>
    public static AnalysisStatus Start(string arm, int revision, DateTimeOffset now) => new()
    {
        Arm = arm,
        Revision = revision,
        Phase = AnalysisPhases.Running,
        StartedAt = now.UtcDateTime,
        Metrics = [],
    };

    /// <summary>
    /// When the next measurement is due: one interval after the run started (a canary measured the moment its pods are
    /// ready has no traffic or feedback yet, hence Argo's initialDelay), then every interval after the last one.
    /// </summary>
    public static DateTimeOffset NextMeasurementAt(AnalysisStatus run, TimeSpan interval)
    {
        ArgumentNullException.ThrowIfNull(run);
        var last = run.Metrics?.SelectMany(m => m.Measurements ?? []).Select(m => m.MeasuredAt).Max() ?? run.StartedAt ?? DateTime.UtcNow;
        return new DateTimeOffset(DateTime.SpecifyKind(last, DateTimeKind.Utc)) + interval;
    }

    /// <summary>Judges one measured value against the metric's threshold.</summary>
    public static Measurement Judge(AnalysisMetric metric, MeasuredValue measured, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(metric);
        ArgumentNullException.ThrowIfNull(measured);
        if (measured.IsError)
        {
            return new Measurement { Phase = AnalysisPhases.Error, Message = measured.Problem, MeasuredAt = now.UtcDateTime };
        }

        if (measured.Value is not { } value || double.IsNaN(value))
        {
            return new Measurement { Phase = AnalysisPhases.Inconclusive, Message = measured.Problem ?? "no data", MeasuredAt = now.UtcDateTime };
        }

        var passed = metric.AtLeast is { } atLeast ? value >= atLeast : metric.AtMost is { } atMost && value <= atMost;
        return new Measurement
        {
            Phase = passed ? AnalysisPhases.Successful : AnalysisPhases.Failed,
            Value = value,
            Message = passed ? null : $"{F(value)} {Comparison(metric)}",
            MeasuredAt = now.UtcDateTime,
        };
    }

    /// <summary>
    /// Adds one round of measurements (one per metric, by name) to <paramref name="run"/> and returns it with its new
    /// phase and message. <paramref name="timeUp"/>: the run's duration has passed (runs without a count end then).
    /// </summary>
    public static AnalysisStatus Record(AnalysisSpec spec, AnalysisStatus run, IReadOnlyDictionary<string, Measurement> round, bool timeUp)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(round);
        var results = run.Metrics ?? [];
        foreach (var metric in spec.Metrics)
        {
            if (!round.TryGetValue(metric.Name, out var measurement))
            {
                continue;
            }

            var result = results.FirstOrDefault(r => r.Name == metric.Name);
            if (result is null)
            {
                result = new MetricResult { Name = metric.Name };
                results.Add(result);
            }

            result.Count++;
            switch (measurement.Phase)
            {
                case AnalysisPhases.Successful:
                    result.Successful++;
                    result.ConsecutiveError = 0;
                    break;
                case AnalysisPhases.Failed:
                    result.Failed++;
                    result.ConsecutiveError = 0;
                    break;
                case AnalysisPhases.Inconclusive:
                    result.Inconclusive++;
                    result.ConsecutiveError = 0;
                    break;
                default:
                    result.Error++;
                    result.ConsecutiveError++;
                    break;
            }

            result.Measurements = [.. (result.Measurements ?? []).Append(measurement).TakeLast(MeasurementsKept)];
        }

        run.Metrics = results;
        (run.Phase, run.Message) = Assess(spec, run, timeUp);
        return run;
    }

    /// <summary>The run's phase from its metric results (see the class summary), with a message naming the values.</summary>
    public static (string Phase, string? Message) Assess(AnalysisSpec spec, AnalysisStatus run, bool timeUp)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(run);
        var results = run.Metrics ?? [];
        foreach (var metric in spec.Metrics)
        {
            if (results.FirstOrDefault(r => r.Name == metric.Name) is not { } result)
            {
                continue;
            }

            if (result.Failed > spec.FailureLimit)
            {
                var last = result.Measurements?.LastOrDefault(m => m.Phase == AnalysisPhases.Failed);
                return (AnalysisPhases.Failed, $"{metric.Name} {F(last?.Value)} {Comparison(metric)} in {result.Failed} of {result.Count} measurements");
            }

            if (result.ConsecutiveError > spec.ConsecutiveErrorLimit)
            {
                var last = result.Measurements?.LastOrDefault(m => m.Phase == AnalysisPhases.Error);
                return (AnalysisPhases.Error, $"{metric.Name} could not be measured {result.ConsecutiveError} times in a row: {last?.Message}");
            }

            if (result.Inconclusive > spec.InconclusiveLimit)
            {
                var last = result.Measurements?.LastOrDefault(m => m.Phase == AnalysisPhases.Inconclusive);
                return (AnalysisPhases.Inconclusive, $"{metric.Name} was inconclusive in {result.Inconclusive} of {result.Count} measurements: {last?.Message}");
            }
        }

        var complete = spec.Count is { } count
            ? spec.Metrics.All(m => results.FirstOrDefault(r => r.Name == m.Name)?.Count >= count)
            : timeUp;
        if (!complete)
        {
            return (AnalysisPhases.Running, null);
        }

        var unmeasured = spec.Metrics.Where(m => (results.FirstOrDefault(r => r.Name == m.Name)?.Successful ?? 0) == 0).Select(m => m.Name).ToList();
        if (unmeasured.Count > 0)
        {
            return (AnalysisPhases.Inconclusive, $"no successful measurement of {string.Join(", ", unmeasured)} before the analysis ended");
        }

        return (AnalysisPhases.Successful, string.Join("; ", spec.Metrics.Select(m =>
        {
            var r = results.First(x => x.Name == m.Name);
            return $"{m.Name} {F(r.Measurements?.LastOrDefault(x => x.Value is not null)?.Value)} ({r.Successful} of {r.Count} measurements passed)";
        })));
    }

    /// <summary>The threshold a failed value missed, e.g. <c>&lt; 0.93</c>.</summary>
    private static string Comparison(AnalysisMetric metric) =>
        metric.AtLeast is { } atLeast ? $"< {F(atLeast)}" : $"> {F(metric.AtMost)}";

    private static string F(double? value) => value is { } v ? v.ToString("0.####", CultureInfo.InvariantCulture) : "n/a";
}
