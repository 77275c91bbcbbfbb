using System.Text.Json;
using System.Text.Json.Nodes;
using Syllabus.Trainer.Drift;

namespace Syllabus.Trainer.Tests.Drift;

/// <summary>
/// Every statistic against scipy 1.10.1 (Debian's python3-scipy): testdata/reference_values.json, produced by
/// testdata/reference_values.py (the command is in its docstring). The samples are regenerated here bit for bit.
/// </summary>
public sealed class DriftStatisticsTests
{
    private static readonly JsonObject Reference = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Drift", "testdata", "reference_values.json")))!.AsObject();

    public static TheoryData<string> KsCases => [.. Reference["ks_2samp"]!.AsArray().Select(c => (string)c!["name"]!)];

    [Theory]
    [MemberData(nameof(KsCases))]
    public void Ks_2samp_statistic_and_p_value_match_scipy(string name)
    {
        var c = Reference["ks_2samp"]!.AsArray().Single(x => (string)x!["name"]! == name)!;
        var a = Sample(c["a"]!);
        var b = Sample(c["b"]!);

        var result = KolmogorovSmirnov.TwoSampleUnsorted(a, b);

        Close((double)c["statistic"]!, result.Statistic, 1e-13, $"{name} D");
        Close((double)c["pvalue"]!, result.PValue, 1e-10, $"{name} p ({result.Method})");
        Assert.Equal(Math.Max(a.Length, b.Length) <= KolmogorovSmirnov.MaxExactSampleSize ? KsMethods.Exact : KsMethods.Asymptotic, result.Method);
    }

    [Fact]
    public void The_exact_asymptotic_boundary_is_scipys_max_auto_n()
    {
        Assert.Equal(KsMethods.Exact, KolmogorovSmirnov.PValue(0.03, 10_000, 2000).Method);
        Assert.Equal(KsMethods.Asymptotic, KolmogorovSmirnov.PValue(0.03, 10_001, 2000).Method);
        Assert.Equal(KsMethods.Asymptotic, KolmogorovSmirnov.PValue(0.03, 5, 10_001).Method);
    }

    [Fact]
    public void Kolmogorov_distribution_matches_scipy_kstwo_on_every_branch()
    {
        var failures = new List<string>();
        foreach (var point in Reference["kstwo_sf"]!.AsArray())
        {
            var n = (long)point!["n"]!;
            var x = (double)point["x"]!;
            var expected = (double)point["sf"]!;
            var actual = KolmogorovSmirnov.KolmogorovSf(n, x);
            if (!IsClose(expected, actual, 1e-9))
            {
                failures.Add($"kstwo.sf({x}, {n}): scipy {expected:R}, ours {actual:R}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Smirnov_one_sided_matches_scipy_special_smirnov()
    {
        var failures = new List<string>();
        foreach (var point in Reference["smirnov"]!.AsArray())
        {
            var n = (long)point!["n"]!;
            var x = (double)point["x"]!;
            var expected = (double)point["sf"]!;
            var actual = KolmogorovSmirnov.SmirnovSf(n, x);
            if (!IsClose(expected, actual, 1e-11))
            {
                failures.Add($"smirnov({n}, {x}): scipy {expected:R}, ours {actual:R}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(KsCases))]
    public void Normed_wasserstein_matches_scipy(string name)
    {
        var c = Reference["wasserstein_norm"]!.AsArray().Single(x => (string)x!["name"]! == name)!;
        var a = Sample(c["a"]!);
        var b = Sample(c["b"]!);
        Array.Sort(a);
        Array.Sort(b);

        Close((double)c["distance"]!, DriftStatistics.Wasserstein(a, b), 1e-11, $"{name} distance");
        Close((double)c["normed"]!, DriftStatistics.WassersteinNormed(a, b), 1e-11, $"{name} normed");
    }

    public static TheoryData<string> CountCases => [.. Reference["counts"]!.AsArray().Select(c => (string)c!["name"]!)];

    [Theory]
    [MemberData(nameof(CountCases))]
    public void Psi_jensen_shannon_and_chi_squared_match_scipy_with_evidentlys_definitions(string name)
    {
        var c = Reference["counts"]!.AsArray().Single(x => (string)x!["name"]! == name)!;
        double[] reference = [.. c["reference"]!.AsArray().Select(v => (double)v!)];
        double[] current = [.. c["current"]!.AsArray().Select(v => (double)v!)];

        Close((double)c["psi"]!, DriftStatistics.Psi(reference, current), 1e-12, "psi");
        Close((double)c["jensenshannon"]!, DriftStatistics.JensenShannon(reference, current), 1e-12, "js");
        var chi = DriftStatistics.ChiSquare(reference, current);
        var expectedStatistic = c["chisquare_statistic"]!.GetValueKind() == JsonValueKind.String ? double.PositiveInfinity : (double)c["chisquare_statistic"]!;
        Close(expectedStatistic, chi.Statistic, 1e-12, "chi2 statistic");
        Close((double)c["chisquare_pvalue"]!, chi.PValue, 1e-9, "chi2 p");
    }

    [Fact]
    public void Psi_fills_empty_bins_with_evidentlys_0_0001()
    {
        var (reference, current) = DriftStatistics.SmoothedShares([50, 50, 0], [0, 50, 50]);
        Assert.Equal([0.5, 0.5, 0.0001], reference);
        Assert.Equal([0.0001, 0.5, 0.5], current);
    }

    [Fact]
    public void Z_test_matches_scipy_norm()
    {
        foreach (var c in Reference["z_test"]!.AsArray())
        {
            var result = DriftStatistics.ZTest((long)c!["referenceHits"]!, (long)c["referenceCount"]!, (long)c["currentHits"]!, (long)c["currentCount"]!);
            Close((double)c["z"]!, result.Statistic, 1e-12, "z");
            Close((double)c["pvalue"]!, result.PValue, 1e-12, "p");
        }

        // Evidently: one and the same value on both sides is p = 1, not NaN.
        Assert.Equal(new HypothesisTestResult(0, 1), DriftStatistics.ZTest(10, 10, 4, 4));
    }

    [Fact]
    public void Bonferroni_and_benjamini_hochberg_match_the_reference()
    {
        foreach (var c in Reference["corrections"]!.AsArray())
        {
            double[] p = [.. c!["p"]!.AsArray().Select(v => (double)v!)];
            AllClose([.. c["bonferroni"]!.AsArray().Select(v => (double)v!)], DriftStatistics.Bonferroni(p));
            AllClose([.. c["benjaminiHochberg"]!.AsArray().Select(v => (double)v!)], DriftStatistics.BenjaminiHochberg(p));
        }
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentException>(() => KolmogorovSmirnov.TwoSample([], [1.0]));
        Assert.Throws<ArgumentException>(() => DriftStatistics.Psi([1, 2], [1, 2, 3]));
        Assert.Throws<ArgumentException>(() => DriftStatistics.JensenShannon([0, 0], [1, 2]));
        Assert.Throws<ArgumentException>(() => DriftStatistics.Psi([-1, 2], [1, 2]));
    }

    /// <summary>The sample generator of reference_values.py: a 31-bit LCG, exact in doubles.</summary>
    internal static double[] Sample(JsonNode spec)
    {
        var x = (long)spec["seed"]! % 2147483648L;
        double Uniform()
        {
            x = ((1103515245L * x) + 12345L) % 2147483648L;
            return x / 2147483648.0;
        }

        var n = (int)spec["n"]!;
        var kind = (string)spec["kind"]!;
        var shift = (double)spec["shift"]!;
        var scale = (double)spec["scale"]!;
        var result = new double[n];
        for (var i = 0; i < n; i++)
        {
            switch (kind)
            {
                case "normal":
                    var s = 0.0;
                    for (var k = 0; k < 12; k++)
                    {
                        s += Uniform();
                    }

                    result[i] = ((s - 6.0) * scale) + shift;
                    break;
                case "int":
                    result[i] = Math.Floor(Uniform() * (int)spec["levels"]!) + shift;
                    break;
                default:
                    result[i] = shift;
                    break;
            }
        }

        return result;
    }

    private static bool IsClose(double expected, double actual, double relative) =>
        expected == actual || Math.Abs(expected - actual) <= (relative * Math.Abs(expected)) + 1e-300;

    private static void Close(double expected, double actual, double relative, string what) =>
        Assert.True(IsClose(expected, actual, relative), $"{what}: expected {expected:R}, got {actual:R}");

    private static void AllClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Close(expected[i], actual[i], 1e-14, $"[{i}]");
        }
    }
}
