using System.Diagnostics.CodeAnalysis;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using k8s.Models;
using Syllabus.Api.Schema;

namespace Syllabus.Api;

/// <summary>One training job: data, model, curriculum, optimiser and schedule, gates, resources.</summary>
[KubernetesEntity(Group = SyllabusGroup.Name, ApiVersion = SyllabusGroup.Version, Kind = KindName, PluralName = Plural)]
[CustomResource("trainingrun", "tr")]
[Description("TrainingRun trains one model with the Syllabus trainer in a Job on a (GPU) node and judges it by its gates.")]
[PrinterColumn(0, "Phase", "string", ".status.phase")]
[PrinterColumn(1, "Stage", "string", ".status.progress.stage", Description = "Current curriculum stage")]
[PrinterColumn(2, "Epoch", "integer", ".status.progress.epoch")]
[PrinterColumn(3, "Accuracy", "number", ".status.progress.accuracy", Description = "Latest validation accuracy")]
[PrinterColumn(4, "Gates", "string", ".status.conditions[?(@.type==\"GatesPassed\")].status", Priority = 1)]
[PrinterColumn(5, "Model", "string", ".status.result.modelUri", Priority = 1)]
[PrinterColumn(6, "Age", "date", ".metadata.creationTimestamp")]
public sealed class TrainingRun : SyllabusResource<TrainingRunSpec, TrainingRunStatus>
{
    public const string KindName = "TrainingRun";
    public const string Plural = "trainingruns";

    [JsonPropertyName("kind")]
    public override string Kind { get; set; } = KindName;
}

public static class TrainingRunPhases
{
    public const string Pending = "Pending";
    public const string Running = "Running";
    public const string Succeeded = "Succeeded";
    public const string Failed = "Failed";
    public const string Suspended = "Suspended";
}

[CelRule("!(has(self.curriculumRef) && has(self.curriculum))", "set at most one of curriculumRef or curriculum")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class TrainingRunSpec
{
    [JsonPropertyName("model")]
    [Description("The model to train.")]
    [Required]
    public ModelSpec Model { get; set; } = new();

    [JsonPropertyName("baseModel")]
    [Description("Start from a pretrained model (transfer learning or warm start).")]
    public BaseModelSpec? BaseModel { get; set; }

    [JsonPropertyName("data")]
    [Description("Training, validation and test data.")]
    [Required]
    public DataSpec Data { get; set; } = new();

    [JsonPropertyName("curriculumRef")]
    [Description("A Curriculum in the same namespace. The operator inlines it into the trainer's config when the run starts; later changes to the Curriculum do not alter a started run.")]
    public LocalObjectReference? CurriculumRef { get; set; }

    [JsonPropertyName("curriculum")]
    [Description("A curriculum given inline (the resolved form the trainer reads).")]
    public CurriculumSpec? Curriculum { get; set; }

    [JsonPropertyName("optimizer")]
    [Description("Optimiser and its hyperparameters.")]
    public OptimizerSpec Optimizer { get; set; } = new();

    [JsonPropertyName("lrSchedule")]
    [Description("Learning-rate schedule, optionally preceded by a linear warm-up.")]
    public LrScheduleSpec LrSchedule { get; set; } = new();

    [JsonPropertyName("epochs")]
    [Description("Number of passes over the training data.")]
    [Range(1, 10000), DefaultValue(10)]
    public int Epochs { get; set; } = 10;

    [JsonPropertyName("batchSize")]
    [Description("Examples per optimisation step.")]
    [Range(1, 65536), DefaultValue(64)]
    public int BatchSize { get; set; } = 64;

    [JsonPropertyName("seed")]
    [Description("Random seed; with the same seed and data a CPU run is reproducible.")]
    [Range(0, int.MaxValue), DefaultValue(42)]
    public int Seed { get; set; } = 42;

    [JsonPropertyName("earlyStopping")]
    [Description("Stop when a validation metric stops improving.")]
    public EarlyStoppingSpec? EarlyStopping { get; set; }

    [JsonPropertyName("checkpoint")]
    [Description("Checkpointing; a restarted run resumes from the last checkpoint unless the data, model, base model, curriculum, optimizer, schedule, epochs, batch size, seed, early stopping or continual settings changed (edited gates, resources or deadlines keep it).")]
    public CheckpointSpec Checkpoint { get; set; } = new();

    [JsonPropertyName("continual")]
    [Description("Continual-learning regularisation against forgetting the base model's tasks.")]
    public ContinualSpec? Continual { get; set; }

    [JsonPropertyName("gates")]
    [Description("Evaluation gates the final model must pass to be a promotion candidate.")]
    [MaxLength(32)]
    public List<Gate>? Gates { get; set; }

    [JsonPropertyName("resources")]
    [Description("GPUs, CPU, memory and placement of the trainer pod.")]
    public ComputeResources? Resources { get; set; }

    [JsonPropertyName("image")]
    [Description("Trainer image; defaults to the operator's configured trainer image.")]
    public string? Image { get; set; }

    [JsonPropertyName("artifacts")]
    [Description("Where the model, checkpoints, report and data profile are written.")]
    [Required]
    public ArtifactsSpec Artifacts { get; set; } = new();

    [JsonPropertyName("backoffLimit")]
    [Description("Retries after a failed attempt; each retry resumes from the last checkpoint.")]
    [Range(0, 20), DefaultValue(2)]
    public int BackoffLimit { get; set; } = 2;

    [JsonPropertyName("activeDeadlineSeconds")]
    [Description("Wall-clock limit of the whole run in seconds; the run fails with DeadlineExceeded after it.")]
    [Range(1, long.MaxValue)]
    public long? ActiveDeadlineSeconds { get; set; }

    [JsonPropertyName("ttlSecondsAfterFinished")]
    [Description("Delete the run this many seconds after it finished.")]
    [Range(0, int.MaxValue)]
    public int? TtlSecondsAfterFinished { get; set; }

    [JsonPropertyName("suspend")]
    [Description("Stop the trainer (keeping checkpoints) while true; resume from the last checkpoint when set back to false.")]
    [DefaultValue(false)]
    public bool Suspend { get; set; }
}

public static class ModelArchitectures
{
    public const string Mlp = "MLP";
    public const string Cnn = "CNN";
    public const string Custom = "Custom";
}

[CelRule("self.architecture != 'CNN' || has(self.inputShape)", "model.inputShape is required for a CNN")]
[CelRule("self.architecture != 'Custom' || has(self.image)", "model.image is required for a Custom model")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class ModelSpec
{
    [JsonPropertyName("architecture")]
    [Description("MLP or CNN built into the trainer, or Custom (your own trainer image that honours the trainer contract).")]
    [Required, AllowedValues(ModelArchitectures.Mlp, ModelArchitectures.Cnn, ModelArchitectures.Custom)]
    public string Architecture { get; set; } = ModelArchitectures.Mlp;

    [JsonPropertyName("hiddenLayers")]
    [Description("Widths of the hidden layers (MLP) or of the fully connected layers after the convolutions (CNN).")]
    [MaxLength(16)]
    public List<int>? HiddenLayers { get; set; }

    [JsonPropertyName("channels")]
    [Description("Output channels of each convolution block (CNN).")]
    [MaxLength(8)]
    public List<int>? Channels { get; set; }

    [JsonPropertyName("inputShape")]
    [Description("Shape of one example as channels, height, width (CNN), e.g. [1, 28, 28].")]
    [MinLength(3), MaxLength(3)]
    public List<int>? InputShape { get; set; }

    [JsonPropertyName("dropout")]
    [Description("Dropout probability between layers.")]
    [Range(0.0, 0.95), DefaultValue(0.0)]
    public double Dropout { get; set; }

    [JsonPropertyName("image")]
    [Description("Container image of a Custom model's trainer.")]
    public string? Image { get; set; }

    [JsonPropertyName("command")]
    [Description("Command of a Custom model's trainer container.")]
    public List<string>? Command { get; set; }
}

[CelRule("(has(self.trainingRun) ? 1 : 0) + (has(self.uri) ? 1 : 0) == 1", "a base model has exactly one source: trainingRun or uri")]
public sealed class BaseModelSpec
{
    [JsonPropertyName("trainingRun")]
    [Description("A TrainingRun in the same namespace; this run waits for it to succeed with its gates passed.")]
    public LocalObjectReference? TrainingRun { get; set; }

    [JsonPropertyName("uri")]
    [Description("Location of a model artifact folder (model.safetensors + model.json).")]
    [RegularExpression(SyllabusGroup.DataUriPattern)]
    public string? Uri { get; set; }

    [JsonPropertyName("freeze")]
    [Description("Parameters whose names match any of these regular expressions are not trained, e.g. ^features\\.")]
    public List<string>? Freeze { get; set; }

    [JsonPropertyName("resetHead")]
    [Description("Re-initialise the output layer (also to a different number of classes).")]
    [DefaultValue(false)]
    public bool ResetHead { get; set; }

    [JsonPropertyName("baseLearningRateMultiplier")]
    [Description("Learning rate of unfrozen base (non-head) parameters as a multiple of the learning rate.")]
    [Range(0.0, 1.0), DefaultValue(1.0)]
    public double BaseLearningRateMultiplier { get; set; } = 1.0;
}

public static class MissingValuePolicies
{
    public const string Fail = "Fail";
    public const string Skip = "Skip";
    public const string Impute = "Impute";
}

public static class ImputeStrategies
{
    public const string Mean = "Mean";
    public const string Median = "Median";
    public const string Zero = "Zero";
    public const string MostFrequent = "MostFrequent";
}

public static class Normalizations
{
    public const string None = "None";
    public const string Standard = "Standard";
    public const string MinMax = "MinMax";
    public const string Scale = "Scale";
}

[CelRule("!(has(self.validation) && has(self.validationFraction))", "set at most one of validation or validationFraction")]
[CelRule("self.normalization != 'Scale' || has(self.scale)", "data.scale is required when normalization is Scale")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class DataSpec
{
    [JsonPropertyName("train")]
    [Description("Training data.")]
    [Required]
    public DatasetSource Train { get; set; } = new();

    [JsonPropertyName("additionalTrain")]
    [Description("Further training data, read after train and trained on as part of it, every row (data.limit samples train only; the validation hold-out, class inference and the fitted normalisation take all of it; bad rows are reported with their own file and line). Each source must have every column train's rows are read by (the feature columns, the label and any difficulty, slice, weight or timestamp column) and no column train's first file lacks. A LabelingQueue's retraining run adds its label export here.")]
    [MaxLength(64)]
    public List<DatasetSource>? AdditionalTrain { get; set; }

    [JsonPropertyName("validation")]
    [Description("Validation data in its own file(s).")]
    public DatasetSource? Validation { get; set; }

    [JsonPropertyName("validationFraction")]
    [Description("Hold out this share of the training data (stratified, seeded) for validation.")]
    [Range(0.01, 0.9)]
    public double? ValidationFraction { get; set; }

    [JsonPropertyName("test")]
    [Description("Test data for the final report and the gates; without it the gates use the validation data. A test set left with no usable rows fails the run.")]
    public DatasetSource? Test { get; set; }

    [JsonPropertyName("labelColumn")]
    [Description("Column holding the label: a class name, compared as written (\"1\" and \"1.0\" are different classes; a label is never read as a class index).")]
    [MinLength(1), DefaultValue("label")]
    public string LabelColumn { get; set; } = "label";

    [JsonPropertyName("classes")]
    [Description("Class names in index order; every label must be one of them exactly (other labels are bad rows). Without it the classes are the labels found in the training data, sorted by value when all are integers (1..K gives K classes) and by text otherwise; kept in the model config.")]
    [MaxLength(10000)]
    public List<string>? Classes { get; set; }

    [JsonPropertyName("featureColumns")]
    [Description("Feature columns; by default every column that is not the label or a declared special column.")]
    public List<string>? FeatureColumns { get; set; }

    [JsonPropertyName("categoricalColumns")]
    [Description("Feature columns one-hot encoded from the categories seen in the training data.")]
    public List<string>? CategoricalColumns { get; set; }

    [JsonPropertyName("difficultyColumn")]
    [Description("Optional per-example difficulty column, kept out of the features. A Column curriculum's difficulty.column sets it; naming a different column here is an error.")]
    public string? DifficultyColumn { get; set; }

    [JsonPropertyName("sliceColumn")]
    [Description("Optional column naming the slice (segment) of each example; metrics are also reported per slice.")]
    public string? SliceColumn { get; set; }

    [JsonPropertyName("weightColumn")]
    [Description("Optional per-example loss weight column.")]
    public string? WeightColumn { get; set; }

    [JsonPropertyName("timestampColumn")]
    [Description("Optional timestamp column (ISO 8601 or Unix seconds); used to order replay data.")]
    public string? TimestampColumn { get; set; }

    [JsonPropertyName("missingValues")]
    [Description("What to do with missing feature values (empty cells and the missingValues.tokens).")]
    public MissingValuesSpec MissingValues { get; set; } = new();

    [JsonPropertyName("maxBadRows")]
    [Description("Malformed rows that may be skipped (each reported with file and line) before loading fails.")]
    [Range(0, int.MaxValue), DefaultValue(0)]
    public int MaxBadRows { get; set; }

    [JsonPropertyName("normalization")]
    [Description("Feature normalisation fitted on the training data: None, Standard (zero mean, unit variance), MinMax (0..1), Scale (divide by data.scale).")]
    [AllowedValues(Normalizations.None, Normalizations.Standard, Normalizations.MinMax, Normalizations.Scale)]
    [DefaultValue(Normalizations.Standard)]
    public string Normalization { get; set; } = Normalizations.Standard;

    [JsonPropertyName("scale")]
    [Description("Divisor for normalization Scale (e.g. 255 for 8-bit pixels).")]
    [Range(1e-12, double.MaxValue)]
    public double? Scale { get; set; }

    [JsonPropertyName("replay")]
    [Description("Older data mixed into every epoch (continual learning).")]
    public ReplaySpec? Replay { get; set; }

    [JsonPropertyName("limit")]
    [Description("Use at most this many labelled examples of data.train (a label budget), a stratified sample taken with the seed; data.additionalTrain is added whole; a validationFraction hold-out comes out of them (a separate validation file does not).")]
    [Range(1, int.MaxValue)]
    public int? Limit { get; set; }
}

[CelRule("self.policy != 'Impute' || has(self.impute)", "missingValues.impute is required when policy is Impute")]
public sealed class MissingValuesSpec
{
    [JsonPropertyName("policy")]
    [Description("Fail on the first missing value, Skip rows that have one (counted, and the first 200 listed with file and line, in the report), or Impute.")]
    [AllowedValues(MissingValuePolicies.Fail, MissingValuePolicies.Skip, MissingValuePolicies.Impute)]
    [DefaultValue(MissingValuePolicies.Fail)]
    public string Policy { get; set; } = MissingValuePolicies.Fail;

    [JsonPropertyName("impute")]
    [Description("How to fill a missing value, from the training data.")]
    [AllowedValues(ImputeStrategies.Mean, ImputeStrategies.Median, ImputeStrategies.Zero, ImputeStrategies.MostFrequent)]
    public string? Impute { get; set; }

    [JsonPropertyName("tokens")]
    [Description("Cell texts that mean a missing value, compared exactly after trimming surrounding whitespace. An empty cell and a null Parquet value are always missing. The default is pandas' read_csv na_values (its \"\" is implied), so files written by pandas and R read as they were written; list your own to replace it.")]
    [DefaultValue(new[] { "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null" })]
    public List<string> Tokens { get; set; } = [.. DefaultTokens];

    /// <summary>The schema default of <see cref="Tokens"/> (pandas' default na_values), read from its attribute so it is written once.</summary>
    public static readonly IReadOnlyList<string> DefaultTokens =
        (string[])typeof(MissingValuesSpec).GetProperty(nameof(Tokens))!.GetCustomAttributes(typeof(DefaultValueAttribute), false).Cast<DefaultValueAttribute>().Single().Value!;
}

public sealed class ReplaySpec
{
    [JsonPropertyName("data")]
    [Description("The older data to replay.")]
    [Required]
    public DatasetSource Data { get; set; } = new();

    [JsonPropertyName("fraction")]
    [Description("Replayed examples per epoch as a share of the new training examples.")]
    [Range(0.0, 10.0), DefaultValue(0.2)]
    public double Fraction { get; set; } = 0.2;

    [JsonPropertyName("bufferSize")]
    [Description("Keep at most this many of the older rows, a uniform sample drawn in one pass with the seed (reservoir sampling, Vitter's Algorithm R), and replay from it; all rows when unset.")]
    [Range(1, int.MaxValue)]
    public int? BufferSize { get; set; }
}

public static class OptimizerTypes
{
    public const string Sgd = "SGD";
    public const string Adam = "Adam";
    public const string AdamW = "AdamW";
}

[CelRule("!self.nesterov || (self.type == 'SGD' && self.momentum > 0.0)", "nesterov needs type SGD and momentum > 0")]
public sealed class OptimizerSpec
{
    [JsonPropertyName("type")]
    [Description("SGD (with optional momentum and Nesterov), Adam or AdamW.")]
    [AllowedValues(OptimizerTypes.Sgd, OptimizerTypes.Adam, OptimizerTypes.AdamW)]
    [DefaultValue(OptimizerTypes.Adam)]
    public string Type { get; set; } = OptimizerTypes.Adam;

    [JsonPropertyName("learningRate")]
    [Description("Base learning rate.")]
    [Range(1e-9, 10.0), DefaultValue(1e-3)]
    public double LearningRate { get; set; } = 1e-3;

    [JsonPropertyName("momentum")]
    [Description("SGD momentum.")]
    [Range(0.0, 0.999), DefaultValue(0.0)]
    public double Momentum { get; set; }

    [JsonPropertyName("nesterov")]
    [Description("Use Nesterov momentum (SGD; needs momentum > 0).")]
    [DefaultValue(false)]
    public bool Nesterov { get; set; }

    [JsonPropertyName("weightDecay")]
    [Description("L2 penalty (SGD, Adam) or decoupled weight decay (AdamW).")]
    [Range(0.0, 1.0), DefaultValue(0.0)]
    public double WeightDecay { get; set; }

    [JsonPropertyName("beta1")]
    [Description("Adam/AdamW first-moment decay.")]
    [Range(0.0, 0.9999), DefaultValue(0.9)]
    public double Beta1 { get; set; } = 0.9;

    [JsonPropertyName("beta2")]
    [Description("Adam/AdamW second-moment decay.")]
    [Range(0.0, 0.99999), DefaultValue(0.999)]
    public double Beta2 { get; set; } = 0.999;

    [JsonPropertyName("epsilon")]
    [Description("Adam/AdamW numerical stabiliser.")]
    [Range(1e-12, 1.0), DefaultValue(1e-8)]
    public double Epsilon { get; set; } = 1e-8;

    [JsonPropertyName("gradientClipNorm")]
    [Description("Clip the global gradient norm to this value.")]
    [Range(1e-6, 1e6)]
    public double? GradientClipNorm { get; set; }
}

public static class LrScheduleTypes
{
    public const string Constant = "Constant";
    public const string Step = "Step";
    public const string MultiStep = "MultiStep";
    public const string Exponential = "Exponential";
    public const string Cosine = "Cosine";
    public const string CosineWarmRestarts = "CosineWarmRestarts";
    public const string Cyclic = "Cyclic";
    public const string OneCycle = "OneCycle";
    public const string Polynomial = "Polynomial";
    public const string ReduceOnPlateau = "ReduceOnPlateau";
}

public static class CyclicModes
{
    public const string Triangular = "Triangular";
    public const string Triangular2 = "Triangular2";
    public const string ExpRange = "ExpRange";
}

/// <summary>Whether a schedule advances once per epoch or once per optimisation step.</summary>
public static class ScheduleIntervals
{
    public const string Epoch = "Epoch";
    public const string Step = "Step";
}

[CelRule("self.type != 'Step' || has(self.stepSize)", "lrSchedule.stepSize is required for Step")]
[CelRule("self.type != 'MultiStep' || has(self.milestones)", "lrSchedule.milestones is required for MultiStep")]
[CelRule("self.type != 'Exponential' || has(self.gamma)", "lrSchedule.gamma is required for Exponential")]
[CelRule("self.type != 'CosineWarmRestarts' || has(self.t0)", "lrSchedule.t0 is required for CosineWarmRestarts")]
[CelRule("!(self.type in ['Cyclic', 'OneCycle']) || has(self.maxLearningRate)", "lrSchedule.maxLearningRate is required for Cyclic and OneCycle")]
[CelRule("!has(self.mode) || self.type == 'Cyclic'", "lrSchedule.mode applies to Cyclic only")]
[CelRule("!has(self.milestones) || self.type == 'MultiStep'", "lrSchedule.milestones applies to MultiStep only")]
[CelRule("!has(self.stepSize) || self.type == 'Step'", "lrSchedule.stepSize applies to Step only")]
[CelRule("!has(self.t0) || self.type == 'CosineWarmRestarts'", "lrSchedule.t0 applies to CosineWarmRestarts only")]
[CelRule("!has(self.patience) || self.type == 'ReduceOnPlateau'", "lrSchedule.patience applies to ReduceOnPlateau only")]
[CelRule("self.type != 'OneCycle' || !has(self.warmup)", "OneCycle has its own warm-up phase; do not add warmup")]
[CelRule("(!has(self.baseMomentum) && !has(self.maxMomentum)) || self.type in ['Cyclic', 'OneCycle']", "lrSchedule.baseMomentum and maxMomentum apply to Cyclic and OneCycle only")]
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class LrScheduleSpec
{
    [JsonPropertyName("type")]
    [Description("Schedule type; formulas match PyTorch's torch.optim.lr_scheduler classes of the same names.")]
    [AllowedValues(LrScheduleTypes.Constant, LrScheduleTypes.Step, LrScheduleTypes.MultiStep, LrScheduleTypes.Exponential,
        LrScheduleTypes.Cosine, LrScheduleTypes.CosineWarmRestarts, LrScheduleTypes.Cyclic, LrScheduleTypes.OneCycle,
        LrScheduleTypes.Polynomial, LrScheduleTypes.ReduceOnPlateau)]
    [DefaultValue(LrScheduleTypes.Constant)]
    public string Type { get; set; } = LrScheduleTypes.Constant;

    [JsonPropertyName("interval")]
    [Description("Advance the schedule every Epoch or every optimisation Step (Cyclic and OneCycle always step per batch; ReduceOnPlateau per epoch).")]
    [AllowedValues(ScheduleIntervals.Epoch, ScheduleIntervals.Step)]
    [DefaultValue(ScheduleIntervals.Epoch)]
    public string Interval { get; set; } = ScheduleIntervals.Epoch;

    [JsonPropertyName("stepSize")]
    [Description("Step: decay every stepSize intervals.")]
    [Range(1, int.MaxValue)]
    public int? StepSize { get; set; }

    [JsonPropertyName("milestones")]
    [Description("MultiStep: intervals at which to decay (increasing).")]
    [MinLength(1)]
    public List<int>? Milestones { get; set; }

    [JsonPropertyName("gamma")]
    [Description("Multiplicative decay (Step, MultiStep, Exponential; Cyclic ExpRange).")]
    [Range(1e-6, 1.0)]
    public double? Gamma { get; set; }

    [JsonPropertyName("tMax")]
    [Description("Cosine: intervals to anneal over; defaults to the whole run (with interval Step: the optimisation steps the run takes, counted from the curriculum's per-epoch data sizes).")]
    [Range(1, int.MaxValue)]
    public int? TMax { get; set; }

    [JsonPropertyName("minLearningRate")]
    [Description("Floor of the learning rate (Cosine, CosineWarmRestarts eta_min; ReduceOnPlateau min_lr).")]
    [Range(0.0, 10.0), DefaultValue(0.0)]
    public double MinLearningRate { get; set; }

    [JsonPropertyName("t0")]
    [Description("CosineWarmRestarts: intervals until the first restart.")]
    [Range(1, int.MaxValue)]
    public int? T0 { get; set; }

    [JsonPropertyName("tMult")]
    [Description("CosineWarmRestarts: factor by which the period grows after each restart.")]
    [Range(1, 100), DefaultValue(1)]
    public int TMult { get; set; } = 1;

    [JsonPropertyName("maxLearningRate")]
    [Description("Cyclic: upper bound (the optimiser's learningRate is the lower bound). OneCycle: peak learning rate.")]
    [Range(1e-9, 10.0)]
    public double? MaxLearningRate { get; set; }

    [JsonPropertyName("stepSizeUp")]
    [Description("Cyclic: optimisation steps in the increasing half of a cycle.")]
    [Range(1, int.MaxValue), DefaultValue(2000)]
    public int StepSizeUp { get; set; } = 2000;

    [JsonPropertyName("mode")]
    [Description("Cyclic: Triangular, Triangular2 (amplitude halves each cycle) or ExpRange (amplitude scaled by gamma^step).")]
    [AllowedValues(CyclicModes.Triangular, CyclicModes.Triangular2, CyclicModes.ExpRange)]
    public string? Mode { get; set; }

    [JsonPropertyName("pctStart")]
    [Description("OneCycle: share of the cycle spent increasing the learning rate.")]
    [Range(0.01, 0.99), DefaultValue(0.3)]
    public double PctStart { get; set; } = 0.3;

    [JsonPropertyName("divFactor")]
    [Description("OneCycle: initial learning rate = maxLearningRate / divFactor.")]
    [Range(1.0, 1e6), DefaultValue(25.0)]
    public double DivFactor { get; set; } = 25.0;

    [JsonPropertyName("finalDivFactor")]
    [Description("OneCycle: final learning rate = initial / finalDivFactor.")]
    [Range(1.0, 1e9), DefaultValue(10000.0)]
    public double FinalDivFactor { get; set; } = 1e4;

    [JsonPropertyName("cycleMomentum")]
    [Description("Cyclic and OneCycle: cycle the momentum inversely to the learning rate, as PyTorch's cycle_momentum=True (its default). It sets SGD's momentum or Adam/AdamW's beta1 at every step, replacing optimizer.momentum or beta1 while the schedule runs (so SGD gains momentum even when optimizer.momentum is 0).")]
    [DefaultValue(true)]
    public bool CycleMomentum { get; set; } = true;

    [JsonPropertyName("baseMomentum")]
    [Description("Cyclic and OneCycle with cycleMomentum: the momentum (beta1) at the peak learning rate. Defaults as PyTorch: 0.85 for OneCycle, 0.8 for Cyclic.")]
    [Range(0.0, 0.9999)]
    public double? BaseMomentum { get; set; }

    [JsonPropertyName("maxMomentum")]
    [Description("Cyclic and OneCycle with cycleMomentum: the momentum (beta1) at the lowest learning rate. Defaults as PyTorch: 0.95 for OneCycle, 0.9 for Cyclic.")]
    [Range(0.0, 0.9999)]
    public double? MaxMomentum { get; set; }

    [JsonPropertyName("power")]
    [Description("Polynomial: power of the decay.")]
    [Range(0.0, 100.0), DefaultValue(1.0)]
    public double Power { get; set; } = 1.0;

    [JsonPropertyName("totalIters")]
    [Description("Polynomial: intervals over which to decay; defaults to the whole run (with interval Step: the optimisation steps the run takes, counted from the curriculum's per-epoch data sizes).")]
    [Range(1, int.MaxValue)]
    public int? TotalIters { get; set; }

    [JsonPropertyName("factor")]
    [Description("ReduceOnPlateau: multiply the learning rate by this on a plateau.")]
    [Range(1e-6, 0.999999), DefaultValue(0.1)]
    public double Factor { get; set; } = 0.1;

    [JsonPropertyName("patience")]
    [Description("ReduceOnPlateau: epochs without improvement before reducing.")]
    [Range(0, 10000)]
    public int? Patience { get; set; }

    [JsonPropertyName("threshold")]
    [Description("ReduceOnPlateau: relative improvement that counts.")]
    [Range(0.0, 1.0), DefaultValue(1e-4)]
    public double Threshold { get; set; } = 1e-4;

    [JsonPropertyName("cooldown")]
    [Description("ReduceOnPlateau: epochs to wait after a reduction.")]
    [Range(0, 10000), DefaultValue(0)]
    public int Cooldown { get; set; }

    [JsonPropertyName("monitor")]
    [Description("ReduceOnPlateau: validation metric to watch (loss is minimised, others maximised).")]
    [DefaultValue("loss")]
    public string Monitor { get; set; } = "loss";

    [JsonPropertyName("warmup")]
    [Description("Linear warm-up before the schedule (PyTorch LinearLR followed by the schedule, as SequentialLR).")]
    public WarmupSpec? Warmup { get; set; }
}

public sealed class WarmupSpec
{
    [JsonPropertyName("steps")]
    [Description("Length of the warm-up in schedule intervals (epochs or steps, as lrSchedule.interval).")]
    [Required, Range(1, int.MaxValue)]
    public int Steps { get; set; } = 1;

    [JsonPropertyName("startFactor")]
    [Description("Learning rate at the start of warm-up as a multiple of the base learning rate.")]
    [Range(1e-6, 1.0), DefaultValue(0.1)]
    public double StartFactor { get; set; } = 0.1;
}

public sealed class EarlyStoppingSpec
{
    [JsonPropertyName("monitor")]
    [Description("Validation metric to watch (loss is minimised, others maximised).")]
    [DefaultValue("loss")]
    public string Monitor { get; set; } = "loss";

    [JsonPropertyName("patience")]
    [Description("Epochs without improvement before stopping.")]
    [Range(1, 10000), DefaultValue(3)]
    public int Patience { get; set; } = 3;

    [JsonPropertyName("minDelta")]
    [Description("Smallest change that counts as an improvement.")]
    [Range(0.0, 1e6), DefaultValue(0.0)]
    public double MinDelta { get; set; }
}

public sealed class CheckpointSpec
{
    [JsonPropertyName("everyEpochs")]
    [Description("Write a checkpoint every N epochs.")]
    [Range(1, 10000), DefaultValue(1)]
    public int EveryEpochs { get; set; } = 1;

    [JsonPropertyName("keep")]
    [Description("Checkpoints to keep (oldest removed first).")]
    [Range(1, 1000), DefaultValue(2)]
    public int Keep { get; set; } = 2;
}

public sealed class ContinualSpec
{
    [JsonPropertyName("ewc")]
    [Description("Elastic weight consolidation: penalise moving parameters that mattered for the base model's data.")]
    public EwcSpec? Ewc { get; set; }

    [JsonPropertyName("previousTasks")]
    [Description("Earlier tasks to measure forgetting on: each is named as the base model's report chain names it (the TrainingRun that learnt it) with that task's test data. The run evaluates itself on each and reports forgetting (accuracy right after the task was learnt minus now) and backward transfer, which gates can bound (metric forgetting, atMost).")]
    public List<PreviousTask>? PreviousTasks { get; set; }
}

[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class PreviousTask
{
    [JsonPropertyName("name")]
    [Description("The task's name in the base model's report (continual.tasks), the TrainingRun that learnt it.")]
    [Required, MinLength(1)]
    public string Name { get; set; } = "";

    [JsonPropertyName("test")]
    [Description("The task's test data, the same files its accuracy right after learning was measured on (their fingerprint is checked).")]
    [Required]
    public DatasetSource Test { get; set; } = new();
}

public sealed class EwcSpec
{
    [JsonPropertyName("lambda")]
    [Description("Strength of the EWC penalty.")]
    [Required, Range(0.0, 1e9)]
    public double Lambda { get; set; } = 100.0;

    [JsonPropertyName("fisherSamples")]
    [Description("Examples of the old task's data used to estimate the Fisher information.")]
    [Range(1, 1000000), DefaultValue(1000)]
    public int FisherSamples { get; set; } = 1000;

    [JsonPropertyName("fisherData")]
    [Description("The old task's data (e.g. the base model's training data) the Fisher information is estimated on; data.replay when unset. One of the two is required.")]
    public DatasetSource? FisherData { get; set; }
}

[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = ApiTrimming.LengthAttributes)]
public sealed class ArtifactsSpec
{
    [JsonPropertyName("uri")]
    [Description("Folder for this run's artifacts: pvc://CLAIM/path in a cluster, file:///path (or a relative path) locally.")]
    [Required, MinLength(1), RegularExpression(SyllabusGroup.DataUriPattern)]
    public string Uri { get; set; } = "";
}

public sealed class TrainingRunStatus : ResourceStatus
{
    [JsonPropertyName("phase")]
    [Description("Pending, Running, Succeeded, Failed or Suspended.")]
    public string? Phase { get; set; }

    [JsonPropertyName("attempts")]
    [Description("Trainer attempts started so far (the number of the latest attempt).")]
    public int? Attempts { get; set; }

    [JsonPropertyName("failedAttempts")]
    [Description("Attempts that failed, each counted once against backoffLimit. Kept here, not inferred from the Jobs that exist, so deleting a failed Job neither grants a retry nor skips the backoff.")]
    public int? FailedAttempts { get; set; }

    [JsonPropertyName("lastFailure")]
    [Description("The latest failed attempt: the retry backoff counts from its finish.")]
    public AttemptFailure? LastFailure { get; set; }

    [JsonPropertyName("jobName")]
    [Description("The Job running the current attempt.")]
    public string? JobName { get; set; }

    [JsonPropertyName("startTime")]
    [Description("When the first attempt started.")]
    public DateTime? StartTime { get; set; }

    [JsonPropertyName("completionTime")]
    [Description("When the run finished.")]
    public DateTime? CompletionTime { get; set; }

    [JsonPropertyName("resolvedBaseModelUri")]
    [Description("The base model artifact the run started from.")]
    public string? ResolvedBaseModelUri { get; set; }

    [JsonPropertyName("progress")]
    [Description("Live progress scraped from the trainer.")]
    public TrainingProgress? Progress { get; set; }

    [JsonPropertyName("result")]
    [Description("The final result read from the trainer's report.")]
    public TrainingResult? Result { get; set; }
}

public sealed class AttemptFailure
{
    [JsonPropertyName("attempt")]
    [Description("The attempt that failed.")]
    public int Attempt { get; set; }

    [JsonPropertyName("reason")]
    [Description("Why it failed (one CamelCase word).")]
    public string? Reason { get; set; }

    [JsonPropertyName("message")]
    [Description("What failed.")]
    public string? Message { get; set; }

    [JsonPropertyName("finishedAt")]
    [Description("When it failed.")]
    public DateTime? FinishedAt { get; set; }
}

public sealed class TrainingProgress
{
    [JsonPropertyName("epoch")]
    [Description("Current epoch (1-based).")]
    public int? Epoch { get; set; }

    [JsonPropertyName("totalEpochs")]
    [Description("Planned epochs.")]
    public int? TotalEpochs { get; set; }

    [JsonPropertyName("step")]
    [Description("Optimisation steps so far.")]
    public long? Step { get; set; }

    [JsonPropertyName("stage")]
    [Description("Current curriculum stage.")]
    public string? Stage { get; set; }

    [JsonPropertyName("dataFraction")]
    [Description("Share of the training data in use (curriculum).")]
    public double? DataFraction { get; set; }

    [JsonPropertyName("loss")]
    [Description("Latest training loss.")]
    public double? Loss { get; set; }

    [JsonPropertyName("accuracy")]
    [Description("Latest validation accuracy.")]
    public double? Accuracy { get; set; }

    [JsonPropertyName("learningRate")]
    [Description("Current learning rate.")]
    public double? LearningRate { get; set; }

    [JsonPropertyName("samplesPerSecond")]
    [Description("Training throughput.")]
    public double? SamplesPerSecond { get; set; }

    [JsonPropertyName("updatedAt")]
    [Description("When progress was last scraped.")]
    public DateTime? UpdatedAt { get; set; }
}

public sealed class TrainingResult
{
    [JsonPropertyName("modelUri")]
    [Description("The trained model artifact folder.")]
    public string? ModelUri { get; set; }

    [JsonPropertyName("reportUri")]
    [Description("The JSON evaluation report.")]
    public string? ReportUri { get; set; }

    [JsonPropertyName("profileUri")]
    [Description("The training data profile used for drift detection.")]
    public string? ProfileUri { get; set; }

    [JsonPropertyName("metrics")]
    [Description("Final evaluation metrics by name.")]
    public Dictionary<string, double>? Metrics { get; set; }

    [JsonPropertyName("gates")]
    [Description("Outcome of each gate.")]
    public List<GateResult>? Gates { get; set; }

    [JsonPropertyName("epochs")]
    [Description("Epochs actually trained (early stopping may end a run sooner).")]
    public int? Epochs { get; set; }

    [JsonPropertyName("testData")]
    [Description("Fingerprint of the rows the metrics were measured on (sha256 of their features and labels): two runs' metrics compare only on equal fingerprints.")]
    public string? TestData { get; set; }
}
