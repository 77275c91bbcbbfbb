using System.Globalization;
using Syllabus.Api;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>Reads a trainer's live progress from its Prometheus endpoint.</summary>
public interface ITrainerMetricsScraper
{
    /// <summary>The progress, or null when the endpoint is not up yet or answers with something unusable.</summary>
    Task<TrainingProgress?> ScrapeAsync(string podIp, int port, CancellationToken ct);
}

/// <summary>GET http://POD_IP:PORT/metrics with a short timeout; failures are "no progress this time", never errors.</summary>
internal sealed class HttpTrainerMetricsScraper(HttpClient http, TimeProvider time) : ITrainerMetricsScraper
{
    public async Task<TrainingProgress?> ScrapeAsync(string podIp, int port, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(podIp);
        var host = podIp.Contains(':', StringComparison.Ordinal) ? $"[{podIp}]" : podIp;
        try
        {
            var text = await http.GetStringAsync(new Uri($"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}/metrics"), ct).ConfigureAwait(false);
            return TrainerMetrics.ToProgress(PrometheusText.Parse(text), time.GetUtcNow().UtcDateTime);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or FormatException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }
}

/// <summary>The trainer's gauge names and how they map onto status.progress.</summary>
public static class TrainerMetrics
{
    public const string Epoch = "syllabus_trainer_epoch";
    public const string TotalEpochs = "syllabus_trainer_total_epochs";
    public const string Step = "syllabus_trainer_step";
    public const string Loss = "syllabus_trainer_loss";
    public const string LearningRate = "syllabus_trainer_learning_rate";
    public const string StageInfo = "syllabus_trainer_stage_info";
    public const string DataFraction = "syllabus_trainer_data_fraction";
    public const string SamplesPerSecond = "syllabus_trainer_samples_per_second";
    public const string ValidationAccuracy = "syllabus_trainer_validation_accuracy";

    /// <summary>Progress from parsed samples; null when the trainer has not reported an epoch yet.</summary>
    public static TrainingProgress? ToProgress(IReadOnlyList<PrometheusSample> samples, DateTime now)
    {
        ArgumentNullException.ThrowIfNull(samples);
        double? Value(string name) => samples.FirstOrDefault(s => s.Name == name && double.IsFinite(s.Value)) is { } s ? s.Value : null;
        var epoch = Value(Epoch);
        if (epoch is null)
        {
            return null;
        }

        return new TrainingProgress
        {
            Epoch = (int)epoch.Value,
            TotalEpochs = Value(TotalEpochs) is { } total ? (int)total : null,
            Step = Value(Step) is { } step ? (long)step : null,
            Stage = samples.FirstOrDefault(s => s.Name == StageInfo && s.Value > 0 && s.Labels.ContainsKey("stage"))?.Labels["stage"],
            DataFraction = Round(Value(DataFraction)),
            Loss = Round(Value(Loss)),
            Accuracy = Round(Value(ValidationAccuracy)),
            LearningRate = Value(LearningRate),
            SamplesPerSecond = Value(SamplesPerSecond) is { } sps ? Math.Round(sps, 1) : null,
            UpdatedAt = now,
        };
    }

    // Four decimals are plenty for kubectl and keep status diffs (and writes) from chasing noise.
    private static double? Round(double? value) => value is { } v ? Math.Round(v, 4) : null;
}

/// <summary>One sample of the Prometheus text format.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// A small parser for the Prometheus text exposition format (0.0.4): comments, names, quoted label values with
/// escapes, values including NaN/+Inf, optional timestamps. Hand-written: the NuGet mirror has client libraries
/// that write this format, none that read it.
/// </summary>
public static class PrometheusText
{
    /// <exception cref="FormatException">A line is malformed; the message quotes it.</exception>
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            samples.Add(ParseLine(line));
        }

        return samples;
    }

    private static PrometheusSample ParseLine(string line)
    {
        var i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':'))
        {
            i++;
        }

        if (i == 0)
        {
            throw new FormatException($"Prometheus text: no metric name in '{line}'.");
        }

        var name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                while (i < line.Length && line[i] is ' ' or ',')
                {
                    i++;
                }

                if (i < line.Length && line[i] == '}')
                {
                    i++;
                    break;
                }

                var start = i;
                while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] == '_'))
                {
                    i++;
                }

                var label = line[start..i];
                if (label.Length == 0 || i + 1 >= line.Length || line[i] != '=' || line[i + 1] != '"')
                {
                    throw new FormatException($"Prometheus text: malformed labels in '{line}'.");
                }

                i += 2;
                var value = new System.Text.StringBuilder();
                while (true)
                {
                    if (i >= line.Length)
                    {
                        throw new FormatException($"Prometheus text: unterminated label value in '{line}'.");
                    }

                    var c = line[i++];
                    if (c == '"')
                    {
                        break;
                    }

                    if (c == '\\' && i < line.Length)
                    {
                        var e = line[i++];
                        value.Append(e switch { 'n' => '\n', _ => e });
                        continue;
                    }

                    value.Append(c);
                }

                labels[label] = value.ToString();
            }
        }

        var rest = line[i..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is 0 or > 2)
        {
            throw new FormatException($"Prometheus text: expected a value (and an optional timestamp) in '{line}'.");
        }

        return new PrometheusSample(name, labels, ParseValue(rest[0], line));
    }

    private static double ParseValue(string value, string line) => value switch
    {
        "NaN" => double.NaN,
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new FormatException($"Prometheus text: '{value}' is not a number in '{line}'."),
    };
}
