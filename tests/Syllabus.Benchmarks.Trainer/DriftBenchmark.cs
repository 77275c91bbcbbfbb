using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Syllabus.Api;
using Syllabus.Trainer.Drift;
using Syllabus.Trainer.Profiling;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Detector time for F features x N live rows against an N-row reference (default 100 x 100,000), every detector,
/// beside scipy's ks_2samp and wasserstein_distance on the same arrays (Debian's python3-scipy, run from here when
/// /usr/bin/python3 has scipy). Times are for all F features, median of the repetitions after one warm-up pass; each
/// detector is timed twice: features in parallel (Parallel.For, as the evaluator runs them) and on one thread. The KS
/// and Wasserstein references are prepared once per model (sorted, std): that preparation is its own row, and one KS
/// row sorts both samples on every call, as scipy does.
/// </summary>
internal static class DriftBenchmark
{
    public static void Run(string root, int features, int rows, int repetitions)
    {
        Console.WriteLine($"drift detectors: {features} features x {rows:N0} live rows against a {rows:N0}-row reference, median of {repetitions}, {Environment.ProcessorCount} cores; load average before: {LoadAverage()}");
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
        var profileCounts = profiles.Select(ProfileCounts).ToArray();
        var categoriesReference = reference.Select(x => x.Select(v => (double)Math.Clamp((int)Math.Floor(v + 2.5), 0, 4)).ToArray()).ToArray();
        var categoriesCurrent = current.Select(x => x.Select(v => (double)Math.Clamp((int)Math.Floor(v + 2.5), 0, 4)).ToArray()).ToArray();
        var referenceCategoryCounts = categoriesReference.Select(Counts5).ToArray();

        var results = new List<(string Detector, double Parallel, double OneThread, double OneThreadCpu, int Drifted)>();
        var prepared = new SortedSample[features];
        void Measure(string detector, Func<int, bool> perFeature)
        {
            var drifted = new bool[features];
            (double Wall, double Cpu) Time(bool parallel)
            {
                var times = new List<double>();
                var cpuTimes = new List<double>();
                for (var r = 0; r < repetitions + 1; r++)
                {
                    var cpu = ThreadCpuMilliseconds();
                    var watch = Stopwatch.StartNew();
                    if (parallel)
                    {
                        Parallel.For(0, features, f => drifted[f] = perFeature(f));
                    }
                    else
                    {
                        for (var f = 0; f < features; f++)
                        {
                            drifted[f] = perFeature(f);
                        }
                    }

                    // The first pass warms the JIT and is not counted.
                    if (r > 0)
                    {
                        times.Add(watch.Elapsed.TotalMilliseconds);
                        cpuTimes.Add(ThreadCpuMilliseconds() - cpu);
                    }
                }

                times.Sort();
                cpuTimes.Sort();
                return (times[times.Count / 2], cpuTimes[cpuTimes.Count / 2]);
            }

            var parallelMs = Time(parallel: true).Wall;
            var (oneThreadMs, oneThreadCpuMs) = Time(parallel: false);
            results.Add((detector, parallelMs, oneThreadMs, oneThreadCpuMs, drifted.Count(d => d)));
        }

        Measure("prepare the references (sort + std, once per model)", f =>
        {
            prepared[f] = SortedSample.Of(reference[f]);
            return false;
        });
        Measure("ks (sort current + merge + p-value)", f => WithSortedCurrent(current[f], sorted => KolmogorovSmirnov.TwoSample(prepared[f], sorted).PValue <= 0.05));
        Measure("ks, both samples sorted per call (as scipy)", f => KsSortingBoth(reference[f], current[f]));
        Measure("wasserstein normed (sort current + merge)", f => WithSortedCurrent(current[f], sorted => DriftStatistics.WassersteinNormed(prepared[f], sorted) >= 0.1));
        Measure("psi (20 profile quantile bins)", f => DriftStatistics.Psi(profileCounts[f], Binned(profiles[f], current[f])) >= 0.1);
        Measure("jensenshannon (20 profile quantile bins)", f => DriftStatistics.JensenShannon(profileCounts[f], Binned(profiles[f], current[f])) >= 0.1);
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

        // The whole evaluator as `drift` runs it (auto: Wasserstein on the profile's 3,000-row reservoir sample); it
        // tests the features in parallel itself, so it has no one-thread time.
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
            results.Add(($"evaluator --detector {detector} (reference: profile, {profile.Sample!.Rows:N0}-row sample)", times[times.Count / 2], double.NaN, double.NaN, drifted));
        }

        var scipy = RunScipy(root, reference, current, repetitions);
        Console.WriteLine();
        Console.WriteLine($"load average after: {LoadAverage()}");
        Console.WriteLine($"| detector ({features} features x {rows:N0} rows) | ms, all features, in parallel | ms, all features, one thread | CPU ms of that thread | drifted features |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var (detector, parallelMs, oneThreadMs, oneThreadCpuMs, drifted) in results)
        {
            static string Cell(double ms) => double.IsNaN(ms) ? "–" : ms.ToString("F1", CultureInfo.InvariantCulture);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {detector} | {parallelMs:F1} | {Cell(oneThreadMs)} | {Cell(oneThreadCpuMs)} | {drifted} |"));
        }

        foreach (var line in scipy)
        {
            Console.WriteLine(line);
        }
    }

    /// <summary>
    /// CPU time of the calling thread (clock_gettime(CLOCK_THREAD_CPUTIME_ID)): on a machine shared with other jobs the
    /// wall time includes the time the thread waited for a core, its CPU time does not.
    /// </summary>
    private static double ThreadCpuMilliseconds()
    {
        const int clockThreadCpuTimeId = 3;
        return OperatingSystem.IsLinux() && NativeClock.ClockGetTime(clockThreadCpuTimeId, out var time) == 0
            ? (time.Seconds * 1e3) + (time.Nanoseconds / 1e6)
            : double.NaN;
    }

    /// <summary>The 1-, 5- and 15-minute load averages (/proc/loadavg): the machine is shared, so the table says how busy it was.</summary>
    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private delegate bool SortedTest(ReadOnlySpan<float> sorted);

    /// <summary>Copies the live column into a pooled buffer, sorts it (what each window costs) and runs the test on it.</summary>
    private static bool WithSortedCurrent(float[] column, SortedTest test)
    {
        var buffer = ArrayPool<float>.Shared.Rent(column.Length);
        try
        {
            var sorted = buffer.AsSpan(0, column.Length);
            column.CopyTo(sorted);
            FloatRadixSort.Sort(sorted);
            return test(sorted);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>Both samples copied and sorted on every call, as scipy's ks_2samp does.</summary>
    private static bool KsSortingBoth(float[] reference, float[] current)
    {
        var referenceBuffer = ArrayPool<float>.Shared.Rent(reference.Length);
        var currentBuffer = ArrayPool<float>.Shared.Rent(current.Length);
        try
        {
            var sortedReference = referenceBuffer.AsSpan(0, reference.Length);
            var sortedCurrent = currentBuffer.AsSpan(0, current.Length);
            reference.CopyTo(sortedReference);
            current.CopyTo(sortedCurrent);
            FloatRadixSort.Sort(sortedReference);
            FloatRadixSort.Sort(sortedCurrent);
            return KolmogorovSmirnov.TwoSample(sortedReference, sortedCurrent).PValue <= 0.05;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(referenceBuffer);
            ArrayPool<float>.Shared.Return(currentBuffer);
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

    private static double[] ProfileCounts(NumericFeatureProfile profile) => [.. profile.QuantileBinCounts!.Select(n => (double)n)];

    private static double[] Binned(NumericFeatureProfile profile, float[] values) =>
        [.. NumericFeatureProfile.CountQuantileBins(profile.QuantileBinEdges!, values).Select(n => (double)n)];

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

/// <summary>libc's clock_gettime, for the benchmark's thread CPU time.</summary>
internal static partial class NativeClock
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "clock_gettime")]
    internal static partial int ClockGetTime(int clock, out TimeSpec time);

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
