using System.Globalization;
using Syllabus.Benchmarks.Trainer;

// dotnet run -c Release --project tests/Syllabus.Benchmarks.Trainer -- <curriculum|transfer|overhead> [options]
//   curriculum [seeds, default 5]                          seeds 1..N
//   transfer   [seeds, default 5] [budgets, default 100,250,1000]
//   overhead   [epochs, default 3] [repetitions, default 5]
//   drift      [features, default 100] [rows, default 100000] [repetitions, default 5]; beside scipy (drift_scipy.py)
//   continual  [seeds, default 3] [epochs per task, default 5] [ewc lambda, default 10000] [replay buffer, default 500]; split MNIST Domain-IL
//   active-learning [seeds, default 3] [budgets, default 20,50,100,200,300,500,1000] [strategies, default random,least-confidence,margin,entropy,entropy+k-center] [png]
// Each mode ends with a markdown table (mean ± std over seeds or repetitions) for the README.
// Needs the MNIST CSVs of scripts/prepare-mnist.sh. Artifacts go to a temporary folder, removed afterwards unless
// SYLLABUS_BENCH_KEEP=1.
const string Usage = "usage: Syllabus.Benchmarks.Trainer curriculum [seeds] | transfer [seeds] [budgets,...] | overhead [epochs] [repetitions] | drift [features] [rows] [repetitions] | active-learning [seeds] [budgets,...] [strategies,...] [png] | continual [seeds] [epochs] [lambda] [buffer]";
if (args.Length == 0 || args[0] is not ("transfer" or "curriculum" or "overhead" or "drift" or "active-learning" or "continual"))
{
    Console.Error.WriteLine(Usage);
    return 2;
}

int Positive(int index, int fallback, string what)
{
    if (args.Length <= index)
    {
        return fallback;
    }

    return int.TryParse(args[index], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
        ? value
        : throw new ArgumentException($"{what}: expected a positive whole number, got '{args[index]}'. {Usage}");
}

int Budget(string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
    ? value
    : throw new ArgumentException($"budgets: expected positive whole numbers separated by commas, got '{text}'. {Usage}");

int[] Seeds(int index) => [.. Enumerable.Range(1, Positive(index, 5, "seeds"))];

TorchSharp.torch.set_num_threads(Math.Max(1, Environment.ProcessorCount - 1));
var root = Directory.CreateTempSubdirectory("syllabus-bench-").FullName;
try
{
    switch (args[0])
    {
        case "curriculum":
            CurriculumBenchmark.Run(root, Seeds(1));
            break;
        case "transfer":
            int[] budgets = args.Length > 2 ? [.. args[2].Split(',').Select(Budget)] : [100, 250, 1000];
            TransferBenchmark.Run(root, budgets, Seeds(1));
            break;
        case "continual":
            var lambda = args.Length > 3
                ? double.TryParse(args[3], NumberStyles.Float, CultureInfo.InvariantCulture, out var l) && l >= 0 ? l : throw new ArgumentException($"lambda: expected a number ≥ 0, got '{args[3]}'. {Usage}")
                : 10_000;
            ContinualBenchmark.Run(root, [.. Enumerable.Range(1, Positive(1, 3, "seeds"))], Positive(2, 5, "epochs"), lambda, Positive(4, 500, "buffer"));
            break;
        case "drift":
            DriftBenchmark.Run(root, Positive(1, 100, "features"), Positive(2, 100_000, "rows"), Positive(3, 5, "repetitions"));
            break;
        case "active-learning":
            int[] labelBudgets = args.Length > 2 ? [.. args[2].Split(',').Select(Budget)] : ActiveLearningBenchmark.DefaultBudgets;
            if (labelBudgets.Zip(labelBudgets.Skip(1)).Any(p => p.First >= p.Second))
            {
                throw new ArgumentException($"budgets: must increase, got '{args[2]}'. {Usage}");
            }

            string[] strategies = args.Length > 3 ? args[3].Split(',') : ActiveLearningBenchmark.DefaultStrategies;
            static string Base(string s) => s.EndsWith(ActiveLearningBenchmark.KCenterSuffix, StringComparison.Ordinal) ? s[..^ActiveLearningBenchmark.KCenterSuffix.Length] : s;
            if (strategies.FirstOrDefault(s => !Syllabus.Trainer.Scoring.AcquisitionStrategies.All.Contains(Base(s)) || Syllabus.Trainer.Scoring.AcquisitionStrategies.NeedsCommittee(Base(s))) is { } unknown)
            {
                throw new ArgumentException($"strategies: '{unknown}' is not a single-model strategy ({string.Join(", ", Syllabus.Trainer.Scoring.AcquisitionStrategies.All.Where(s => !Syllabus.Trainer.Scoring.AcquisitionStrategies.NeedsCommittee(s)))}). {Usage}");
            }

            ActiveLearningBenchmark.Run(root, labelBudgets, [.. Enumerable.Range(1, Positive(1, 3, "seeds"))], strategies, args.Length > 4 ? Path.GetFullPath(args[4]) : Path.GetFullPath("active-learning.png"));
            break;
        default:
            OverheadBenchmark.Run(Positive(1, 3, "epochs"), Positive(2, 5, "repetitions"));
            break;
    }
}
finally
{
    // SYLLABUS_BENCH_KEEP=1 keeps the manifests, data files and reports for inspection.
    if (Environment.GetEnvironmentVariable("SYLLABUS_BENCH_KEEP") == "1")
    {
        Console.WriteLine($"kept {root}");
    }
    else
    {
        Directory.Delete(root, recursive: true);
    }
}

return 0;
