using System.Diagnostics;
using Syllabus.Api;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Training;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Split MNIST in the domain-incremental scenario (Domain-IL) of van de Ven &amp; Tolias 2019, "Three scenarios for
/// continual learning": five tasks, the digit pairs 0/1, 2/3, 4/5, 6/7, 8/9 in that order, each the same two-way
/// question "first or second digit of the pair" (even or odd) with no task identity given, so one two-unit head serves
/// every task. The network is the paper's (MLP 784-400-400-2, ReLU, Adam at 1e-3, batch 128), trained on this
/// repository's MNIST subset (scripts/prepare-mnist.sh: 8,000 training and 2,000 test digits, so about 1,600 and 400
/// per task) for a few epochs per task instead of 2,000 iterations on all of MNIST. Every task after the first is a
/// TrainingRun fine-tuning the previous task's model (baseModel) with continual.previousTasks naming all earlier
/// tasks, so the numbers below are the trainer's own report: accuracy on the new task, on each earlier task,
/// forgetting and backward transfer (Avalanche's definitions). Arms: naive fine-tuning, replay (data.replay over the
/// earlier tasks' training files with a reservoir buffer), EWC (continual.ewc, Fisher on the previous task's training
/// data, earlier tasks' penalties consolidated) and replay+EWC. The first task's model is shared by the arms.
/// </summary>
internal static class ContinualBenchmark
{
    private const int BatchSize = 128;
    private const int FisherSamples = 500;

    // The paper's split MNIST network: two hidden layers of 400 units.
    private static readonly int[] Layers = [400, 400];

    private static readonly (int First, int Second)[] Pairs = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)];

    private sealed record Arm(string Key, string Label, bool Replay, bool Ewc);

    private static readonly Arm[] Arms =
    [
        new("naive", "naive fine-tuning", false, false),
        new("replay", "replay", true, false),
        new("ewc", "EWC", false, true),
        new("replay+ewc", "replay + EWC", true, true),
    ];

    /// <param name="epochs">Epochs per task.</param>
    /// <param name="lambda">EWC strength.</param>
    /// <param name="buffer">Replay buffer size (reservoir sample of all earlier tasks' training rows).</param>
    public static void Run(string root, IReadOnlyList<int> seeds, int epochs, double lambda, int buffer)
    {
        var clock = Stopwatch.StartNew();
        var mnist = Bench.MnistFolder();
        var train = MnistCsv.Read(Path.Combine(mnist, "train.csv"));
        var test = MnistCsv.Read(Path.Combine(mnist, "test.csv"));
        var data = Directory.CreateDirectory(Path.Combine(root, "data")).FullName;
        var trainFiles = new string[Pairs.Length];
        var testFiles = new string[Pairs.Length];
        for (var t = 0; t < Pairs.Length; t++)
        {
            trainFiles[t] = WriteTask(train, Pairs[t], Path.Combine(data, $"train-task{t + 1}.csv"));
            testFiles[t] = WriteTask(test, Pairs[t], Path.Combine(data, $"test-task{t + 1}.csv"));
        }

        Console.WriteLine(Bench.F($"continual: split MNIST, Domain-IL, tasks {string.Join(" ", Pairs.Select(p => $"{p.First}/{p.Second}"))}; seeds {string.Join(",", seeds)}; MLP 784-{string.Join("-", Layers)}-2, Adam 1e-3, batch {BatchSize}, {epochs} epochs per task; replay buffer {buffer} (fraction 1), EWC lambda {lambda}, {FisherSamples} Fisher samples"));
        Console.WriteLine(Bench.F($"  training digits per task: {string.Join(", ", trainFiles.Select(f => MnistCsv.Read(f).Count))}; test digits per task: {string.Join(", ", testFiles.Select(f => MnistCsv.Read(f).Count))}"));
        var results = Arms.ToDictionary(a => a.Key, _ => new List<ContinualReport>());
        var newTask = Arms.ToDictionary(a => a.Key, _ => new List<double>());
        foreach (var seed in seeds)
        {
            var folder = Directory.CreateDirectory(Path.Combine(root, $"seed{seed}")).FullName;
            var first = Bench.Train(folder, "task1", Spec(trainFiles[0], testFiles[0], epochs, seed));
            Console.WriteLine(Bench.F($"  seed {seed} task 1: accuracy {Bench.Accuracy(first):F4} ({first.Timings["totalSeconds"]:F0}s)"));
            foreach (var arm in Arms)
            {
                var previous = "task1";
                TrainingReport? report = null;
                for (var t = 1; t < Pairs.Length; t++)
                {
                    var spec = Spec(trainFiles[t], testFiles[t], epochs, seed);
                    spec.BaseModel = new BaseModelSpec { Uri = Bench.ModelFolder(folder, previous) };
                    spec.Continual = new ContinualSpec
                    {
                        PreviousTasks = [.. Enumerable.Range(0, t).Select(k => new PreviousTask { Name = TaskRun(arm, k), Test = new DatasetSource { Uri = testFiles[k] } })],
                    };
                    if (arm.Replay)
                    {
                        // The earlier tasks' training files, read as one stream into a reservoir of `buffer` rows.
                        var earlier = Directory.CreateDirectory(Path.Combine(folder, $"replay-{arm.Key}-task{t + 1}")).FullName;
                        for (var k = 0; k < t; k++)
                        {
                            File.Copy(trainFiles[k], Path.Combine(earlier, Path.GetFileName(trainFiles[k])), overwrite: true);
                        }

                        spec.Data.Replay = new ReplaySpec { Data = new DatasetSource { Uri = earlier }, Fraction = 1.0, BufferSize = buffer };
                    }

                    if (arm.Ewc)
                    {
                        spec.Continual.Ewc = new EwcSpec { Lambda = lambda, FisherSamples = FisherSamples, FisherData = new DatasetSource { Uri = trainFiles[t - 1] } };
                    }

                    previous = TaskRun(arm, t);
                    report = Bench.Train(folder, previous, spec);
                }

                var continual = report!.Continual ?? throw new InvalidOperationException($"{report.Run}: the report has no continual section");
                if (continual.Tasks.Count != Pairs.Length || continual.Tasks.Take(Pairs.Length - 1).Any(k => k.Accuracy is null))
                {
                    throw new InvalidOperationException($"{report.Run}: expected {Pairs.Length} tasks, the earlier ones measured; got {continual.Tasks.Count}");
                }

                results[arm.Key].Add(continual);
                newTask[arm.Key].Add(Bench.Accuracy(report));
                Console.WriteLine(Bench.F($"  seed {seed} {arm.Key,-10}: tasks now {string.Join(" ", continual.Tasks.Select(k => (k.Accuracy ?? double.NaN).ToString("F3", System.Globalization.CultureInfo.InvariantCulture)))}; forgetting {continual.Forgetting:F4}, BWT {continual.BackwardTransfer:F4} ({clock.Elapsed.TotalSeconds:F0}s so far)"));
            }
        }

        Console.WriteLine();
        Console.WriteLine(Bench.F($"Split MNIST, Domain-IL, 5 tasks, after the last task; mean ± std over {seeds.Count} seeds ({string.Join(",", seeds)}). Accuracies in %; \"average\" is the mean test accuracy over all five tasks, the metric of van de Ven & Tolias 2019."));
        Console.WriteLine();
        Console.WriteLine("| method | new task (8/9) | old tasks (0/1–6/7, mean) | average, all 5 tasks | forgetting (pp) | BWT (pp) |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var arm in Arms)
        {
            var reports = results[arm.Key];
            var old = reports.Select(r => r.Tasks.Take(Pairs.Length - 1).Average(k => k.Accuracy!.Value) * 100).ToList();
            var average = reports.Select(r => r.Tasks.Average(k => k.Accuracy!.Value) * 100).ToList();
            Console.WriteLine($"| {arm.Label} | {Stats.MeanStd([.. newTask[arm.Key].Select(a => a * 100)], "F2")} | {Stats.MeanStd(old, "F2")} | {Stats.MeanStd(average, "F2")} | {Stats.MeanStd([.. reports.Select(r => r.Forgetting!.Value * 100)], "F2")} | {Stats.SignedMeanStd([.. reports.Select(r => r.BackwardTransfer!.Value * 100)], "F2")} |");
        }

        Console.WriteLine();
        // Not embedded: the paper could not be consulted where this was written, and a number from memory is not evidence.
        Console.WriteLine("Published comparison: van de Ven & Tolias 2019 (arXiv:1904.07734), split MNIST, Domain-IL, average accuracy over all tasks; its values are not embedded here (see README, \"Continual learning\").");
        Console.WriteLine(Bench.F($"wall time {clock.Elapsed.TotalMinutes:F1} min"));
    }

    private static string TaskRun(Arm arm, int task) => task == 0 ? "task1" : $"{arm.Key.Replace('+', '-')}-task{task + 1}";

    /// <summary>The digits of <paramref name="pair"/>, labelled by their place in it ("even" first, "odd" second).</summary>
    private static string WriteTask(MnistCsv csv, (int First, int Second) pair, string path)
    {
        var rows = Enumerable.Range(0, csv.Count).Where(r => csv.Label(r) == $"{pair.First}" || csv.Label(r) == $"{pair.Second}").ToList();
        csv.Write(path, rows, rows.ToDictionary(r => r, r => csv.Label(r) == $"{pair.First}" ? "even" : "odd"));
        return path;
    }

    private static TrainingRunSpec Spec(string train, string test, int epochs, int seed)
    {
        var spec = Bench.MnistSpec(train, test, epochs, Layers, seed);
        spec.BatchSize = BatchSize;
        spec.Data.Classes = ["even", "odd"];
        return spec;
    }
}
