using System.Diagnostics;
using Syllabus.Api;
using Syllabus.Trainer.Reporting;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Fine-tuned from a digits-0-4 model vs trained from scratch on digits 5-9 at a budget of N labelled 5-9 digits.
/// Two fine-tuning recipes: the one of examples/trainingrun-mnist-digits-5-9-finetune.yaml (first layer frozen, the
/// second at 0.3 times the learning rate, new head) and plain full fine-tuning (every layer at the full rate, new head). The budget counts every
/// label the run sees: both arms get the same file of exactly N randomly chosen rows (nested across budgets: the 100 are
/// the first 100 of the 250) and hold out 20% of it as the validation split that early stopping watches; no other
/// labelled 5-9 data is used. The 0-4 labels of the base model are the source task and are not counted. Scored on all
/// 5-9 test digits. Per seed: the base model, the sample and both students.
/// </summary>
internal static class TransferBenchmark
{
    private const int BaseEpochs = 5;
    private const int MaxEpochs = 50;
    private const double ValidationFraction = 0.2;

    // The architecture of the examples' digits-0-4 and digits-5-9 runs.
    private static readonly int[] Layers = [512, 256];

    private sealed record Arm(string Key, string Label, BaseModelSpec? BaseModel);

    private static Arm[] Arms(string baseModel) =>
    [
        new("frozen", "fine-tuned, layer 1 frozen, layer 2 at 0.3x", new BaseModelSpec { Uri = baseModel, Freeze = [@"^features\.0\."], ResetHead = true, BaseLearningRateMultiplier = 0.3 }),
        new("full", "fine-tuned, all layers", new BaseModelSpec { Uri = baseModel, ResetHead = true }),
        new("scratch", "from scratch", null),
    ];

    public static void Run(string root, IReadOnlyList<int> budgets, IReadOnlyList<int> seeds)
    {
        var clock = Stopwatch.StartNew();
        var mnist = Bench.MnistFolder();
        var target = MnistCsv.Read(Path.Combine(mnist, "train-digits-5-9.csv"));
        var targetTest = Path.Combine(mnist, "test-digits-5-9.csv");
        var targetTestCount = MnistCsv.Read(targetTest).Count;
        var targetClasses = Enumerable.Range(0, target.Count).Select(target.Label).Distinct().Count();
        if (budgets.Max() > target.Count)
        {
            throw new ArgumentException($"budget {budgets.Max()} is more than the {target.Count} training digits 5-9");
        }

        Console.WriteLine(Bench.F($"transfer: seeds {string.Join(",", seeds)}; budgets {string.Join(",", budgets)} labelled digits 5-9 (train + validation), MLP 784-{string.Join("-", Layers)}-N"));
        var baseAccuracy = new List<double>();
        var accuracy = new Dictionary<(int Budget, string Arm), List<double>>();
        var labels = Arms("").Select(a => (a.Key, a.Label)).ToArray();
        foreach (var seed in seeds)
        {
            var folder = Directory.CreateDirectory(Path.Combine(root, $"seed{seed}")).FullName;
            var pretrain = Spec(Path.Combine(mnist, "train-digits-0-4.csv"), Path.Combine(mnist, "test-digits-0-4.csv"), BaseEpochs, seed);
            pretrain.EarlyStopping = null;
            pretrain.Data.ValidationFraction = 0.1;
            var baseReport = Bench.Train(folder, "digits-0-4", pretrain);
            baseAccuracy.Add(Bench.Accuracy(baseReport));
            Console.WriteLine(Bench.F($"  seed {seed} base model: digits 0-4 test accuracy {Bench.Accuracy(baseReport):F4} ({baseReport.Timings["totalSeconds"]:F0}s)"));
            var baseModel = Bench.ModelFolder(folder, "digits-0-4");

            var order = Enumerable.Range(0, target.Count).ToArray();
            new Random(seed + 300_000).Shuffle(order);
            foreach (var budget in budgets)
            {
                var sample = order[..budget];
                var classes = sample.Select(target.Label).Distinct().Count();
                if (classes != targetClasses)
                {
                    throw new InvalidOperationException($"seed {seed}: the {budget} sampled digits hold {classes} of the {targetClasses} classes; use a larger budget");
                }

                var budgetPath = Path.Combine(folder, $"labels-{budget}.csv");
                target.Write(budgetPath, sample);

                var line = Bench.F($"  seed {seed} {budget,5} labels:");
                foreach (var arm in Arms(baseModel))
                {
                    var spec = Spec(budgetPath, targetTest, MaxEpochs, seed);
                    spec.BaseModel = arm.BaseModel;
                    var report = Bench.Train(folder, $"{arm.Key}-{budget}", spec);
                    CheckLabelCount(report, budget);
                    if (!accuracy.TryGetValue((budget, arm.Key), out var list))
                    {
                        accuracy[(budget, arm.Key)] = list = [];
                    }

                    list.Add(Bench.Accuracy(report));
                    line += Bench.F($"  {arm.Key} {Bench.Accuracy(report):F4} ({report.EpochsTrained} epochs)");
                }

                Console.WriteLine(line);
            }
        }

        Console.WriteLine();
        Console.WriteLine(Bench.F($"Transfer to digits 5-9: base model pretrained on digits 0-4 (test accuracy {Stats.MeanStd(baseAccuracy)}); test accuracy on the {targetTestCount} test digits 5-9, mean ± std over {seeds.Count} seeds ({string.Join(",", seeds)}); the difference is per seed."));
        Console.WriteLine();
        Console.WriteLine($"| labelled digits 5-9 (train + validation) | {string.Join(" | ", labels.Select(l => l.Label))} | {string.Join(" | ", labels.SkipLast(1).Select(l => $"{l.Key} fine-tuning − scratch"))} |");
        Console.WriteLine($"|---|{string.Concat(Enumerable.Repeat("---|", (2 * labels.Length) - 1))}");
        foreach (var budget in budgets)
        {
            var scratch = accuracy[(budget, "scratch")];
            var cells = labels.Select(l => Stats.MeanStd(accuracy[(budget, l.Key)]))
                .Concat(labels.SkipLast(1).Select(l => Stats.SignedMeanStd([.. accuracy[(budget, l.Key)].Zip(scratch, (a, b) => a - b)])));
            Console.WriteLine($"| {budget} | {string.Join(" | ", cells)} |");
        }

        Console.WriteLine();
        Console.WriteLine(Bench.F($"wall time {clock.Elapsed.TotalMinutes:F1} min"));
    }

    private static TrainingRunSpec Spec(string train, string test, int epochs, int seed)
    {
        var spec = Bench.MnistSpec(train, test, epochs, Layers, seed);
        spec.Model.Dropout = 0.3;
        spec.Data.ValidationFraction = ValidationFraction;
        spec.Optimizer.LearningRate = 0.003;
        spec.BatchSize = 32;
        spec.EarlyStopping = new EarlyStoppingSpec { Monitor = "loss", Patience = 5 };
        return spec;
    }

    /// <summary>The run's labelled 5-9 rows (training plus validation) must be exactly the budget.</summary>
    private static void CheckLabelCount(TrainingReport report, int budget)
    {
        var files = report.Data?["files"]?.AsArray()
            ?? throw new InvalidOperationException($"{report.Run}: the report lists no data files");
        var labelled = files.Where(f => (string?)f?["split"] is not "test").Sum(f => (long?)f?["rowsUsed"] ?? 0);
        if (labelled != budget)
        {
            throw new InvalidOperationException($"{report.Run}: used {labelled} labelled rows for training and validation, the budget is {budget}");
        }
    }
}
