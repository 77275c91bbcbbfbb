using System.Diagnostics;
using Syllabus.Api;
using Syllabus.Trainer.Reporting;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Fine-tuned from a digits-0-4 model vs trained from scratch on digits 5-9 (the setup of
/// examples/trainingrun-mnist-digits-5-9-finetune.yaml) at a budget of N labelled 5-9 digits. The budget counts every
/// label the run sees: both arms get the same file of exactly N randomly chosen rows (nested across budgets: the 100 are
/// the first 100 of the 250) and hold out 20% of it as the validation split that early stopping watches; no other
/// labelled 5-9 data is used. The 0-4 labels of the base model are the source task and are not counted. Scored on all
/// 5-9 test digits. Per seed: the base model, the sample and both students.
/// </summary>
internal static class TransferBenchmark
{
    private const int BaseEpochs = 5;
    private const int MaxEpochs = 30;
    private const double ValidationFraction = 0.2;
    private static readonly int[] Layers = [256, 128];

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
        var tuned = budgets.ToDictionary(b => b, _ => new List<double>());
        var scratch = budgets.ToDictionary(b => b, _ => new List<double>());
        foreach (var seed in seeds)
        {
            var folder = Directory.CreateDirectory(Path.Combine(root, $"seed{seed}")).FullName;
            var pretrain = Spec(Path.Combine(mnist, "train-digits-0-4.csv"), Path.Combine(mnist, "test-digits-0-4.csv"), BaseEpochs, seed);
            pretrain.EarlyStopping = null;
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

                var finetune = Spec(budgetPath, targetTest, MaxEpochs, seed);
                finetune.BaseModel = new BaseModelSpec
                {
                    Uri = baseModel,
                    Freeze = [@"^features\.0\."],
                    ResetHead = true,
                    BaseLearningRateMultiplier = 0.3,
                };
                var tunedReport = Bench.Train(folder, $"finetune-{budget}", finetune);
                var scratchReport = Bench.Train(folder, $"scratch-{budget}", Spec(budgetPath, targetTest, MaxEpochs, seed));
                CheckLabelCount(tunedReport, budget);
                CheckLabelCount(scratchReport, budget);
                tuned[budget].Add(Bench.Accuracy(tunedReport));
                scratch[budget].Add(Bench.Accuracy(scratchReport));
                Console.WriteLine(Bench.F(
                    $"  seed {seed} {budget,5} labels: fine-tuned {Bench.Accuracy(tunedReport):F4} ({tunedReport.EpochsTrained} epochs)  scratch {Bench.Accuracy(scratchReport):F4} ({scratchReport.EpochsTrained} epochs)"));
            }
        }

        Console.WriteLine();
        Console.WriteLine(Bench.F($"Transfer to digits 5-9: base model pretrained on digits 0-4 (test accuracy {Stats.MeanStd(baseAccuracy)}); test accuracy on the {targetTestCount} test digits 5-9, mean ± std over {seeds.Count} seeds ({string.Join(",", seeds)}); the difference is per seed."));
        Console.WriteLine();
        Console.WriteLine("| labelled digits 5-9 (train + validation) | fine-tuned, first layer frozen | from scratch | fine-tuned − scratch |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var budget in budgets)
        {
            var difference = tuned[budget].Zip(scratch[budget], (a, b) => a - b).ToList();
            Console.WriteLine($"| {budget} | {Stats.MeanStd(tuned[budget])} | {Stats.MeanStd(scratch[budget])} | {Stats.SignedMeanStd(difference)} |");
        }

        Console.WriteLine();
        Console.WriteLine(Bench.F($"wall time {clock.Elapsed.TotalMinutes:F1} min"));
    }

    private static TrainingRunSpec Spec(string train, string test, int epochs, int seed)
    {
        var spec = Bench.MnistSpec(train, test, epochs, Layers, seed);
        spec.Model.Dropout = 0.2;
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
