using System.Text.Json.Nodes;
using Syllabus.Api;

namespace Syllabus.Trainer.Curriculum;

/// <summary>
/// Decides, epoch by epoch, which examples a run trains on: all of them without a curriculum; otherwise the easiest
/// share given by a pacing function or by the current stage (stages advance after minEpochs once advanceWhen holds on
/// the last validation metrics, and after maxEpochs regardless). Difficulty ties are broken by a seeded permutation so
/// the order is deterministic; NaN difficulty counts as hardest.
/// </summary>
public sealed class CurriculumScheduler
{
    /// <summary>Stage name without a curriculum.</summary>
    public const string AllStage = "all";

    /// <summary>Stage names of a pacing curriculum: still growing, then all data.</summary>
    public const string PacingStage = "pacing";

    public const string FullStage = "full";

    private readonly CurriculumSpec? _spec;
    private readonly int _totalEpochs;
    private readonly int _count;
    private readonly int[] _order;
    private int _epoch;
    private int _stageIndex;
    private int _epochsInStage;

    /// <param name="spec">The curriculum, or null for all data every epoch.</param>
    /// <param name="difficulty">Per training example, higher is harder; required with a curriculum.</param>
    /// <param name="exampleCount">Number of training examples; required when <paramref name="difficulty"/> is null.</param>
    public CurriculumScheduler(CurriculumSpec? spec, double[]? difficulty, int totalEpochs, int seed, int? exampleCount = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalEpochs, 1);
        if (difficulty is not null && exampleCount is { } n && n != difficulty.Length)
        {
            throw new ArgumentException($"difficulty has {difficulty.Length} scores for {n} examples", nameof(difficulty));
        }

        _count = difficulty?.Length ?? exampleCount
            ?? throw new ArgumentException("exampleCount is required when there are no difficulty scores to count examples from", nameof(exampleCount));
        ArgumentOutOfRangeException.ThrowIfNegative(_count, nameof(exampleCount));
        _spec = spec;
        _totalEpochs = totalEpochs;
        if (spec is null)
        {
            _order = [.. Enumerable.Range(0, _count)];
            return;
        }

        if (difficulty is null)
        {
            throw new ArgumentException("a curriculum needs per-example difficulty scores", nameof(difficulty));
        }

        Validate(spec);
        _order = Sort(difficulty, spec.AntiCurriculum, seed);
    }

    /// <summary>The examples in curriculum order (easiest first, or hardest first for an anti-curriculum).</summary>
    public IReadOnlyList<int> Order() => _order;

    /// <summary>
    /// The next epoch's stage and examples. <paramref name="lastValidationMetrics"/> are the metrics after the previous
    /// epoch (null when it was not validated); they decide stage advancement.
    /// </summary>
    public CurriculumEpoch NextEpoch(IReadOnlyDictionary<string, double>? lastValidationMetrics)
    {
        var epoch = _epoch;
        CurriculumEpoch result;
        if (_spec is null)
        {
            result = new CurriculumEpoch(epoch, AllStage, 0, 1.0, [.. _order]);
        }
        else if (_spec.Pacing is { } pacing)
        {
            var fraction = Pacing.DataFraction(pacing, epoch, _totalEpochs);
            result = fraction >= 1.0
                ? new CurriculumEpoch(epoch, FullStage, 1, 1.0, Take(1.0))
                : new CurriculumEpoch(epoch, PacingStage, 0, fraction, Take(fraction));
        }
        else
        {
            var stages = _spec.Stages!;
            if (epoch > 0)
            {
                // Several stages may be passed at once when a later one has minEpochs 0 and its gate already holds.
                while (_stageIndex < stages.Count - 1 && ShouldAdvance(stages[_stageIndex], _epochsInStage, lastValidationMetrics))
                {
                    _stageIndex++;
                    _epochsInStage = 0;
                }
            }

            var stage = stages[_stageIndex];
            result = new CurriculumEpoch(epoch, stage.Name, _stageIndex, stage.DataFraction, Take(stage.DataFraction));
            _epochsInStage++;
        }

        _epoch++;
        return result;
    }

    public JsonObject SaveState() => new()
    {
        ["epoch"] = _epoch,
        ["stageIndex"] = _stageIndex,
        ["epochsInStage"] = _epochsInStage,
        ["exampleCount"] = _count,
    };

    public void LoadState(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var count = Int(state, "exampleCount");
        if (count != _count)
        {
            throw new InvalidDataException($"curriculum state is for {count} training examples, this run has {_count}");
        }

        var stageIndex = Int(state, "stageIndex");
        var stageCount = _spec?.Stages?.Count ?? 1;
        if (stageIndex >= stageCount)
        {
            throw new InvalidDataException($"curriculum state is in stage {stageIndex}, the curriculum has {stageCount} stage(s)");
        }

        _epoch = Int(state, "epoch");
        _stageIndex = stageIndex;
        _epochsInStage = Int(state, "epochsInStage");
    }

    private static bool ShouldAdvance(CurriculumStage stage, int epochsInStage, IReadOnlyDictionary<string, double>? metrics)
    {
        if (stage.MaxEpochs is { } max && epochsInStage >= max)
        {
            return true;
        }

        if (epochsInStage < stage.MinEpochs)
        {
            return false;
        }

        // Without a gate a stage lasts minEpochs (maxEpochs, when set, is then the same bound or later).
        return stage.AdvanceWhen is not { } gate ? stage.MaxEpochs is null : GateHolds(gate, metrics);
    }

    /// <summary>
    /// A gate on the last validation metrics; a sliced gate reads the key "metric@slice". A metric missing from a
    /// validated epoch is an error (the gate could never pass); no validation at all means not yet.
    /// </summary>
    private static bool GateHolds(Gate gate, IReadOnlyDictionary<string, double>? metrics)
    {
        if (metrics is null)
        {
            return false;
        }

        var key = gate.Slice is { Length: > 0 } slice ? $"{gate.Metric}@{slice}" : gate.Metric;
        if (!metrics.TryGetValue(key, out var value))
        {
            throw new InvalidOperationException(
                $"curriculum stage advanceWhen: validation produced no metric '{key}' (it has {string.Join(", ", metrics.Keys.Order(StringComparer.Ordinal))})");
        }

        return !double.IsNaN(value)
            && (gate.AtLeast is not { } low || value >= low)
            && (gate.AtMost is not { } high || value <= high);
    }

    private int[] Take(double fraction)
    {
        var n = _count == 0 ? 0 : (int)Math.Clamp(Math.Ceiling((fraction * _count) - 1e-9), 1, _count);
        return _order[..n];
    }

    private static int[] Sort(double[] difficulty, bool anti, int seed)
    {
        var tie = new int[difficulty.Length];
        var permutation = Enumerable.Range(0, difficulty.Length).ToArray();
        new Random(seed).Shuffle(permutation);
        for (var i = 0; i < permutation.Length; i++)
        {
            tie[permutation[i]] = i;
        }

        var order = Enumerable.Range(0, difficulty.Length).ToArray();
        Array.Sort(order, (a, b) =>
        {
            var da = double.IsNaN(difficulty[a]) ? double.PositiveInfinity : difficulty[a];
            var db = double.IsNaN(difficulty[b]) ? double.PositiveInfinity : difficulty[b];
            var c = anti ? db.CompareTo(da) : da.CompareTo(db);
            return c != 0 ? c : tie[a].CompareTo(tie[b]);
        });
        return order;
    }

    private static void Validate(CurriculumSpec spec)
    {
        if (spec.Pacing is not null && spec.Stages is { Count: > 0 })
        {
            throw new ArgumentException("curriculum: set exactly one of pacing or stages, not both");
        }

        if (spec.Pacing is null && spec.Stages is null or { Count: 0 })
        {
            throw new ArgumentException("curriculum: set one of pacing or stages");
        }

        if (spec.Pacing is { } pacing)
        {
            _ = Pacing.DataFraction(pacing, 0, 1);
            return;
        }

        foreach (var (stage, i) in spec.Stages!.Select((s, i) => (s, i)))
        {
            if (stage.DataFraction is <= 0 or > 1 || double.IsNaN(stage.DataFraction))
            {
                throw new ArgumentException($"curriculum.stages[{i}] ({stage.Name}): dataFraction must be in (0, 1], got {stage.DataFraction}");
            }

            if (stage.MinEpochs < 0 || stage.MaxEpochs is < 1 || (stage.MaxEpochs is { } max && max < stage.MinEpochs))
            {
                throw new ArgumentException($"curriculum.stages[{i}] ({stage.Name}): need 0 <= minEpochs <= maxEpochs and maxEpochs >= 1, got {stage.MinEpochs} and {stage.MaxEpochs}");
            }

            if (stage.AdvanceWhen is { AtLeast: null, AtMost: null })
            {
                throw new ArgumentException($"curriculum.stages[{i}] ({stage.Name}): advanceWhen needs atLeast or atMost");
            }
        }
    }

    private static int Int(JsonObject state, string name)
        => state[name]?.GetValue<int>() is { } v and >= 0 ? v : throw new InvalidDataException($"curriculum state: '{name}' missing or negative");
}
