using System.Globalization;
using Syllabus.Api;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Curriculum (easiest first), anti-curriculum (hardest first) and no curriculum on MNIST with the same model,
/// optimiser (constant learning rate, so no schedule interacts with the pacing) and seed. Difficulty is the loss
/// of a teacher: a small MLP trained briefly on 2,000 of the training digits, so it has not memorised the rest.
/// </summary>
internal static class CurriculumBenchmark
{
    public static void Run(string root, int epochs)
    {
        var mnist = Bench.MnistFolder();
        var train = Path.Combine(mnist, "train.csv");
        var test = Path.Combine(mnist, "test.csv");
        Console.WriteLine("curriculum: training the teacher ...");
        var teacherSpec = Bench.MnistSpec(train, test, epochs: 3, limit: 2000);
        teacherSpec.Model.HiddenLayers = [64];
        var teacher = Bench.Train(root, "teacher", teacherSpec);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  teacher test accuracy {Bench.Accuracy(teacher):F4}"));
        var teacherFolder = Path.Combine(root, "teacher", "model");

        Console.WriteLine($"order            final test acc  best val acc  epochs to 90% val  epochs to 95% val  seconds  ({epochs} epochs, Root pacing 0.3 -> 1 at half)");
        foreach (var (name, anti) in new (string, bool?)[] { ("curriculum", false), ("anti-curriculum", true), ("none", null) })
        {
            var spec = Bench.MnistSpec(train, test, epochs);
            if (anti is { } hardestFirst)
            {
                spec.Curriculum = new CurriculumSpec
                {
                    Difficulty = new DifficultySpec { Source = DifficultySources.TeacherLoss, Teacher = new ModelReference { Uri = teacherFolder } },
                    Pacing = new PacingSpec { Function = PacingFunctions.Root, StartFraction = 0.3, FullDataAt = 0.5 },
                    AntiCurriculum = hardestFirst,
                };
            }

            var report = Bench.Train(root, name, spec, teacherFolder: teacherFolder);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-16} {Bench.Accuracy(report),14:F4}  {report.History.Max(h => h.Validation["accuracy"]),12:F4}  {Bench.EpochsTo(report, 0.90)?.ToString(CultureInfo.InvariantCulture) ?? "never",17}  {Bench.EpochsTo(report, 0.95)?.ToString(CultureInfo.InvariantCulture) ?? "never",17}  {report.Timings["trainSeconds"],7:F1}"));
        }
    }
}
