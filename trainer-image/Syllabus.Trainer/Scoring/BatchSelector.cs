namespace Syllabus.Trainer.Scoring;

/// <summary>How <see cref="BatchSelector"/> picks a batch from scored rows.</summary>
public sealed record SelectionOptions(int BatchSize, int Seed, bool SmallestFirst, bool BalanceClasses = false, bool KCenter = false, int DiversityCandidates = 0)
{
    /// <summary>k-center candidates when <see cref="DiversityCandidates"/> is 0: the ten best-scored rows per batch slot.</summary>
    public const int DefaultCandidatesPerSlot = 10;
}

/// <summary>
/// Chooses the next batch from scored rows: best score first (ties broken by a seeded shuffle, as modAL's
/// shuffled_argmax does), optionally at most ceil(batch / classes) rows per predicted class (the quota; unused
/// slots go to the best remaining rows of any class), optionally diverse (k-center greedy over the best-scored
/// candidates in the model's penultimate features, Sener &amp; Savarese 2018).
/// </summary>
public static class BatchSelector
{
    /// <summary>Row indices in the order they were chosen (the batch's ranks).</summary>
    /// <param name="scores">One score per row.</param>
    /// <param name="predicted">The predicted class of each row.</param>
    /// <param name="classes">How many classes the model predicts.</param>
    /// <param name="embeddings">Per row, its penultimate features; required for k-center.</param>
    public static int[] Select(IReadOnlyList<double> scores, IReadOnlyList<int> predicted, int classes, SelectionOptions options, IReadOnlyList<float[]>? embeddings = null)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(predicted);
        ArgumentNullException.ThrowIfNull(options);
        if (options.BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), $"the batch size must be at least 1, not {options.BatchSize}");
        }

        var order = PriorityOrder(scores, options.SmallestFirst, options.Seed);
        var batch = Math.Min(options.BatchSize, scores.Count);
        var quota = options.BalanceClasses ? (batch + classes - 1) / Math.Max(1, classes) : int.MaxValue;
        if (!options.KCenter)
        {
            return ByPriority(order, predicted, classes, batch, quota);
        }

        if (embeddings is null || embeddings.Count != scores.Count)
        {
            throw new ArgumentException("k-center diversity needs one embedding per row", nameof(embeddings));
        }

        var candidates = options.DiversityCandidates > 0 ? options.DiversityCandidates : options.BatchSize * SelectionOptions.DefaultCandidatesPerSlot;
        return KCenterGreedy([.. order.Take(Math.Max(batch, candidates))], predicted, classes, batch, quota, embeddings);
    }

    /// <summary>All row indices, best first; equal scores in an order fixed by <paramref name="seed"/>.</summary>
    public static int[] PriorityOrder(IReadOnlyList<double> scores, bool smallestFirst, int seed)
    {
        ArgumentNullException.ThrowIfNull(scores);
        var tie = new int[scores.Count];
        for (var i = 0; i < tie.Length; i++)
        {
            tie[i] = i;
        }

        new Random(seed).Shuffle(tie);
        var rankOfTie = new int[tie.Length];
        for (var i = 0; i < tie.Length; i++)
        {
            rankOfTie[tie[i]] = i;
        }

        var order = Enumerable.Range(0, scores.Count).ToArray();
        Array.Sort(order, (a, b) =>
        {
            var byScore = smallestFirst ? scores[a].CompareTo(scores[b]) : scores[b].CompareTo(scores[a]);
            return byScore != 0 ? byScore : rankOfTie[a].CompareTo(rankOfTie[b]);
        });
        return order;
    }

    private static int[] ByPriority(int[] order, IReadOnlyList<int> predicted, int classes, int batch, int quota)
    {
        var chosen = new List<int>(batch);
        var perClass = new int[Math.Max(classes, 1)];
        var passedOver = new List<int>();
        foreach (var row in order)
        {
            if (chosen.Count == batch)
            {
                break;
            }

            if (perClass[predicted[row]] < quota)
            {
                chosen.Add(row);
                perClass[predicted[row]]++;
            }
            else
            {
                passedOver.Add(row);
            }
        }

        // Classes with too few rows leave slots over: the best rows passed over fill them.
        chosen.AddRange(passedOver.Take(batch - chosen.Count));
        return [.. chosen];
    }

    private static int[] KCenterGreedy(int[] candidates, IReadOnlyList<int> predicted, int classes, int batch, int quota, IReadOnlyList<float[]> embeddings)
    {
        var chosen = new List<int>(batch);
        var taken = new bool[candidates.Length];
        var distance = new double[candidates.Length];
        Array.Fill(distance, double.PositiveInfinity);
        var perClass = new int[Math.Max(classes, 1)];
        while (chosen.Count < batch)
        {
            // The candidate farthest from everything chosen (the best-scored one first, and on ties); a class at its
            // quota is passed over while a candidate of another class remains.
            var best = -1;
            var bestWithinQuota = -1;
            for (var i = 0; i < candidates.Length; i++)
            {
                if (taken[i])
                {
                    continue;
                }

                if (best < 0 || distance[i] > distance[best])
                {
                    best = i;
                }

                if (perClass[predicted[candidates[i]]] < quota && (bestWithinQuota < 0 || distance[i] > distance[bestWithinQuota]))
                {
                    bestWithinQuota = i;
                }
            }

            var pick = bestWithinQuota >= 0 ? bestWithinQuota : best;
            taken[pick] = true;
            var row = candidates[pick];
            chosen.Add(row);
            perClass[predicted[row]]++;
            var e = embeddings[row];
            for (var i = 0; i < candidates.Length; i++)
            {
                if (!taken[i])
                {
                    distance[i] = Math.Min(distance[i], SquaredDistance(e, embeddings[candidates[i]]));
                }
            }
        }

        return [.. chosen];
    }

    private static double SquaredDistance(float[] a, float[] b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++)
        {
            var d = (double)a[i] - b[i];
            sum += d * d;
        }

        return sum;
    }
}
