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
/// Encodes pool rows with each model's own fitted schema (strictly, one row at a time so a bad row is rejected alone):
/// a committee's members may have fitted different normalisation, imputation or categories, and each takes the raw
/// row as it was trained to. Runs every model, scores each row with the strategy and selects the batch.
/// </summary>
public static class PoolScorer
{
    private const int ForwardRows = 1024;

    public static ScoreResult Score(Pool pool, IReadOnlyList<ModelBundle> models, string strategy, SelectionOptions selection)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(selection);
        if (CommitteeProblem(models) is { } problem)
        {
            throw new ArgumentException(problem, nameof(models));
        }

        var rejected = new List<RejectedRow>(pool.Rejected);
        var encodable = new List<PoolRow>();
        var features = models.Select(_ => new List<float>()).ToList();
        var inputColumns = pool.Columns.Select((c, i) => (c, i)).Where(p => p.c != pool.IdColumn).ToArray();
        foreach (var row in pool.Rows)
        {
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var (column, index) in inputColumns)
            {
                values[column] = row.Values[index];
            }

            var encoded = new float[models.Count][];
            string? reason = null;
            for (var m = 0; m < models.Count && reason is null; m++)
            {
                try
                {
                    encoded[m] = models[m].Schema.Encode(values);
                }
                catch (DataException e)
                {
                    // The encoder numbers rows within its call; the pool row's own file and line say where it is.
                    var message = e.Message.StartsWith("row 0: ", StringComparison.Ordinal) ? e.Message["row 0: ".Length..] : e.Message;
                    reason = models.Count > 1 ? $"model {models[m].Folder}: {message}" : message;
                }
            }

            if (reason is not null)
            {
                rejected.Add(new RejectedRow(row.Id, row.File, row.Line, row.Requests is { Count: > 0 } requests ? $"request {string.Join("; ", requests)}: {reason}" : reason));
                continue;
            }

            encodable.Add(row);
            for (var m = 0; m < models.Count; m++)
            {
                features[m].AddRange(encoded[m]);
            }
        }

        var classes = models[0].Schema.Classes.Count;
        var memberProbabilities = models.Select((m, i) => Forward(m, features[i], encodable.Count, m.Schema.FeatureCount)).ToList();
        float[]?[] embeddings = selection.KCenter ? Penultimate(models[0], features[0], encodable.Count, models[0].Schema.FeatureCount) : [];
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

    /// <summary>
    /// Why <paramref name="models"/> cannot score as one committee, or null: every member must take the same feature
    /// columns (by name; each encodes them with its own fitted preprocessing) and predict the same classes in the same
    /// order (their probabilities are averaged class by class).
    /// </summary>
    public static string? CommitteeProblem(IReadOnlyList<ModelBundle> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        if (models.Count == 0)
        {
            return "no model";
        }

        var first = models[0];
        var columns = first.Schema.Columns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var member in models.Skip(1))
        {
            var own = member.Schema.Columns.Select(c => c.Name).ToList();
            if (own.FirstOrDefault(c => !columns.Contains(c)) is { } extra)
            {
                return $"--model {member.Folder}: its feature column '{extra}' is not an input of {first.Folder}; a committee's members must take the same feature columns";
            }

            if (first.Schema.Columns.FirstOrDefault(c => !own.Contains(c.Name, StringComparer.Ordinal)) is { } missing)
            {
                return $"--model {member.Folder}: it does not take {first.Folder}'s feature column '{missing.Name}'; a committee's members must take the same feature columns";
            }

            if (!member.Schema.Classes.SequenceEqual(first.Schema.Classes, StringComparer.Ordinal))
            {
                return $"--model {member.Folder}: its classes ({string.Join(", ", member.Schema.Classes)}) are not {first.Folder}'s ({string.Join(", ", first.Schema.Classes)}, in that order); a committee's members must predict the same classes";
            }
        }

        return null;
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
