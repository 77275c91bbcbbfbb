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
        var spec = Bench.MnistSpec(Path.Combine(mnist, "train.csv"), Path.Combine(mnist, "test.csv"), epochs);
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

        var trainerMedian = Median(trainerTimes);
        var bareMedian = Median(bareTimes);
        var samples = (double)data.Train.Count * epochs;
        var ratio = trainerMedian / bareMedian;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median: trainer {trainerMedian:F2}s ({samples / trainerMedian:F0} samples/s)  bare {bareMedian:F2}s ({samples / bareMedian:F0} samples/s)  ratio {ratio:F3} (target <= 1.050: {(ratio <= 1.05 ? "met" : "NOT met")})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"best:   trainer {trainerTimes.Min():F2}s  bare {bareTimes.Min():F2}s  ratio {trainerTimes.Min() / bareTimes.Min():F3} (the fastest run of each is the least disturbed by other processes)"));
        Console.WriteLine($"identical final weights in every repetition: {(identical ? "yes" : "NO")}");
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
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
