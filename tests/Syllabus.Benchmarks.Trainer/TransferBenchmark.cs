using System.Globalization;
using Syllabus.Api;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// Fine-tuned from a digits-0-4 model vs from scratch, both on the same small label budgets of digits 5-9
/// (the setup of examples/trainingrun-mnist-digits-5-9-finetune.yaml), tested on all 5-9 test digits.
/// </summary>
internal static class TransferBenchmark
{
    public static void Run(string root, int[] budgets)
    {
        var mnist = Bench.MnistFolder();
        Console.WriteLine("transfer: pretraining on digits 0-4 ...");
        var pretrain = Bench.MnistSpec(Path.Combine(mnist, "train-digits-0-4.csv"), Path.Combine(mnist, "test-digits-0-4.csv"), epochs: 10);
        var baseReport = Bench.Train(root, "digits-0-4", pretrain);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  base model: digits 0-4 test accuracy {Bench.Accuracy(baseReport):F4} ({baseReport.Timings["totalSeconds"]:F0}s)"));
        var baseModel = Path.Combine(root, "digits-0-4", "model");

        Console.WriteLine("labels  fine-tuned  from-scratch  difference  (test accuracy on digits 5-9, 1,000 test images)");
        foreach (var budget in budgets)
        {
            var finetune = Spec(mnist, budget);
            finetune.BaseModel = new BaseModelSpec
            {
                TrainingRun = null,
                Uri = baseModel,
                Freeze = [@"^features\.0\."],
                ResetHead = true,
                BaseLearningRateMultiplier = 0.3,
            };
            var tuned = Bench.Train(root, $"finetune-{budget}", finetune, baseModel);
            var scratch = Bench.Train(root, $"scratch-{budget}", Spec(mnist, budget));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{budget,6}  {Bench.Accuracy(tuned),10:F4}  {Bench.Accuracy(scratch),12:F4}  {Bench.Accuracy(tuned) - Bench.Accuracy(scratch),+10:+0.0000;-0.0000}  (epochs {tuned.EpochsTrained} / {scratch.EpochsTrained})"));
        }
    }

    private static TrainingRunSpec Spec(string mnist, int budget)
    {
        var spec = Bench.MnistSpec(Path.Combine(mnist, "train-digits-5-9.csv"), Path.Combine(mnist, "test-digits-5-9.csv"), epochs: 30, limit: budget);
        spec.Optimizer.LearningRate = 0.003;
        spec.BatchSize = 32;
        spec.EarlyStopping = new EarlyStoppingSpec { Monitor = "loss", Patience = 5 };
        return spec;
    }
}
