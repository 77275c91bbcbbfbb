using System.Net;
using System.Text;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.Tests.ModelDeployments;

public sealed class ServingMetricsReaderTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Answers each pod address with the text its queue holds next.</summary>
    private sealed class Pods(Dictionary<string, Queue<string>> answers) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = answers[$"{request.RequestUri!.Host}{request.RequestUri.AbsolutePath}"].Dequeue();
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8) });
        }
    }

    private static string Metrics(int ok, int errors) => $$"""
        # HELP syllabus_serve_requests_total HTTP requests by model, endpoint and status code.
        # TYPE syllabus_serve_requests_total counter
        syllabus_serve_requests_total{model="digits",endpoint="infer",code="200"} {{ok}}
        syllabus_serve_requests_total{model="digits",endpoint="infer",code="500"} {{errors}}
        syllabus_serve_requests_total{model="other",endpoint="infer",code="500"} 1000
        """;

    [Fact]
    public async Task ErrorRate_is_measured_over_what_the_pods_counted_since_the_last_measurement_and_from_the_start_after_a_restart()
    {
        var answers = new Dictionary<string, Queue<string>>
        {
            ["10.0.0.1/metrics"] = new([Metrics(90, 10), Metrics(190, 10), Metrics(5, 5)]),
            ["10.0.0.2/metrics"] = new([Metrics(100, 0), Metrics(180, 20), Metrics(200, 20)]),
        };
        using var http = new HttpClient(new Pods(answers));
        var reader = new HttpServingMetricsReader(http);
        ServingPod[] pods = [new("a", "10.0.0.1"), new("b", "10.0.0.2")];

        Assert.Equal(MeasuredValue.Of(10.0 / 200), await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 1, Ct));
        // Since then: pod a 100 ok, 0 errors; pod b 80 ok, 20 errors.
        Assert.Equal(MeasuredValue.Of(20.0 / 200), await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 1, Ct));
        // Pod a restarted (its counters went back to 5/5): counted from its start; pod b gained 20 ok.
        Assert.Equal(MeasuredValue.Of(5.0 / 30), await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 1, Ct));
    }

    [Fact]
    public async Task Too_few_requests_are_no_data_and_a_malformed_answer_is_an_error_naming_the_pod()
    {
        var answers = new Dictionary<string, Queue<string>>
        {
            ["10.0.0.1/metrics"] = new([Metrics(3, 0), "syllabus_serve_requests_total{model=\"digits\" oops"]),
            ["10.0.0.1/v2/models/digits/feedback"] = new(["[1, 2]"]),
        };
        using var http = new HttpClient(new Pods(answers));
        var reader = new HttpServingMetricsReader(http);
        ServingPod[] pods = [new("a", "10.0.0.1")];

        var few = await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 10, Ct);
        Assert.Equal((null, false), (few.Value, few.IsError));
        Assert.Contains("3 infer requests", few.Problem, StringComparison.Ordinal);

        var malformed = await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 1, Ct);
        Assert.True(malformed.IsError);
        Assert.Contains("malformed", malformed.Problem, StringComparison.Ordinal);

        var notAnObject = await reader.MeasureAsync(pods, "digits", ServerMetrics.Accuracy, 1, Ct);
        Assert.True(notAnObject.IsError, notAnObject.Problem);
    }

    [Fact]
    public async Task A_measurement_without_enough_requests_keeps_the_baseline_and_two_analysis_metrics_keep_their_own()
    {
        var answers = new Dictionary<string, Queue<string>>
        {
            ["10.0.0.1/metrics"] = new([Metrics(3, 0), Metrics(11, 1), Metrics(11, 1), Metrics(20, 1)]),
        };
        using var http = new HttpClient(new Pods(answers));
        var reader = new HttpServingMetricsReader(http);
        ServingPod[] pods = [new("a", "10.0.0.1")];

        Assert.Null((await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 10, Ct, "strict")).Value);
        // Not 8 requests since the first look, but all 12 since the pod started: the baseline did not move.
        Assert.Equal(MeasuredValue.Of(1.0 / 12), await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 10, Ct, "strict"));
        // Another analysis metric on the same server metric has its own baseline.
        Assert.Equal(MeasuredValue.Of(1.0 / 12), await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 1, Ct, "loose"));
        Assert.Equal(MeasuredValue.Of(0.0), await reader.MeasureAsync(pods, "digits", ServerMetrics.ErrorRate, 1, Ct, "strict"));
    }

    [Fact]
    public async Task Accuracy_is_weighted_by_the_rows_each_pod_judged()
    {
        var answers = new Dictionary<string, Queue<string>>
        {
            ["10.0.0.1/v2/models/digits/feedback"] = new(["""{"onlineAccuracy": 0.9, "judged": 100}"""]),
            ["10.0.0.2/v2/models/digits/feedback"] = new(["""{"onlineAccuracy": 0.5, "judged": 300}"""]),
        };
        using var http = new HttpClient(new Pods(answers));
        var measured = await new HttpServingMetricsReader(http).MeasureAsync([new("a", "10.0.0.1"), new("b", "10.0.0.2")], "digits", ServerMetrics.Accuracy, 1, Ct);
        Assert.Equal(0.6, measured.Value!.Value, 12);
    }

    [Fact]
    public void HistogramQuantile_interpolates_within_the_bucket_as_PromQL_does()
    {
        // 100 observations: 50 at or below 0.01, 40 more at or below 0.1, 10 more at or below 1.
        (double, double)[] buckets = [(0.01, 50), (0.1, 90), (1, 100), (double.PositiveInfinity, 100)];
        Assert.Equal(0.01 + ((0.1 - 0.01) * (80 - 50) / 40), HttpServingMetricsReader.HistogramQuantile(0.8, buckets), 12);
        Assert.Equal(0.1 + ((1 - 0.1) * (95 - 90) / 10), HttpServingMetricsReader.HistogramQuantile(0.95, buckets), 12);
        Assert.Equal(0.005, HttpServingMetricsReader.HistogramQuantile(0.25, buckets), 12);
    }
}
