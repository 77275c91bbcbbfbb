using Syllabus.Trainer.Data;
using Syllabus.Trainer.Evaluation;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>Runs a model over a split in evaluation mode.</summary>
public static class Predictor
{
    /// <summary>
    /// Class probabilities softmax(logits / <paramref name="temperature"/>) (Count x classes, row-major) and their mean
    /// cross-entropy over labelled rows (NaN when none). Temperature 1 is the raw softmax.
    /// </summary>
    public static float[] Predict(nn.Module<Tensor, Tensor> model, TabularData data, out double loss, int batchSize = 1024, double temperature = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (!double.IsFinite(temperature) || temperature <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "the temperature must be a finite number > 0");
        }

        var probabilities = new List<float>();
        double lossSum = 0;
        long labelled = 0;
        ForEachBatch(model, data, batchSize, (rawLogits, start, count, device) =>
        {
            var logits = rawLogits.div(temperature);
            probabilities.AddRange(nn.functional.softmax(logits, 1).cpu().data<float>().ToArray());
            var labels = data.Labels.AsSpan(start, count).ToArray();
            var rows = Enumerable.Range(0, count).Where(i => labels[i] >= 0).Select(i => (long)i).ToArray();
            if (rows.Length > 0)
            {
                var idx = tensor(rows, device: device);
                var y = tensor(rows.Select(i => labels[i]).ToArray(), device: device);
                lossSum += nn.functional.cross_entropy(logits.index_select(0, idx), y, reduction: nn.Reduction.Sum).item<float>();
                labelled += rows.Length;
            }
        });

        loss = labelled == 0 ? double.NaN : lossSum / labelled;
        return [.. probabilities];
    }

    /// <summary>The network's outputs before the softmax (Count x classes, row-major), e.g. to fit a temperature on.</summary>
    public static float[] Logits(nn.Module<Tensor, Tensor> model, TabularData data, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var logits = new List<float>();
        ForEachBatch(model, data, batchSize, (batch, _, _, _) => logits.AddRange(batch.cpu().data<float>().ToArray()));
        return [.. logits];
    }

    /// <summary>Predicts at <paramref name="temperature"/> and scores a labelled split.</summary>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, TabularData data, IReadOnlyList<string> classNames, int batchSize = 1024, double temperature = 1)
    {
        var probabilities = Predict(model, data, out var loss, batchSize, temperature);
        return Metrics.Evaluate(data.Labels, probabilities, classNames, data.Slices, double.IsNaN(loss) ? null : loss);
    }

    /// <summary>Runs the model in evaluation mode without gradients, one dispose scope per batch: (logits, first row, rows, device).</summary>
    private static void ForEachBatch(nn.Module<Tensor, Tensor> model, TabularData data, int batchSize, Action<Tensor, int, int, Device> onBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            var device = TrainingDevice.Of(model);
            for (var start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var count = Math.Min(batchSize, data.Count - start);
                var x = tensor(data.Features.AsSpan(start * data.FeatureCount, count * data.FeatureCount).ToArray(), [count, data.FeatureCount], device: device);
                onBatch(model.forward(x), start, count, device);
            }
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
