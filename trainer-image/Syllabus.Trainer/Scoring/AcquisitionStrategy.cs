namespace Syllabus.Trainer.Scoring;

/// <summary>The score mode's query strategies, by their CLI names, with modAL's definitions.</summary>
public static class AcquisitionStrategies
{
    public const string LeastConfidence = "least-confidence";
    public const string Margin = "margin";
    public const string Entropy = "entropy";
    public const string VoteEntropy = "vote-entropy";
    public const string ConsensusEntropy = "consensus-entropy";
    public const string MaxDisagreement = "max-disagreement";
    public const string Random = "random";

    public static readonly IReadOnlyList<string> All = [LeastConfidence, Margin, Entropy, VoteEntropy, ConsensusEntropy, MaxDisagreement, Random];

    /// <summary>Strategies that measure a committee's disagreement and so need two models or more.</summary>
    public static bool NeedsCommittee(string strategy) => strategy is VoteEntropy or ConsensusEntropy or MaxDisagreement;

    /// <summary>
    /// Whether a smaller score is worth more: only the margin (modAL's margin_sampling takes the smallest
    /// p1 - p2); every other score is taken largest first.
    /// </summary>
    public static bool SmallestFirst(string strategy) => strategy == Margin;
}

/// <summary>
/// The per-row measures of modAL's uncertainty.py and disagreement.py, on probability rows. Entropies use the natural
/// logarithm (scipy.stats.entropy's default) with 0 ln 0 = 0.
/// </summary>
public static class AcquisitionScores
{
    /// <summary>modAL classifier_uncertainty: 1 - max p.</summary>
    public static double LeastConfidence(ReadOnlySpan<float> p)
    {
        var max = double.NegativeInfinity;
        foreach (var x in p)
        {
            max = Math.Max(max, x);
        }

        return 1 - max;
    }

    /// <summary>modAL classifier_margin: the largest p minus the second largest (0 for a single class).</summary>
    public static double Margin(ReadOnlySpan<float> p)
    {
        double first = double.NegativeInfinity, second = double.NegativeInfinity;
        foreach (var x in p)
        {
            if (x > first)
            {
                second = first;
                first = x;
            }
            else if (x > second)
            {
                second = x;
            }
        }

        return p.Length < 2 ? 0 : first - second;
    }

    /// <summary>modAL classifier_entropy: -Σ p ln p.</summary>
    public static double Entropy(ReadOnlySpan<float> p)
    {
        double sum = 0;
        foreach (var x in p)
        {
            sum += x;
        }

        // scipy.stats.entropy normalises its input first.
        double h = 0;
        foreach (var x in p)
        {
            if (x > 0)
            {
                var q = x / sum;
                h -= q * Math.Log(q);
            }
        }

        return h;
    }

    /// <summary>
    /// modAL vote_entropy: the entropy of the committee's vote distribution (the share of members whose arg max is
    /// each class) for one row; <paramref name="members"/> holds each member's probabilities for it.
    /// </summary>
    public static double VoteEntropy(IReadOnlyList<float[]> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var classes = members[0].Length;
        var votes = new float[classes];
        foreach (var p in members)
        {
            votes[ArgMax(p)] += 1f / members.Count;
        }

        return Entropy(votes);
    }

    /// <summary>modAL consensus_entropy: the entropy of the members' mean probabilities.</summary>
    public static double ConsensusEntropy(IReadOnlyList<float[]> members) => Entropy(Consensus(members));

    /// <summary>modAL KL_max_disagreement: the largest KL divergence of a member's probabilities from the consensus.</summary>
    public static double MaxDisagreement(IReadOnlyList<float[]> members)
    {
        var consensus = Consensus(members);
        var max = double.NegativeInfinity;
        foreach (var p in members)
        {
            max = Math.Max(max, KullbackLeibler(p, consensus));
        }

        return max;
    }

    /// <summary>The members' mean probabilities (modAL Committee.predict_proba).</summary>
    public static float[] Consensus(IReadOnlyList<float[]> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        if (members.Count == 0)
        {
            throw new ArgumentException("a committee needs at least one member", nameof(members));
        }

        var mean = new double[members[0].Length];
        foreach (var p in members)
        {
            for (var c = 0; c < mean.Length; c++)
            {
                mean[c] += p[c];
            }
        }

        return [.. mean.Select(m => (float)(m / members.Count))];
    }

    /// <summary>scipy.stats.entropy(p, q): Σ p ln(p / q), both normalised; infinite where q is 0 and p is not.</summary>
    public static double KullbackLeibler(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        double sp = 0, sq = 0;
        for (var i = 0; i < p.Length; i++)
        {
            sp += p[i];
            sq += q[i];
        }

        double kl = 0;
        for (var i = 0; i < p.Length; i++)
        {
            if (p[i] > 0)
            {
                var pi = p[i] / sp;
                var qi = q[i] / sq;
                kl += qi > 0 ? pi * Math.Log(pi / qi) : double.PositiveInfinity;
            }
        }

        return kl;
    }

    /// <summary>The first index of the largest value (numpy argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> p)
    {
        var best = 0;
        for (var i = 1; i < p.Length; i++)
        {
            if (p[i] > p[best])
            {
                best = i;
            }
        }

        return best;
    }
}
