using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Syllabus.Api;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>One serving pod to measure: its name (for messages) and address.</summary>
public sealed record ServingPod(string Name, string Address);

/// <summary>Measures an arm's Server metrics from its ready pods.</summary>
public interface IServingMetricsReader
{
    /// <summary>
    /// The metric over all <paramref name="pods"/> of one arm: accuracy from their feedback summaries (weighted by
    /// judged rows), errorRate, meanConfidence and p95LatencySeconds from their /metrics since they started. An
    /// unreachable pod or a malformed answer is an error; fewer than <paramref name="minSamples"/> judged rows or
    /// requests is no data.
    /// </summary>
    Task<MeasuredValue> MeasureAsync(IReadOnlyList<ServingPod> pods, string model, string metric, int minSamples, CancellationToken ct, string? series = null);
}

/// <summary>
/// Reads the serve pods' <c>GET /v2/models/NAME/feedback</c> and <c>GET /metrics</c> (Prometheus text). The few series
/// it needs are parsed here (no Prometheus text parser is on the package mirror); the answer is bounded to 1 MiB.
/// </summary>
public sealed class HttpServingMetricsReader(HttpClient http) : IServingMetricsReader
{
    // The last /metrics of each (pod, metric) measured, for increases between measurements; kept for the process's life.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Pod, string Address, string Metric), IReadOnlyList<PrometheusSample>> snapshots = new();

    private const int MaxBytes = 1 << 20;
    private const string Requests = "syllabus_serve_requests_total";
    private const string Latency = "syllabus_serve_request_duration_seconds";
    private const string Confidence = "syllabus_serve_prediction_confidence";

    /// <param name="series">What the increases are kept apart by (the analysis metric's name; the server metric by default).</param>
    public async Task<MeasuredValue> MeasureAsync(IReadOnlyList<ServingPod> pods, string model, string metric, int minSamples, CancellationToken ct, string? series = null)
    {
        ArgumentNullException.ThrowIfNull(pods);
        if (pods.Count == 0)
        {
            return MeasuredValue.NoData("no ready pod to measure");
        }

        try
        {
            return metric switch
            {
                ServerMetrics.Accuracy => await AccuracyAsync(pods, model, minSamples, ct).ConfigureAwait(false),
                ServerMetrics.ErrorRate or ServerMetrics.MeanConfidence or ServerMetrics.P95LatencySeconds => await FromMetricsAsync(pods, model, metric, $"{model}/{series ?? metric}", minSamples, ct).ConfigureAwait(false),
                _ => MeasuredValue.Failed($"unknown Server metric '{metric}'"),
            };
        }
        catch (MeasurementException e)
        {
            return MeasuredValue.Failed(e.Message);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or IOException)
        {
            // A pod that answers something malformed (or cuts its answer off) is a measurement error, not a failed reconcile.
            return MeasuredValue.Failed($"{metric} from {pods.Count} pods: malformed answer: {e.Message}");
        }
    }

    private async Task<MeasuredValue> AccuracyAsync(IReadOnlyList<ServingPod> pods, string model, int minSamples, CancellationToken ct)
    {
        double correct = 0;
        long judged = 0;
        foreach (var pod in pods)
        {
            using var doc = JsonDocument.Parse(await GetAsync(pod, $"/v2/models/{Uri.EscapeDataString(model)}/feedback", ct).ConfigureAwait(false));
            var root = doc.RootElement;
            if (!root.TryGetProperty("judged", out var judgedElement) || !judgedElement.TryGetInt64(out var n) || n < 0)
            {
                throw new MeasurementException($"pod {pod.Name}: its feedback summary has no 'judged' count");
            }

            if (n > 0)
            {
                if (!root.TryGetProperty("onlineAccuracy", out var accuracy) || accuracy.ValueKind != JsonValueKind.Number)
                {
                    throw new MeasurementException($"pod {pod.Name}: its feedback summary has {n} judged rows but no onlineAccuracy");
                }

                correct += accuracy.GetDouble() * n;
                judged += n;
            }
        }

        return judged < minSamples
            ? MeasuredValue.NoData($"{judged} feedback labels on {pods.Count} pods, fewer than minSamples {minSamples}")
            : MeasuredValue.Of(correct / judged);
    }

    private async Task<MeasuredValue> FromMetricsAsync(IReadOnlyList<ServingPod> pods, string model, string metric, string series, int minSamples, CancellationToken ct)
    {
        var samples = new List<PrometheusSample>();
        var seen = new List<((string, string, string) Key, IReadOnlyList<PrometheusSample> Current)>();
        foreach (var pod in pods)
        {
            var text = await GetAsync(pod, "/metrics", ct).ConfigureAwait(false);
            var current = PrometheusText.Parse(text).Where(s => s.Labels.GetValueOrDefault("model") == model).ToList();
            var key = (pod.Name, pod.Address, series);
            samples.AddRange(SinceLastMeasurement(key, current));
            seen.Add((key, current));
        }

        var result = Compute(samples, metric, minSamples);
        if (result.Value is not null)
        {
            // The baseline moves only when a value came out: a quiet arm accumulates toward minSamples. Pods gone from the
            // arm are forgotten.
            foreach (var stale in snapshots.Keys.Where(k => k.Metric == series && !seen.Any(s => s.Key == k)).ToList())
            {
                snapshots.TryRemove(stale, out _);
            }

            foreach (var (key, current) in seen)
            {
                snapshots[key] = current;
            }
        }

        return result;
    }

    private static MeasuredValue Compute(List<PrometheusSample> samples, string metric, int minSamples)
    {

        switch (metric)
        {
            case ServerMetrics.ErrorRate:
            {
                var infer = samples.Where(s => s.Name == Requests && s.Labels.GetValueOrDefault("endpoint") == "infer").ToList();
                var total = infer.Sum(s => s.Value);
                var errors = infer.Where(s => s.Labels.GetValueOrDefault("code", "").StartsWith('5')).Sum(s => s.Value);
                return total < minSamples ? MeasuredValue.NoData($"{total} infer requests since the last measurement, fewer than minSamples {minSamples}") : MeasuredValue.Of(errors / total);
            }

            case ServerMetrics.MeanConfidence:
            {
                var count = samples.Where(s => s.Name == Confidence + "_count").Sum(s => s.Value);
                var sum = samples.Where(s => s.Name == Confidence + "_sum").Sum(s => s.Value);
                return count < minSamples ? MeasuredValue.NoData($"{count} predicted rows since the last measurement, fewer than minSamples {minSamples}") : MeasuredValue.Of(sum / count);
            }

            default:
            {
                var buckets = samples
                    .Where(s => s.Name == Latency + "_bucket" && s.Labels.GetValueOrDefault("endpoint") == "infer")
                    .GroupBy(s => ParseBound(s.Labels.GetValueOrDefault("le")))
                    .Select(g => (Bound: g.Key, Count: g.Sum(s => s.Value)))
                    .OrderBy(b => b.Bound)
                    .ToList();
                var total = buckets.Count == 0 ? 0 : buckets[^1].Count;
                return total < minSamples ? MeasuredValue.NoData($"{total} infer requests since the last measurement, fewer than minSamples {minSamples}") : MeasuredValue.Of(HistogramQuantile(0.95, buckets));
            }
        }
    }

    /// <summary>
    /// What the pod's counters and histograms gained since this metric last measured it (as PromQL's increase() over
    /// the interval), so a long-lived stable pod's history does not dilute a regression. The first measurement of a pod,
    /// and one after its counters went backwards (the process restarted), count from its start.
    /// </summary>
    private IEnumerable<PrometheusSample> SinceLastMeasurement((string, string, string) key, IReadOnlyList<PrometheusSample> current)
    {
        var previous = snapshots.TryGetValue(key, out var before) ? before : null;
        if (previous is null)
        {
            return current;
        }

        var old = previous.ToDictionary(SeriesKey, s => s.Value, StringComparer.Ordinal);
        var deltas = current.Select(s => s with { Value = s.Value - old.GetValueOrDefault(SeriesKey(s)) }).ToList();
        return deltas.Any(d => d.Value < 0) ? current : deltas;
    }

    private static string SeriesKey(PrometheusSample sample) =>
        sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")) + "}";

    /// <summary>PromQL's histogram_quantile over cumulative buckets: linear within the bucket, the lower bound 0.</summary>
    internal static double HistogramQuantile(double q, IReadOnlyList<(double Bound, double Count)> buckets)
    {
        if (buckets.Count == 0 || !double.IsPositiveInfinity(buckets[^1].Bound))
        {
            return double.NaN;
        }

        var total = buckets[^1].Count;
        var rank = q * total;
        var index = 0;
        while (index < buckets.Count - 1 && buckets[index].Count < rank)
        {
            index++;
        }

        if (index == buckets.Count - 1)
        {
            return buckets.Count >= 2 ? buckets[^2].Bound : 0;
        }

        var lower = index == 0 ? 0 : buckets[index - 1].Bound;
        var below = index == 0 ? 0 : buckets[index - 1].Count;
        var inBucket = buckets[index].Count - below;
        return inBucket <= 0 ? buckets[index].Bound : lower + ((buckets[index].Bound - lower) * (rank - below) / inBucket);
    }

    private static double ParseBound(string? le) =>
        le is "+Inf" ? double.PositiveInfinity : double.TryParse(le, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN;

    private async Task<string> GetAsync(ServingPod pod, string path, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"http://{pod.Address}{path}"), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new MeasurementException($"pod {pod.Name} ({pod.Address}): GET {path} answered {(int)response.StatusCode}");
            }

            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            var buffer = new byte[MaxBytes + 1];
            var read = 0;
            int n;
            while (read < buffer.Length && (n = await body.ReadAsync(buffer.AsMemory(read), ct).ConfigureAwait(false)) > 0)
            {
                read += n;
            }

            return read > MaxBytes
                ? throw new MeasurementException($"pod {pod.Name} ({pod.Address}): GET {path} answered more than {MaxBytes} bytes")
                : System.Text.Encoding.UTF8.GetString(buffer, 0, read);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new MeasurementException($"pod {pod.Name} ({pod.Address}): GET {path} failed: {e.Message}");
        }
        catch (JsonException e)
        {
            throw new MeasurementException($"pod {pod.Name} ({pod.Address}): GET {path} is not JSON: {e.Message}");
        }
    }
}

/// <summary>A measurement that could not be taken; its message names the pod or server and what went wrong.</summary>
public sealed class MeasurementException(string message) : Exception(message);

public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>The Prometheus text exposition format's sample lines (comments and blank lines skipped).</summary>
public static class PrometheusText
{
    public static IEnumerable<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            string name;
            string rest;
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (brace >= 0 && (space < 0 || brace < space))
            {
                name = line[..brace];
                var i = brace + 1;
                while (i < line.Length && line[i] != '}')
                {
                    var eq = line.IndexOf('=', i);
                    if (eq < 0 || eq + 1 >= line.Length || line[eq + 1] != '"')
                    {
                        throw new MeasurementException($"malformed metrics line: {line}");
                    }

                    var key = line[i..eq].Trim();
                    var value = new System.Text.StringBuilder();
                    var j = eq + 2;
                    for (; j < line.Length && line[j] != '"'; j++)
                    {
                        if (line[j] == '\\' && j + 1 < line.Length)
                        {
                            j++;
                            value.Append(line[j] == 'n' ? '\n' : line[j]);
                        }
                        else
                        {
                            value.Append(line[j]);
                        }
                    }

                    labels[key] = value.ToString();
                    i = j + 1;
                    if (i < line.Length && line[i] == ',')
                    {
                        i++;
                    }
                }

                rest = i < line.Length ? line[(i + 1)..].Trim() : "";
            }
            else
            {
                name = space < 0 ? line : line[..space];
                rest = space < 0 ? "" : line[(space + 1)..].Trim();
            }

            var valueText = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            var parsed = valueText switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ when double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) => v,
                _ => throw new MeasurementException($"malformed metrics line (no value): {line}"),
            };
            yield return new PrometheusSample(name, labels, parsed);
        }
    }
}
