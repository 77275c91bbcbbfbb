using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Syllabus.Trainer.Drift;

/// <summary>How a two-sample KS p-value was computed (scipy's <c>method</c> after 'auto' resolved).</summary>
public static class KsMethods
{
    public const string Exact = "exact";
    public const string Asymptotic = "asymp";
}

/// <summary>A two-sample Kolmogorov–Smirnov result: the statistic D, its two-sided p-value and how that was computed.</summary>
public readonly record struct KsResult(double Statistic, double PValue, string Method);

/// <summary>
/// The two-sample Kolmogorov–Smirnov test exactly as <c>scipy.stats.ks_2samp(a, b)</c> (two-sided, method 'auto',
/// scipy 1.10): exact p-value (Hodges' lattice-path counting, Viehmann's 1−p recursion) when the larger sample has at
/// most 10,000 values, otherwise <c>kstwo.sf(D, round(n·m/(n+m)))</c>, the exact one-sample Kolmogorov distribution
/// computed as scipy's <c>_ksstats._kolmogn</c> does (Ruben–Gambino, Durbin matrix, Pomeranz, Pelz–Good, Smirnov
/// one-sided). Neither MathNet.Numerics nor another .NET library has the finite-n Kolmogorov distribution, so it is
/// ported here, branch for branch; the tests compare it with scipy itself.
/// </summary>
public static class KolmogorovSmirnov
{
    /// <summary>scipy's MAX_AUTO_N: 'auto' is exact when both samples have at most this many values.</summary>
    public const int MaxExactSampleSize = 10_000;

    /// <summary>The test on two samples sorted ascending (NaN-free, non-empty).</summary>
    public static KsResult TwoSample(ReadOnlySpan<double> sortedA, ReadOnlySpan<double> sortedB)
    {
        var d = Statistic(sortedA, sortedB);
        return PValue(d, sortedA.Length, sortedB.Length);
    }

    /// <summary>The test on two unsorted samples (copied and sorted).</summary>
    public static KsResult TwoSampleUnsorted(IEnumerable<double> a, IEnumerable<double> b)
    {
        var x = a.ToArray();
        var y = b.ToArray();
        Array.Sort(x);
        Array.Sort(y);
        return TwoSample(x, y);
    }

    /// <summary>The test against a prepared reference; <paramref name="sortedCurrent"/> sorted ascending, NaN-free, non-empty.</summary>
    public static KsResult TwoSample(SortedSample reference, ReadOnlySpan<float> sortedCurrent)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return TwoSample(reference.Values, sortedCurrent);
    }

    /// <summary>The test on float samples sorted ascending (NaN-free, non-empty), e.g. <see cref="FloatRadixSort"/>ed.</summary>
    public static KsResult TwoSample(ReadOnlySpan<float> sortedA, ReadOnlySpan<float> sortedB)
    {
        var d = Statistic(sortedA, sortedB);
        return PValue(d, sortedA.Length, sortedB.Length);
    }

    /// <summary>sup |F_a − F_b| over the pooled values (ties handled as searchsorted(side='right')).</summary>
    public static double Statistic(ReadOnlySpan<double> sortedA, ReadOnlySpan<double> sortedB) => StatisticOfSorted(sortedA, sortedB);

    /// <summary>sup |F_a − F_b| over the pooled values of two sorted float samples.</summary>
    public static double Statistic(ReadOnlySpan<float> sortedA, ReadOnlySpan<float> sortedB) => StatisticOfSorted(sortedA, sortedB);

    /// <summary>
    /// One merge of the two sorted samples (<see cref="PooledMerge"/>). F_a − F_b is i/n1 − j/n2 after i values of a
    /// and j of b; it counts only where every copy of a value has been taken (the next pooled value is larger), as
    /// scipy evaluates both empirical CDFs at each pooled value with searchsorted(side='right'). i·n2 − j·n1 is kept in
    /// integers, so D = max(max(F_a − F_b), max(F_b − F_a)) = max |i·n2 − j·n1| / (n1·n2) is the exact rational
    /// rounded once. After one sample is used up the difference only shrinks towards 0, and the end (n1, n2) is 0.
    /// </summary>
    private static double StatisticOfSorted<T>(ReadOnlySpan<T> sortedA, ReadOnlySpan<T> sortedB)
        where T : struct, IFloatingPointIeee754<T>
    {
        int n1 = sortedA.Length, n2 = sortedB.Length;
        if (n1 == 0 || n2 == 0)
        {
            throw new ArgumentException("the two-sample KS test needs two non-empty samples");
        }

        var (first, second) = PooledMerge.Walk<T, LargestDifference<T>>(sortedA, sortedB);
        return Math.Max(first.Largest, second.Largest) / ((double)n1 * n2);
    }

    /// <summary>
    /// max |i·n2 − j·n1| at the evaluation points (the value taken last below the one taken now), without a branch;
    /// exact as a double (|i·n2 − j·n1| &lt; 2⁵³).
    /// </summary>
    private struct LargestDifference<T> : IPooledVisitor<LargestDifference<T>, T>
        where T : struct, IFloatingPointIeee754<T>
    {
        public double Largest;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static LargestDifference<T> Visit(LargestDifference<T> state, long difference, T previous, T value)
        {
            var counted = difference & -(long)(previous < value ? 1 : 0);
            state.Largest = Vector128.MaxNative(Vector128.CreateScalarUnsafe(state.Largest), Vector128.CreateScalarUnsafe(Math.Abs((double)counted))).ToScalar();
            return state;
        }
    }

    /// <summary>The two-sided p-value of D for sample sizes <paramref name="n1"/> and <paramref name="n2"/>, as ks_2samp(method='auto').</summary>
    public static KsResult PValue(double d, int n1, int n2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n1, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(n2, 1);
        if (Math.Max(n1, n2) <= MaxExactSampleSize)
        {
            var g = Gcd(n1, n2);
            var lcm = (long)(n1 / g) * n2;
            var h = (long)Math.Round(d * lcm, MidpointRounding.ToEven);
            // scipy reports the statistic rounded to the lattice it counted on.
            var exactD = h * 1.0 / lcm;
            if (h == 0)
            {
                return new KsResult(exactD, 1.0, KsMethods.Exact);
            }

            var prob = n1 == n2 ? ProbabilityOutsideSquare(n1, (int)h) : OuterProbabilityInside(n1, n2, g, h);
            if (double.IsFinite(prob) && prob is >= 0 and <= 1)
            {
                return new KsResult(exactD, prob, KsMethods.Exact);
            }

            // scipy warns and falls back to the asymptotic formula when the exact computation fails numerically.
            d = exactD;
        }

        double m = Math.Max(n1, n2), n = Math.Min(n1, n2);
        var en = m * n / (m + n);
        var p = KolmogorovSf((long)Math.Round(en, MidpointRounding.ToEven), d);
        return new KsResult(d, Math.Clamp(p, 0, 1), KsMethods.Asymptotic);
    }

    private static int Gcd(int a, int b)
    {
        while (b != 0)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }

    /// <summary>Pr(D_{n,n} ≥ h/n), scipy's _compute_prob_outside_square (Horner form of the alternating binomial sum).</summary>
    internal static double ProbabilityOutsideSquare(int n, int h)
    {
        var p = 0.0;
        var k = n / h;
        while (k >= 0)
        {
            var p1 = 1.0;
            for (var j = 0; j < h; j++)
            {
                p1 = (n - (k * h) - j) * p1 / (n + (k * h) + j + 1);
            }

            p = p1 * (1.0 - p);
            k--;
        }

        return 2 * p;
    }

    /// <summary>
    /// The share of lattice paths from (0,0) to (m,n) leaving the band |x/m − y/n| &lt; h/lcm(m,n): scipy's
    /// _compute_outer_prob_inside_method (Hodges' inside method with Viehmann's recursion on 1 − p).
    /// </summary>
    internal static double OuterProbabilityInside(int m, int n, int g, long h)
    {
        if (m < n)
        {
            (m, n) = (n, m);
        }

        long mg = m / g, ng = n / g;
        long minj = 0, maxj = Math.Min((long)Math.Ceiling(h / (double)mg), n + 1);
        var curlen = maxj - minj;
        var lenA = Math.Min((2 * maxj) + 2, n + 1);
        var a = new double[lenA];
        Array.Fill(a, 1.0);
        for (var k = minj; k < maxj; k++)
        {
            a[k] = 0.0;
        }

        for (long i = 1; i <= m; i++)
        {
            long lastminj = minj, lastlen = curlen;
            minj = Math.Max((long)Math.Floor(((ng * i) - h) / (double)mg) + 1, 0);
            minj = Math.Min(minj, n);
            maxj = Math.Min((long)Math.Ceiling(((ng * i) + h) / (double)mg), n + 1);
            if (maxj <= minj)
            {
                return 1.0;
            }

            var val = minj == 0 ? 0.0 : 1.0;
            for (long jj = 0; jj < maxj - minj; jj++)
            {
                var j = jj + minj;
                val = ((a[jj + minj - lastminj] * i) + (val * j)) / (i + j);
                a[jj] = val;
            }

            curlen = maxj - minj;
            if (lastlen > curlen)
            {
                for (var k = maxj - minj; k < maxj - minj + (lastlen - curlen); k++)
                {
                    a[k] = 1.0;
                }
            }
        }

        return a[maxj - minj - 1];
    }

    /// <summary>The survival function of the one-sample two-sided Kolmogorov statistic D_n: scipy's kstwo.sf(x, n) (_kolmogn with cdf=False).</summary>
    public static double KolmogorovSf(long n, double x)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        if (double.IsNaN(x))
        {
            return double.NaN;
        }

        if (x >= 1.0)
        {
            return 0.0;
        }

        if (x <= 0.0)
        {
            return 1.0;
        }

        var t = n * x;
        if (t <= 1.0)
        {
            // Ruben–Gambino: 1/2n <= x <= 1/n.
            if (t <= 0.5)
            {
                return 1.0;
            }

            double prob;
            if (n <= 140)
            {
                prob = 1.0;
                for (long i = 1; i <= n; i++)
                {
                    prob *= i * (1.0 / n) * ((2 * t) - 1);
                }
            }
            else
            {
                prob = Math.Exp(LogNFactorialOverNPowN(n) + (n * Math.Log((2 * t) - 1)));
            }

            return Math.Clamp(1.0 - prob, 0, 1);
        }

        if (t >= n - 1)
        {
            return Math.Clamp(2 * Math.Pow(1.0 - x, n), 0, 1);
        }

        if (x >= 0.5)
        {
            return Math.Clamp(2 * SmirnovSf(n, x), 0, 1);
        }

        var nxSquared = t * x;
        if (n <= 140)
        {
            if (nxSquared <= 0.754693)
            {
                return Math.Clamp(1.0 - Math.Clamp(DurbinMatrixCdf(n, x), 0, 1), 0, 1);
            }

            if (nxSquared <= 4)
            {
                return Math.Clamp(1.0 - Math.Clamp(PomeranzCdf(n, x), 0, 1), 0, 1);
            }

            return Math.Clamp(2 * SmirnovSf(n, x), 0, 1);
        }

        if (nxSquared >= 370.0)
        {
            return 0.0;
        }

        if (nxSquared >= 2.2)
        {
            return Math.Clamp(2 * SmirnovSf(n, x), 0, 1);
        }

        double cdf = n <= 100_000 && n * Math.Pow(x, 1.5) <= 1.4 ? Math.Clamp(DurbinMatrixCdf(n, x), 0, 1) : PelzGoodCdf(n, x);
        return Math.Clamp(1.0 - cdf, 0, 1);
    }

    private static readonly double[] StirlingCoefficients =
    [
        -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
        -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2,
    ];

    private static double LogNFactorialOverNPowN(long n)
    {
        var rn = 1.0 / n;
        var poly = 0.0;
        foreach (var c in StirlingCoefficients)
        {
            poly = (poly * (rn / n)) + c;
        }

        return (Math.Log(n) / 2) - n + (Math.Log(2 * Math.PI) / 2) + (rn * poly);
    }

    /// <summary>C's DBL_EPSILON (not .NET's double.Epsilon, the smallest subnormal).</summary>
    private const double DoubleEpsilon = 2.220446049250313e-16;

    private const int Exponent128 = 128;
    private static readonly double Ep128 = Math.ScaleB(1.0, Exponent128);
    private static readonly double Em128 = Math.ScaleB(1.0, -Exponent128);

    /// <summary>The CDF of D_n by the Durbin matrix (Marsaglia–Tsang–Wang), scipy's _kolmogn_DMTW.</summary>
    internal static double DurbinMatrixCdf(long n, double d)
    {
        if (d >= 1.0)
        {
            return 1.0;
        }

        var nd = n * d;
        if (nd <= 0.5)
        {
            return 0.0;
        }

        var k = (int)Math.Ceiling(nd);
        var h = k - nd;
        var m = (2 * k) - 1;
        var hMatrix = new double[m, m];
        var v = new double[m];
        var w = new double[m];
        var fac = 1.0;
        for (var j = 1; j <= m; j++)
        {
            w[j - 1] = fac;
            fac /= j;
            v[j - 1] = (1.0 - Math.Pow(h, j)) * fac;
        }

        var tt = Math.Pow(Math.Max((2 * h) - 1.0, 0), m) - (2 * Math.Pow(h, m));
        v[m - 1] = (1.0 + tt) * fac;
        for (var i = 1; i < m; i++)
        {
            for (var r = i - 1; r < m; r++)
            {
                hMatrix[r, i] = w[r - (i - 1)];
            }
        }

        for (var r = 0; r < m; r++)
        {
            hMatrix[r, 0] = v[r];
        }

        for (var c = 0; c < m; c++)
        {
            hMatrix[m - 1, c] = v[m - 1 - c];
        }

        var power = Identity(m);
        var nn = n;
        var exponent = 0;
        var hExponent = 0;
        while (nn > 0)
        {
            if (nn % 2 == 1)
            {
                power = Multiply(power, hMatrix);
                exponent += hExponent;
            }

            hMatrix = Multiply(hMatrix, hMatrix);
            hExponent *= 2;
            if (Math.Abs(hMatrix[k - 1, k - 1]) > Ep128)
            {
                Scale(hMatrix, 1 / Ep128);
                hExponent += Exponent128;
            }

            nn /= 2;
        }

        var p = power[k - 1, k - 1];
        for (long i = 1; i <= n; i++)
        {
            p = i * p / n;
            if (Math.Abs(p) < Em128)
            {
                p *= Ep128;
                exponent -= Exponent128;
            }
        }

        return exponent != 0 ? Math.ScaleB(p, exponent) : p;
    }

    private static double[,] Identity(int m)
    {
        var result = new double[m, m];
        for (var i = 0; i < m; i++)
        {
            result[i, i] = 1.0;
        }

        return result;
    }

    private static double[,] Multiply(double[,] a, double[,] b)
    {
        var m = a.GetLength(0);
        var result = new double[m, m];
        for (var i = 0; i < m; i++)
        {
            for (var k = 0; k < m; k++)
            {
                var aik = a[i, k];
                if (aik == 0)
                {
                    continue;
                }

                for (var j = 0; j < m; j++)
                {
                    result[i, j] += aik * b[k, j];
                }
            }
        }

        return result;
    }

    private static void Scale(double[,] a, double factor)
    {
        var m = a.GetLength(0);
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < m; j++)
            {
                a[i, j] *= factor;
            }
        }
    }

    private static (int J1, int J2) PomeranzJ1J2(int i, int n, int ll, int ceilf, int roundf)
    {
        int j1, j2;
        if (i == 0)
        {
            j1 = -ll - ceilf - 1;
            j2 = ll + ceilf - 1;
        }
        else
        {
            int ip1div2 = (i + 1) / 2, ip1mod2 = (i + 1) % 2;
            if (ip1mod2 == 0)
            {
                if (ip1div2 == n + 1)
                {
                    j1 = n - ll - ceilf - 1;
                    j2 = n + ll + ceilf - 1;
                }
                else
                {
                    j1 = ip1div2 - 1 - ll - roundf - 1;
                    j2 = ip1div2 + ll - 1 + ceilf - 1;
                }
            }
            else
            {
                j1 = ip1div2 - 1 - ll - 1;
                j2 = ip1div2 + ll + roundf - 1;
            }
        }

        return (Math.Max(j1 + 2, 0), Math.Min(j2, n));
    }

    /// <summary>The CDF of D_n by Pomeranz's recursion, scipy's _kolmogn_Pomeranz (used for n ≤ 140).</summary>
    internal static double PomeranzCdf(long nLong, double x)
    {
        var n = (int)nLong;
        var t = n * x;
        var ll = (int)Math.Floor(t);
        var f = t - ll;
        var g = Math.Min(f, 1.0 - f);
        var ceilf = f > 0 ? 1 : 0;
        var roundf = f > 0.5 ? 1 : 0;
        var npwrs = 2 * (ll + 1);
        var gpower = new double[npwrs];
        var twogpower = new double[npwrs];
        var onem2gpower = new double[npwrs];
        gpower[0] = twogpower[0] = onem2gpower[0] = 1.0;
        var exponent = 0;
        double gOverN = g / n, twoGOverN = 2 * g / n, oneMinusTwoGOverN = (1 - (2 * g)) / n;
        for (var m = 1; m < npwrs; m++)
        {
            gpower[m] = gpower[m - 1] * gOverN / m;
            twogpower[m] = twogpower[m - 1] * twoGOverN / m;
            onem2gpower[m] = onem2gpower[m - 1] * oneMinusTwoGOverN / m;
        }

        var v0 = new double[npwrs];
        var v1 = new double[npwrs];
        v1[0] = 1;
        int v0s = 0, v1s = 0;
        var (j1, j2) = PomeranzJ1J2(0, n, ll, ceilf, roundf);
        for (var i = 1; i < (2 * n) + 2; i++)
        {
            var k1 = j1;
            (v0, v1) = (v1, v0);
            (v0s, v1s) = (v1s, v0s);
            Array.Clear(v1);
            (j1, j2) = PomeranzJ1J2(i, n, ll, ceilf, roundf);
            var powers = i == 1 || i == (2 * n) + 1 ? gpower : i % 2 == 1 ? twogpower : onem2gpower;
            var ln2 = j2 - k1 + 1;
            if (ln2 > 0)
            {
                // np.convolve(V0[k1 - V0s : k1 - V0s + ln2], pwrs[:ln2]), full mode; entries conv_start.. used.
                var convStart = j1 - k1;
                var convLength = j2 - j1 + 1;
                var offset = k1 - v0s;
                for (var c = 0; c < convLength; c++)
                {
                    var index = convStart + c;
                    var sum = 0.0;
                    var lo = Math.Max(0, index - (ln2 - 1));
                    var hi = Math.Min(index, ln2 - 1);
                    for (var a = lo; a <= hi; a++)
                    {
                        sum += v0[offset + a] * powers[index - a];
                    }

                    v1[c] = sum;
                }

                var max = v1.Max();
                if (max > 0 && max < Em128)
                {
                    for (var c = 0; c < v1.Length; c++)
                    {
                        v1[c] *= Ep128;
                    }

                    exponent -= Exponent128;
                }

                v1s = v0s + j1 - k1;
            }
        }

        var answer = v1[n - v1s];
        for (var m = 1; m <= n; m++)
        {
            if (Math.Abs(answer) > Ep128)
            {
                answer *= Em128;
                exponent += Exponent128;
            }

            answer *= m;
        }

        return exponent != 0 ? Math.ScaleB(answer, exponent) : answer;
    }

    /// <summary>The CDF of D_n by the Pelz–Good asymptotic series, scipy's _kolmogn_PelzGood.</summary>
    internal static double PelzGoodCdf(long n, double x)
    {
        if (x <= 0.0)
        {
            return 0.0;
        }

        if (x >= 1.0)
        {
            return 1.0;
        }

        var z = Math.Sqrt(n) * x;
        double zsquared = z * z, zthree = z * z * z, zfour = zsquared * zsquared, zsix = zfour * zsquared;
        var qlog = -Math.PI * Math.PI / 8 / zsquared;
        if (qlog < -708)
        {
            return 0.0;
        }

        var q = Math.Exp(qlog);
        const double piSquared = Math.PI * Math.PI;
        const double piFour = piSquared * piSquared;
        const double piSix = piFour * piSquared;
        var k1a = -zsquared;
        var k1b = piSquared / 4;
        var k2a = (6 * zsix) + (2 * zfour);
        var k2b = ((2 * zfour) - (5 * zsquared)) * piSquared / 4;
        var k2c = piFour * (1 - (2 * zsquared)) / 16;
        var k3d = piSix * (5 - (30 * zsquared)) / 64;
        var k3c = piFour * ((-60 * zsquared) + (212 * zfour)) / 16;
        var k3b = piSquared * ((135 * zfour) - (96 * zsix)) / 4;
        var k3a = (-30 * zsix) - (90 * Math.Pow(z, 8));
        var terms = new double[4];
        var maxk = (int)Math.Ceiling(16 * z / Math.PI);
        for (var k = maxk; k > 0; k--)
        {
            double m = (2 * k) - 1, msquared = m * m, mfour = msquared * msquared, msix = mfour * msquared;
            var qpower = Math.Pow(q, 8 * k);
            double[] coefficients =
            [
                1.0,
                k1a + (k1b * msquared),
                k2a + (k2b * msquared) + (k2c * mfour),
                k3a + (k3b * msquared) + (k3c * mfour) + (k3d * msix),
            ];
            for (var i = 0; i < 4; i++)
            {
                terms[i] = (terms[i] * qpower) + coefficients[i];
            }
        }

        double[] divisors = [z, 6 * zfour, 72 * Math.Pow(z, 7), 6480 * Math.Pow(z, 10)];
        for (var i = 0; i < 4; i++)
        {
            terms[i] = terms[i] * q * Math.Sqrt(2 * Math.PI) / divisors[i];
        }

        q = Math.Exp(-piSquared / 2 / zsquared);
        double k2extra = 0, k3extra = 0;
        var sqrt3z = Math.Sqrt(3) * z;
        for (var k = maxk; k > 0; k--)
        {
            double ksquared = (double)k * k, qpower = Math.Pow(q, ksquared), kspi = Math.PI * k;
            k2extra += ksquared * qpower;
            k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpower;
        }

        terms[2] += k2extra * piSquared * Math.Sqrt(2 * Math.PI) / (-36 * zthree);
        terms[3] += k3extra * piSquared * Math.Sqrt(2 * Math.PI) / (216 * zsix);
        var sum = 0.0;
        for (var i = 0; i < 4; i++)
        {
            sum += terms[i] / Math.Pow(n, i / 2.0);
        }

        return sum;
    }

    /// <summary>
    /// The survival function of the one-sided Smirnov statistic D⁺_n, scipy.special.smirnov(n, x): cephes' Birnbaum–Tingey
    /// sum (or its short upper sum where cephes uses it). As in cephes the bases 1 − x − v/n and x + v/n are formed in
    /// double-double and raised to their powers with a separate binary exponent, because a base rounded to double
    /// would lose n·ε of relative accuracy in its n-th power.
    /// </summary>
    public static double SmirnovSf(long nLong, double x) => SmirnovSf(nLong, x, termsByRecurrence: true);

    /// <summary><see cref="SmirnovSf(long, double)"/>; with <paramref name="termsByRecurrence"/> false every term of a long lower sum is computed directly (the tests compare the two).</summary>
    internal static double SmirnovSf(long nLong, double x, bool termsByRecurrence)
    {
        if (!(nLong > 0 && x >= 0.0 && x <= 1.0))
        {
            return double.NaN;
        }

        if (nLong == 1)
        {
            return 1 - x;
        }

        if (x == 0.0)
        {
            return 1.0;
        }

        if (x == 1.0)
        {
            return 0.0;
        }

        if (nLong > 1_000_000)
        {
            if (-2 * nLong * x * x < MinLog)
            {
                return 0.0;
            }

            // cephes' approximation beyond SMIRNOV_MAX_COMPUTE_N: p ≈ e^(−(6nx+1)²/18n).
            return Math.Exp(-Math.Pow((6.0 * nLong * x) + 1, 2) / 18.0 / nLong);
        }

        var n = (int)nLong;
        // floor(n·x) and its remainder exactly (n·x = hi + lo).
        var nxHi = n * x;
        var nxLo = Math.FusedMultiplyAdd(n, x, -nxHi);
        var nxfl = Math.Floor(nxHi);
        var alpha = (nxHi - nxfl) + nxLo;
        if (alpha < 0)
        {
            nxfl -= 1;
            alpha += 1;
        }

        if (alpha >= 1)
        {
            nxfl += 1;
            alpha = 0;
        }

        var nxFloor = (int)nxfl;
        var n1mxfl = n - nxFloor - (alpha == 0 ? 0 : 1);
        var n1mxceil = n - nxFloor;
        if (alpha == 0)
        {
            n1mxfl -= 1;
            n1mxceil += 1;
        }

        if (nxFloor == 0 || (nxFloor == 1 && alpha == 0))
        {
            var cdf0 = x * PowSum(1, x, n - 1);
            return Math.Clamp(1 - cdf0, 0, 1);
        }

        if (-2 * n * x * x < MinLog)
        {
            return 0.0;
        }

        if (nxFloor >= n - 1)
        {
            return Math.Clamp(PowSum(1, -x, n), 0, 1);
        }

        var nUpperTerms = n - n1mxceil + 1;
        var useUpperSum = (nUpperTerms <= 1 && x < 0.5) || (n >= 10 && nUpperTerms <= 3 && x <= 0.5 / Math.Sqrt(n));
        int start, step, nTerms;
        double sum;
        if (useUpperSum)
        {
            start = n;
            step = -1;
            nTerms = n - n1mxceil + 1;
            sum = PowSum(1, x, n - 1);
        }
        else
        {
            start = 0;
            step = 1;
            nTerms = n1mxfl + 1;
            sum = PowSum(1, -x, n) / x;
        }

        if (termsByRecurrence && !useUpperSum && nTerms > RecurrenceMinTerms)
        {
            return Math.Clamp(x * LowerSumByRecurrence(n, x, nTerms, sum), 0, 1);
        }

        // C(n, j) as mantissa · 2^exponent (it overflows a double); C(n, v) = C(n, n − v) so both sums use C(n, j).
        double binomialMantissa = n;
        long binomialExponent = 0;
        Normalize(ref binomialMantissa, ref binomialExponent);
        var vmid = n / 2;
        for (var j = 1; j < nTerms; j++)
        {
            var v = start + (j * step);
            var (lowerHi, lowerLo) = RatioMinus(n - v, n, x);
            var (upperHi, upperLo) = RatioPlus(v, n, x);
            var (m2, e2) = PowScaled(lowerHi, lowerLo, n - v);
            var (m1, e1) = PowScaled(upperHi, upperLo, v - 1);
            var mantissa = binomialMantissa * m1 * m2;
            var term = Math.ScaleB(mantissa, (int)Math.Clamp(binomialExponent + e1 + e2, -4000, 4000));
            if (double.IsFinite(term) && term != 0)
            {
                sum += term;
            }

            if (term != 0)
            {
                if (4.0 * (nTerms - j) * Math.Abs(term) < DoubleEpsilon * sum && j != nTerms - 1)
                {
                    break;
                }
            }
            else if (j > vmid)
            {
                break;
            }

            binomialMantissa *= (double)(n - j) / (j + 1);
            Normalize(ref binomialMantissa, ref binomialExponent);
        }

        var prob = x * sum;
        var sf = step < 0 ? 1 - prob : prob;
        return Math.Clamp(sf, 0, 1);
    }

    /// <summary>Lower sums with more terms than this take their terms by recurrence (<see cref="LowerSumByRecurrence"/>).</summary>
    internal const int RecurrenceMinTerms = 2000;

    /// <summary>Terms between two directly computed (anchor) terms in <see cref="LowerSumByRecurrence"/>.</summary>
    internal const int RecurrenceAnchorInterval = 1024;

    /// <summary>
    /// The lower Birnbaum–Tingey sum Σ_{v≥1} C(n,v)·(1 − x − v/n)^(n−v)·(x + v/n)^(v−1), added to <paramref name="sum"/>
    /// (the v = 0 term), exactly as the direct loop of <see cref="SmirnovSf(long, double)"/> adds it: the same terms in
    /// the same order, the same early stop. Only how each term is obtained differs. The direct loop raises two
    /// double-doubles to powers of up to n per term (dozens of pow calls each), so at n = 50,000 one p-value took about
    /// 30 ms; here the power part P_v = A_v^(n−v)·B_v^(v−1) goes from one term to the next by its ratio
    /// P_(v+1)/P_v = (nB_v + 1)/nA_v · exp(−(n−v−1)·ln(1 + 1/(nA_v − 1)) + (v−1)·ln(1 + 1/nB_v)),
    /// whose logarithms are of 1 + a small number (a 2·atanh series) and whose exponent is O(1), so each ratio is good
    /// to a few ulps; the ratios of a block are computed with vector instructions, then multiplied in order. Every
    /// <see cref="RecurrenceAnchorInterval"/> terms P is computed directly again, as the direct loop computes it, so
    /// rounding cannot accumulate beyond ~10⁻¹³ relative (the tests compare both ways to 10⁻¹³ and with scipy).
    /// </summary>
    internal static double LowerSumByRecurrence(int n, double x, int nTerms, double sum)
    {
        // n·x as a double-double: nA_v = n − v − n·x and nB_v = n·x + v to full precision.
        var tHi = n * x;
        var tLo = Math.FusedMultiplyAdd(n, x, -tHi);
        double binomialMantissa = n;
        long binomialExponent = 0;
        Normalize(ref binomialMantissa, ref binomialExponent);
        Span<double> powerRatios = stackalloc double[RecurrenceAnchorInterval];
        Span<double> binomialRatios = stackalloc double[RecurrenceAnchorInterval];
        var vmid = n / 2;
        for (var blockStart = 1; blockStart < nTerms; blockStart += RecurrenceAnchorInterval)
        {
            var blockEnd = Math.Min(blockStart + RecurrenceAnchorInterval, nTerms);
            // Anchor: the power part of the block's first term exactly as the direct loop computes it.
            var (lowerHi, lowerLo) = RatioMinus(n - blockStart, n, x);
            var (upperHi, upperLo) = RatioPlus(blockStart, n, x);
            var (m2, e2) = PowScaled(lowerHi, lowerLo, n - blockStart);
            var (m1, e1) = PowScaled(upperHi, upperLo, blockStart - 1);
            var powerMantissa = m1 * m2;
            var powerExponent = e1 + e2;
            Normalize(ref powerMantissa, ref powerExponent);
            TermRatios(n, blockStart, blockEnd - blockStart, tHi, tLo, powerRatios, binomialRatios);
            var scaleExponent = long.MinValue;
            var scale = 0.0;
            for (var j = blockStart; j < blockEnd; j++)
            {
                var exponent = binomialExponent + powerExponent;
                if (exponent != scaleExponent)
                {
                    scaleExponent = exponent;
                    scale = exponent is > -1000 and < 1000 ? Math.ScaleB(1.0, (int)exponent) : double.NaN;
                }

                var mantissa = binomialMantissa * powerMantissa;
                var term = double.IsNaN(scale) ? Math.ScaleB(mantissa, (int)Math.Clamp(exponent, -4000, 4000)) : mantissa * scale;
                if (double.IsFinite(term) && term != 0)
                {
                    sum += term;
                }

                if (term != 0)
                {
                    if (4.0 * (nTerms - j) * Math.Abs(term) < DoubleEpsilon * sum && j != nTerms - 1)
                    {
                        return sum;
                    }
                }
                else if (j > vmid)
                {
                    return sum;
                }

                var k = j - blockStart;
                binomialMantissa *= binomialRatios[k];
                powerMantissa *= powerRatios[k];
                if (binomialMantissa is > 1e100 or < 1e-100)
                {
                    Normalize(ref binomialMantissa, ref binomialExponent);
                }

                if (powerMantissa is > 1e100 or < 1e-100)
                {
                    Normalize(ref powerMantissa, ref powerExponent);
                }
            }
        }

        return sum;
    }

    /// <summary>
    /// For v = <paramref name="first"/> … first + count − 1: C(n,v+1)/C(n,v) = (n − v)/(v + 1) (as the direct loop's
    /// division) and P_(v+1)/P_v of <see cref="LowerSumByRecurrence"/>, with n·x = tHi + tLo.
    /// </summary>
    private static void TermRatios(int n, int first, int count, double tHi, double tLo, Span<double> powerRatios, Span<double> binomialRatios)
    {
        var k = 0;
        // The series needs nA − 1 ≥ 10 and nB ≥ 10 in every lane (nB grows with v, nA − 1 shrinks: check the ends);
        // from 1,000 up three of its terms already reach 10⁻²⁰.
        var smallest = Math.Min(n - (first + count - 1) - tHi - tLo - 1, first + tHi + tLo);
        if (Vector256.IsHardwareAccelerated && count >= Vector256<double>.Count && smallest >= 10)
        {
            var shortSeries = smallest >= 1000;
            var lane = Vector256.Create(0.0, 1.0, 2.0, 3.0);
            var nVector = Vector256.Create((double)n);
            var tHiVector = Vector256.Create(tHi);
            var tLoVector = Vector256.Create(tLo);
            var one = Vector256<double>.One;
            for (; k <= count - Vector256<double>.Count; k += Vector256<double>.Count)
            {
                var v = Vector256.Create((double)(first + k)) + lane;
                var nA = ((nVector - v) - tHiVector) - tLoVector;
                var nB = (v + tHiVector) + tLoVector;
                // 1/(2(nA − 1) + 1), 1/(2nB + 1) and 1/nA from one division (a few ulps each, well inside the anchors' bound).
                var d1 = (nA + nA) - one;
                var d2 = (nB + nB) + one;
                var d1d2 = d1 * d2;
                var reciprocal = one / (d1d2 * nA);
                var w1 = d2 * nA * reciprocal;
                var w2 = d1 * nA * reciprocal;
                var exponent = (-((nVector - v) - one) * LogOnePlusReciprocalSeries(w1, shortSeries)) + ((v - one) * LogOnePlusReciprocalSeries(w2, shortSeries));
                ((nB + one) * (d1d2 * reciprocal) * Vector256.Exp(exponent)).CopyTo(powerRatios[k..]);
                ((nVector - v) / (v + one)).CopyTo(binomialRatios[k..]);
            }
        }

        for (; k < count; k++)
        {
            var v = first + k;
            var nA = (n - v - tHi) - tLo;
            var nB = (v + tHi) + tLo;
            // (A_(v+1)/A_v)^(n−v−1) = (1 − 1/nA)^(n−v−1) = exp(−(n−v−1)·ln(1 + 1/(nA − 1))); (B_(v+1)/B_v)^(v−1) = (1 + 1/nB)^(v−1).
            var exponent = (-(n - v - 1.0) * LogOnePlusReciprocal(nA - 1)) + ((v - 1.0) * LogOnePlusReciprocal(nB));
            powerRatios[k] = (nB + 1) / nA * Math.Exp(exponent);
            binomialRatios[k] = (double)(n - v) / (v + 1);
        }
    }

    /// <summary>
    /// ln(1 + 1/m) = 2·atanh(w), w = 1/(2m + 1), by its series 2w·Σ w^(2k)/(2k+1): eight terms for m ≥ 10 (the next is
    /// below 10⁻²² relative), three for m ≥ 1,000 (below 10⁻²⁰).
    /// </summary>
    private static Vector256<double> LogOnePlusReciprocalSeries(Vector256<double> w, bool shortSeries)
    {
        var w2 = w * w;
        Vector256<double> series;
        if (shortSeries)
        {
            series = Vector256.Create(1.0 / 5);
        }
        else
        {
            series = Vector256.Create(1.0 / 15);
            series = Vector256.FusedMultiplyAdd(series, w2, Vector256.Create(1.0 / 13));
            series = Vector256.FusedMultiplyAdd(series, w2, Vector256.Create(1.0 / 11));
            series = Vector256.FusedMultiplyAdd(series, w2, Vector256.Create(1.0 / 9));
            series = Vector256.FusedMultiplyAdd(series, w2, Vector256.Create(1.0 / 7));
            series = Vector256.FusedMultiplyAdd(series, w2, Vector256.Create(1.0 / 5));
        }

        series = Vector256.FusedMultiplyAdd(series, w2, Vector256.Create(1.0 / 3));
        series = Vector256.FusedMultiplyAdd(series, w2, Vector256<double>.One);
        return (w + w) * series;
    }

    /// <summary>ln(1 + 1/m) for m &gt; 0: the series of <see cref="LogOnePlusReciprocalSeries"/> for m ≥ 10, else log1p.</summary>
    private static double LogOnePlusReciprocal(double m)
    {
        if (m >= 10)
        {
            var w = 1 / ((2 * m) + 1);
            var w2 = w * w;
            var series = 1.0 / 15;
            series = Math.FusedMultiplyAdd(series, w2, 1.0 / 13);
            series = Math.FusedMultiplyAdd(series, w2, 1.0 / 11);
            series = Math.FusedMultiplyAdd(series, w2, 1.0 / 9);
            series = Math.FusedMultiplyAdd(series, w2, 1.0 / 7);
            series = Math.FusedMultiplyAdd(series, w2, 1.0 / 5);
            series = Math.FusedMultiplyAdd(series, w2, 1.0 / 3);
            series = Math.FusedMultiplyAdd(series, w2, 1);
            return 2 * w * series;
        }

        // log1p(z) by Kahan's trick: ln(u)·z/(u − 1) with u = 1 + z rounded.
        var z = 1 / m;
        var u = 1 + z;
        return u == 1 ? z : Math.Log(u) * (z / (u - 1));
    }

    /// <summary>cephes' MINLOG: exp of anything below underflows.</summary>
    private const double MinLog = -7.08396418532264106224e2;

    /// <summary>(a + b)^m with a + b formed exactly (two-sum) before the power.</summary>
    private static double PowSum(double a, double b, int m)
    {
        var hi = a + b;
        var lo = b - (hi - a);
        var (mantissa, exponent) = PowScaled(hi, lo, m);
        return Math.ScaleB(mantissa, (int)Math.Clamp(exponent, -4000, 4000));
    }

    /// <summary>k/n − x as a double-double.</summary>
    private static (double Hi, double Lo) RatioMinus(int k, int n, double x)
    {
        var q = (double)k / n;
        var qLo = Math.FusedMultiplyAdd(-q, n, k) / n;
        var hi = q - x;
        var lo = ((q - hi) - x) + qLo;
        return (hi + lo, lo - ((hi + lo) - hi));
    }

    /// <summary>k/n + x as a double-double.</summary>
    private static (double Hi, double Lo) RatioPlus(int k, int n, double x)
    {
        var q = (double)k / n;
        var qLo = Math.FusedMultiplyAdd(-q, n, k) / n;
        var hi = q + x;
        var lo = (x - (hi - q)) + qLo;
        return (hi + lo, lo - ((hi + lo) - hi));
    }

    /// <summary>(hi + lo)^m as mantissa · 2^exponent, cephes' pow2Scaled_D: the power of the leading part in chunks that cannot underflow, corrected for the trailing part.</summary>
    private static (double Mantissa, long Exponent) PowScaled(double hi, double lo, int m)
    {
        if (m == 0)
        {
            return (1.0, 0);
        }

        if (hi == 0)
        {
            return (0.0, 0);
        }

        var negative = hi < 0 && m % 2 == 1;
        var r = lo / hi;
        hi = Math.Abs(hi);
        var baseExponent = Math.ILogB(hi) + 1;
        var f = Math.ScaleB(hi, -baseExponent);
        var log2f = Math.Log2(f);
        var chunk = log2f >= 0 || m * log2f >= -960 ? m : Math.Max(1, (int)(-960 / log2f));
        double mantissa = 1.0;
        long exponent = (long)m * baseExponent;
        for (var remaining = m; remaining > 0; remaining -= chunk)
        {
            mantissa *= Math.Pow(f, Math.Min(chunk, remaining));
            Normalize(ref mantissa, ref exponent);
        }

        var adjustment = m * r;
        if (Math.Abs(adjustment) > 1e-8)
        {
            adjustment = Math.Abs(adjustment) < 1e-4 ? adjustment + (m * r * ((m - 1) / 2.0 * r)) : Math.Exp(m * Math.Log(1 + r)) - 1;
        }

        mantissa += mantissa * adjustment;
        Normalize(ref mantissa, ref exponent);
        return (negative ? -mantissa : mantissa, exponent);
    }

    private static void Normalize(ref double mantissa, ref long exponent)
    {
        if (mantissa == 0 || !double.IsFinite(mantissa))
        {
            return;
        }

        var e = Math.ILogB(mantissa) + 1;
        mantissa = Math.ScaleB(mantissa, -e);
        exponent += e;
    }
}
