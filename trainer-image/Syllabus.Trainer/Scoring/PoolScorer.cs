using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Models;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Scoring;

/// <summary>A pool row the model(s) scored.</summary>
/// <param name="Probabilities">The model's class probabilities, or the committee's mean.</param>
public sealed record ScoredRow(PoolRow Row, double Score, int Predicted, float Confidence, float[] Probabilities);

/// <summary>Every scorable row with its score, the chosen batch (indices into <see cref="Scored"/>, best first), and the rejects.</summary>
public sealed record ScoreResult(IReadOnlyList<ScoredRow> Scored, IReadOnlyList<int> Batch, IReadOnlyList<RejectedRow> Rejected);

/// <summary>
/// Encodes pool rows with the models' fitted schema (strictly, one row at a time so a bad row is rejected alone),
/// runs every model, scores each row with the strategy and selects the batch.
/// </summary>
public static class PoolScorer
{
    private const int ForwardRows = 1024;

    public static ScoreResult Score(Pool pool, IReadOnlyList<ModelBundle> models, string strategy, SelectionOptions selection)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(selection);
        var schema = models[0].Schema;
        var rejected = new List<RejectedRow>(pool.Rejected);
        var encodable = new List<PoolRow>();
        var features = new List<float>();
        var inputColumns = pool.Columns.Select((c, i) => (c, i)).Where(p => p.c != pool.IdColumn).ToArray();
        foreach (var row in pool.Rows)
        {
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var (column, index) in inputColumns)
            {
                values[column] = row.Values[index];
            }

            try
            {
                features.AddRange(schema.Encode(values));
                encodable.Add(row);
            }
            catch (DataException e)
            {
                // The encoder numbers rows within its call; the pool row's own file and line say where it is.
                var reason = e.Message.StartsWith("row 0: ", StringComparison.Ordinal) ? e.Message["row 0: ".Length..] : e.Message;
                rejected.Add(new RejectedRow(row.Id, row.File, row.Line, row.Requests is { Count: > 0 } requests ? $"request {string.Join("; ", requests)}: {reason}" : reason));
            }
        }

        var width = schema.FeatureCount;
        var classes = schema.Classes.Count;
        var memberProbabilities = models.Select(m => Forward(m, features, encodable.Count, width)).ToList();
        float[]?[] embeddings = selection.KCenter ? Penultimate(models[0], features, encodable.Count, width) : [];
        var random = new Random(selection.Seed);
        var scored = new List<ScoredRow>(encodable.Count);
        var keptEmbeddings = new List<float[]>();
        for (var r = 0; r < encodable.Count; r++)
        {
            var members = memberProbabilities.Select(p => p.AsSpan(r * classes, classes).ToArray()).ToList();
            if (members.SelectMany(p => p).Any(x => !float.IsFinite(x)))
            {
                rejected.Add(new RejectedRow(encodable[r].Id, encodable[r].File, encodable[r].Line, "the model gave non-finite probabilities for this row"));
                continue;
            }

            var p = members.Count == 1 ? members[0] : AcquisitionScores.Consensus(members);
            var score = strategy switch
            {
                AcquisitionStrategies.LeastConfidence => AcquisitionScores.LeastConfidence(p),
                AcquisitionStrategies.Margin => AcquisitionScores.Margin(p),
                AcquisitionStrategies.Entropy => AcquisitionScores.Entropy(p),
                AcquisitionStrategies.VoteEntropy => AcquisitionScores.VoteEntropy(members),
                AcquisitionStrategies.ConsensusEntropy => AcquisitionScores.ConsensusEntropy(members),
                AcquisitionStrategies.MaxDisagreement => AcquisitionScores.MaxDisagreement(members),
                AcquisitionStrategies.Random => random.NextDouble(),
                _ => throw new ArgumentException($"unknown strategy '{strategy}' (one of {string.Join(", ", AcquisitionStrategies.All)})", nameof(strategy)),
            };
            var predicted = AcquisitionScores.ArgMax(p);
            scored.Add(new ScoredRow(encodable[r], score, predicted, p[predicted], p));
            if (selection.KCenter)
            {
                keptEmbeddings.Add(embeddings[r]!);
            }
        }

        var batch = scored.Count == 0
            ? []
            : BatchSelector.Select([.. scored.Select(s => s.Score)], [.. scored.Select(s => s.Predicted)], classes, selection, selection.KCenter ? keptEmbeddings : null);
        return new ScoreResult(scored, batch, rejected);
    }

    /// <summary>Probabilities (rows x classes, row-major) of one model.</summary>
    private static float[] Forward(ModelBundle model, List<float> features, int rows, int width)
    {
        var result = new float[(long)rows * model.Classes.Count];
        for (var start = 0; start < rows; start += ForwardRows)
        {
            using var scope = NewDisposeScope();
            var count = Math.Min(ForwardRows, rows - start);
            var x = tensor(features.GetRange(start * width, count * width).ToArray(), [count, width], device: model.Device);
            model.PredictProbabilities(x).cpu().data<float>().CopyTo(result, start * model.Classes.Count);
        }

        return result;
    }

    /// <summary>Each row's activations before the model's output layer.</summary>
    private static float[]?[] Penultimate(ModelBundle model, List<float> features, int rows, int width)
    {
        if (model.Network is not IPenultimateFeatures network)
        {
            throw new InvalidDataException($"{model.Folder}: a {model.Config.Architecture} network exposes no penultimate features, which k-center diversity needs");
        }

        var result = new float[]?[rows];
        var wasTraining = model.Network.training;
        model.Network.eval();
        try
        {
            using var noGrad = no_grad();
            for (var start = 0; start < rows; start += ForwardRows)
            {
                using var scope = NewDisposeScope();
                var count = Math.Min(ForwardRows, rows - start);
                var x = tensor(features.GetRange(start * width, count * width).ToArray(), [count, width], device: model.Device);
                var h = network.Penultimate(x).cpu();
                var hidden = (int)h.shape[1];
                var data = h.data<float>().ToArray();
                for (var r = 0; r < count; r++)
                {
                    result[start + r] = data.AsSpan(r * hidden, hidden).ToArray();
                }
            }
        }
        finally
        {
            model.Network.train(wasTraining);
        }

        return result;
    }
}
