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

    /// <summary>Headline metrics by name.</summary>
    [JsonPropertyName("metrics")]
    public Dictionary<string, double>? Metrics { get; set; }

    [JsonPropertyName("gatesPassed")]
    public int GatesPassed { get; set; }

    /// <summary>Failed gates as <c>metric</c> or <c>metric@slice</c>.</summary>
    [JsonPropertyName("gatesFailed")]
    public List<string>? GatesFailed { get; set; }

    private static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

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
            return JsonSerializer.Deserialize<TrainerSummary>(message, Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The JSON, shortened (message, then failed gate names, then metrics) until it fits in <see cref="MaxBytes"/>.</summary>
    public string ToJson()
    {
        var json = JsonSerializer.Serialize(this, Options);
        while (Encoding.UTF8.GetByteCount(json) > MaxBytes)
        {
            if (Message is { Length: > 64 })
            {
                Message = Message[..(Message.Length / 2)] + Truncated;
            }
            else if (GatesFailed is { Count: > 1 })
            {
                GatesFailed = [.. GatesFailed.Take(GatesFailed.Count / 2), Truncated];
            }
            else
            {
                Metrics = null;
                Message = null;
                GatesFailed = null;
            }

            json = JsonSerializer.Serialize(this, Options);
        }

        return json;
    }
}
