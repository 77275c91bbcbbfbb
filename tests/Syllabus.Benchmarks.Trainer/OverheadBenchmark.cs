using System.Diagnostics;
using System.Globalization;
using Syllabus.Api;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Schedules;
using Syllabus.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Syllabus.Benchmarks.Trainer;

/// <summary>
/// The trainer's loop (curriculum scheduler, schedule, callbacks for gauges, progress and checkpoint decisions;
/// no validation, no checkpoint writes) against a bare TorchSharp loop over the same model, seed and batches.
/// Both must end with identical weights, which shows they did the same work; the time ratio is the overhead.
/// </summary>
internal static class OverheadBenchmark
{
    private const int Seed = 42;
    private const int BatchSize = 64;

    public static void Run(int epochs, int repetitions)
    {
        var mnist = Bench.MnistFolder();
        var spec = Bench.MnistSpec(Path.Combine(mnist, "train.csv"), Path.Combine(mnist, "test.csv"), epochs, [512, 256], Seed);
        spec.Model.Dropout = 0.3;
        spec.BatchSize = BatchSize;
        spec.Data.ValidationFraction = 0.1;
        var data = DataLoader.Load(spec.Data, mnist, Seed);
        var config = ModelFactory.Describe(spec.Model, data.Schema.FeatureCount, data.Schema.Classes);
        torch.set_num_threads(1);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"overhead: MLP 784-512-256-10, {data.Train.Count} examples, batch {BatchSize}, {epochs} epochs per measurement, {repetitions} repetitions, 1 intra-op thread"));

        // Warm-up: JIT, libtorch allocations.
        RunTrainer(data, config, spec, 1, out var warm1).Dispose();
        RunBare(data, config, spec, 1, out var warm2).Dispose();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  warm-up {warm1:F2}s / {warm2:F2}s"));

        var trainerTimes = new List<double>();
        var bareTimes = new List<double>();
        var identical = true;
        for (var r = 0; r < repetitions; r++)
        {
            // Alternate which loop goes first, so a slow phase of a shared machine does not favour one side.
            double trainerSeconds, bareSeconds;
            nn.Module<Tensor, Tensor> trained, bare;
            if (r % 2 == 0)
            {
                trained = RunTrainer(data, config, spec, epochs, out trainerSeconds);
                bare = RunBare(data, config, spec, epochs, out bareSeconds);
            }
            else
            {
                bare = RunBare(data, config, spec, epochs, out bareSeconds);
                trained = RunTrainer(data, config, spec, epochs, out trainerSeconds);
            }

            trainerTimes.Add(trainerSeconds);
            bareTimes.Add(bareSeconds);
            identical &= SameWeights(trained, bare);
            trained.Dispose();
            bare.Dispose();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  repetition {r + 1}: trainer {trainerSeconds:F2}s  bare {bareSeconds:F2}s  ratio {trainerSeconds / bareSeconds:F3}"));
        }

        var samples = (double)data.Train.Count * epochs;
        var ratios = trainerTimes.Zip(bareTimes, (t, b) => t / b).ToList();
        var trainerThroughput = trainerTimes.Select(t => samples / t).ToList();
        var bareThroughput = bareTimes.Select(t => samples / t).ToList();
        Console.WriteLine();
        Console.WriteLine(Bench.F(
            $"Loop throughput, MLP 784-512-256-10 on {data.Train.Count} MNIST digits, batch {BatchSize}, {epochs} epochs per measurement, one intra-op thread; mean ± std over {repetitions} repetitions (alternating which loop runs first); identical final weights in every repetition: {(identical ? "yes" : "NO")}."));
        Console.WriteLine();
        Console.WriteLine("| loop | seconds | samples/s | trainer / bare time |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine($"| Syllabus trainer | {Stats.MeanStd(trainerTimes, "F2")} | {Stats.MeanStd(trainerThroughput, "F0")} | {Stats.MeanStd(ratios, "F3")} |");
        Console.WriteLine($"| bare TorchSharp loop | {Stats.MeanStd(bareTimes, "F2")} | {Stats.MeanStd(bareThroughput, "F0")} | |");
        Console.WriteLine();
        Console.WriteLine(Bench.F($"fastest run of each (least disturbed by other processes): trainer {trainerTimes.Min():F2}s, bare {bareTimes.Min():F2}s, ratio {trainerTimes.Min() / bareTimes.Min():F3}"));
        Console.WriteLine(Bench.F($"target: trainer / bare <= 1.050 (mean ratio {ratios.Average():F3}: {(ratios.Average() <= 1.05 ? "met" : "NOT met")})"));
        if (!identical)
        {
            throw new InvalidOperationException("the trainer and the bare loop ended with different weights: they did not do the same work, so the times are not comparable");
        }
    }

    private static nn.Module<Tensor, Tensor> RunTrainer(LoadedData data, ModelConfig config, TrainingRunSpec spec, int epochs, out double seconds)
    {
        random.manual_seed(Seed);
        var model = ModelFactory.Create(config);
        using var optimizer = OptimizerFactory.Create(spec.Optimizer, [new ParameterGroup("all", [.. model.parameters()])]);
        var schedule = LearningRateScheduleFactory.Create(spec.LrSchedule, optimizer, epochs, (data.Train.Count + BatchSize - 1) / BatchSize);
        var curriculum = new CurriculumScheduler(null, null, epochs, Seed, data.Train.Count);
        ITrainerCallback[] callbacks = [new ProgressGauges(), new LogProgressCallback(TextWriter.Null), new CheckpointCallback(spec.Checkpoint)];
        using var trainer = new Syllabus.Trainer.Training.Trainer(
            model, optimizer, schedule, curriculum, data.Train, null, _ => [], callbacks, new TrainerOptions(epochs, BatchSize, Seed));
        var clock = Stopwatch.StartNew();
        trainer.Fit(new TrainerState { TotalEpochs = epochs, Seed = Seed });
        seconds = clock.Elapsed.TotalSeconds;
        return model;
    }

    /// <summary>The textbook TorchSharp loop, drawing batches and dropout masks exactly as the trainer does.</summary>
    private static nn.Module<Tensor, Tensor> RunBare(LoadedData data, ModelConfig config, TrainingRunSpec spec, int epochs, out double seconds)
    {
        random.manual_seed(Seed);
        var model = ModelFactory.Create(config);
        using var optimizer = optim.Adam(model.parameters(), spec.Optimizer.LearningRate);
        var train = data.Train;
        using var features = tensor(train.Features, [train.Count, train.FeatureCount]);
        using var labels = tensor(train.Labels);
        var clock = Stopwatch.StartNew();
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            var indices = Enumerable.Range(0, train.Count).Select(i => (long)i).ToArray();
            new Random(unchecked((Seed * 7919) + epoch)).Shuffle(indices);
            random.manual_seed(((long)Seed * 1_000_003) + epoch);
            model.train();
            for (var start = 0; start < indices.Length; start += BatchSize)
            {
                using var scope = NewDisposeScope();
                var idx = tensor(indices.AsSpan(start, Math.Min(BatchSize, indices.Length - start)).ToArray());
                var loss = nn.functional.cross_entropy(model.forward(features.index_select(0, idx)), labels.index_select(0, idx));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                _ = loss.item<float>();
            }
        }

        seconds = clock.Elapsed.TotalSeconds;
        return model;
    }

    private static bool SameWeights(nn.Module<Tensor, Tensor> a, nn.Module<Tensor, Tensor> b)
    {
        var other = b.state_dict();
        return a.state_dict().All(kv => kv.Value.data<float>().ToArray().SequenceEqual(other[kv.Key].data<float>().ToArray()));
    }
}
