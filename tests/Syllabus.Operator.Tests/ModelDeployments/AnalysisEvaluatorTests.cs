using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.Tests.ModelDeployments;

public sealed class AnalysisEvaluatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private static AnalysisMetric Accuracy() => new() { Name = "live-accuracy", Source = AnalysisSources.Server, Metric = ServerMetrics.Accuracy, AtLeast = 0.93 };

    private static AnalysisSpec Spec(int failureLimit = 0, int inconclusiveLimit = 0, int consecutiveErrorLimit = 4, int? count = null) => new()
    {
        Metrics = [Accuracy()],
        FailureLimit = failureLimit,
        InconclusiveLimit = inconclusiveLimit,
        ConsecutiveErrorLimit = consecutiveErrorLimit,
        Count = count,
    };

    private static AnalysisStatus Run(AnalysisSpec spec, params MeasuredValue[] values)
    {
        var run = AnalysisEvaluator.Start(AnalysisArms.Canary, 2, T0);
        for (var i = 0; i < values.Length; i++)
        {
            var at = T0.AddMinutes(i);
            run = AnalysisEvaluator.Record(spec, run, new Dictionary<string, Measurement> { ["live-accuracy"] = AnalysisEvaluator.Judge(spec.Metrics[0], values[i], at) }, timeUp: false);
            if (run.Phase != AnalysisPhases.Running)
            {
                break;
            }
        }

        return run;
    }

    [Fact]
    public void With_the_default_failureLimit_of_0_one_failed_measurement_fails_the_analysis_and_says_why()
    {
        var run = Run(Spec(), MeasuredValue.Of(0.95), MeasuredValue.Of(0.81), MeasuredValue.Of(0.99));
        Assert.Equal(AnalysisPhases.Failed, run.Phase);
        Assert.Equal("live-accuracy 0.81 < 0.93 in 1 of 2 measurements", run.Message);
        var metric = Assert.Single(run.Metrics!);
        Assert.Equal((2, 1, 1), (metric.Count, metric.Successful, metric.Failed));
    }

    [Fact]
    public void FailureLimit_tolerates_that_many_failures_and_the_next_one_fails()
    {
        var spec = Spec(failureLimit: 2);
        Assert.Equal(AnalysisPhases.Running, Run(spec, MeasuredValue.Of(0.8), MeasuredValue.Of(0.95), MeasuredValue.Of(0.8)).Phase);
        var run = Run(spec, MeasuredValue.Of(0.8), MeasuredValue.Of(0.95), MeasuredValue.Of(0.8), MeasuredValue.Of(0.81));
        Assert.Equal(AnalysisPhases.Failed, run.Phase);
        Assert.Equal("live-accuracy 0.81 < 0.93 in 3 of 4 measurements", run.Message);
    }

    [Fact]
    public void Errors_in_a_row_beyond_consecutiveErrorLimit_end_the_analysis_in_Error_and_a_good_measurement_resets_them()
    {
        var spec = Spec();
        var err = MeasuredValue.Failed("pod a (10.0.0.1:8080): GET /metrics failed: connection refused");
        Assert.Equal(AnalysisPhases.Running, Run(spec, err, err, err, err, MeasuredValue.Of(0.95), err, err, err, err).Phase);
        var run = Run(spec, err, err, err, err, err);
        Assert.Equal(AnalysisPhases.Error, run.Phase);
        Assert.Contains("5 times in a row", run.Message, StringComparison.Ordinal);
        Assert.Contains("connection refused", run.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void No_data_is_Inconclusive_and_beyond_inconclusiveLimit_ends_the_analysis_Inconclusive()
    {
        var none = MeasuredValue.NoData("0 feedback labels on 1 pods, fewer than minSamples 1");
        Assert.Equal(AnalysisPhases.Running, Run(Spec(inconclusiveLimit: 1), none).Phase);
        var run = Run(Spec(inconclusiveLimit: 1), none, none);
        Assert.Equal(AnalysisPhases.Inconclusive, run.Phase);
        Assert.Contains("fewer than minSamples", run.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_a_count_the_analysis_succeeds_after_that_many_measurements()
    {
        var spec = Spec(count: 3);
        Assert.Equal(AnalysisPhases.Running, Run(spec, MeasuredValue.Of(0.95), MeasuredValue.Of(0.96)).Phase);
        var run = Run(spec, MeasuredValue.Of(0.95), MeasuredValue.Of(0.96), MeasuredValue.Of(0.97));
        Assert.Equal(AnalysisPhases.Successful, run.Phase);
        Assert.Equal("live-accuracy 0.97 (3 of 3 measurements passed)", run.Message);
    }

    [Fact]
    public void Without_a_count_it_succeeds_when_the_time_is_up_but_only_with_a_successful_measurement()
    {
        var spec = Spec(inconclusiveLimit: 10);
        var run = Run(spec, MeasuredValue.Of(0.95));
        Assert.Equal(AnalysisPhases.Successful, AnalysisEvaluator.Assess(spec, run, timeUp: true).Phase);
        var noData = Run(spec, MeasuredValue.NoData("no ready pod to measure"));
        Assert.Equal(AnalysisPhases.Inconclusive, AnalysisEvaluator.Assess(spec, noData, timeUp: true).Phase);
    }

    [Fact]
    public void AtMost_metrics_fail_above_their_threshold_and_only_the_last_ten_measurements_are_kept()
    {
        var spec = new AnalysisSpec { Metrics = [new AnalysisMetric { Name = "error-rate", Source = AnalysisSources.Prometheus, Query = "q", AtMost = 0.01 }], FailureLimit = 100 };
        var run = AnalysisEvaluator.Start(AnalysisArms.Stable, 1, T0);
        for (var i = 0; i < 12; i++)
        {
            run = AnalysisEvaluator.Record(spec, run, new Dictionary<string, Measurement> { ["error-rate"] = AnalysisEvaluator.Judge(spec.Metrics[0], MeasuredValue.Of(i % 2 == 0 ? 0.0 : 0.05), T0.AddMinutes(i)) }, false);
        }

        var metric = Assert.Single(run.Metrics!);
        Assert.Equal((12, 6, 6), (metric.Count, metric.Successful, metric.Failed));
        Assert.Equal(AnalysisEvaluator.MeasurementsKept, metric.Measurements!.Count);
        Assert.Equal("0.05 > 0.01", metric.Measurements[^1].Message);
        Assert.Equal(T0.AddMinutes(11).AddMinutes(1), AnalysisEvaluator.NextMeasurementAt(run, TimeSpan.FromMinutes(1)));
    }
}
