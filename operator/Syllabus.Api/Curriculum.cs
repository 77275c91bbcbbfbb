using System.Diagnostics.CodeAnalysis;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using k8s.Models;
using Syllabus.Api.Schema;

namespace Syllabus.Api;

/// <summary>How training examples are ordered by difficulty and paced in over the epochs.</summary>
[KubernetesEntity(Group = SyllabusGroup.Name, ApiVersion = SyllabusGroup.Version, Kind = KindName, PluralName = Plural)]
[CustomResource("curriculum", "cur")]
[Description("Curriculum orders training examples by difficulty and paces them in: a pacing function or explicit stages.")]
[PrinterColumn(0, "Difficulty", "string", ".spec.difficulty.source", Description = "Where example difficulty comes from")]
[PrinterColumn(1, "Pacing", "string", ".spec.pacing.function", Description = "Pacing function (empty when staged)")]
[PrinterColumn(2, "Runs", "integer", ".status.usedByCount", Description = "TrainingRuns using this curriculum")]
[PrinterColumn(3, "Valid", "string", ".status.conditions[?(@.type==\"Valid\")].status")]
[PrinterColumn(4, "Age", "date", ".metadata.creationTimestamp")]
public sealed class Curriculum : SyllabusResource<CurriculumSpec, CurriculumStatus>
{
    public const string KindName = "Curriculum";
    public const string Plural = "curricula";

    [JsonPropertyName("kind")]
    public override string Kind { get; set; } = KindName;
}

/// <summary>Sources of per-example difficulty.</summary>
public static class DifficultySources
{
    public const string Column = "Column";
    public const string TeacherLoss = "TeacherLoss";
    public const string TeacherConfidence = "TeacherConfidence";
}

/// <summary>Pacing functions: the fraction of (easiest-first) data in use as training progresses.</summary>
public static class PacingFunctions
{
    public const string Linear = "Linear";
    public const string Root = "Root";
    public const string Step = "Step";
    public const string Exponential = "Exponential";
    public const string Geometric = "Geometric";
}

[CelRule("has(self.pacing) != has(self.stages)", "exactly one of pacing or stages must be set")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class CurriculumSpec
{
    [JsonPropertyName("difficulty")]
    [Description("Where each example's difficulty comes from.")]
    [Required]
    public DifficultySpec Difficulty { get; set; } = new();

    [JsonPropertyName("pacing")]
    [Description("A pacing function: the share of the easiest examples in use grows from startFraction to 1 at fullDataAt.")]
    public PacingSpec? Pacing { get; set; }

    [JsonPropertyName("stages")]
    [Description("Explicit stages, each using a larger share of the data, advanced by epochs and metric thresholds.")]
    [MinLength(1), MaxLength(32)]
    [ListMapKeys("name")]
    public List<CurriculumStage>? Stages { get; set; }

    [JsonPropertyName("antiCurriculum")]
    [Description("Order hardest first instead of easiest first.")]
    [DefaultValue(false)]
    public bool AntiCurriculum { get; set; }
}

[CelRule("self.source != 'Column' || has(self.column)", "difficulty.column is required when source is Column")]
[CelRule("self.source == 'Column' || has(self.teacher)", "difficulty.teacher is required when source is TeacherLoss or TeacherConfidence")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class DifficultySpec
{
    [JsonPropertyName("source")]
    [Description("Column: a numeric dataset column (higher is harder). TeacherLoss: a teacher model's per-example loss. TeacherConfidence: one minus the teacher's confidence in the true label.")]
    [Required, AllowedValues(DifficultySources.Column, DifficultySources.TeacherLoss, DifficultySources.TeacherConfidence)]
    public string Source { get; set; } = DifficultySources.Column;

    [JsonPropertyName("column")]
    [Description("The dataset column holding difficulty (source Column); the trainer reads it as the run's data.difficultyColumn, which need not repeat it.")]
    [MinLength(1)]
    public string? Column { get; set; }

    [JsonPropertyName("teacher")]
    [Description("The teacher model that scores difficulty (sources TeacherLoss and TeacherConfidence).")]
    public ModelReference? Teacher { get; set; }
}

[CelRule("self.function != 'Step' || has(self.steps)", "pacing.steps is required for the Step function")]
[CelRule("!has(self.steps) || self.function == 'Step'", "pacing.steps is only used by the Step function")]
public sealed class PacingSpec
{
    [JsonPropertyName("function")]
    [Description("How the data fraction grows from startFraction to 1: Linear, Root (square root), Step (equal steps), Exponential, Geometric.")]
    [Required, AllowedValues(PacingFunctions.Linear, PacingFunctions.Root, PacingFunctions.Step, PacingFunctions.Exponential, PacingFunctions.Geometric)]
    public string Function { get; set; } = PacingFunctions.Linear;

    [JsonPropertyName("startFraction")]
    [Description("Share of the easiest examples used at the start.")]
    [Range(0.01, 1.0), DefaultValue(0.2)]
    public double StartFraction { get; set; } = 0.2;

    [JsonPropertyName("fullDataAt")]
    [Description("Point of training (as a fraction of all epochs) from which all data is used.")]
    [Range(0.01, 1.0), DefaultValue(0.5)]
    public double FullDataAt { get; set; } = 0.5;

    [JsonPropertyName("steps")]
    [Description("Number of equal increments (Step function only).")]
    [Range(1, 100)]
    public int? Steps { get; set; }
}

[CelRule("!has(self.maxEpochs) || self.maxEpochs >= self.minEpochs", "maxEpochs must be at least minEpochs")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class CurriculumStage
{
    [JsonPropertyName("name")]
    [Description("Stage name, shown in progress.")]
    [Required, MinLength(1), MaxLength(63)]
    public string Name { get; set; } = "";

    [JsonPropertyName("dataFraction")]
    [Description("Share of the easiest examples used in this stage.")]
    [Required, Range(0.01, 1.0)]
    public double DataFraction { get; set; } = 1.0;

    [JsonPropertyName("minEpochs")]
    [Description("Epochs to spend in the stage before advancing may be considered.")]
    [Range(0, 10000), DefaultValue(1)]
    public int MinEpochs { get; set; } = 1;

    [JsonPropertyName("maxEpochs")]
    [Description("Advance after this many epochs even if advanceWhen is not met.")]
    [Range(1, 10000)]
    public int? MaxEpochs { get; set; }

    [JsonPropertyName("advanceWhen")]
    [Description("Validation metric threshold that advances to the next stage once minEpochs have passed.")]
    public Gate? AdvanceWhen { get; set; }
}

[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class CurriculumStatus : ResourceStatus
{
    /// <summary>At most this many names in <see cref="UsedBy"/>, so the status stays small however many runs share a curriculum.</summary>
    public const int MaxUsedByNames = 50;

    [JsonPropertyName("usedBy")]
    [Description("The first TrainingRuns (by name, at most 50) that reference this curriculum; usedByCount counts them all.")]
    [MaxLength(MaxUsedByNames)]
    public List<string>? UsedBy { get; set; }

    [JsonPropertyName("usedByCount")]
    [Description("Number of TrainingRuns that reference this curriculum.")]
    public int? UsedByCount { get; set; }
}
