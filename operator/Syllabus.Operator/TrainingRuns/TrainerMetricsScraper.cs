using System.Buffers;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Syllabus.Api;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>Reads a trainer's live progress from its Prometheus endpoint.</summary>
public interface ITrainerMetricsScraper
{
    /// <summary>The progress, or null when the endpoint is not up yet or answers with something unusable.</summary>
    Task<TrainingProgress?> ScrapeAsync(string podIp, int port, CancellationToken ct);
}

/// <summary>
/// GET http://POD_IP:PORT/metrics. A trainer image may be anyone's, so what it answers is untrusted: at most
/// <see cref="MaxResponseBytes"/> are read, and the whole scrape (connect, headers, body) ends after
/// Trainer:ScrapeTimeout whatever the caller's token says. Failures are "no progress this time", never errors; an
/// oversized or malformed answer is logged with the reason.
/// </summary>
internal sealed partial class HttpTrainerMetricsScraper(
    HttpClient http,
    IOptions<TrainerImageOptions> options,
    TimeProvider time,
    ILogger<HttpTrainerMetricsScraper> logger) : ITrainerMetricsScraper
{
    /// <summary>1 MiB: the trainer's own exposition is a few KiB.</summary>
    public const int MaxResponseBytes = 1 << 20;

    public async Task<TrainingProgress?> ScrapeAsync(string podIp, int port, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(podIp);
        var host = podIp.Contains(':', StringComparison.Ordinal) ? $"[{podIp}]" : podIp;
        var uri = new Uri($"http://{host}:{port.ToString(CultureInfo.InvariantCulture)}/metrics");
        using var deadline = new CancellationTokenSource(options.Value.ScrapeTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        try
        {
            using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            if (response.Content.Headers.ContentLength > MaxResponseBytes)
            {
                LogTooLarge(uri, response.Content.Headers.ContentLength.Value);
                return null;
            }

            var text = await ReadBoundedAsync(response.Content, linked.Token).ConfigureAwait(false);
            if (text is null)
            {
                LogTooLarge(uri, MaxResponseBytes + 1L);
                return null;
            }

            return TrainerMetrics.ToProgress(PrometheusText.Parse(text), time.GetUtcNow().UtcDateTime);
        }
        catch (FormatException e)
        {
            LogMalformed(uri, e.Message);
            return null;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            LogTimedOut(uri, options.Value.ScrapeTimeout);
            return null;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>The body as UTF-8 text, or null when it is longer than <see cref="MaxResponseBytes"/>.</summary>
    private static async Task<string?> ReadBoundedAsync(HttpContent content, CancellationToken ct)
    {
        var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(MaxResponseBytes + 1);
            try
            {
                var read = 0;
                while (read <= MaxResponseBytes)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(read, MaxResponseBytes + 1 - read), ct).ConfigureAwait(false);
                    if (n == 0)
                    {
                        return Encoding.UTF8.GetString(buffer, 0, read);
                    }

                    read += n;
                }

                return null;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring the progress at {Uri}: the answer is over 1 MiB ({Bytes} bytes or more)")]
    private partial void LogTooLarge(Uri uri, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignoring the progress at {Uri}: not Prometheus text ({Reason})")]
    private partial void LogMalformed(Uri uri, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Progress scrape of {Uri} timed out after {Timeout}")]
    private partial void LogTimedOut(Uri uri, TimeSpan timeout);
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
