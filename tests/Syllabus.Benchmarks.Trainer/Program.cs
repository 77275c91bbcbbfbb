using System.Globalization;
using Syllabus.Benchmarks.Trainer;

// dotnet run -c Release --project tests/Syllabus.Benchmarks.Trainer -- <transfer|curriculum|overhead> [options]
//   transfer   [budgets, default 100,250,1000]
//   curriculum [epochs, default 10]
//   overhead   [epochs, default 3] [repetitions, default 3]
// Needs the MNIST CSVs of scripts/prepare-mnist.sh. Artifacts go to a temporary folder, removed afterwards.
if (args.Length == 0 || args[0] is not ("transfer" or "curriculum" or "overhead"))
{
    Console.Error.WriteLine("usage: Syllabus.Benchmarks.Trainer <transfer|curriculum|overhead> [options]");
    return 2;
}

int Arg(int index, int fallback) => args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;
TorchSharp.torch.set_num_threads(Math.Max(1, Environment.ProcessorCount - 1));
var root = Directory.CreateTempSubdirectory("syllabus-bench-").FullName;
try
{
    switch (args[0])
    {
        case "transfer":
            TransferBenchmark.Run(root, args.Length > 1 ? [.. args[1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : [100, 250, 1000]);
            break;
        case "curriculum":
            CurriculumBenchmark.Run(root, Arg(1, 10));
            break;
        default:
            OverheadBenchmark.Run(Arg(1, 3), Arg(2, 3));
            break;
    }
}
finally
{
    Directory.Delete(root, recursive: true);
}

return 0;
