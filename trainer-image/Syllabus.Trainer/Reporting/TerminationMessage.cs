using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Syllabus.Trainer.Reporting;

/// <summary>
/// The compact summary written to the container's termination message (Kubernetes keeps at most 4096 bytes),
/// so the operator learns the outcome even when it cannot read the artifact store.
/// </summary>
public sealed class TerminationMessage
{
    public const int MaxBytes = 4096;
    public const string DefaultPath = "/dev/termination-log";

    [JsonPropertyName("phase")]
    public string Phase { get; set; } = "";

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

    private static readonly JsonSerializerOptions Options = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The summary from a report: the headline metrics and the failed gates.</summary>
    public static TerminationMessage FromReport(TrainingReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var headline = new[] { "accuracy", "macroF1", "weightedF1", "ece", "loss" };
        return new TerminationMessage
        {
            Phase = report.Phase,
            Message = report.Error,
            ModelUri = report.ModelUri,
            ReportUri = report.ReportUri,
            ProfileUri = report.ProfileUri,
            Epochs = report.EpochsTrained,
            Metrics = report.Metrics?.Where(m => headline.Contains(m.Key)).ToDictionary(m => m.Key, m => m.Value),
            GatesPassed = report.Gates.Count(g => g.Passed),
            GatesFailed = report.Gates.Where(g => !g.Passed).Select(g => g.Slice is null ? g.Metric : $"{g.Metric}@{g.Slice}").ToList() is { Count: > 0 } failed ? failed : null,
        };
    }

    /// <summary>The JSON, shortened (message, then failed gate names) until it fits in <see cref="MaxBytes"/>.</summary>
    public string ToJson()
    {
        var json = JsonSerializer.Serialize(this, Options);
        while (Encoding.UTF8.GetByteCount(json) > MaxBytes)
        {
            if (Message is { Length: > 64 })
            {
                Message = Message[..(Message.Length / 2)] + "…";
            }
            else if (GatesFailed is { Count: > 1 })
            {
                GatesFailed = [.. GatesFailed.Take(GatesFailed.Count / 2), "…"];
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

    /// <summary>
    /// Writes to <paramref name="path"/>, or, when none is given, to /dev/termination-log if it exists and is writable.
    /// </summary>
    /// <returns>The path written, or null when skipped.</returns>
    public string? Write(string? path)
    {
        var target = path;
        if (target is null)
        {
            if (!File.Exists(DefaultPath))
            {
                return null;
            }

            target = DefaultPath;
        }

        try
        {
            File.WriteAllText(target, ToJson());
            return target;
        }
        catch (Exception e) when (path is null && e is UnauthorizedAccessException or IOException)
        {
            return null;
        }
    }
}
