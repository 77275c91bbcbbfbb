using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Syllabus.Runtime;

/// <summary>
/// The operator's instruments. OpenTelemetry's Prometheus exporter names them syllabus_reconcile_total,
/// syllabus_reconcile_errors_total, syllabus_reconcile_duration_seconds, syllabus_workqueue_depth,
/// syllabus_workqueue_latency_seconds, syllabus_objects (and a few more workqueue series).
/// </summary>
public sealed class OperatorMetrics
{
    public const string MeterName = "Syllabus.Operator";

    private readonly Counter<long> reconciles;
    private readonly Counter<long> reconcileErrors;
    private readonly Histogram<double> reconcileDuration;
    private readonly Counter<long> queueAdds;
    private readonly Counter<long> queueRetries;
    private readonly Histogram<double> queueLatency;
    private readonly Histogram<double> workDuration;
    private readonly ConcurrentDictionary<string, Func<int>> depthSources = new();
    private readonly ConcurrentDictionary<string, Func<IEnumerable<KeyValuePair<string, long>>>> objectSources = new();

    public OperatorMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        reconciles = meter.CreateCounter<long>("syllabus.reconcile", description: "Reconciles by kind and result (success, requeue, conflict, error, terminal).");
        reconcileErrors = meter.CreateCounter<long>("syllabus.reconcile.errors", description: "Reconciles that threw, by kind.");
        reconcileDuration = meter.CreateHistogram<double>("syllabus.reconcile.duration", unit: "s", description: "Time spent in ReconcileAsync.");
        queueAdds = meter.CreateCounter<long>("syllabus.workqueue.adds", description: "Keys added to the work queue.");
        queueRetries = meter.CreateCounter<long>("syllabus.workqueue.retries", description: "Keys re-added with backoff after a failure.");
        queueLatency = meter.CreateHistogram<double>("syllabus.workqueue.latency", unit: "s", description: "Time a key waited in the queue.");
        workDuration = meter.CreateHistogram<double>("syllabus.workqueue.work.duration", unit: "s", description: "Time a worker held a key.");
        meter.CreateObservableGauge("syllabus.workqueue.depth", ObserveDepth, description: "Keys waiting in the work queue.");
        meter.CreateObservableGauge("syllabus.objects", ObserveObjects, description: "Objects by kind and phase, as reported by the reconcilers.");
    }

    public void RecordReconcile(string kind, string result, TimeSpan duration)
    {
        var kindTag = new KeyValuePair<string, object?>("kind", kind);
        reconciles.Add(1, kindTag, new KeyValuePair<string, object?>("result", result));
        reconcileDuration.Record(duration.TotalSeconds, kindTag);
        if (result == ReconcileResults.Error)
        {
            reconcileErrors.Add(1, kindTag);
        }
    }

    /// <summary>Registers a callback that reports how many objects of <paramref name="kind"/> are in each phase; read at scrape time.</summary>
    public void RegisterObjectCounts(string kind, Func<IEnumerable<KeyValuePair<string, long>>> countsByPhase)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentNullException.ThrowIfNull(countsByPhase);
        objectSources[kind] = countsByPhase;
    }

    public IWorkQueueMetrics ForQueue(string kind, Func<int> depth)
    {
        depthSources[kind] = depth;
        return new QueueMetrics(this, new KeyValuePair<string, object?>("kind", kind));
    }

    private IEnumerable<Measurement<long>> ObserveDepth() =>
        [.. depthSources.Select(kv => new Measurement<long>(kv.Value(), new KeyValuePair<string, object?>("kind", kv.Key)))];

    private IEnumerable<Measurement<long>> ObserveObjects()
    {
        var measurements = new List<Measurement<long>>();
        foreach (var (kind, source) in objectSources)
        {
            foreach (var (phase, count) in source())
            {
                measurements.Add(new Measurement<long>(count, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("phase", phase)));
            }
        }

        return measurements;
    }

    private sealed class QueueMetrics(OperatorMetrics owner, KeyValuePair<string, object?> kindTag) : IWorkQueueMetrics
    {
        public void Added() => owner.queueAdds.Add(1, kindTag);

        public void Retried() => owner.queueRetries.Add(1, kindTag);

        public void Latency(TimeSpan waited) => owner.queueLatency.Record(waited.TotalSeconds, kindTag);

        public void WorkDuration(TimeSpan worked) => owner.workDuration.Record(worked.TotalSeconds, kindTag);
    }
}

/// <summary>The result label values of syllabus_reconcile_total.</summary>
public static class ReconcileResults
{
    public const string Success = "success";
    public const string Requeue = "requeue";
    public const string Error = "error";

    /// <summary>A guarded write found the object changed since it was read; requeued to recompute (not an error).</summary>
    public const string Conflict = "conflict";
    public const string Terminal = "terminal";
}
