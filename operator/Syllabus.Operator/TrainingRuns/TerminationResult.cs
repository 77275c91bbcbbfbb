using System.Text.Json;
using System.Text.Json.Serialization;
using Syllabus.Api;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>The trainer's termination message: a compact JSON summary of its report (the trainer's contract).</summary>
public sealed class TrainerSummary
{
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

    [JsonPropertyName("metrics")]
    public Dictionary<string, double>? Metrics { get; set; }

    [JsonPropertyName("gatesPassed")]
    public int GatesPassed { get; set; }

    [JsonPropertyName("gatesFailed")]
    public List<string>? GatesFailed { get; set; }

    private static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

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

    /// <summary>
    /// status.result: the URIs, metrics and one outcome per gate of the spec. A gate failed when the summary names it
    /// (<c>metric</c> or <c>metric@slice</c>); its value is the headline metric when the summary carries it.
    /// </summary>
    public TrainingResult ToResult(IReadOnlyList<Gate>? gates)
    {
        var failed = new HashSet<string>(GatesFailed ?? [], StringComparer.Ordinal);
        var truncated = failed.Contains("…");
        return new TrainingResult
        {
            ModelUri = ModelUri,
            ReportUri = ReportUri,
            ProfileUri = ProfileUri,
            Epochs = Epochs,
            Metrics = Metrics is { Count: > 0 } ? new Dictionary<string, double>(Metrics.Where(m => double.IsFinite(m.Value))) : null,
            Gates = gates is { Count: > 0 }
                ? [.. gates.Select(g =>
                {
                    var key = g.Slice is null ? g.Metric : $"{g.Metric}@{g.Slice}";
                    double? value = g.Slice is null && Metrics?.TryGetValue(g.Metric, out var v) == true && double.IsFinite(v) ? v : null;
                    var passed = !failed.Contains(key) && !(truncated && !PassesOnValue(g, value));
                    return new GateResult
                    {
                        Metric = g.Metric,
                        Slice = g.Slice,
                        AtLeast = g.AtLeast,
                        AtMost = g.AtMost,
                        Value = value,
                        Passed = passed,
                        Message = passed ? null : value is null ? "failed (see the report)" : $"{g.Metric} = {value:0.####} is {(g.AtLeast is not null ? $"below {g.AtLeast}" : $"above {g.AtMost}")}",
                    };
                })]
                : null,
        };
    }

    private static bool PassesOnValue(Gate gate, double? value) =>
        value is { } v && (gate.AtLeast is not { } least || v >= least) && (gate.AtMost is not { } most || v <= most);
}
