using TorchSharp;
using System.Diagnostics;
using System.Text.Json;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Evaluation;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Schedules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>What a finished run produced.</summary>
public sealed record TrainingOutcome(TrainingReport Report, string ReportPath, string ModelFolder);

/// <summary>
/// Stage 1's result: the data loaded (with the base model's preprocessing kept, or fitted), the model's config, and
/// the base model and teacher bundles on the training device.
/// </summary>
public sealed class PreparedRun : IDisposable
{
    public required LoadedData Data { get; init; }

    /// <summary>The network's config (without its layer list, which the built network fills in).</summary>
    public required ModelConfig Config { get; init; }

    public required Device Device { get; init; }

    public ModelBundle? BaseModel { get; init; }

    public ModelBundle? Teacher { get; init; }

    public IReadOnlyList<string> Classes => Data.Schema.Classes;

    public void Dispose()
    {
        BaseModel?.Dispose();
        Teacher?.Dispose();
    }
}

/// <summary>Stage 2's result: the network on its device, ready to train, and what transfer learning did.</summary>
public sealed class BuiltModel(nn.Module<Tensor, Tensor> network, ModelConfig config, IReadOnlyList<ParameterGroup> groups, TransferSummary? transfer) : IDisposable
{
    public nn.Module<Tensor, Tensor> Network { get; } = network;

    /// <summary>The config with its layer list, as model.json records it.</summary>
    public ModelConfig Config { get; } = config;

    /// <summary>The optimiser's param groups (head and base under transfer learning).</summary>
    public IReadOnlyList<ParameterGroup> Groups { get; } = groups;

    public TransferSummary? Transfer { get; } = transfer;

    public void Dispose() => Network.Dispose();
}

/// <summary>
/// Stage 5's result: the evaluated split, its metrics (at the calibrated temperature), the continual-learning section,
/// the gates and the calibration they were computed with (null: temperature 1).
/// </summary>
public sealed record EvaluationOutcome(string Split, EvaluationResult Result, IReadOnlyList<GateResult> Gates, ContinualReport? Continual = null, ModelCalibration? Calibration = null)
{
    /// <summary>The split's metrics and, when measured, forgetting and backward transfer.</summary>
    public IReadOnlyDictionary<string, double> Metrics()
    {
        var metrics = new Dictionary<string, double>(Result.ToMetricMap(), StringComparer.Ordinal);
        foreach (var (name, value) in ContinualMetrics(Continual))
        {
            metrics[name] = value;
        }

        return metrics;
    }

    internal static Dictionary<string, double> ContinualMetrics(ContinualReport? continual) =>
        continual is { Forgetting: { } f, BackwardTransfer: { } b }
            ? new() { [ContinualReport.ForgettingMetric] = f, [ContinualReport.BackwardTransferMetric] = b }
            : [];
}

/// <summary>
/// One `train` run end to end, in stages that other modes can compose: <see cref="LoadAndFit"/> (data, preprocessing,
/// base model, teacher), <see cref="BuildOrTransfer"/>, <see cref="Regularisers"/> (EWC), <see cref="Loop"/> (resume
/// from the last checkpoint, train with callbacks), <see cref="Calibrate"/> (temperature scaling on the validation
/// split), <see cref="Evaluate"/> (metrics and gates) and <see cref="Write"/>
/// (model bundle, profile, curves, report).
/// </summary>
public sealed class TrainingJob(ResolvedRun run, TimeProvider time)
{
    private readonly Dictionary<string, double> _timings = [];

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
        var started = time.GetUtcNow();
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(run.ArtifactsDirectory);
        using var prepared = LoadAndFit();
        using var built = BuildOrTransfer(prepared);
        using var ewc = Regularisers(prepared, built);
        var state = Loop(prepared, built, ewc, cancellationToken);
        var calibration = Calibrate(prepared, built);
        var evaluation = Evaluate(prepared, built, calibration);
        return Write(prepared, built, ewc, state, evaluation, started, total);
    }

    /// <summary>
    /// Stage 1: resolves the device, loads the base model and the teacher, and loads the data: with a base model its
    /// preprocessing and class list are kept (a column that differs is an error naming it), otherwise they are fitted.
    /// </summary>
    /// <exception cref="InputException">Bad data, a base model or teacher that cannot be loaded or does not fit.</exception>
    public PreparedRun LoadAndFit()
    {
        var spec = run.Spec;
        var watch = Stopwatch.StartNew();
        var device = TrainingDevice.Resolve(Device);
        ModelBundle? baseModel = null;
        ModelBundle? teacher = null;
        try
        {
            FeatureSchema? kept = null;
            if (spec.BaseModel is { } baseSpec)
            {
                baseModel = LoadBundle(run.BaseModelFolder!, "spec.baseModel", device);
                kept = TransferLearning.KeptPreprocessing(baseModel, baseSpec, spec.Data.Classes is { Count: > 0 } declared ? declared : null);
            }

            if (spec.Curriculum?.Difficulty is { } difficulty && difficulty.Source != DifficultySources.Column)
            {
                teacher = LoadBundle(run.TeacherFolder!, "spec.curriculum.difficulty.teacher", device);
            }

            // Earlier tasks to measure forgetting on are checked before training, not found wrong after it.
            if (spec.Continual?.PreviousTasks is { Count: > 0 } previousTasks)
            {
                ContinualReport.CheckPreviousTasks(previousTasks, BaseReportPath(), run.BaseDirectory);
            }

            var data = DataLoader.Load(spec.Data, run.BaseDirectory, spec.Seed, kept, teacher?.Schema);
            _timings["loadDataSeconds"] = watch.Elapsed.TotalSeconds;
            RunPreconditions.RequireValidationWhereUsed(spec, data);
            var config = ModelFactory.Describe(spec.Model, data.Schema.FeatureCount, data.Schema.Classes);
            return new PreparedRun { Data = data, Config = config, Device = device, BaseModel = baseModel, Teacher = teacher };
        }
        catch (Exception e) when (e is DataException or ArgumentException)
        {
            baseModel?.Dispose();
            teacher?.Dispose();
            throw new InputException(e.Message, e);
        }
        catch
        {
            baseModel?.Dispose();
            teacher?.Dispose();
            throw;
        }
    }

    /// <summary>Stage 2: a fresh network (seeded) on the device, started from the base model's weights when there is one.</summary>
    public BuiltModel BuildOrTransfer(PreparedRun prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        var spec = run.Spec;
        random.manual_seed(spec.Seed);
        var model = ModelFactory.Create(prepared.Config);
        try
        {
            var config = ModelFactory.WithLayers(prepared.Config, model);
            // Move before collecting parameters: moving re-creates them, and the optimiser must hold the moved ones.
            model.to(prepared.Device);
            Log?.Invoke($"training on {prepared.Device}");
            IReadOnlyList<ParameterGroup> groups = [new ParameterGroup("all", [.. model.parameters()])];
            TransferSummary? transfer = null;
            if (spec.BaseModel is { } baseModel)
            {
                groups = TransferLearning.Apply(model, config, prepared.BaseModel!, baseModel, out transfer);
            }

            return new BuiltModel(model, config, groups, transfer);
        }
        catch (ArgumentException e)
        {
            model.Dispose();
            throw new InputException(e.Message, e);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Stage 3: the EWC penalty, if the spec asks for one. Its Fisher information is the base model's, estimated on
    /// the old task's data (continual.ewc.fisherData, else data.replay; neither is an error); the base model's own
    /// saved penalty, if it was trained with EWC, is added to it.
    /// </summary>
    public ElasticWeightConsolidation? Regularisers(PreparedRun prepared, BuiltModel built)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(built);
        var spec = run.Spec;
        if (spec.Continual?.Ewc is not { } ewcSpec)
        {
            return null;
        }

        try
        {
            if (prepared.BaseModel is not { } baseModel || spec.BaseModel is not { } baseSpec)
            {
                throw new ArgumentException("continual.ewc: needs a baseModel whose knowledge it protects");
            }

            var watch = Stopwatch.StartNew();
            TabularData oldData;
            if (ewcSpec.FisherData is { } fisherSource)
            {
                // The base model's schema: its features are this run's (kept), and its classes are the old task's labels.
                oldData = DataLoader.LoadWithSchema(fisherSource, spec.Data, baseModel.Schema, run.BaseDirectory, prepared.Data.Report);
            }
            else
            {
                oldData = prepared.Data.Replay ?? throw new ArgumentException(
                    "continual.ewc: the Fisher information must come from the old task's data; set continual.ewc.fisherData (e.g. the base model's training data) or data.replay");
            }

            var mapping = TransferLearning.Mapping(baseModel, built.Config, baseSpec);
            var fisher = ElasticWeightConsolidation.FisherDiagonal(baseModel.Network, oldData, ewcSpec.FisherSamples, spec.Seed);
            var modelParameters = built.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            var anchors = new Dictionary<string, Tensor>();
            var mappedFisher = new Dictionary<string, Tensor>();
            using var earlier = ElasticWeightConsolidation.LoadConsolidated(baseModel.Folder!);
            var mappedEarlier = new Dictionary<string, Tensor>();
            var mappedEarlierAnchors = new Dictionary<string, Tensor>();
            try
            {
                foreach (var (name, parameter) in baseModel.Network.named_parameters())
                {
                    if (!modelParameters.ContainsKey(name) || mapping.Map(name, parameter) is not { } anchor)
                    {
                        continue;
                    }

                    anchors[name] = anchor;
                    mappedFisher[name] = mapping.Map(name, fisher[name])!;
                    if (earlier is not null && earlier.Precision.TryGetValue(name, out var precision))
                    {
                        mappedEarlier[name] = mapping.Map(name, precision)!;
                        mappedEarlierAnchors[name] = mapping.Map(name, earlier.Anchor[name])!;
                    }
                }

                var ewc = ElasticWeightConsolidation.Create(built.Network, anchors, mappedFisher, ewcSpec.Lambda,
                    earlier is null ? null : new ConsolidatedPenalty(mappedEarlier, mappedEarlierAnchors, earlier.Tasks));
                _timings["fisherSeconds"] = watch.Elapsed.TotalSeconds;
                return ewc;
            }
            finally
            {
                foreach (var t in fisher.Values.Concat(anchors.Values).Concat(mappedFisher.Values).Concat(mappedEarlier.Values).Concat(mappedEarlierAnchors.Values))
                {
                    t.Dispose();
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or DataException)
        {
            throw new InputException(e.Message, e);
        }
    }

    /// <summary>
    /// Stage 4: optimiser, schedule, curriculum and callbacks; resumes from the last checkpoint of the same spec;
    /// trains.
    /// </summary>
    public TrainerState Loop(PreparedRun prepared, BuiltModel built, ElasticWeightConsolidation? ewc, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(built);
        var spec = run.Spec;
        var data = prepared.Data;
        var model = built.Network;
        var difficulty = CurriculumDifficulty(prepared);
        var replayFraction = data.Replay is null ? 0 : spec.Data.Replay?.Fraction ?? 0;
        optim.Optimizer optimizer;
        try
        {
            optimizer = OptimizerFactory.Create(spec.Optimizer, built.Groups);
        }
        catch (ArgumentException e)
        {
            throw new InputException(e.Message, e);
        }

        using var optimizerScope = optimizer;
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

        var store = new CheckpointStore(Path.Combine(run.ArtifactsDirectory, "checkpoints"), spec.Checkpoint.Keep);
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
        using var bundle = ModelBundle.Of(model, built.Config, data.Schema);
        var watch = Stopwatch.StartNew();
        using (var trainer = new Trainer(
            model, optimizer, schedule, curriculum, data.Train, data.Replay,
            _ => evaluated ? bundle.Evaluate(data.Validation).ToMetricMapWithSlices() : [],
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

        _timings["trainSeconds"] = watch.Elapsed.TotalSeconds;
        return state;
    }

    /// <summary>
    /// Stage 4b: temperature scaling (Guo et al. 2017). Fits T on the validation split's logits (minimum NLL of
    /// softmax(logits / T)) and measures the expected calibration error of the evaluation split (test, else
    /// validation) before and after. Without a labelled validation row, or with non-finite logits (a diverged network):
    /// temperature 1, recorded as not calibrated with the reason.
    /// </summary>
    public ModelCalibration Calibrate(PreparedRun prepared, BuiltModel built)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(built);
        var data = prepared.Data;
        if (!data.Validation.Labels.Any(l => l >= 0))
        {
            return ModelCalibration.None("no labelled validation rows to fit a temperature on");
        }

        var watch = Stopwatch.StartNew();
        using var bundle = ModelBundle.Of(built.Network, built.Config, data.Schema);
        var classes = data.Schema.Classes;
        var validationLogits = bundle.PredictLogits(data.Validation);
        if (!validationLogits.All(float.IsFinite))
        {
            // A diverged network: no temperature can be fitted, and its metrics and gates will show it.
            Log?.Invoke("temperature scaling skipped: the model's validation logits include NaN or infinity (did training diverge?)");
            return ModelCalibration.None("the model's validation logits include NaN or infinity (did training diverge?)");
        }

        var fit = TemperatureScaling.Fit(validationLogits, data.Validation.Labels, classes.Count);
        var (split, evaluationData) = data.Test is { } test ? ("test", test) : ("validation", data.Validation);
        var logits = data.Test is null ? validationLogits : bundle.PredictLogits(evaluationData);
        double Ece(double temperature) =>
            Metrics.Evaluate(evaluationData.Labels, TemperatureScaling.Probabilities(logits, classes.Count, temperature), classes, null).ExpectedCalibrationError;
        var calibration = new ModelCalibration
        {
            Calibrated = true,
            Temperature = fit.Temperature,
            FitSplit = "validation",
            FitRows = fit.Rows,
            NllBefore = fit.NllBefore,
            NllAfter = fit.NllAfter,
            EceSplit = split,
            EceBefore = Ece(1),
            EceAfter = Ece(fit.Temperature),
        };
        _timings["calibrateSeconds"] = watch.Elapsed.TotalSeconds;
        Log?.Invoke(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"temperature scaling: T = {fit.Temperature:G4} (validation NLL {fit.NllBefore:G4} -> {fit.NllAfter:G4}; {split} ECE {calibration.EceBefore:G4} -> {calibration.EceAfter:G4})"));
        return calibration;
    }

    /// <summary>
    /// Stage 5: metrics on the test split (the validation split when no test data is named) and the gates, from the
    /// probabilities at <paramref name="calibration"/>'s temperature (1 without one).
    /// </summary>
    public EvaluationOutcome Evaluate(PreparedRun prepared, BuiltModel built, ModelCalibration? calibration = null)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(built);
        var data = prepared.Data;
        var watch = Stopwatch.StartNew();
        // The loader fails on a named test set with no rows, so a test set here always has rows.
        var (split, evaluationData) = data.Test is { } test ? ("test", test) : ("validation", data.Validation);
        using var bundle = ModelBundle.Of(built.Network, built.Config, data.Schema, calibration);
        var result = bundle.Evaluate(evaluationData);
        ContinualReport? continual;
        try
        {
            continual = Continual(prepared, bundle, split == "test" ? OwnTask(data, result) : null);
        }
        catch (Exception e) when (e is ArgumentException or DataException or InvalidDataException or System.Text.Json.JsonException)
        {
            throw new InputException(e.Message, e);
        }

        IReadOnlyList<GateResult> gates = [.. GateEvaluator.Evaluate(run.Spec.Gates ?? [], result, EvaluationOutcome.ContinualMetrics(continual))];
        _timings["evaluateSeconds"] = watch.Elapsed.TotalSeconds;
        return new EvaluationOutcome(split, result, gates, continual, calibration);
    }

    /// <summary>The base model's report.json, beside its model folder (a run's &lt;artifacts&gt;/model); null without a base model.</summary>
    private string BaseReportPath() => run.BaseModelFolder is { } folder
        ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar))!, TrainingReport.FileName)
        : throw new ArgumentException("continual.previousTasks: needs a baseModel, whose report holds the accuracies right after learning those tasks");

    private TaskAccuracy? OwnTask(LoadedData data, EvaluationResult result) => ContinualReport.OwnTask(run.Name, data.TestDataFingerprint, result.Accuracy);

    /// <summary>
    /// The continual-learning section: with a base model whose report gives its tasks (its chain), the chain with the
    /// continual.previousTasks measured now, then this run's own task; null without a base model, or when the base
    /// model's report has no chain and no task is to be measured. previousTasks without a base model is an error.
    /// </summary>
    private ContinualReport? Continual(PreparedRun prepared, ModelBundle model, TaskAccuracy? own)
    {
        var previous = run.Spec.Continual?.PreviousTasks ?? [];
        if (run.BaseModelFolder is null)
        {
            return previous.Count > 0 ? throw new ArgumentException("continual.previousTasks: needs a baseModel, whose report holds the accuracies right after learning those tasks") : null;
        }

        var baseReport = BaseReportPath();
        if (previous.Count > 0)
        {
            var (chain, measured) = ContinualReport.Measure(previous, baseReport, model, run.Spec.Data, run.BaseDirectory, prepared.Data.Report);
            return ContinualReport.Build(chain, measured, own);
        }

        // Not measured now, but the chain is carried on so that a later run can measure these tasks.
        return File.Exists(baseReport) && ContinualReport.ChainOf(TrainingReport.Load(baseReport)) is { } carried
            ? ContinualReport.Build(carried, new Dictionary<string, double>(), own)
            : null;
    }

    /// <summary>Stage 6: the model bundle (weights, preprocessing, fingerprint, EWC penalty), profile, curves and report.</summary>
    public TrainingOutcome Write(
        PreparedRun prepared, BuiltModel built, ElasticWeightConsolidation? ewc, TrainerState state, EvaluationOutcome evaluation, DateTimeOffset started, Stopwatch total)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(built);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(evaluation);
        ArgumentNullException.ThrowIfNull(total);
        var spec = run.Spec;
        var data = prepared.Data;
        var model = built.Network;
        var artifacts = run.ArtifactsDirectory;
        var modelFolder = Path.Combine(artifacts, "model");
        ModelArtifact.Save(modelFolder, model, new ModelDocument
        {
            Config = built.Config,
            FeatureSchema = JsonSerializer.SerializeToNode(data.Schema),
            SchemaFingerprint = data.Schema.Fingerprint(),
            Calibration = evaluation.Calibration,
            TrainingRun = run.Name,
            CreatedAt = time.GetUtcNow(),
        });
        var staleEwc = Path.Combine(modelFolder, ElasticWeightConsolidation.FileName);
        if (ewc is not null)
        {
            ewc.Save(modelFolder);
        }
        else if (File.Exists(staleEwc))
        {
            // A penalty from an earlier attempt of another spec does not belong to this model.
            File.Delete(staleEwc);
        }

        // The drift profile: the training data's statistics, plus this model's fingerprint and its held-out predictions
        // at the calibrated temperature (what CBPE's expected accuracy needs).
        var heldOut = evaluation.Split == "test" && data.Test is { } testSplit ? testSplit : data.Validation;
        using (var predictor = ModelBundle.Of(model, built.Config, data.Schema, evaluation.Calibration))
        {
            var probabilities = predictor.PredictProbabilities(heldOut, out _);
            data.Profile.WithModel(data.Schema.Fingerprint(), PredictionProfile.Build(evaluation.Split, probabilities, data.Schema.Classes, heldOut.Labels, predictor.Calibrated ? predictor.Temperature : null))
                .Save(Path.Combine(artifacts, "profile.json"));
        }

        CurvePlotter.Save(Path.Combine(artifacts, CurvePlotter.FileName), state.History, run.Name);
        _timings["totalSeconds"] = total.Elapsed.TotalSeconds;

        var parameters = model.parameters().ToList();
        var result = evaluation.Result;
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
                Architecture = built.Config.Architecture,
                Parameters = parameters.Sum(p => p.numel()),
                TrainableParameters = parameters.Where(p => p.requires_grad).Sum(p => p.numel()),
                Classes = prepared.Classes,
                BaseModel = built.Transfer,
                EwcParameters = ewc?.Names,
            },
            EpochsTrained = state.Epoch,
            StoppedEarly = state.StoppedEarly,
            BestEpoch = state.BestEpoch,
            ResumedFromEpoch = state.ResumedFromEpoch,
            History = state.History,
            EvaluationSplit = evaluation.Split,
            TestData = evaluation.Split == "test" ? data.TestDataFingerprint : null,
            Evaluation = TrainingReport.ToNode(result),
            Metrics = evaluation.Metrics(),
            Continual = evaluation.Continual,
            Calibration = evaluation.Calibration,
            Gates = evaluation.Gates,
            GatesPassed = evaluation.Gates.All(g => g.Passed),
            Timings = new Dictionary<string, double>(_timings),
            ModelUri = Uri(run, "model"),
            ReportUri = Uri(run, TrainingReport.FileName),
            ProfileUri = Uri(run, "profile.json"),
            CurvesUri = Uri(run, CurvePlotter.FileName),
        };
        var reportPath = Path.Combine(artifacts, TrainingReport.FileName);
        report.Save(reportPath);
        return new TrainingOutcome(report, reportPath, modelFolder);
    }

    private static ModelBundle LoadBundle(string folder, string field, Device device)
    {
        try
        {
            return ModelBundle.Load(folder, device);
        }
        catch (InvalidDataException e)
        {
            throw new InputException($"{field}: {e.Message}", e);
        }
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

    /// <summary>
    /// Per-example difficulty for the curriculum: the data's column, or the teacher's scores of the training rows
    /// encoded with the teacher's own preprocessing, its classes matched to this run's by name.
    /// </summary>
    public double[]? CurriculumDifficulty(PreparedRun prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        var spec = run.Spec;
        var data = prepared.Data;
        if (spec.Curriculum?.Difficulty is not { } difficulty)
        {
            return null;
        }

        if (difficulty.Source == DifficultySources.Column)
        {
            return data.Train.Difficulty
                ?? throw new InputException("spec.curriculum.difficulty.column: required for a curriculum with difficulty source Column (the loader reads it as data.difficultyColumn)");
        }

        var teacher = prepared.Teacher!;
        int[] columns;
        try
        {
            columns = teacher.ClassIndices(prepared.Classes);
        }
        catch (InvalidDataException e)
        {
            throw new InputException($"spec.curriculum.difficulty.teacher: it must score every class of this run: {e.Message}", e);
        }

        var teacherProbabilities = teacher.PredictProbabilities(data.TrainForTeacher!, out _);
        var classes = prepared.Classes.Count;
        var probabilities = new float[(long)data.Train.Count * classes];
        for (var i = 0; i < data.Train.Count; i++)
        {
            for (var c = 0; c < classes; c++)
            {
                probabilities[((long)i * classes) + c] = teacherProbabilities[((long)i * teacher.Classes.Count) + columns[c]];
            }
        }

        return DifficultyScores.FromTeacher(difficulty.Source, probabilities, data.Train.Labels, classes);
    }
}
