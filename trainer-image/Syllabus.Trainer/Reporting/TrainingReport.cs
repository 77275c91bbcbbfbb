using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Syllabus.Api;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Reporting;

/// <summary>report.json: what was trained, on what, how it went, the final evaluation and the gates.</summary>
public sealed class TrainingReport
{
    public const string FileName = "report.json";

    [JsonPropertyName("kind")]
    public string Kind { get; init; } = "TrainingReport";

    [JsonPropertyName("run")]
    public string Run { get; set; } = "";

    /// <summary>Succeeded (training finished; gates may still have failed) or Failed.</summary>
    [JsonPropertyName("phase")]
    public string Phase { get; set; } = TrainingRunPhases.Succeeded;

    [JsonPropertyName("error")]
    public string? Error { get; set; }

    [JsonPropertyName("startedAt")]
    public DateTimeOffset StartedAt { get; set; }

    [JsonPropertyName("finishedAt")]
    public DateTimeOffset FinishedAt { get; set; }

    /// <summary>The resolved TrainingRun spec that was run.</summary>
    [JsonPropertyName("spec")]
    public JsonNode? Spec { get; set; }

    /// <summary>The data loader's report: rows read and used per file, skipped rows, imputed values.</summary>
    [JsonPropertyName("data")]
    public JsonNode? Data { get; set; }

    [JsonPropertyName("model")]
    public ModelSummary? Model { get; set; }

    [JsonPropertyName("epochsTrained")]
    public int EpochsTrained { get; set; }

    [JsonPropertyName("stoppedEarly")]
    public bool StoppedEarly { get; set; }

    [JsonPropertyName("bestEpoch")]
    public int? BestEpoch { get; set; }

    [JsonPropertyName("resumedFromEpoch")]
    public int? ResumedFromEpoch { get; set; }

    [JsonPropertyName("history")]
    public IReadOnlyList<EpochRecord> History { get; set; } = [];

    /// <summary>Which split the final evaluation and the gates used: test, or validation when there is no test data.</summary>
    [JsonPropertyName("evaluationSplit")]
    public string? EvaluationSplit { get; set; }

    /// <summary>The named test set's fingerprint (see LoadedData.TestDataFingerprint); null when evaluated on validation.</summary>
    [JsonPropertyName("testData")]
    public string? TestData { get; set; }

    [JsonPropertyName("evaluation")]
    public JsonNode? Evaluation { get; set; }

    [JsonPropertyName("metrics")]
    public IReadOnlyDictionary<string, double>? Metrics { get; set; }

    /// <summary>Continual learning: the tasks learnt so far, forgetting and backward transfer (a run with a base model whose report has a test accuracy).</summary>
    [JsonPropertyName("continual")]
    public ContinualReport? Continual { get; set; }

    /// <summary>Temperature scaling: the temperature, validation NLL and the evaluation split's ECE before and after.</summary>
    [JsonPropertyName("calibration")]
    public ModelCalibration? Calibration { get; set; }

    [JsonPropertyName("gates")]
    public IReadOnlyList<GateResult> Gates { get; set; } = [];

    [JsonPropertyName("gatesPassed")]
    public bool GatesPassed { get; set; }

    [JsonPropertyName("timings")]
    public Dictionary<string, double> Timings { get; set; } = [];

    [JsonPropertyName("modelUri")]
    public string? ModelUri { get; set; }

    [JsonPropertyName("reportUri")]
    public string? ReportUri { get; set; }

    [JsonPropertyName("profileUri")]
    public string? ProfileUri { get; set; }

    [JsonPropertyName("curvesUri")]
    public string? CurvesUri { get; set; }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));

    public static TrainingReport Load(string path) =>
        JsonSerializer.Deserialize<TrainingReport>(File.ReadAllText(path), JsonOptions) ?? throw new InvalidDataException($"{path}: empty report");

    /// <summary>Any serialisable object as a JSON node, with NaN allowed.</summary>
    public static JsonNode? ToNode(object? value) => value is null ? null : JsonSerializer.SerializeToNode(value, value.GetType(), JsonOptions);
}

/// <summary>The model part of the report.</summary>
public sealed class ModelSummary
{
    [JsonPropertyName("architecture")]
    public string Architecture { get; set; } = "";

    [JsonPropertyName("parameters")]
    public long Parameters { get; set; }

    [JsonPropertyName("trainableParameters")]
    public long TrainableParameters { get; set; }

    [JsonPropertyName("classes")]
    public IReadOnlyList<string> Classes { get; set; } = [];

    [JsonPropertyName("baseModel")]
    public TransferSummary? BaseModel { get; set; }

    [JsonPropertyName("ewcParameters")]
    public IReadOnlyList<string>? EwcParameters { get; set; }
}
