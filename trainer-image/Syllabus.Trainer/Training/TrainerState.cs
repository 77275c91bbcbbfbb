using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Syllabus.Trainer.Training;

/// <summary>
/// Everything the loop needs to continue where it stopped (Hugging Face's TrainerState): saved with every
/// checkpoint as trainer_state.json and written into the report.
/// </summary>
public sealed class TrainerState
{
    /// <summary>Epochs completed so far (the next epoch to run, 0-based).</summary>
    [JsonPropertyName("epoch")]
    public int Epoch { get; set; }

    [JsonPropertyName("totalEpochs")]
    public int TotalEpochs { get; set; }

    /// <summary>Optimisation steps so far.</summary>
    [JsonPropertyName("globalStep")]
    public long GlobalStep { get; set; }

    /// <summary>Hash of the spec that wrote the state; a checkpoint of another spec is not resumed.</summary>
    [JsonPropertyName("specFingerprint")]
    public string? SpecFingerprint { get; set; }

    [JsonPropertyName("seed")]
    public int Seed { get; set; }

    [JsonPropertyName("bestMetric")]
    public double? BestMetric { get; set; }

    [JsonPropertyName("bestEpoch")]
    public int? BestEpoch { get; set; }

    [JsonPropertyName("epochsWithoutImprovement")]
    public int EpochsWithoutImprovement { get; set; }

    [JsonPropertyName("stoppedEarly")]
    public bool StoppedEarly { get; set; }

    /// <summary>Epoch from which this process resumed (null for a fresh start).</summary>
    [JsonPropertyName("resumedFromEpoch")]
    public int? ResumedFromEpoch { get; set; }

    [JsonPropertyName("curriculum")]
    public JsonObject? CurriculumState { get; set; }

    [JsonPropertyName("schedule")]
    public JsonObject? ScheduleState { get; set; }

    [JsonPropertyName("history")]
    public List<EpochRecord> History { get; set; } = [];

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public static TrainerState FromJson(string json) =>
        JsonSerializer.Deserialize<TrainerState>(json, Options) ?? throw new InvalidDataException("empty trainer state");
}

/// <summary>One epoch of the history: what was trained on and how it went.</summary>
public sealed class EpochRecord
{
    /// <summary>1-based epoch number.</summary>
    [JsonPropertyName("epoch")]
    public int Epoch { get; set; }

    [JsonPropertyName("stage")]
    public string Stage { get; set; } = "";

    [JsonPropertyName("stageIndex")]
    public int StageIndex { get; set; }

    [JsonPropertyName("dataFraction")]
    public double DataFraction { get; set; }

    [JsonPropertyName("examples")]
    public int Examples { get; set; }

    [JsonPropertyName("replayExamples")]
    public int ReplayExamples { get; set; }

    [JsonPropertyName("trainLoss")]
    public double TrainLoss { get; set; }

    [JsonPropertyName("trainAccuracy")]
    public double TrainAccuracy { get; set; }

    /// <summary>Base-group learning rate at the end of the epoch (before the epoch's schedule step).</summary>
    [JsonPropertyName("learningRate")]
    public double LearningRate { get; set; }

    [JsonPropertyName("validation")]
    public Dictionary<string, double> Validation { get; set; } = [];

    [JsonPropertyName("seconds")]
    public double Seconds { get; set; }

    [JsonPropertyName("samplesPerSecond")]
    public double SamplesPerSecond { get; set; }
}

/// <summary>Flags callbacks set to steer the loop (Hugging Face's TrainerControl).</summary>
public sealed class TrainerControl
{
    public bool ShouldStop { get; set; }

    public bool ShouldSave { get; set; }

    public bool ShouldEvaluate { get; set; } = true;
}

/// <summary>What one optimisation step did; handed to <see cref="ITrainerCallback.OnStepEnd"/>.</summary>
public readonly record struct StepInfo(long Step, int Epoch, int BatchInEpoch, int BatchesInEpoch, double Loss, double LearningRate, double SamplesPerSecond);
