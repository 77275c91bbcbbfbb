namespace Syllabus.Trainer.Data;

/// <summary>Seeded, stratified row selection for validation hold-out and label budgets.</summary>
internal static class Sampling
{
    /// <summary>
    /// Ascending indices of <paramref name="count"/> rows drawn with the seed so that each label keeps its share
    /// (largest-remainder rounding; ties go to the smaller label).
    /// </summary>
    public static int[] StratifiedSample(IReadOnlyList<long> labels, int count, int seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var n = labels.Count;
        if (count >= n)
        {
            return Enumerable.Range(0, n).ToArray();
        }

        if (count <= 0)
        {
            return [];
        }

        var groups = Enumerable.Range(0, n).GroupBy(i => labels[i]).OrderBy(g => g.Key).Select(g => g.ToArray()).ToArray();
        var quotas = new int[groups.Length];
        var remainders = new (double Fraction, int Group)[groups.Length];
        var allocated = 0;
        for (var g = 0; g < groups.Length; g++)
        {
            var exact = (double)count * groups[g].Length / n;
            quotas[g] = (int)Math.Floor(exact);
            allocated += quotas[g];
            remainders[g] = (exact - quotas[g], g);
        }

        foreach (var (_, g) in remainders.OrderByDescending(r => r.Fraction).ThenBy(r => r.Group).Take(count - allocated))
        {
            quotas[g]++;
        }

        var random = new Random(seed);
        var chosen = new List<int>(count);
        for (var g = 0; g < groups.Length; g++)
        {
            var members = groups[g];
            random.Shuffle(members);
            chosen.AddRange(members.Take(quotas[g]));
        }

        chosen.Sort();
        return [.. chosen];
    }

    /// <summary>A stratified, seeded hold-out of about <paramref name="fraction"/> of the rows; training keeps at least one row.</summary>
    public static (int[] Train, int[] Validation) StratifiedSplit(IReadOnlyList<long> labels, double fraction, int seed)
    {
        var n = labels.Count;
        var holdout = n <= 1 ? 0 : Math.Clamp((int)Math.Round(fraction * n, MidpointRounding.AwayFromZero), 1, n - 1);
        var validation = StratifiedSample(labels, holdout, seed);
        var inValidation = new bool[n];
        foreach (var i in validation)
        {
            inValidation[i] = true;
        }

        return (Enumerable.Range(0, n).Where(i => !inValidation[i]).ToArray(), validation);
    }
}
