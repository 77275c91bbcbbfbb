using System.Diagnostics;
using System.Globalization;
using Syllabus.Api;
using Syllabus.Trainer.Drift;
using Syllabus.Trainer.Profiling;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Detector time for F features x N live rows against an N-row reference (default 100 x 100,000), every detector,
/// beside scipy's ks_2samp and wasserstein_distance on the same arrays (Debian's python3-scipy, run from here when
/// /usr/bin/python3 has scipy). Times are for all F features, median of the repetitions; the single detectors run on one thread, the evaluator in parallel over features (Parallel.For).
/// </summary>
internal static class DriftBenchmark
{
    public static void Run(string root, int features, int rows, int repetitions)
    {
        Console.WriteLine($"drift detectors: {features} features x {rows:N0} live rows against a {rows:N0}-row reference, median of {repetitions}, one thread for the detectors, the evaluator tests features in parallel");
        var reference = new float[features][];
        var current = new float[features][];
        var random = new Random(1);
        for (var f = 0; f < features; f++)
        {
            // Half the features shifted by 0.05 standard deviations: both verdicts occur.
            reference[f] = Normal(random, rows, 0);
            current[f] = Normal(random, rows, f % 2 == 0 ? 0.05 : 0);
        }

        // What a profile holds: quantile bins with training counts; five-valued and two-valued columns for chi-squared and z.
        var profiles = reference.Select((x, f) => NumericFeatureProfileOf(x)).ToArray();
        var categoriesReference = reference.Select(x => x.Select(v => (double)Math.Clamp((int)Math.Floor(v + 2.5), 0, 4)).ToArray()).ToArray();
        var categoriesCurrent = current.Select(x => x.Select(v => (double)Math.Clamp((int)Math.Floor(v + 2.5), 0, 4)).ToArray()).ToArray();
        var referenceCategoryCounts = categoriesReference.Select(Counts5).ToArray();

        var results = new List<(string Detector, double Milliseconds, int Drifted)>();
        void Measure(string detector, Func<int, bool> perFeature)
        {
            var times = new List<double>();
            var drifted = 0;
            for (var r = 0; r < repetitions + 1; r++)
            {
                var watch = Stopwatch.StartNew();
                drifted = 0;
                for (var f = 0; f < features; f++)
                {
                    drifted += perFeature(f) ? 1 : 0;
                }

                // The first pass warms the JIT and is not counted.
                if (r > 0)
                {
                    times.Add(watch.Elapsed.TotalMilliseconds);
                }
            }

            times.Sort();
            results.Add((detector, times[times.Count / 2], drifted));
        }

        Measure("ks (sort both + exact/asymptotic p)", f =>
        {
            var a = Sorted(reference[f]);
            var b = Sorted(current[f]);
            return KolmogorovSmirnov.TwoSample(a, b).PValue <= 0.05;
        });
        Measure("wasserstein normed (sort both)", f => DriftStatistics.WassersteinNormed(Sorted(reference[f]), Sorted(current[f])) >= 0.1);
        Measure("psi (20 profile quantile bins)", f => DriftStatistics.Psi(ProfileCounts(profiles[f]), Binned(profiles[f], current[f])) >= 0.1);
        Measure("jensenshannon (20 profile quantile bins)", f => DriftStatistics.JensenShannon(ProfileCounts(profiles[f]), Binned(profiles[f], current[f])) >= 0.1);
        Measure("chisquare (5 values)", f => DriftStatistics.ChiSquare(referenceCategoryCounts[f], Counts5(categoriesCurrent[f])).PValue <= 0.05);
        Measure("z (2 values)", f =>
        {
            var hits = 0L;
            foreach (var v in current[f])
            {
                hits += v > 0 ? 1 : 0;
            }

            return DriftStatistics.ZTest(rows / 2, rows, hits, rows).PValue <= 0.05;
        });

        // The whole evaluator as `drift` runs it (auto: Wasserstein on the profile's 3,000-row reservoir sample).
        var profile = DataProfile.Build([.. Enumerable.Range(0, features).Select(f => $"x{f}")], reference, [], [], ["a"], new long[rows], seed: 1)
            .WithModel("bench", PredictionProfile.Build("test", [1f], ["a"], [0]));
        var window = new DriftWindow([.. Enumerable.Range(0, features).Select(f => $"x{f}")], current, [], [], rows);
        foreach (var detector in new[] { DriftDetectorNames.Auto, DriftDetectorNames.KolmogorovSmirnov, DriftDetectorNames.Psi })
        {
            var times = new List<double>();
            var drifted = 0;
            for (var r = 0; r < repetitions + 1; r++)
            {
                var watch = Stopwatch.StartNew();
                drifted = DriftEvaluator.Evaluate(profile, window, new DriftOptions { Detector = detector }, "bench", DateTimeOffset.UnixEpoch).Report.DriftedFeatures;
                if (r > 0)
                {
                    times.Add(watch.Elapsed.TotalMilliseconds);
                }
            }

            times.Sort();
            results.Add(($"evaluator --detector {detector} (reference: profile, {profile.Sample!.Rows:N0}-row sample)", times[times.Count / 2], drifted));
        }

        var scipy = RunScipy(root, reference, current, repetitions);
        Console.WriteLine();
        Console.WriteLine($"| detector ({features} features x {rows:N0} rows) | ms, all features | ms per feature | drifted features |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (detector, ms, drifted) in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {detector} | {ms:F1} | {ms / features:F2} | {drifted} |"));
        }

        foreach (var line in scipy)
        {
            Console.WriteLine(line);
        }
    }

    private static float[] Normal(Random random, int n, double shift)
    {
        var values = new float[n];
        for (var i = 0; i < n; i++)
        {
            var u = 1 - random.NextDouble();
            values[i] = (float)((Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * random.NextDouble())) + shift);
        }

        return values;
    }

    private static NumericFeatureProfile NumericFeatureProfileOf(float[] values) =>
        DataProfile.Build(["x"], [values], [], [], ["a"], new long[values.Length], sampleSize: 1).Numeric[0];

    private static double[] Sorted(float[] values)
    {
        var sorted = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            sorted[i] = values[i];
        }

        Array.Sort(sorted);
        return sorted;
    }

    private static double[] ProfileCounts(NumericFeatureProfile profile) => [.. profile.QuantileBinCounts!.Select(n => (double)n)];

    private static double[] Binned(NumericFeatureProfile profile, float[] values)
    {
        var asDouble = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            asDouble[i] = values[i];
        }

        return [.. NumericFeatureProfile.CountQuantileBins(profile.QuantileBinEdges!, asDouble).Select(n => (double)n)];
    }

    private static double[] Counts5(double[] values)
    {
        var counts = new double[5];
        foreach (var v in values)
        {
            counts[(int)v]++;
        }

        return counts;
    }

    /// <summary>scipy on the same arrays: writes them as float32, runs drift_scipy.py, returns its table rows.</summary>
    private static List<string> RunScipy(string root, float[][] reference, float[][] current, int repetitions)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "drift_scipy.py");
        const string python = "/usr/bin/python3";
        var referencePath = Path.Combine(root, "reference.f32");
        var currentPath = Path.Combine(root, "current.f32");
        Write(referencePath, reference);
        Write(currentPath, current);
        var arguments = $"{script} {referencePath} {currentPath} {reference.Length} {reference[0].Length} {repetitions}";
        if (!File.Exists(python))
        {
            return [$"(scipy not run: {python} missing; apt-get install python3-scipy, then: {python} {arguments})"];
        }

        using var process = Process.Start(new ProcessStartInfo(python, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0
            ? [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries)]
            : [$"(scipy failed, exit {process.ExitCode}: {error.Trim()}; command: {python} {arguments})"];
    }

    private static void Write(string path, float[][] columns)
    {
        using var stream = File.Create(path);
        foreach (var column in columns)
        {
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(column.AsSpan()));
        }
    }
}
