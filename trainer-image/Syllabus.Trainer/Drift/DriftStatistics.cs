using System.Numerics;
using System.Runtime.CompilerServices;
using MathNet.Numerics;
using MathNet.Numerics.Distributions;
using Syllabus.Api;

namespace Syllabus.Trainer.Drift;

/// <summary>A statistic and, for hypothesis tests, its p-value.</summary>
public readonly record struct HypothesisTestResult(double Statistic, double PValue);

/// <summary>
/// The drift statistics as pure functions, with Evidently's definitions (evidently.calculations.stattests) so that
/// numbers can be compared with an Evidently report on the same data. Each takes the reference first, then the current.
/// </summary>
public static class DriftStatistics
{
    /// <summary>
    /// scipy.stats.wasserstein_distance(reference, current): ∫|F_ref − F_cur| over the pooled sorted values.
    /// Both samples sorted ascending, non-empty.
    /// </summary>
    public static double Wasserstein(ReadOnlySpan<double> sortedReference, ReadOnlySpan<double> sortedCurrent) =>
        WassersteinOfSorted(sortedReference, sortedCurrent);

    /// <summary>The Wasserstein distance of two sorted float samples (see the double overload).</summary>
    public static double Wasserstein(ReadOnlySpan<float> sortedReference, ReadOnlySpan<float> sortedCurrent) =>
        WassersteinOfSorted(sortedReference, sortedCurrent);

    /// <summary>
    /// One merge of the two sorted samples (<see cref="PooledMerge"/>): between the value taken last and the one taken
    /// now both empirical CDFs are flat at (i/n1, j/n2), so the integral grows by |i·n2 − j·n1|·(v − previous) / (n1·n2);
    /// ties add zero-width pieces. The integer difference is exact and the division by n1·n2 is done once at the end.
    /// </summary>
    private static double WassersteinOfSorted<T>(ReadOnlySpan<T> sortedReference, ReadOnlySpan<T> sortedCurrent)
        where T : struct, IFloatingPointIeee754<T>
    {
        int n1 = sortedReference.Length, n2 = sortedCurrent.Length;
        if (n1 == 0 || n2 == 0)
        {
            throw new ArgumentException("the Wasserstein distance needs two non-empty samples");
        }

        var (first, second) = PooledMerge.Walk<T, CdfAreaSum<T>>(sortedReference, sortedCurrent);
        return (first.Sum + second.Sum) / ((double)n1 * n2);
    }

    /// <summary>Σ |i·n2 − j·n1|·(v − previous) over the pooled values.</summary>
    private struct CdfAreaSum<T> : IPooledVisitor<CdfAreaSum<T>, T>
        where T : struct, IFloatingPointIeee754<T>
    {
        public double Sum;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static CdfAreaSum<T> Visit(CdfAreaSum<T> state, long difference, T previous, T value)
        {
            state.Sum += Math.Abs((double)difference) * (double.CreateTruncating(value) - double.CreateTruncating(previous));
            return state;
        }
    }

    /// <summary>
    /// Evidently's wasserstein_distance_norm: the Wasserstein distance divided by max(std(reference), 0.001), the
    /// population standard deviation (numpy's default ddof=0). Drift at ≥ 0.1.
    /// </summary>
    public static double WassersteinNormed(ReadOnlySpan<double> sortedReference, ReadOnlySpan<double> sortedCurrent) =>
        Wasserstein(sortedReference, sortedCurrent) / Math.Max(PopulationStd(sortedReference), 0.001);

    /// <summary>The normed Wasserstein distance against a prepared reference (its standard deviation computed once).</summary>
    public static double WassersteinNormed(SortedSample reference, ReadOnlySpan<float> sortedCurrent)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return Wasserstein(reference.Values, sortedCurrent) / Math.Max(reference.Std, 0.001);
    }

    /// <summary>numpy.std (ddof = 0): the mean first, then the mean squared deviation, both summed in order.</summary>
    internal static double PopulationStd<T>(ReadOnlySpan<T> values)
        where T : struct, IFloatingPointIeee754<T>
    {
        var mean = 0.0;
        foreach (var v in values)
        {
            mean += double.CreateTruncating(v);
        }

        mean /= values.Length;
        var squares = 0.0;
        foreach (var v in values)
        {
            var d = double.CreateTruncating(v) - mean;
            squares += d * d;
        }

        return Math.Sqrt(squares / values.Length);
    }

    /// <summary>
    /// Evidently's get_binned_data with feel_zeroes: counts to shares of each total, then every empty share replaced
    /// by 0.0001 (or by the smallest non-empty share / 10⁶ when that is ≤ 0.0001), separately for each side.
    /// </summary>
    public static (double[] Reference, double[] Current) SmoothedShares(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        var reference = Shares(referenceCounts);
        var current = Shares(currentCounts);
        FillZeros(reference);
        FillZeros(current);
        return (reference, current);
    }

    /// <summary>
    /// Population stability index over the same bins (or categories): Σ (ref − cur)·ln(ref / cur) on shares smoothed as
    /// <see cref="SmoothedShares"/> does (Evidently's psi). Drift at ≥ 0.1.
    /// </summary>
    public static double Psi(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        RequireSameLength(referenceCounts, currentCounts);
        var (reference, current) = SmoothedShares(referenceCounts, currentCounts);
        var psi = 0.0;
        for (var k = 0; k < reference.Length; k++)
        {
            psi += (reference[k] - current[k]) * Math.Log(reference[k] / current[k]);
        }

        return psi;
    }

    /// <summary>
    /// scipy.spatial.distance.jensenshannon(ref, cur) (natural log) on the shares without smoothing (Evidently's
    /// jensenshannon): √((KL(p‖m) + KL(q‖m)) / 2), m = (p + q) / 2. Drift at ≥ 0.1.
    /// </summary>
    public static double JensenShannon(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        RequireSameLength(referenceCounts, currentCounts);
        var p = Shares(referenceCounts);
        var q = Shares(currentCounts);
        var divergence = 0.0;
        for (var k = 0; k < p.Length; k++)
        {
            var m = (p[k] + q[k]) / 2;
            divergence += RelativeEntropy(p[k], m) + RelativeEntropy(q[k], m);
        }

        return Math.Sqrt(divergence / 2);
    }

    /// <summary>
    /// Evidently's chisquare test: the current counts against the reference counts scaled to the current total
    /// (scipy.stats.chisquare(f_obs, f_exp), k − 1 degrees of freedom; the p-value is MathNet's regularized upper incomplete gamma Q(k−1)/2, χ²/2), scipy's chi2.sf). A category the reference never saw has an
    /// expected count of 0, so its statistic is infinite and the p-value 0, as in scipy. Drift at p &lt; 0.05.
    /// </summary>
    public static HypothesisTestResult ChiSquare(ReadOnlySpan<double> referenceCounts, ReadOnlySpan<double> currentCounts)
    {
        RequireSameLength(referenceCounts, currentCounts);
        double referenceTotal = 0, currentTotal = 0;
        foreach (var c in referenceCounts)
        {
            referenceTotal += c;
        }

        foreach (var c in currentCounts)
        {
            currentTotal += c;
        }

        if (referenceTotal <= 0 || currentTotal <= 0)
        {
            throw new ArgumentException("the chi-squared test needs counts on both sides");
        }

        var scale = currentTotal / referenceTotal;
        var statistic = 0.0;
        for (var k = 0; k < referenceCounts.Length; k++)
        {
            var expected = referenceCounts[k] * scale;
            var difference = currentCounts[k] - expected;
            statistic += expected == 0 ? (difference == 0 ? double.NaN : double.PositiveInfinity) : difference * difference / expected;
        }

        var degrees = referenceCounts.Length - 1;
        if (degrees < 1)
        {
            // One category on both sides: nothing can differ (scipy would give NaN; no evidence of drift).
            return new HypothesisTestResult(0, 1);
        }

        var p = double.IsPositiveInfinity(statistic) ? 0.0 : SpecialFunctions.GammaUpperRegularized(degrees / 2.0, statistic / 2);
        return new HypothesisTestResult(statistic, p);
    }

    /// <summary>
    /// Evidently's z_stat_test: the two-proportion z-test on the share of one value (<paramref name="referenceHits"/>
    /// of <paramref name="referenceCount"/> against <paramref name="currentHits"/> of <paramref name="currentCount"/>),
    /// pooled variance, two-sided p = 2·(1 − Φ(|z|)). When both samples hold one and the same value the p-value is 1.
    /// Drift at p &lt; 0.05.
    /// </summary>
    public static HypothesisTestResult ZTest(long referenceHits, long referenceCount, long currentHits, long currentCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(referenceCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(currentCount, 1);
        double p1 = (double)referenceHits / referenceCount, p2 = (double)currentHits / currentCount;
        var pooled = ((p1 * referenceCount) + (p2 * currentCount)) / (referenceCount + currentCount);
        var variance = pooled * (1 - pooled) * ((1.0 / referenceCount) + (1.0 / currentCount));
        if (variance == 0)
        {
            return new HypothesisTestResult(0, 1);
        }

        var z = (p1 - p2) / Math.Sqrt(variance);
        return new HypothesisTestResult(z, 2 * (1 - Normal.CDF(0, 1, Math.Abs(z))));
    }

    /// <summary>Bonferroni (the operator's DriftPolicy applies the same function of Syllabus.Api).</summary>
    public static double[] Bonferroni(IReadOnlyList<double> pValues) => MultipleTestCorrections.AdjustBonferroni(pValues);

    /// <summary>Benjamini–Hochberg adjusted p-values (statsmodels' fdr_bh, R's p.adjust "BH"), shared with the operator.</summary>
    public static double[] BenjaminiHochberg(IReadOnlyList<double> pValues) => MultipleTestCorrections.AdjustBenjaminiHochberg(pValues);

    private static double[] Shares(ReadOnlySpan<double> counts)
    {
        var total = 0.0;
        foreach (var c in counts)
        {
            if (c < 0 || !double.IsFinite(c))
            {
                throw new ArgumentException($"a count of {c} is not a count");
            }

            total += c;
        }

        if (total <= 0)
        {
            throw new ArgumentException("a distribution needs at least one count");
        }

        var shares = new double[counts.Length];
        for (var k = 0; k < counts.Length; k++)
        {
            shares[k] = counts[k] / total;
        }

        return shares;
    }

    private static void FillZeros(double[] shares)
    {
        var smallest = shares.Where(s => s != 0).DefaultIfEmpty(1.0).Min();
        var fill = smallest <= 0.0001 ? smallest / 1e6 : 0.0001;
        for (var k = 0; k < shares.Length; k++)
        {
            if (shares[k] == 0)
            {
                shares[k] = fill;
            }
        }
    }

    /// <summary>scipy.special.rel_entr: x·ln(x/y), 0 at x = 0.</summary>
    private static double RelativeEntropy(double x, double y) =>
        x == 0 ? 0 : y == 0 ? double.PositiveInfinity : x * Math.Log(x / y);

    private static void RequireSameLength(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        if (a.Length != b.Length || a.Length == 0)
        {
            throw new ArgumentException($"the two distributions must have the same non-zero number of bins ({a.Length} and {b.Length})");
        }
    }
}
