using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Syllabus.Api;

namespace Syllabus.Trainer.Training;

/// <summary>
/// Decides whether a checkpoint may be continued: SHA-256 over the parts of the spec that change the training
/// trajectory. Editing anything else (gates, resources, image, deadlines, retries, TTL, suspend, checkpoint cadence,
/// where artifacts go, the test split and the earlier tasks' test sets that are only read after training) keeps the
/// checkpoints.
/// </summary>
public static class ResumeFingerprint
{
    private static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public static string Of(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        // Test data is evaluated once training is over; every other data field decides what is trained on.
        var data = JsonSerializer.SerializeToNode(spec.Data, Options) as JsonObject;
        data?.Remove("test");
        // Likewise the earlier tasks' test sets (continual.previousTasks) are only measured after training.
        var continual = JsonSerializer.SerializeToNode(spec.Continual, Options) as JsonObject;
        continual?.Remove("previousTasks");
        if (continual is not null && continual.All(p => p.Value is null))
        {
            continual = null;
        }

        var trajectory = new Trajectory(
            data,
            spec.Model,
            spec.BaseModel,
            spec.Curriculum,
            spec.Optimizer,
            spec.LrSchedule,
            spec.Epochs,
            spec.BatchSize,
            spec.Seed,
            spec.EarlyStopping,
            continual);
        return Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(trajectory, Options)));
    }

    /// <summary>
    /// What decides the weights after each epoch: data, model (and the base model it starts from), curriculum,
    /// optimiser, schedule, epochs, batch size, seed, early stopping (when the run ends and which weights it keeps)
    /// and continual-learning penalties.
    /// </summary>
    private sealed record Trajectory(
        JsonNode? Data,
        ModelSpec? Model,
        BaseModelSpec? BaseModel,
        CurriculumSpec? Curriculum,
        OptimizerSpec? Optimizer,
        LrScheduleSpec? LrSchedule,
        int Epochs,
        int BatchSize,
        int Seed,
        EarlyStoppingSpec? EarlyStopping,
        JsonNode? Continual);
}
