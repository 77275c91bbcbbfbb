using System.Diagnostics;
using System.Globalization;
using ScottPlot;
using Syllabus.Api;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Scoring;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Pool-based active learning on MNIST: the 8,000 training digits are the unlabelled pool, the 2,000 test digits the
/// test set. Every strategy starts from the same 20 random labels (per seed), then repeatedly trains an MLP from scratch
/// on the labels so far (`train` through the manifest resolver), scores the rest of the pool with `score` (the CLI path,
/// --id-column row) and "labels" the selected rows from the known answers, until the largest budget. Random sampling
/// is the same loop with --strategy random. Test accuracy at every budget, mean ± std over seeds; a PNG curve; and the
/// labels each arm needed to reach 90% test accuracy (10% error), beside Gal, Islam &amp; Ghahramani (2017).
/// </summary>
internal static class ActiveLearningBenchmark
{
    private const int BatchSize = 32;
    private const int TargetSteps = 400;
    private const int ValidationDigits = 50;
    public const string KCenterSuffix = "+k-center";
    private static readonly int[] Layers = [256];
    public static readonly int[] DefaultBudgets = [20, 50, 100, 200, 300, 500, 1000];

    public static readonly string[] DefaultStrategies =
        [AcquisitionStrategies.Random, AcquisitionStrategies.LeastConfidence, AcquisitionStrategies.Margin, AcquisitionStrategies.Entropy, AcquisitionStrategies.Entropy + KCenterSuffix];

    public static void Run(string root, IReadOnlyList<int> budgets, IReadOnlyList<int> seeds, IReadOnlyList<string> strategies, string? png)
    {
        var clock = Stopwatch.StartNew();
        var mnist = Bench.MnistFolder();
        var pool = MnistCsv.Read(Path.Combine(mnist, "train.csv"));
        // A validation split is required; 50 test digits serve as one (reported only: no early stopping, no plateau
        // schedule reads it, so it steers nothing) and the other 1,950 are the test set, so no pool label goes unused.
        var testDigits = MnistCsv.Read(Path.Combine(mnist, "test.csv"));
        var validation = Path.Combine(root, "validation.csv");
        var test = Path.Combine(root, "test.csv");
        testDigits.Write(validation, Enumerable.Range(0, ValidationDigits));
        testDigits.Write(test, Enumerable.Range(ValidationDigits, testDigits.Count - ValidationDigits));
        Console.WriteLine(Bench.F($"active learning: seeds {string.Join(",", seeds)}; budgets {string.Join(",", budgets)}; strategies {string.Join(", ", strategies)}; pool {pool.Count} MNIST training digits, MLP 784-{string.Join("-", Layers)}-10 trained from scratch each round for about {TargetSteps} steps"));
        var accuracy = new Dictionary<(string Strategy, int Budget), List<double>>();
        foreach (var seed in seeds)
        {
            var order = Enumerable.Range(0, pool.Count).ToArray();
            new Random(seed + 500_000).Shuffle(order);
            var initial = order[..budgets[0]];
            foreach (var strategy in strategies)
            {
                var folder = Directory.CreateDirectory(Path.Combine(root, $"seed{seed}", strategy)).FullName;
                var labelled = new List<int>(initial);
                var line = Bench.F($"  seed {seed} {strategy,-17}");
                for (var round = 0; round < budgets.Count; round++)
                {
                    var labels = Path.Combine(folder, $"labels-{labelled.Count}.csv");
                    pool.Write(labels, labelled);
                    var name = $"round-{labelled.Count}";
                    var report = Bench.Train(folder, name, Spec(labels, validation, test, labelled.Count, seed));
                    Add(accuracy, (strategy, labelled.Count), Bench.Accuracy(report));
                    line += Bench.F($" {labelled.Count}:{Bench.Accuracy(report):F3}");
                    if (round + 1 == budgets.Count)
                    {
                        break;
                    }

                    labelled.AddRange(Query(pool, labelled, Bench.ModelFolder(folder, name), strategy, budgets[round + 1] - labelled.Count, seed * 1000 + round, folder));
                }

                Console.WriteLine(line);
            }
        }

        Print(accuracy, budgets, seeds, strategies, pool.Count);
        if (png is not null)
        {
            Plot(accuracy, budgets, strategies, png);
            Console.WriteLine($"curve: {png}");
        }

        Console.WriteLine(Bench.F($"wall time {clock.Elapsed.TotalMinutes:F1} min"));
    }

    /// <summary>The rows `score` selects from the unlabelled rest of the pool.</summary>
    private static IEnumerable<int> Query(MnistCsv pool, List<int> labelled, string model, string strategy, int count, int seed, string folder)
    {
        var taken = labelled.ToHashSet();
        var unlabelled = Path.Combine(folder, $"pool-{labelled.Count}.csv");
        pool.Write(unlabelled, Enumerable.Range(0, pool.Count).Where(r => !taken.Contains(r)), extraColumn: ("row", r => r));
        var batch = Path.Combine(folder, $"batch-{labelled.Count}.csv");
        var error = new StringWriter();
        // "S+k-center": strategy S with k-center diversity over the best 10 x batch candidates.
        var kCenter = strategy.EndsWith(KCenterSuffix, StringComparison.Ordinal);
        var exit = ScoreCommand.Run(
            new ScoreArguments([model], [unlabelled], kCenter ? strategy[..^KCenterSuffix.Length] : strategy, count, batch, Seed: seed, IdColumn: "row", Device: "cpu",
                Diversity: kCenter ? ScoreCommand.KCenter : ScoreCommand.NoDiversity),
            TextWriter.Null, error, Environment.GetEnvironmentVariable);
        if (exit != 0)
        {
            throw new InvalidOperationException($"score failed ({exit}): {error}");
        }

        var rows = File.ReadLines(batch).Skip(1).Select(l => int.Parse(l[..l.IndexOf(',', StringComparison.Ordinal)], CultureInfo.InvariantCulture)).ToList();
        return rows.Count == count && rows.All(r => !taken.Contains(r))
            ? rows
            : throw new InvalidOperationException($"score selected {rows.Count} rows ({rows.Count(taken.Contains)} already labelled), {count} were asked for");
    }

    /// <summary>About <see cref="TargetSteps"/> optimiser steps whatever the number of labels (10 to 200 epochs); every label trains.</summary>
    private static TrainingRunSpec Spec(string train, string validation, string test, int labels, int seed)
    {
        var stepsPerEpoch = (labels + BatchSize - 1) / BatchSize;
        var spec = Bench.MnistSpec(train, test, Math.Clamp((TargetSteps + stepsPerEpoch - 1) / stepsPerEpoch, 10, 200), Layers, seed);
        spec.BatchSize = BatchSize;
        spec.Model.Dropout = 0.2;
        spec.Data.Validation = new DatasetSource { Uri = validation };
        spec.Data.Classes = [.. Enumerable.Range(0, 10).Select(d => d.ToString(CultureInfo.InvariantCulture))];
        return spec;
    }

    private static void Add(Dictionary<(string, int), List<double>> results, (string, int) key, double value)
    {
        if (!results.TryGetValue(key, out var list))
        {
            results[key] = list = [];
        }

        list.Add(value);
    }

    /// <summary>Labels needed for 90% test accuracy: linear interpolation between the budgets around the crossing; null when never reached.</summary>
    private static double? LabelsFor(IReadOnlyList<int> budgets, IReadOnlyList<double> accuracy, double target = 0.9)
    {
        for (var i = 0; i < budgets.Count; i++)
        {
            if (accuracy[i] >= target)
            {
                return i == 0 ? budgets[0] : budgets[i - 1] + ((budgets[i] - budgets[i - 1]) * (target - accuracy[i - 1]) / (accuracy[i] - accuracy[i - 1]));
            }
        }

        return null;
    }

    private static void Print(Dictionary<(string Strategy, int Budget), List<double>> accuracy, IReadOnlyList<int> budgets, IReadOnlyList<int> seeds, IReadOnlyList<string> strategies, int poolSize)
    {
        Console.WriteLine();
        Console.WriteLine(Bench.F($"MNIST active learning: test accuracy on 1,950 test digits against labels used, mean ± std over {seeds.Count} seeds ({string.Join(",", seeds)}); pool {poolSize} digits; all arms start from the same {budgets[0]} random labels per seed."));
        Console.WriteLine();
        Console.WriteLine($"| labels | {string.Join(" | ", strategies)} |");
        Console.WriteLine($"|---|{string.Concat(strategies.Select(_ => "---|"))}");
        foreach (var budget in budgets)
        {
            Console.WriteLine($"| {budget} | {string.Join(" | ", strategies.Select(s => Stats.MeanStd(accuracy[(s, budget)])))} |");
        }

        Console.WriteLine();
        Console.WriteLine("Labels needed to reach 10% test error (90% accuracy), interpolated on each seed's curve, mean ± std (seeds that never reach it are counted apart):");
        Console.WriteLine();
        Console.WriteLine("| strategy | labels for 10% error | seeds reaching it | published (Gal, Islam & Ghahramani 2017, MC-dropout CNN, 20 initial labels, 10 per query) |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var strategy in strategies)
        {
            var needed = seeds.Select((_, i) => LabelsFor(budgets, [.. budgets.Select(b => accuracy[(strategy, b)][i])])).ToList();
            var reached = needed.OfType<double>().ToList();
            var published = strategy switch
            {
                AcquisitionStrategies.Random => "255 (random)",
                AcquisitionStrategies.Entropy => "165 (max entropy)",
                _ => "",
            };
            Console.WriteLine($"| {strategy} | {(reached.Count == 0 ? "not reached" : Stats.MeanStd(reached, "F0"))} | {reached.Count} of {seeds.Count} | {published} |");
        }
    }

    private static void Plot(Dictionary<(string Strategy, int Budget), List<double>> accuracy, IReadOnlyList<int> budgets, IReadOnlyList<string> strategies, string path)
    {
        var plot = new Plot();
        var xs = budgets.Select(b => (double)b).ToArray();
        foreach (var strategy in strategies)
        {
            var scatter = plot.Add.Scatter(xs, [.. budgets.Select(b => Stats.Mean(accuracy[(strategy, b)]))]);
            scatter.LegendText = strategy;
        }

        var target = plot.Add.HorizontalLine(0.9);
        target.LegendText = "10% test error";
        target.LinePattern = LinePattern.Dashed;
        plot.Title("MNIST active learning (mean over seeds)");
        plot.XLabel("labels used");
        plot.YLabel("test accuracy");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, 900, 600);
    }
}
