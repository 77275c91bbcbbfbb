using System.Text.Json.Serialization;

namespace Syllabus.Api;

/// <summary>
/// Source-generated JSON metadata for every Syllabus type (the five kinds, and through them their specs and statuses;
/// the trainer's report and summary): no reflection, so it works under Native AOT, where the operator ships. Its own
/// options are System.Text.Json's defaults (deep copies and the trainer's files); under KubernetesClient's options
/// (camelCase, nulls omitted) the same metadata serves the API traffic (see the operator's Program.cs).
/// </summary>
[JsonSerializable(typeof(Curriculum))]
[JsonSerializable(typeof(TrainingRun))]
[JsonSerializable(typeof(ModelDeployment))]
[JsonSerializable(typeof(DriftPolicy))]
[JsonSerializable(typeof(LabelingQueue))]
[JsonSerializable(typeof(DriftReport))]
[JsonSerializable(typeof(TrainerSummary))]
public sealed partial class SyllabusJsonContext : JsonSerializerContext;

/// <summary>The trainer's termination-message summary: nulls left out, NaN and infinities as strings.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(TrainerSummary))]
internal sealed partial class TrainerSummaryJsonContext : JsonSerializerContext;

/// <summary>Deep copies of Syllabus values through <see cref="SyllabusJsonContext"/> (System.Text.Json's default options).</summary>
public static class SyllabusJson
{
    public static T Copy<T>(T value)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(value);
        var info = (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)(SyllabusJsonContext.Default.GetTypeInfo(typeof(T))
            ?? throw new InvalidOperationException($"{typeof(T).Name} is not in SyllabusJsonContext."));
        return System.Text.Json.JsonSerializer.Deserialize(System.Text.Json.JsonSerializer.Serialize(value, info), info)
            ?? throw new InvalidOperationException($"Copying a {typeof(T).Name} produced null.");
    }
}
