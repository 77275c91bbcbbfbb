using System.Globalization;
using System.Text.Json;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>One replica's drift report, or why there is none (the pod's own message where it gave one).</summary>
public sealed record DriftReading(ServingPod Pod, DriftReport? Report, string? Problem)
{
    public static DriftReading Of(ServingPod pod, DriftReport report) => new(pod, report, null);

    public static DriftReading Failed(ServingPod pod, string problem) => new(pod, null, problem);
}

/// <summary>Reads a serving pod's live window evaluated against its training profile.</summary>
public interface IDriftReportReader
{
    /// <summary>
    /// <c>GET /v2/models/MODEL/drift?detector=STATTEST&amp;correction=None</c> on <paramref name="pod"/>, of the rows served
    /// after <paramref name="since"/> (all when null; the pod ignores a mark of another server instance) and up to row
    /// <paramref name="until"/> (the newest when null).
    /// </summary>
    Task<DriftReading> ReadAsync(ServingPod pod, string model, string stattest, DriftWindowMark? since, long? until, CancellationToken ct);
}

/// <summary>
/// Over HTTP, bounded (a report of 10,000 features is a few MiB), with the pod's JSON error message passed on: a
/// server without a training profile answers 409 and says so, which becomes the policy's condition message.
/// </summary>
public sealed class HttpDriftReportReader(HttpClient http) : IDriftReportReader
{
    private const int MaxBytes = 16 << 20;

    public async Task<DriftReading> ReadAsync(ServingPod pod, string model, string stattest, DriftWindowMark? since, long? until, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pod);
        // Corrections are applied by the policy over the features it tests, so the pod reports raw p-values.
        var path = $"/v2/models/{Uri.EscapeDataString(model)}/drift?detector={Uri.EscapeDataString(stattest)}&correction={MultipleTestCorrections.None}";
        if (since is not null)
        {
            path += $"&since={since.RowsSeen.ToString(CultureInfo.InvariantCulture)}&instance={Uri.EscapeDataString(since.Instance)}";
        }

        if (until is not null)
        {
            path += $"&until={until.Value.ToString(CultureInfo.InvariantCulture)}";
        }

        try
        {
            using var response = await http.GetAsync(new Uri($"http://{pod.Address}{path}"), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            var body = await ReadBoundedAsync(response.Content, ct).ConfigureAwait(false);
            if (body is null)
            {
                return DriftReading.Failed(pod, $"pod {pod.Name}: GET {path} answered more than {MaxBytes} bytes");
            }

            if (!response.IsSuccessStatusCode)
            {
                var message = ErrorMessage(body);
                return response.StatusCode == System.Net.HttpStatusCode.Conflict && message.StartsWith(DriftDetectorNames.EmptyWindowMessage, StringComparison.Ordinal)
                    ? DriftReading.Of(pod, new DriftReport { CurrentRows = 0, Window = EmptyWindow(body) }) // nothing served (since the mark): a window too small, not an error
                    : DriftReading.Failed(pod, $"pod {pod.Name} answered {(int)response.StatusCode}: {message}");
            }

            var report = JsonSerializer.Deserialize(body, SyllabusJsonContext.Default.DriftReport);
            return report is null
                ? DriftReading.Failed(pod, $"pod {pod.Name}: GET {path} answered null")
                : DriftReading.Of(pod, report);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return DriftReading.Failed(pod, $"pod {pod.Name} ({pod.Address}) is unreachable: {e.Message}");
        }
        catch (JsonException e)
        {
            return DriftReading.Failed(pod, $"pod {pod.Name}: its drift report is not a DriftReport: {e.Message}");
        }
    }

    private static async Task<string?> ReadBoundedAsync(HttpContent content, CancellationToken ct)
    {
        await using var body = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > MaxBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, n);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    /// <summary>Where an empty window stands (its capacity and newest row), when the server said.</summary>
    private static DriftWindowSequence? EmptyWindow(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("window", out var window) && window.ValueKind == JsonValueKind.Object
                ? window.Deserialize(SyllabusJsonContext.Default.DriftWindowSequence)
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The server's {"error": "..."} message, or the start of the body.</summary>
    private static string ErrorMessage(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String)
            {
                return error.GetString()!;
            }
        }
        catch (JsonException)
        {
            // not JSON: quote it
        }

        return body.Length > 300 ? string.Concat(body.AsSpan(0, 300), "...") : body.ToString(CultureInfo.InvariantCulture);
    }
}
