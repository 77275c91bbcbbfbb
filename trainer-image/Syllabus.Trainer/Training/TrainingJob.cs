using TorchSharp;
using System.Diagnostics;
using System.Text.Json;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Evaluation;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Schedules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>What a finished run produced.</summary>
public sealed record TrainingOutcome(TrainingReport Report, string ReportPath, string ModelFolder);

/// <summary>
/// One `train` run end to end: load data, build (or transfer) the model, resume from the last checkpoint if there
/// is one, run the loop with its callbacks, evaluate, check the gates and write the artifacts and report.
/// </summary>
public sealed class TrainingJob(ResolvedRun run, TimeProvider time)
{
    /// <summary>Callbacks added after the built-in ones (progress display, live gauges).</summary>
    public IList<ITrainerCallback> ExtraCallbacks { get; } = [];

    /// <summary>Receives one-line notes (resume decisions) for the console.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>auto, cpu, cuda or cuda:N (<see cref="TrainingDevice"/>).</summary>
    public string? Device { get; init; }

    /// <exception cref="InputException">Bad manifest or data (exit code 2).</exception>
    public TrainingOutcome Run(CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        var spec = run.Spec;
        var started = time.GetUtcNow();
        var total = Stopwatch.StartNew();
        var timings = new Dictionary<string, double>();
        var artifacts = run.ArtifactsDirectory;
        Directory.CreateDirectory(artifacts);

        var watch = Stopwatch.StartNew();
        LoadedData data;
        try
        {
            data = DataLoader.Load(spec.Data, run.BaseDirectory, spec.Seed);
        }
        catch (DataException e)
        {
            throw new InputException(e.Message, e);
        }

        timings["loadDataSeconds"] = watch.Elapsed.TotalSeconds;
        RunPreconditions.RequireValidationWhereUsed(spec, data);
        var classes = data.Schema.Classes;
        ModelConfig config;
        try
        {
            config = ModelFactory.Describe(spec.Model, data.Schema.FeatureCount, classes);
        }
        catch (ArgumentException e)
        {
            throw new InputException(e.Message, e);
        }

        random.manual_seed(spec.Seed);
        var device = TrainingDevice.Resolve(Device);
        using var model = ModelFactory.Create(config);
        config = ModelFactory.WithLayers(config, model);
        // Move before collecting parameters: moving re-creates them, and the optimiser must hold the moved ones.
        model.to(device);
        Log?.Invoke($"training on {device}");

        IReadOnlyList<ParameterGroup> groups = [new ParameterGroup("all", [.. model.parameters()])];
        TransferSummary? transfer = null;
        ElasticWeightConsolidation? ewc = null;
        try
        {
            if (spec.BaseModel is { } baseModel)
            {
                groups = TransferLearning.Apply(model, config, run.BaseModelFolder!, baseModel, out transfer);
            }

            if (spec.Continual?.Ewc is { } ewcSpec)
            {
                if (run.BaseModelFolder is null)
                {
                    throw new ArgumentException("continual.ewc: needs a baseModel whose knowledge it protects");
                }

                using var baseNetwork = ModelArtifact.Load(run.BaseModelFolder, out _);
                // A re-initialised head has nothing of the base model to keep.
                var resetHead = spec.BaseModel?.ResetHead == true;
                ewc = ElasticWeightConsolidation.Create(baseNetwork, model, data.Replay ?? data.Train, ewcSpec.FisherSamples, ewcSpec.Lambda, spec.Seed,
                    name => !resetHead || !name.StartsWith(ModelFactory.HeadPrefix, StringComparison.Ordinal));
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException)
        {
            throw new InputException(e.Message, e);
        }

        using var ewcScope = ewc;
        var difficulty = Difficulty(spec, data, config);
        var replayFraction = data.Replay is null ? 0 : spec.Data.Replay?.Fraction ?? 0;
        using var optimizer = OptimizerFactory.Create(spec.Optimizer, groups);
        ILearningRateSchedule schedule;
        CurriculumScheduler curriculum;
        try
        {
            // Step-sized schedules count the batches each epoch will run (fewer while a curriculum paces the data).
            var batchesPerEpoch = StepPlan.BatchesPerEpoch(spec.Curriculum, difficulty, spec.Epochs, spec.Seed, data.Train, data.Replay, replayFraction, spec.BatchSize);
            schedule = LearningRateScheduleFactory.Create(spec.LrSchedule, optimizer, spec.Epochs, batchesPerEpoch);
            curriculum = new CurriculumScheduler(spec.Curriculum, difficulty, spec.Epochs, spec.Seed, data.Train.Count);
        }
        catch (ArgumentException e)
        {
            // A schedule or curriculum the spec describes inconsistently is bad input (exit 2), named by its field.
            throw new InputException(e.Message, e);
        }

        var callbacks = new List<ITrainerCallback>();
        using var earlyStopping = spec.EarlyStopping is { } stopping ? new EarlyStoppingCallback(stopping, model) : null;
        if (earlyStopping is not null)
        {
            callbacks.Add(earlyStopping);
        }

        callbacks.Add(new CheckpointCallback(spec.Checkpoint));
        callbacks.AddRange(ExtraCallbacks);

        var store = new CheckpointStore(Path.Combine(artifacts, "checkpoints"), spec.Checkpoint.Keep);
        var fingerprint = Fingerprint(spec);
        var state = new TrainerState { TotalEpochs = spec.Epochs, Seed = spec.Seed, SpecFingerprint = fingerprint };
        if (store.Latest() is { } stale && TrainerState.FromJson(File.ReadAllText(Path.Combine(stale, CheckpointStore.StateFileName))).SpecFingerprint != fingerprint)
        {
            // A checkpoint of a different trajectory (data, model, optimiser, schedule, ... were edited) must not be continued.
            Log?.Invoke($"ignoring checkpoints in {store.Folder}: they were written for a different training trajectory (data, model, optimizer, schedule, curriculum, seed, batch size, epochs, early stopping or continual changed); starting fresh");
            Directory.Delete(store.Folder, recursive: true);
        }

        if (store.Latest() is { } checkpoint)
        {
            Log?.Invoke($"resuming from {checkpoint}");
            state = CheckpointStore.Restore(checkpoint, model, optimizer);
            state.ResumedFromEpoch = state.Epoch;
            state.TotalEpochs = spec.Epochs;
            if (state.CurriculumState is { } curriculumState)
            {
                curriculum.LoadState(curriculumState);
            }

            if (state.ScheduleState is { } scheduleState)
            {
                schedule.LoadState(scheduleState);
            }

            earlyStopping?.Restore(Path.Combine(checkpoint, CheckpointStore.BestWeightsFileName));
        }

        var evaluated = data.Validation.Count > 0;
        watch.Restart();
        using (var trainer = new Trainer(
            model, optimizer, schedule, curriculum, data.Train, data.Replay,
            _ => evaluated ? Predictor.Evaluate(model, data.Validation, classes).ToMetricMapWithSlices() : [],
            callbacks, new TrainerOptions(spec.Epochs, spec.BatchSize, spec.Seed, spec.Optimizer.GradientClipNorm, replayFraction),
            ewc is null ? null : ewc.Penalty,
            s =>
            {
                var folder = store.Save(s, model, optimizer, earlyStopping?.BestWeights);
                foreach (var cb in callbacks)
                {
                    cb.OnSave(s, new TrainerControl(), folder);
                }
            }))
        {
            state = trainer.Fit(state, cancellationToken);
        }

        timings["trainSeconds"] = watch.Elapsed.TotalSeconds;

        watch.Restart();
        // The loader fails on a named test set with no rows, so a test set here always has rows.
        var (split, evaluationData) = data.Test is { } test ? ("test", test) : ("validation", data.Validation);
        var result = Predictor.Evaluate(model, evaluationData, classes);
        IReadOnlyList<GateResult> gates = [.. GateEvaluator.Evaluate(spec.Gates ?? [], result)];
        timings["evaluateSeconds"] = watch.Elapsed.TotalSeconds;

        var modelFolder = Path.Combine(artifacts, "model");
        ModelArtifact.Save(modelFolder, model, new ModelDocument
        {
            Config = config,
            FeatureSchema = JsonSerializer.SerializeToNode(data.Schema),
            TrainingRun = run.Name,
            CreatedAt = time.GetUtcNow(),
        });
        data.Profile.Save(Path.Combine(artifacts, "profile.json"));
        CurvePlotter.Save(Path.Combine(artifacts, CurvePlotter.FileName), state.History, run.Name);
        timings["totalSeconds"] = total.Elapsed.TotalSeconds;

        var parameters = model.parameters().ToList();
        var report = new TrainingReport
        {
            Run = run.Name,
            Phase = TrainingRunPhases.Succeeded,
            StartedAt = started,
            FinishedAt = time.GetUtcNow(),
            Spec = JsonSerializer.SerializeToNode(spec),
            Data = TrainingReport.ToNode(data.Report),
            Model = new ModelSummary
            {
                Architecture = config.Architecture,
                Parameters = parameters.Sum(p => p.numel()),
                TrainableParameters = parameters.Where(p => p.requires_grad).Sum(p => p.numel()),
                Classes = classes,
                BaseModel = transfer,
                EwcParameters = ewc?.Names,
            },
            EpochsTrained = state.Epoch,
            StoppedEarly = state.StoppedEarly,
            BestEpoch = state.BestEpoch,
            ResumedFromEpoch = state.ResumedFromEpoch,
            History = state.History,
            EvaluationSplit = split,
            Evaluation = TrainingReport.ToNode(result),
            Metrics = result.ToMetricMap(),
            Gates = gates,
            GatesPassed = gates.All(g => g.Passed),
            Timings = timings,
            ModelUri = Uri(run, "model"),
            ReportUri = Uri(run, TrainingReport.FileName),
            ProfileUri = Uri(run, "profile.json"),
            CurvesUri = Uri(run, CurvePlotter.FileName),
        };
        var reportPath = Path.Combine(artifacts, TrainingReport.FileName);
        report.Save(reportPath);
        return new TrainingOutcome(report, reportPath, modelFolder);
    }

    /// <summary>Checkpoints are only resumed by a spec with the same training trajectory (<see cref="ResumeFingerprint"/>).</summary>
    internal static string Fingerprint(TrainingRunSpec spec) => ResumeFingerprint.Of(spec);

    /// <summary>A report for a run that failed before producing a model.</summary>
    public static TrainingReport FailureReport(ResolvedRun? run, string error, DateTimeOffset now) => new()
    {
        Run = run?.Name ?? "",
        Phase = TrainingRunPhases.Failed,
        Error = error,
        StartedAt = now,
        FinishedAt = now,
        ReportUri = run is null ? null : Uri(run, TrainingReport.FileName),
    };

    /// <summary>An artifact's URI in the scheme the run was given (pvc:// stays pvc://; local paths become file://).</summary>
    public static string Uri(ResolvedRun run, string name)
    {
        ArgumentNullException.ThrowIfNull(run);
        var uri = run.ArtifactsUri;
        return uri.StartsWith("pvc://", StringComparison.Ordinal) || uri.StartsWith("file://", StringComparison.Ordinal)
            ? $"{uri.TrimEnd('/')}/{name}"
            : new Uri(Path.Combine(run.ArtifactsDirectory, name)).AbsoluteUri;
    }

    /// <summary>Per-example difficulty for the curriculum: the data's column or a teacher model's scores.</summary>
    private double[]? Difficulty(TrainingRunSpec spec, LoadedData data, ModelConfig config)
    {
        if (spec.Curriculum?.Difficulty is not { } difficulty)
        {
            return null;
        }

        if (difficulty.Source == DifficultySources.Column)
        {
            return data.Train.Difficulty
                ?? throw new InputException("spec.data.difficultyColumn: required for a curriculum with difficulty source Column");
        }

        nn.Module<Tensor, Tensor> teacher;
        ModelDocument document;
        try
        {
            teacher = ModelArtifact.Load(run.TeacherFolder!, out document);
        }
        catch (InvalidDataException e)
        {
            throw new InputException($"spec.curriculum.difficulty.teacher: {e.Message}", e);
        }

        using (teacher)
        {
            if (document.Config.InputFeatures != config.InputFeatures || document.Config.NumClasses != config.NumClasses)
            {
                throw new InputException(
                    $"spec.curriculum.difficulty.teacher: the teacher takes {document.Config.InputFeatures} features and predicts {document.Config.NumClasses} classes; this data has {config.InputFeatures} and {config.NumClasses}");
            }

            var probabilities = Predictor.Predict(teacher, data.Train, out _);
            return DifficultyScores.FromTeacher(difficulty.Source, probabilities, data.Train.Labels, config.NumClasses);
        }
    }
}
