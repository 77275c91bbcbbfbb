using Syllabus.Trainer.Data;
using Syllabus.Trainer.Evaluation;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>Runs a model over a split in evaluation mode.</summary>
public static class Predictor
{
    /// <summary>Class probabilities (Count x classes, row-major) and the mean cross-entropy over labelled rows (NaN when none).</summary>
    public static float[] Predict(nn.Module<Tensor, Tensor> model, TabularData data, out double loss, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var wasTraining = model.training;
        model.eval();
        var probabilities = new List<float>();
        double lossSum = 0;
        long labelled = 0;
        try
        {
            using var noGrad = no_grad();
            var device = TrainingDevice.Of(model);
            for (var start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                var count = Math.Min(batchSize, data.Count - start);
                var x = tensor(data.Features.AsSpan(start * data.FeatureCount, count * data.FeatureCount).ToArray(), [count, data.FeatureCount], device: device);
                var logits = model.forward(x);
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
            }
        }
        finally
        {
            model.train(wasTraining);
        }

        loss = labelled == 0 ? double.NaN : lossSum / labelled;
        return [.. probabilities];
    }

    /// <summary>Predicts and scores a labelled split.</summary>
    public static EvaluationResult Evaluate(nn.Module<Tensor, Tensor> model, TabularData data, IReadOnlyList<string> classNames, int batchSize = 1024)
    {
        var probabilities = Predict(model, data, out var loss, batchSize);
        return Metrics.Evaluate(data.Labels, probabilities, classNames, data.Slices, double.IsNaN(loss) ? null : loss);
    }
}
