using System.Text.Json.Serialization;

namespace Syllabus.Trainer.Models;

/// <summary>
/// Post-hoc calibration of the model's probabilities, stored in model.json and the report: temperature scaling
/// (Guo et al. 2017), probabilities = softmax(logits / <see cref="Temperature"/>), fitted after training on the
/// validation split. A model.json without it (written before calibration existed) means temperature 1.
/// </summary>
public sealed class ModelCalibration
{
    public const string TemperatureScaling = "TemperatureScaling";

    [JsonPropertyName("method")]
    public string Method { get; init; } = TemperatureScaling;

    /// <summary>Whether a temperature was fitted; false (temperature 1) when there was nothing to fit it on.</summary>
    [JsonPropertyName("calibrated")]
    public bool Calibrated { get; init; }

    /// <summary>T &gt; 0 dividing the logits; 1 when not calibrated.</summary>
    [JsonPropertyName("temperature")]
    public double Temperature { get; init; } = 1;

    /// <summary>Why the model is not calibrated; null when it is.</summary>
    [JsonPropertyName("reason")]
    public string? Reason { get; init; }

    /// <summary>The split the temperature was fitted on (validation).</summary>
    [JsonPropertyName("fitSplit")]
    public string? FitSplit { get; init; }

    /// <summary>Labelled rows the temperature was fitted on.</summary>
    [JsonPropertyName("fitRows")]
    public long FitRows { get; init; }

    /// <summary>Mean negative log-likelihood on the fit split at temperature 1.</summary>
    [JsonPropertyName("nllBefore")]
    public double? NllBefore { get; init; }

    /// <summary>Mean negative log-likelihood on the fit split at <see cref="Temperature"/>.</summary>
    [JsonPropertyName("nllAfter")]
    public double? NllAfter { get; init; }

    /// <summary>The split the expected calibration errors are measured on (the evaluation split: test, else validation).</summary>
    [JsonPropertyName("eceSplit")]
    public string? EceSplit { get; init; }

    /// <summary>Expected calibration error of the raw softmax on <see cref="EceSplit"/>.</summary>
    [JsonPropertyName("eceBefore")]
    public double? EceBefore { get; init; }

    /// <summary>Expected calibration error at <see cref="Temperature"/> on <see cref="EceSplit"/>.</summary>
    [JsonPropertyName("eceAfter")]
    public double? EceAfter { get; init; }

    /// <summary>Not calibrated (temperature 1), saying why.</summary>
    public static ModelCalibration None(string reason) => new() { Calibrated = false, Temperature = 1, Reason = reason };

    /// <summary>The temperature to divide logits by: 1 without a calibration.</summary>
    public static double TemperatureOf(ModelCalibration? calibration) => calibration?.Temperature ?? 1;

    /// <summary>Checks a calibration read from model.json.</summary>
    /// <exception cref="InvalidDataException">A temperature that is not a finite positive number, or not 1 while not calibrated.</exception>
    public void Validate(string where)
    {
        if (Method != TemperatureScaling)
        {
            throw new InvalidDataException($"{where}: calibration.method '{Method}' is not {TemperatureScaling}");
        }

        if (!double.IsFinite(Temperature) || Temperature <= 0)
        {
            throw new InvalidDataException($"{where}: calibration.temperature {Temperature} is not a finite number > 0");
        }

        if (!Calibrated && Temperature != 1)
        {
            throw new InvalidDataException($"{where}: calibration.temperature is {Temperature} but calibration.calibrated is false (an uncalibrated model has temperature 1)");
        }
    }
}
