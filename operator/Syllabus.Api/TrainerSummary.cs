using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Syllabus.Api;

/// <summary>
/// The trainer's termination message: a compact JSON summary of its report that the trainer writes and the operator
/// reads from the container status (Kubernetes keeps at most 4096 bytes), so the operator learns the outcome without
/// reading the artifact store. One type on both sides keeps the contract in one place.
/// </summary>
public sealed class TrainerSummary
{
    public const int MaxBytes = 4096;

    /// <summary>Marks a failed-gates list shortened to fit <see cref="MaxBytes"/>.</summary>
    public const string Truncated = "…";

    [JsonPropertyName("phase")]
    public string? Phase { get; set; }

    [JsonPropertyName("message")]
    public string? Message { get; set; }

    [JsonPropertyName("modelUri")]
    public string? ModelUri { get; set; }

    [JsonPropertyName("reportUri")]
    public string? ReportUri { get; set; }

    [JsonPropertyName("profileUri")]
    public string? ProfileUri { get; set; }

    [JsonPropertyName("epochs")]
    public int? Epochs { get; set; }

    /// <summary>Fingerprint of the rows the metrics were measured on (sha256 of their features and labels).</summary>
    [JsonPropertyName("testData")]
    public string? TestData { get; set; }

    /// <summary>Headline metrics by name.</summary>
    [JsonPropertyName("metrics")]
    public Dictionary<string, double>? Metrics { get; set; }

    [JsonPropertyName("gatesPassed")]
    public int GatesPassed { get; set; }

    /// <summary>Failed gates as <c>metric</c> or <c>metric@slice</c>.</summary>
    [JsonPropertyName("gatesFailed")]
    public List<string>? GatesFailed { get; set; }

    /// <summary>The measured value of every gate, keyed like <see cref="GatesFailed"/> (sliced gates included).</summary>
    [JsonPropertyName("gateValues")]
    public Dictionary<string, double>? GateValues { get; set; }

    /// <summary>The key a failed gate is listed under.</summary>
    public static string GateKey(string metric, string? slice) => slice is null ? metric : $"{metric}@{slice}";

    /// <summary>The summary, or null when the message is empty or not the trainer's JSON (a Custom image's log tail, say).</summary>
    public static TrainerSummary? TryParse(string? message)
    {
        if (string.IsNullOrWhiteSpace(message) || message.TrimStart()[0] != '{')
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(message, TrainerSummaryJsonContext.Default.TrainerSummary);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The JSON, shortened (message, gate values, failed gate names, then metrics) until it fits in
    /// <see cref="MaxBytes"/>; only URIs longer than that can leave it over the limit.
    /// </summary>
    public string ToJson()
    {
        var json = JsonSerializer.Serialize(this, TrainerSummaryJsonContext.Default.TrainerSummary);
        while (Encoding.UTF8.GetByteCount(json) > MaxBytes)
        {
            // Each step strictly shrinks the summary, so the loop ends: the message, then the gate values (the operator
            // falls back to the headline metrics), then the failed-gate list down to one name and the marker.
            if (Message is { Length: > 64 })
            {
                Message = Message[..(Message.Length / 2)] + Truncated;
            }
            else if (GateValues is not null)
            {
                GateValues = null;
            }
            else if (GatesFailed is { Count: > 2 })
            {
                GatesFailed = [.. GatesFailed.Take(GatesFailed.Count / 2), Truncated];
            }
            else if (Metrics is not null || Message is not null || GatesFailed is not null)
            {
                Metrics = null;
                Message = null;
                GatesFailed = null;
            }
            else
            {
                // Only the URIs are left; Kubernetes truncates the rest rather than losing the whole message.
                break;
            }

            json = JsonSerializer.Serialize(this, TrainerSummaryJsonContext.Default.TrainerSummary);
        }

        return json;
    }
}
