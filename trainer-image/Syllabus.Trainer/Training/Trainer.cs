using System.Diagnostics;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Schedules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>Loop settings taken from the TrainingRun spec.</summary>
public sealed record TrainerOptions(int Epochs, int BatchSize, int Seed, double? GradientClipNorm = null, double ReplayFraction = 0);

/// <summary>
/// The training loop: per epoch the curriculum picks the examples, replay data is mixed in, the batches are
/// shuffled with a seeded generator, then validation, the schedule's epoch step and the callbacks.
/// Everything that varies between epochs is derived from (seed, epoch), so a run resumed from a checkpoint
/// continues exactly as the uninterrupted run would have.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly optim.Optimizer _optimizer;
    private readonly ILearningRateSchedule _schedule;
    private readonly CurriculumScheduler _curriculum;
    private readonly TrainerOptions _options;
    private readonly IReadOnlyList<ITrainerCallback> _callbacks;
    private readonly Func<TrainerState, Dictionary<string, double>> _validate;
    private readonly Func<Tensor>? _penalty;
    private readonly Parameter[] _trainable;
    private readonly TabularData _train;
    private readonly int _trainCount;
    private readonly int _replayCount;
    private readonly Device _device;
    private readonly Tensor _features;
    private readonly Tensor _labels;
    private readonly Tensor? _weights;
    private readonly Action<TrainerState>? _saveCheckpoint;

    /// <param name="model">The network (already initialised or loaded).</param>
    /// <param name="optimizer">Its optimiser over the trainable parameters.</param>
    /// <param name="schedule">Drives the optimiser's learning rates.</param>
    /// <param name="curriculum">Picks each epoch's examples from <paramref name="train"/>.</param>
    /// <param name="train">Training data.</param>
    /// <param name="replay">Older data mixed into every epoch (<see cref="TrainerOptions.ReplayFraction"/>), or null.</param>
    /// <param name="validate">Evaluates the model on validation data and returns the metric map.</param>
    /// <param name="callbacks">Hooks, called in order.</param>
    /// <param name="options">Loop settings.</param>
    /// <param name="penalty">Extra loss term (continual learning), or null.</param>
    /// <param name="saveCheckpoint">Writes a checkpoint when a callback asks for one.</param>
    public Trainer(
        nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer, ILearningRateSchedule schedule, CurriculumScheduler curriculum,
        TabularData train, TabularData? replay, Func<TrainerState, Dictionary<string, double>> validate,
        IReadOnlyList<ITrainerCallback> callbacks, TrainerOptions options, Func<Tensor>? penalty = null,
        Action<TrainerState>? saveCheckpoint = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(train);
        _model = model;
        _optimizer = optimizer;
        _schedule = schedule;
        _curriculum = curriculum;
        _validate = validate;
        _callbacks = callbacks;
        _options = options;
        _penalty = penalty;
        _saveCheckpoint = saveCheckpoint;
        _trainable = [.. model.parameters().Where(p => p.requires_grad)];
        _train = replay is null ? train : TabularData.Concat(train, replay);
        _trainCount = train.Count;
        _replayCount = replay?.Count ?? 0;
        _device = TrainingDevice.Of(model);
        _features = tensor(_train.Features, [_train.Count, _train.FeatureCount], device: _device);
        _labels = tensor(_train.Labels, device: _device);
        _weights = _train.Weights is { } w ? tensor(w, device: _device) : null;
    }

    /// <summary>Trains from <paramref name="state"/> (fresh or restored) to the last epoch or until a callback stops it.</summary>
    public TrainerState Fit(TrainerState state, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        // A run restored after it stopped early is finished: restarting it must not train on.
        var control = new TrainerControl { ShouldStop = state.StoppedEarly };
        foreach (var cb in _callbacks)
        {
            cb.OnTrainBegin(state, control);
        }

        Dictionary<string, double>? lastValidation = state.History.Count > 0 ? state.History[^1].Validation : null;
        while (state.Epoch < _options.Epochs && !control.ShouldStop)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var epoch = _curriculum.NextEpoch(lastValidation);
            foreach (var cb in _callbacks)
            {
                cb.OnEpochBegin(state, control, epoch);
            }

            var record = RunEpoch(state, control, epoch, cancellationToken);
            if (control.ShouldEvaluate)
            {
                record.Validation = _validate(state);
                lastValidation = record.Validation;
            }

            _schedule.StepEpoch(record.Validation);
            state.Epoch++;
            state.History.Add(record);
            state.CurriculumState = _curriculum.SaveState();
            state.ScheduleState = _schedule.SaveState();
            control.ShouldSave = false;
            foreach (var cb in _callbacks)
            {
                cb.OnEpochEnd(state, control, record);
            }

            if (control.ShouldSave && _saveCheckpoint is not null)
            {
                _saveCheckpoint(state);
            }
        }

        foreach (var cb in _callbacks)
        {
            cb.OnTrainEnd(state, control);
        }

        return state;
    }

    private EpochRecord RunEpoch(TrainerState state, TrainerControl control, CurriculumEpoch epoch, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var indices = EpochIndices(state, epoch, out var replayUsed);
        // Dropout draws from torch's global generator: reseed per epoch so a resumed run draws the same masks.
        random.manual_seed(((long)_options.Seed * 1_000_003) + state.Epoch);
        _model.train();
        var batchSize = _options.BatchSize;
        var batches = (indices.Length + batchSize - 1) / batchSize;
        double lossSum = 0;
        long correct = 0;
        for (var b = 0; b < batches; b++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var start = b * batchSize;
            var count = Math.Min(batchSize, indices.Length - start);
            double batchLoss;
            using (NewDisposeScope())
            {
                var idx = tensor(indices.AsSpan(start, count).ToArray(), device: _device);
                var x = _features.index_select(0, idx);
                var y = _labels.index_select(0, idx);
                var logits = _model.forward(x);
                Tensor loss;
                if (_weights is null)
                {
                    loss = nn.functional.cross_entropy(logits, y);
                }
                else
                {
                    var w = _weights.index_select(0, idx);
                    loss = (nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.None) * w).sum() / w.sum().clamp_min(1e-12);
                }

                var objective = _penalty is null ? loss : loss + _penalty();
                _optimizer.zero_grad();
                objective.backward();
                if (_options.GradientClipNorm is { } clip)
                {
                    nn.utils.clip_grad_norm_(_trainable, clip);
                }

                _optimizer.step();
                batchLoss = loss.item<float>();
                correct += logits.argmax(1).eq(y).sum().item<long>();
            }

            _schedule.StepBatch();
            state.GlobalStep++;
            lossSum += batchLoss * count;
            if (_callbacks.Count > 0)
            {
                var info = new StepInfo(state.GlobalStep, state.Epoch + 1, b + 1, batches, batchLoss, _schedule.LearningRate,
                    (start + count) / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-9));
                foreach (var cb in _callbacks)
                {
                    cb.OnStepEnd(state, control, info);
                }
            }
        }

        var seconds = stopwatch.Elapsed.TotalSeconds;
        return new EpochRecord
        {
            Epoch = state.Epoch + 1,
            Stage = epoch.Stage,
            StageIndex = epoch.StageIndex,
            DataFraction = epoch.DataFraction,
            Examples = indices.Length,
            ReplayExamples = replayUsed,
            TrainLoss = indices.Length == 0 ? double.NaN : lossSum / indices.Length,
            TrainAccuracy = indices.Length == 0 ? double.NaN : (double)correct / indices.Length,
            LearningRate = _schedule.LearningRate,
            Seconds = seconds,
            SamplesPerSecond = indices.Length / Math.Max(seconds, 1e-9),
        };
    }

    /// <summary>The curriculum's labelled examples plus the epoch's replay sample, shuffled with (seed, epoch).</summary>
    private long[] EpochIndices(TrainerState state, CurriculumEpoch epoch, out int replayUsed)
    {
        var rng = new Random(unchecked((_options.Seed * 7919) + state.Epoch));
        var list = new List<long>(epoch.Indices.Length);
        foreach (var i in epoch.Indices)
        {
            if (_train.Labels[i] >= 0)
            {
                list.Add(i);
            }
        }

        replayUsed = 0;
        if (_replayCount > 0 && _options.ReplayFraction > 0)
        {
            var pool = Enumerable.Range(_trainCount, _replayCount).Where(i => _train.Labels[i] >= 0).ToArray();
            var wanted = ReplayExamples(list.Count, pool.Length, _options.ReplayFraction);
            if (wanted > 0)
            {
                rng.Shuffle(pool);
                // Sample without replacement while the pool lasts, then wrap around.
                for (var k = 0; k < wanted; k++)
                {
                    list.Add(pool[k % pool.Length]);
                }

                replayUsed = wanted;
            }
        }

        var indices = list.ToArray();
        rng.Shuffle(indices);
        return indices;
    }

    /// <summary>Replay examples mixed into an epoch of <paramref name="labelled"/> new examples (none without a replay pool).</summary>
    internal static int ReplayExamples(int labelled, int replayPool, double replayFraction) =>
        replayPool > 0 && replayFraction > 0 ? (int)Math.Round(replayFraction * labelled) : 0;

    public void Dispose()
    {
        _features.Dispose();
        _labels.Dispose();
        _weights?.Dispose();
    }
}
