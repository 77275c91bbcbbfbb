using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>The informer caches the TrainingRun reconciler reads instead of the API server.</summary>
internal sealed record TrainingRunCaches(
    ICacheReader<TrainingRun> Runs,
    ICacheReader<V1Job> Jobs,
    ICacheReader<V1Pod> Pods,
    ICacheReader<V1ConfigMap> ConfigMaps,
    ICacheReader<Curriculum> Curricula);

/// <summary>Index names on the TrainingRun and Curriculum caches; registered in <see cref="TrainingRunServiceCollectionExtensions"/>.</summary>
public static class TrainingRunIndexes
{
    /// <summary>TrainingRuns by the Curriculum they reference.</summary>
    public const string Curriculum = "spec.curriculumRef.name";

    /// <summary>TrainingRuns by the TrainingRun their base model comes from.</summary>
    public const string BaseRun = "spec.baseModel.trainingRun.name";

    /// <summary>TrainingRuns by the teacher TrainingRun of their inline curriculum.</summary>
    public const string TeacherRun = "spec.curriculum.difficulty.teacher.trainingRun.name";

    /// <summary>TrainingRuns by the value of the run label their pods carry (names over 63 characters are hashed).</summary>
    public const string RunLabel = "metadata.labels[syllabus.dev/training-run]";

    /// <summary>Curricula by the teacher TrainingRun of their difficulty source.</summary>
    public const string CurriculumTeacherRun = "spec.difficulty.teacher.trainingRun.name";

    public static string? CurriculumOf(TrainingRun run) => run?.Spec?.CurriculumRef?.Name;

    public static string? BaseRunOf(TrainingRun run) => run?.Spec?.BaseModel?.TrainingRun?.Name;

    public static string? TeacherRunOf(TrainingRun run) => run?.Spec?.Curriculum?.Difficulty?.Teacher?.TrainingRun?.Name;

    public static string? RunLabelOf(TrainingRun run) => run?.Metadata?.Name is { Length: > 0 } name ? TrainingRunNames.LabelValue(name) : null;

    public static string? TeacherRunOf(Curriculum curriculum) => curriculum?.Spec?.Difficulty?.Teacher?.TrainingRun?.Name;

    /// <summary>The run a trainer pod belongs to, as its run label names it (an index value of <see cref="RunLabel"/>).</summary>
    public static string? RunLabelOf(V1Pod pod) =>
        pod?.Metadata?.Labels is { } labels && labels.TryGetValue(TrainingRunNames.RunLabel, out var run) ? run : null;
}
