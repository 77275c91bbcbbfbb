using Syllabus.Trainer.Scoring;

namespace Syllabus.Trainer.Tests.Scoring;

public sealed class BatchSelectorTests
{
    [Fact]
    public void Best_scores_come_first_and_margin_takes_the_smallest()
    {
        double[] scores = [0.2, 0.9, 0.5, 0.1];
        int[] predicted = [0, 0, 0, 0];
        Assert.Equal([1, 2], BatchSelector.Select(scores, predicted, 1, new SelectionOptions(2, Seed: 1, SmallestFirst: false)));
        Assert.Equal([3, 0], BatchSelector.Select(scores, predicted, 1, new SelectionOptions(2, Seed: 1, SmallestFirst: true)));
    }

    [Fact]
    public void Ties_are_broken_by_the_seed_reproducibly()
    {
        var scores = Enumerable.Repeat(0.5, 50).Append(0.9).ToArray();
        var predicted = new int[scores.Length];
        var a = BatchSelector.Select(scores, predicted, 1, new SelectionOptions(10, Seed: 1, SmallestFirst: false));
        var again = BatchSelector.Select(scores, predicted, 1, new SelectionOptions(10, Seed: 1, SmallestFirst: false));
        var other = BatchSelector.Select(scores, predicted, 1, new SelectionOptions(10, Seed: 2, SmallestFirst: false));
        Assert.Equal(a, again);
        Assert.NotEqual(a, other);
        Assert.Equal(50, a[0]);
        Assert.Equal(50, other[0]);
        // Not simply file order: a seeded shuffle, as modAL's shuffled_argmax.
        Assert.NotEqual(Enumerable.Range(0, 9), a.Skip(1));
    }

    [Fact]
    public void Balancing_caps_each_predicted_class_at_its_quota_and_fills_unused_slots()
    {
        // The five best rows are all class 0; classes 1 and 2 have one row each, at the bottom.
        double[] scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.1];
        int[] predicted = [0, 0, 0, 0, 0, 1, 2];
        var balanced = BatchSelector.Select(scores, predicted, 3, new SelectionOptions(3, 0, false, BalanceClasses: true));
        Assert.Equal([0, 5, 6], balanced);
        // Batch 6, quota 2: two of class 0, the only rows of 1 and 2, then the best rows passed over fill the last two slots.
        var filled = BatchSelector.Select(scores, predicted, 3, new SelectionOptions(6, 0, false, BalanceClasses: true));
        Assert.Equal([0, 1, 5, 6, 2, 3], filled);
        Assert.Equal([0, 1, 2], BatchSelector.Select(scores, predicted, 3, new SelectionOptions(3, 0, false)));
    }

    [Fact]
    public void K_center_spreads_the_batch_over_the_feature_space()
    {
        // Four near-copies score best; two distant rows score lower.
        double[] scores = [0.9, 0.89, 0.88, 0.87, 0.5, 0.4];
        int[] predicted = [0, 0, 0, 0, 0, 0];
        float[][] embeddings = [[0, 0], [0.01f, 0], [0, 0.01f], [0.01f, 0.01f], [10, 10], [-10, 10]];
        var plain = BatchSelector.Select(scores, predicted, 1, new SelectionOptions(3, 0, false));
        Assert.Equal([0, 1, 2], plain);
        var diverse = BatchSelector.Select(scores, predicted, 1, new SelectionOptions(3, 0, false, KCenter: true, DiversityCandidates: 6), embeddings);
        Assert.Equal(0, diverse[0]);
        Assert.Equal([4, 5], diverse.Skip(1).Order());
        // Candidates are the best-scored rows only: with four candidates the distant rows are out of reach.
        var narrow = BatchSelector.Select(scores, predicted, 1, new SelectionOptions(3, 0, false, KCenter: true, DiversityCandidates: 4), embeddings);
        Assert.All(narrow, r => Assert.InRange(r, 0, 3));
    }

    [Fact]
    public void K_center_respects_the_class_quota()
    {
        double[] scores = [0.9, 0.8, 0.7, 0.6];
        int[] predicted = [0, 0, 1, 1];
        float[][] embeddings = [[0, 0], [10, 0], [0.1f, 0], [0.2f, 0]];
        // Unbalanced, row 1 (farthest) would follow row 0; the quota of one per class sends the second pick to class 1.
        Assert.Equal([0, 1], BatchSelector.Select(scores, predicted, 2, new SelectionOptions(2, 0, false, KCenter: true, DiversityCandidates: 4), embeddings));
        Assert.Equal([0, 3], BatchSelector.Select(scores, predicted, 2, new SelectionOptions(2, 0, false, BalanceClasses: true, KCenter: true, DiversityCandidates: 4), embeddings));
    }
}
