using Syllabus.Trainer.Scoring;

namespace Syllabus.Trainer.Tests.Scoring;

/// <summary>The strategies against values computed by hand from modAL's definitions (natural logarithms).</summary>
public sealed class AcquisitionScoresTests
{
    private static readonly float[] Row = [0.1f, 0.2f, 0.7f];

    // A committee of three on two classes: votes 0, 1, 0; consensus [0.7, 0.3].
    private static readonly float[][] Committee = [[0.8f, 0.2f], [0.4f, 0.6f], [0.9f, 0.1f]];

    [Fact]
    public void Least_confidence_is_one_minus_the_top_probability() =>
        Assert.Equal(0.3, AcquisitionScores.LeastConfidence(Row), 6);

    [Fact]
    public void Margin_is_the_top_probability_minus_the_second()
    {
        Assert.Equal(0.5, AcquisitionScores.Margin(Row), 6);
        Assert.Equal(0.0, AcquisitionScores.Margin([0.45f, 0.1f, 0.45f]), 6);
    }

    [Fact]
    public void Entropy_is_minus_sum_p_ln_p_with_zero_terms_dropped()
    {
        // -(0.1 ln 0.1 + 0.2 ln 0.2 + 0.7 ln 0.7) = 0.2302585 + 0.3218876 + 0.2496725 (the inputs are floats, hence the tolerance)
        Assert.Equal(0.8018186, AcquisitionScores.Entropy(Row), 1e-6);
        Assert.Equal(Math.Log(2), AcquisitionScores.Entropy([0.5f, 0.5f, 0f]), 6);
        Assert.Equal(0.0, AcquisitionScores.Entropy([1f, 0f]), 9);
    }

    [Fact]
    public void Vote_entropy_is_the_entropy_of_the_vote_shares()
    {
        // votes [2/3, 1/3]: -(2/3 ln 2/3 + 1/3 ln 1/3)
        Assert.Equal(0.6365142, AcquisitionScores.VoteEntropy(Committee), 6);
        Assert.Equal(0.0, AcquisitionScores.VoteEntropy([[0.6f, 0.4f], [0.9f, 0.1f]]), 9);
    }

    [Fact]
    public void Consensus_entropy_is_the_entropy_of_the_mean_probabilities()
    {
        Assert.Equal([0.7f, 0.3f], AcquisitionScores.Consensus(Committee), (a, b) => Math.Abs(a - b) < 1e-6);
        // -(0.7 ln 0.7 + 0.3 ln 0.3)
        Assert.Equal(0.6108643, AcquisitionScores.ConsensusEntropy(Committee), 6);
    }

    [Fact]
    public void Max_disagreement_is_the_largest_member_KL_from_the_consensus()
    {
        // KL([0.4, 0.6] || [0.7, 0.3]) = 0.4 ln(4/7) + 0.6 ln 2 = 0.1920420, larger than the other members' 0.0257 and 0.1163.
        Assert.Equal(0.0257321, AcquisitionScores.KullbackLeibler(Committee[0], [0.7f, 0.3f]), 6);
        Assert.Equal(0.1163217, AcquisitionScores.KullbackLeibler(Committee[2], [0.7f, 0.3f]), 6);
        Assert.Equal(0.1920420, AcquisitionScores.MaxDisagreement(Committee), 6);
    }

    [Fact]
    public void Only_the_margin_is_taken_smallest_first()
    {
        Assert.True(AcquisitionStrategies.SmallestFirst(AcquisitionStrategies.Margin));
        Assert.All(AcquisitionStrategies.All.Where(s => s != AcquisitionStrategies.Margin), s => Assert.False(AcquisitionStrategies.SmallestFirst(s)));
        Assert.Equal([AcquisitionStrategies.VoteEntropy, AcquisitionStrategies.ConsensusEntropy, AcquisitionStrategies.MaxDisagreement],
            AcquisitionStrategies.All.Where(AcquisitionStrategies.NeedsCommittee));
    }
}
