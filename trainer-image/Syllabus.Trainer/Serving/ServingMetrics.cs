using Prometheus;

namespace Syllabus.Trainer.Serving;

/// <summary>
/// The serve process's Prometheus metrics (names are a contract with the ModelDeployment analysis), in a registry of
/// its own so that servers in one process (tests) do not share counts.
/// </summary>
public sealed class ServingMetrics
{
    public ServingMetrics(string model)
    {
        Model = model;
        var factory = Metrics.WithCustomRegistry(Registry);
        Requests = factory.CreateCounter("syllabus_serve_requests_total", "HTTP requests by model, endpoint and status code.",
            new CounterConfiguration { LabelNames = ["model", "endpoint", "code"] });
        Latency = factory.CreateHistogram("syllabus_serve_request_duration_seconds", "Time from request to response, by model and endpoint.",
            new HistogramConfiguration { LabelNames = ["model", "endpoint"], Buckets = Histogram.ExponentialBuckets(0.00025, 2, 16) });
        BatchRequests = factory.CreateHistogram("syllabus_serve_batch_requests", "Infer requests merged into one model forward by dynamic batching.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128] });
        BatchRows = factory.CreateHistogram("syllabus_serve_batch_rows", "Rows in one model forward.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(1, 2, 13) });
        Forward = factory.CreateHistogram("syllabus_serve_forward_duration_seconds", "Time of one model forward (the batch's rows), without HTTP and JSON.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.ExponentialBuckets(0.00005, 2, 16) });
        Confidence = factory.CreateHistogram("syllabus_serve_prediction_confidence", "Probability of the predicted class, per predicted row.",
            new HistogramConfiguration { LabelNames = ["model"], Buckets = Histogram.LinearBuckets(0.1, 0.05, 19) });
        Predictions = factory.CreateCounter("syllabus_serve_predictions_total", "Predicted rows by predicted class.",
            new CounterConfiguration { LabelNames = ["model", "class"] });
        Feedback = factory.CreateCounter("syllabus_serve_feedback_total", "Ground-truth labels received, by whether the prediction was correct.",
            new CounterConfiguration { LabelNames = ["model", "outcome"] });
        OnlineAccuracy = factory.CreateGauge("syllabus_serve_online_accuracy", "Accuracy of the predictions judged by the most recent feedback (NaN before any).",
            new GaugeConfiguration { LabelNames = ["model"] });
        OnlineAccuracyJudgements = factory.CreateGauge("syllabus_serve_online_accuracy_judgements", "Judged rows the online accuracy is computed over.",
            new GaugeConfiguration { LabelNames = ["model"] });
        OnlineAccuracy.WithLabels(model).Set(double.NaN);
        OnlineAccuracyJudgements.WithLabels(model).Set(0);
    }

    public string Model { get; }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    public Counter Requests { get; }

    public Histogram Latency { get; }

    public Histogram BatchRequests { get; }

    public Histogram BatchRows { get; }

    public Histogram Forward { get; }

    public Histogram Confidence { get; }

    public Counter Predictions { get; }

    public Counter Feedback { get; }

    public Gauge OnlineAccuracy { get; }

    public Gauge OnlineAccuracyJudgements { get; }

    /// <summary>The Prometheus text exposition format.</summary>
    public Task ExportAsync(Stream stream, CancellationToken cancellationToken) => Registry.CollectAndExportAsTextAsync(stream, cancellationToken);
}
