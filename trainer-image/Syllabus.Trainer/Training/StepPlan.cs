using Syllabus.Api;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Training;

/// <summary>
/// How many optimisation steps each epoch of a run takes, worked out before the run from what the
/// <see cref="Trainer"/> will feed it: the curriculum's examples for the epoch (a pacing curriculum trains on fewer
/// early on), their labelled ones, plus the replay share, in batches. Step-sized schedules use it so OneCycle ends at
/// its final rate and Cosine at its minimum on the last step actually run.
/// </summary>
public static class StepPlan
{
    /// <summary>
    /// Batches per epoch, or null when the curriculum's stages advance on validation metrics (the epochs' data
    /// sizes are then unknown until the run).
    /// </summary>
    public static int[]? BatchesPerEpoch(
        CurriculumSpec? curriculum, double[]? difficulty, int epochs, int seed, TabularData train, TabularData? replay, double replayFraction, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (curriculum?.Stages?.Any(s => s.AdvanceWhen is not null) == true)
        {
            return null;
        }

        // A scheduler of its own, stepped without metrics: pacing and stages without advanceWhen do not read them.
        var scheduler = new CurriculumScheduler(curriculum, difficulty, epochs, seed, train.Count);
        var replayPool = replay is null ? 0 : replay.Labels.Count(l => l >= 0);
        var batches = new int[epochs];
        for (var e = 0; e < epochs; e++)
        {
            var labelled = scheduler.NextEpoch(null).Indices.Count(i => train.Labels[i] >= 0);
            var examples = labelled + Trainer.ReplayExamples(labelled, replayPool, replayFraction);
            batches[e] = (examples + batchSize - 1) / batchSize;
        }

        return batches;
    }
}
