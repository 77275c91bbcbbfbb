using System.Diagnostics;
using Syllabus.Api;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Reporting;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Curriculum (easiest first), anti-curriculum (hardest first) and a random order under the same pacing (the control of
/// Wu, Dyer and Neyshabur 2021), against no curriculum, all at the same number of optimiser steps, on clean MNIST and on
/// MNIST with 30% symmetric label noise. Per seed the 8,000 training digits are split into a teacher split (2,000), a
/// validation split (500) and the ranked split (5,500) the students train on; difficulty is the loss of a teacher
/// trained on the teacher split only, so it never saw the rows it ranks. In the noisy regime exactly 30% of the training
/// labels (all three splits) are changed to one of the other nine classes, uniformly; the test labels stay clean.
/// Paced epochs are short, so the arm without a curriculum runs whole epochs until it has taken the same number of
/// steps; every report's step count is checked. The seed drives the split, the noise, the teacher and the students.
/// Constant learning rate, so no schedule interacts with the pacing.
/// </summary>
internal static class CurriculumBenchmark
{
    private const int TeacherRows = 2000;
    private const int ValidationRows = 500;
    private const int BatchSize = 50;
    private const int TeacherEpochs = 5;
    private const double NoiseRate = 0.3;
    private const string OrderColumn = "random_order";
    private static readonly int[] StudentLayers = [256];
    private static readonly int[] TeacherLayers = [64];

    /// <summary>
    /// Two pacings, both stepping from 20% of the ranked rows to all of them in four equal steps (Hacohen and Weinshall's
    /// staircase), one reaching all data early (epoch 5 of 8), one late (epoch 9 of 10). Both take exactly six
    /// epochs' worth of steps, so one arm without a curriculum, run for six whole epochs, matches both.
    /// </summary>
    private static readonly Schedule[] Schedules =
    [
        new("all data from epoch 5 of 8", 8, 0.5),
        new("all data from epoch 9 of 10", 10, 0.8),
    ];

    private sealed record Schedule(string Label, int Epochs, double FullDataAt)
    {
        public PacingSpec Pacing() => new() { Function = PacingFunctions.Step, Steps = 4, StartFraction = 0.2, FullDataAt = FullDataAt };
    }

    private enum Order
    {
        Curriculum,
        AntiCurriculum,
        Random,
        None,
    }

    private sealed record Arm(string Key, string Label, Order Order, Schedule? Schedule);

    private static readonly Arm[] Arms =
    [
        .. Schedules.SelectMany((schedule, i) => new[]
        {
            new Arm($"curriculum-{i}", $"curriculum (easy first), {schedule.Label}", Order.Curriculum, schedule),
            new Arm($"anti-{i}", $"anti-curriculum (hard first), {schedule.Label}", Order.AntiCurriculum, schedule),
            new Arm($"random-{i}", $"random order, {schedule.Label}", Order.Random, schedule),
        }),
        new Arm("none", "none (all data every epoch)", Order.None, null),
    ];

    private static readonly (string Name, double Noise)[] Regimes = [("clean", 0.0), ("noisy", NoiseRate)];

    public static void Run(string root, IReadOnlyList<int> seeds)
    {
        var clock = Stopwatch.StartNew();
        var mnist = Bench.MnistFolder();
        var train = MnistCsv.Read(Path.Combine(mnist, "train.csv"));
        var test = MnistCsv.Read(Path.Combine(mnist, "test.csv"));
        var rankedCount = train.Count - TeacherRows - ValidationRows;
        if (rankedCount < 1000)
        {
            throw new InvalidDataException($"train.csv has {train.Count} rows; the benchmark needs at least {TeacherRows + ValidationRows + 1000}");
        }

        var fullEpochSteps = (rankedCount + BatchSize - 1) / BatchSize;
        var pacedSteps = PacedSteps(Schedules[0], rankedCount);
        foreach (var schedule in Schedules)
        {
            if (PacedSteps(schedule, rankedCount) != pacedSteps)
            {
                throw new InvalidOperationException($"pacing '{schedule.Label}' takes {PacedSteps(schedule, rankedCount)} steps, '{Schedules[0].Label}' {pacedSteps}: the arms must take the same number");
            }
        }

        if (pacedSteps % fullEpochSteps != 0)
        {
            throw new InvalidOperationException(
                $"the paced arms take {pacedSteps} steps, not a whole number of {fullEpochSteps}-step epochs: change the pacing or the split so the arm without a curriculum can take the same number");
        }

        var wholeEpochs = (int)(pacedSteps / fullEpochSteps);
        var testPath = Path.Combine(root, "test.csv");
        var testWithOrderPath = Path.Combine(root, "test-with-order.csv");
        test.Write(testPath, Enumerable.Range(0, test.Count));
        test.Write(testWithOrderPath, Enumerable.Range(0, test.Count), extraColumn: (OrderColumn, _ => 0));
        Console.WriteLine(Bench.F($"curriculum: seeds {string.Join(",", seeds)}; per seed {TeacherRows} teacher / {ValidationRows} validation / {rankedCount} ranked training digits, {test.Count} clean test digits"));
        Console.WriteLine(Bench.F($"  student MLP 784-{string.Join("-", StudentLayers)}-10, Adam 1e-3 constant, batch {BatchSize}; paced arms step 0.2 -> 1 in 4 steps ({string.Join("; ", Schedules.Select(p => p.Label))}), no curriculum {wholeEpochs} epochs: {pacedSteps} steps each"));

        var accuracy = new Dictionary<(string Regime, string Arm), List<double>>();
        var teacherAccuracy = new Dictionary<string, List<double>>();
        foreach (var seed in seeds)
        {
            // One split per seed, shared by both regimes, so the noise is the only difference between them.
            var order = Enumerable.Range(0, train.Count).ToArray();
            new Random(seed).Shuffle(order);
            var teacherSplit = order[..TeacherRows];
            var validationSplit = order[TeacherRows..(TeacherRows + ValidationRows)];
            var rankedSplit = order[(TeacherRows + ValidationRows)..];
            var orderRandom = new Random(seed + 200_000);
            var randomOrder = rankedSplit.Concat(validationSplit).ToDictionary(r => r, _ => orderRandom.NextDouble());

            foreach (var (regime, noise) in Regimes)
            {
                var folder = Directory.CreateDirectory(Path.Combine(root, $"seed{seed}-{regime}")).FullName;
                var labels = noise > 0 ? train.SymmetricNoise(order, noise, seed + 100_000) : null;
                var teacherPath = Path.Combine(folder, "teacher.csv");
                var validationPath = Path.Combine(folder, "validation.csv");
                var rankedPath = Path.Combine(folder, "ranked.csv");
                var validationWithOrderPath = Path.Combine(folder, "validation-with-order.csv");
                var rankedWithOrderPath = Path.Combine(folder, "ranked-with-order.csv");
                train.Write(teacherPath, teacherSplit, labels);
                train.Write(validationPath, validationSplit, labels);
                train.Write(rankedPath, rankedSplit, labels);
                train.Write(validationWithOrderPath, validationSplit, labels, (OrderColumn, r => randomOrder[r]));
                train.Write(rankedWithOrderPath, rankedSplit, labels, (OrderColumn, r => randomOrder[r]));

                var teacherSpec = Bench.MnistSpec(teacherPath, testPath, TeacherEpochs, TeacherLayers, seed);
                teacherSpec.Data.Validation = new DatasetSource { Uri = validationPath };
                var teacher = Bench.Train(folder, "teacher", teacherSpec);
                Add(teacherAccuracy, regime, Bench.Accuracy(teacher));
                Console.WriteLine(Bench.F($"  seed {seed} {regime,-5} teacher ({TeacherRows} digits, {TeacherEpochs} epochs): test accuracy {Bench.Accuracy(teacher):F4}"));

                foreach (var arm in Arms)
                {
                    var spec = StudentSpec(arm, seed, rankedPath, validationPath, testPath, rankedWithOrderPath, validationWithOrderPath, testWithOrderPath,
                        Bench.ModelFolder(folder, "teacher"), wholeEpochs);
                    var report = Bench.Train(folder, arm.Key, spec);
                    CheckSteps(report, pacedSteps, arm);
                    Add(accuracy, (regime, arm.Key), Bench.Accuracy(report));
                    Console.WriteLine(Bench.F(
                        $"  seed {seed} {regime,-5} {arm.Label,-58} test accuracy {Bench.Accuracy(report):F4}  last validation accuracy {report.History[^1].Validation["accuracy"]:F4}  {report.EpochsTrained} epochs, {pacedSteps} steps, {report.Timings["trainSeconds"]:F1}s"));
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine(Bench.F($"Curriculum on MNIST, equal optimiser steps ({pacedSteps} steps of {BatchSize}), test accuracy on {test.Count} clean test digits, mean ± std over {seeds.Count} seeds ({string.Join(",", seeds)}); \"vs none\" is the per-seed difference to no curriculum. Teacher test accuracy: clean {Stats.MeanStd(teacherAccuracy["clean"])}, noisy {Stats.MeanStd(teacherAccuracy["noisy"])}."));
        Console.WriteLine();
        Console.WriteLine("| order | clean: test accuracy | clean: vs none | 30% label noise: test accuracy | 30% label noise: vs none |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var arm in Arms)
        {
            var cells = Regimes.SelectMany(r => new[]
            {
                Stats.MeanStd(accuracy[(r.Name, arm.Key)]),
                arm.Order == Order.None ? "" : Stats.SignedMeanStd([.. accuracy[(r.Name, arm.Key)].Zip(accuracy[(r.Name, "none")], (a, b) => a - b)]),
            });
            Console.WriteLine($"| {arm.Label} | {string.Join(" | ", cells)} |");
        }

        Console.WriteLine();
        Console.WriteLine(Bench.F($"wall time {clock.Elapsed.TotalMinutes:F1} min"));
    }

    private static TrainingRunSpec StudentSpec(
        Arm arm, int seed, string ranked, string validation, string test, string rankedWithOrder, string validationWithOrder, string testWithOrder,
        string teacherFolder, int wholeEpochs)
    {
        var random = arm.Order == Order.Random;
        var spec = Bench.MnistSpec(random ? rankedWithOrder : ranked, random ? testWithOrder : test, arm.Schedule?.Epochs ?? wholeEpochs, StudentLayers, seed);
        spec.Data.Validation = new DatasetSource { Uri = random ? validationWithOrder : validation };
        switch (arm.Order)
        {
            case Order.Curriculum or Order.AntiCurriculum:
                spec.Curriculum = new CurriculumSpec
                {
                    Difficulty = new DifficultySpec { Source = DifficultySources.TeacherLoss, Teacher = new ModelReference { Uri = teacherFolder } },
                    Pacing = arm.Schedule!.Pacing(),
                    AntiCurriculum = arm.Order == Order.AntiCurriculum,
                };
                break;
            case Order.Random:
                // A column of seeded uniform numbers: the pacing of the curriculum over a random order (Wu et al.'s control).
                // The schema requires curriculum.difficulty.column; the trainer reads data.difficultyColumn, so set both.
                spec.Data.DifficultyColumn = OrderColumn;
                spec.Curriculum = new CurriculumSpec { Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = OrderColumn }, Pacing = arm.Schedule!.Pacing() };
                break;
            default:
                break;
        }

        return spec;
    }

    /// <summary>Steps the paced arms take, counted as the curriculum scheduler sizes each epoch.</summary>
    private static long PacedSteps(Schedule schedule, int count) => Enumerable.Range(0, schedule.Epochs).Sum(epoch =>
    {
        var rows = (long)Math.Clamp(Math.Ceiling((Pacing.DataFraction(schedule.Pacing(), epoch, schedule.Epochs) * count) - 1e-9), 1, count);
        return (rows + BatchSize - 1) / BatchSize;
    });

    private static void CheckSteps(TrainingReport report, long expected, Arm arm)
    {
        var steps = Bench.Steps(report, BatchSize);
        if (steps != expected)
        {
            throw new InvalidOperationException($"{arm.Label}: the run took {steps} optimiser steps, the benchmark compares arms at {expected}");
        }
    }

    private static void Add<TKey>(Dictionary<TKey, List<double>> results, TKey key, double value)
        where TKey : notnull
    {
        if (!results.TryGetValue(key, out var list))
        {
            results[key] = list = [];
        }

        list.Add(value);
    }
}
