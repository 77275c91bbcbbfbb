using System.Text.Json.Nodes;
using Syllabus.Trainer.Drift;
using Syllabus.Trainer.Profiling;

namespace Syllabus.Trainer.Tests.Drift;

/// <summary>
/// The fast paths of the detectors against the plain algorithms they replace: the same numbers, ties and edge values
/// included. (DriftStatisticsTests compares both with scipy.)
/// </summary>
public sealed class FastDetectorTests
{
    public static TheoryData<int, double> SmirnovPoints()
    {
        var points = new TheoryData<int, double>();
        foreach (var n in new[] { 2_500, 20_000, 60_000 })
        {
            foreach (var x in new[] { 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2 })
            {
                points.Add(n, x);
            }
        }

        return points;
    }

    [Theory]
    [MemberData(nameof(SmirnovPoints))]
    public void Smirnov_sum_by_recurrence_matches_every_term_computed_directly(int n, double x)
    {
        var direct = KolmogorovSmirnov.SmirnovSf(n, x, termsByRecurrence: false);
        var recurrence = KolmogorovSmirnov.SmirnovSf(n, x, termsByRecurrence: true);

        Assert.True(direct == recurrence || Math.Abs(direct - recurrence) <= 1e-13 * Math.Abs(direct), $"smirnov({n}, {x}): direct {direct:R}, recurrence {recurrence:R}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(511)]
    [InlineData(512)]
    [InlineData(4_097)]
    [InlineData(100_000)]
    public void Radix_sort_orders_floats_as_a_comparison_sort_does(int n)
    {
        var random = new Random(n);
        float[] special = [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 1e-40f, -1e-40f];
        var values = new float[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = (i % 7) switch
            {
                0 => special[random.Next(special.Length)],
                1 => random.Next(-3, 4),
                _ => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-30, 30))),
            };
        }

        var expected = (float[])values.Clone();
        Array.Sort(expected);
        FloatRadixSort.Sort(values);

        // −0 and +0 are equal values; the radix sort puts −0 first, a comparison sort either way.
        for (var i = 0; i < n; i++)
        {
            Assert.True(expected[i] == values[i], $"[{i}]: expected {expected[i]:R}, got {values[i]:R}");
        }

        for (var i = 1; i < n; i++)
        {
            Assert.True(values[i - 1] <= values[i]);
        }
    }

    [Fact]
    public void Radix_sort_handles_shared_digits_and_refuses_nan()
    {
        // Every value in [1, 2): the top digit is shared and its pass skipped.
        var random = new Random(3);
        var narrow = Enumerable.Range(0, 5000).Select(_ => 1f + (float)random.NextDouble()).ToArray();
        var expected = narrow.Order().ToArray();
        FloatRadixSort.Sort(narrow);
        Assert.Equal(expected, narrow);

        var constant = Enumerable.Repeat(2.5f, 3000).ToArray();
        FloatRadixSort.Sort(constant);
        Assert.All(constant, v => Assert.Equal(2.5f, v));

        var withNan = Enumerable.Range(0, 3000).Select(i => i == 1234 ? float.NaN : (float)i).ToArray();
        Assert.Contains("NaN", Assert.Throws<ArgumentException>(() => FloatRadixSort.Sort(withNan)).Message, StringComparison.Ordinal);
        var smallWithNan = new[] { 1f, float.NaN };
        Assert.Throws<ArgumentException>(() => FloatRadixSort.Sort(smallWithNan));
    }

    public static TheoryData<int, int, int> MergeCases() => new()
    {
        { 1, 1, 2 },
        { 1, 7, 3 },
        { 2, 2, 1 },
        { 5, 300, 4 },
        { 300, 5, 4 },
        { 1000, 1000, 6 },
        { 997, 1500, 50 },
        { 3000, 20_000, 1_000_000 },
    };

    [Theory]
    [MemberData(nameof(MergeCases))]
    public void Ks_statistic_and_wasserstein_match_the_plain_merge_with_ties(int n1, int n2, int levels)
    {
        var random = new Random((n1 * 31) + n2 + levels);
        // Few levels: many ties, inside each sample and across them, also at the point where the two merges split.
        var a = Enumerable.Range(0, n1).Select(_ => (float)random.Next(levels)).ToArray();
        var b = Enumerable.Range(0, n2).Select(_ => (float)(random.Next(levels) + (levels > 100 ? 0.5 : 0))).ToArray();
        Array.Sort(a);
        Array.Sort(b);
        double[] ad = [.. a.Select(v => (double)v)];
        double[] bd = [.. b.Select(v => (double)v)];

        var plainD = PlainStatistic(ad, bd);
        Assert.True(plainD > 0 || levels <= 2, "the samples differ somewhere");
        Assert.Equal(plainD, KolmogorovSmirnov.Statistic(a, b), 1e-15);
        Assert.Equal(KolmogorovSmirnov.Statistic(ad, bd), KolmogorovSmirnov.Statistic(a, b));
        Assert.Equal(PlainStatistic(bd, ad), KolmogorovSmirnov.Statistic(b, a), 1e-15);

        var plainW = PlainWasserstein(ad, bd);
        var fastW = DriftStatistics.Wasserstein(a, b);
        Assert.True(Math.Abs(plainW - fastW) <= 1e-12 * Math.Max(plainW, 1e-300), $"wasserstein: plain {plainW:R}, fast {fastW:R}");
        Assert.Equal(DriftStatistics.Wasserstein(ad, bd), fastW);
    }

    [Fact]
    public void Float_samples_give_the_double_results_of_the_scipy_cases()
    {
        var reference = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Drift", "testdata", "reference_values.json")))!;
        foreach (var c in reference["ks_2samp"]!.AsArray())
        {
            float[] a = [.. DriftStatisticsTests.Sample(c!["a"]!).Select(v => (float)v)];
            float[] b = [.. DriftStatisticsTests.Sample(c["b"]!).Select(v => (float)v)];
            FloatRadixSort.Sort(a);
            FloatRadixSort.Sort(b);
            double[] ad = [.. a.Select(v => (double)v)];
            double[] bd = [.. b.Select(v => (double)v)];

            Assert.Equal(KolmogorovSmirnov.TwoSample(ad, bd), KolmogorovSmirnov.TwoSample(a, b));
            Assert.Equal(KolmogorovSmirnov.TwoSample(ad, bd), KolmogorovSmirnov.TwoSample(SortedSample.Of(a), b));
            Assert.Equal(DriftStatistics.WassersteinNormed(ad, bd), DriftStatistics.WassersteinNormed(SortedSample.Of(a), b));
        }
    }

    [Fact]
    public void Sorted_sample_holds_the_sorted_values_and_numpys_std_and_refuses_bad_input()
    {
        float[] values = [3f, -1f, 2f, 2f, 10f];
        var sample = SortedSample.Of(values);

        Assert.Equal([-1f, 2f, 2f, 3f, 10f], sample.Values.ToArray());
        Assert.Equal(5, sample.Count);
        // numpy.std([3, -1, 2, 2, 10]) = sqrt(mean((x - 3.2)^2)) = sqrt(13.36)
        Assert.Equal(Math.Sqrt(13.36), sample.Std, 14);
        Assert.Equal([3f, -1f, 2f, 2f, 10f], values);
        Assert.Throws<ArgumentException>(() => SortedSample.Of([]));
        Assert.Throws<ArgumentException>(() => SortedSample.Of([1f, float.NaN]));
    }

    [Fact]
    public void Float_quantile_bins_count_as_the_double_binary_search_does()
    {
        var random = new Random(5);
        // Edges that floats cannot hold exactly, one a float exactly, and values on and beside each edge.
        double[] edges = [-1.3, -0.1, 0.0, 1.0 / 3, 0.5, 2.000000001, 7];
        var values = new List<float> { float.NaN, float.NegativeInfinity, float.PositiveInfinity, -0f };
        foreach (var e in edges)
        {
            var f = (float)e;
            values.AddRange([f, MathF.BitIncrement(f), MathF.BitDecrement(f)]);
        }

        values.AddRange(Enumerable.Range(0, 10_001).Select(_ => (float)((random.NextDouble() * 12) - 3)));
        double[] asDouble = [.. values.Select(v => (double)v)];

        Assert.Equal(NumericFeatureProfile.CountQuantileBins(edges, asDouble), NumericFeatureProfile.CountQuantileBins(edges, values.ToArray()));
        Assert.Equal([3L], NumericFeatureProfile.CountQuantileBins([], new[] { 1f, 2f, float.NaN }));
        Assert.Contains("increasing", Assert.Throws<ArgumentException>(() => NumericFeatureProfile.CountQuantileBins([1.0, 1.0], new[] { 1f })).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => NumericFeatureProfile.CountQuantileBins([2.0, 1.0], new[] { 1f }));
    }

    /// <summary>The walk the KS statistic used before: both CDFs after every copy of each pooled value.</summary>
    private static double PlainStatistic(double[] a, double[] b)
    {
        int i = 0, j = 0;
        double maxPlus = 0, maxMinus = 0;
        while (i < a.Length && j < b.Length)
        {
            var v = Math.Min(a[i], b[j]);
            while (i < a.Length && a[i] <= v)
            {
                i++;
            }

            while (j < b.Length && b[j] <= v)
            {
                j++;
            }

            var diff = ((double)i / a.Length) - ((double)j / b.Length);
            maxPlus = Math.Max(maxPlus, diff);
            maxMinus = Math.Max(maxMinus, -diff);
        }

        return Math.Max(maxPlus, maxMinus);
    }

    /// <summary>The Wasserstein walk used before: over distinct pooled values.</summary>
    private static double PlainWasserstein(double[] a, double[] b)
    {
        int i = 0, j = 0;
        var previous = Math.Min(a[0], b[0]);
        var sum = 0.0;
        while (i < a.Length || j < b.Length)
        {
            var v = j >= b.Length || (i < a.Length && a[i] <= b[j]) ? a[i] : b[j];
            sum += Math.Abs(((double)i / a.Length) - ((double)j / b.Length)) * (v - previous);
            while (i < a.Length && a[i] <= v)
            {
                i++;
            }

            while (j < b.Length && b[j] <= v)
            {
                j++;
            }

            previous = v;
        }

        return sum;
    }
}
