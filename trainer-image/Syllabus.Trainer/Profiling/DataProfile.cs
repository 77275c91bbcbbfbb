using System.Text.Json;
using System.Text.Json.Serialization;

namespace Syllabus.Trainer.Profiling;

/// <summary>
/// Statistics of the raw (pre-imputation, pre-normalisation) training features and labels, saved with the model so
/// that live traffic can be compared with it (PSI on the histogram bins, KS against the quantiles).
/// </summary>
public sealed class DataProfile
{
    /// <summary>Quantile levels stored per numeric feature.</summary>
    public static IReadOnlyList<double> QuantileLevels { get; } =
        [0.0, 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0];

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    [JsonPropertyName("rowCount")]
    public long RowCount { get; init; }

    [JsonPropertyName("numeric")]
    public IReadOnlyList<NumericFeatureProfile> Numeric { get; init; } = [];

    [JsonPropertyName("categorical")]
    public IReadOnlyList<CategoricalFeatureProfile> Categorical { get; init; } = [];

    /// <summary>Examples per class name, in class order.</summary>
    [JsonPropertyName("labels")]
    public IReadOnlyList<CategoryCount> Labels { get; init; } = [];

    /// <summary>Builds the profile; NaN in a numeric column and null in a categorical one mean missing.</summary>
    public static DataProfile Build(
        IReadOnlyList<string> numericNames,
        IReadOnlyList<float[]> numericColumns,
        IReadOnlyList<string> categoricalNames,
        IReadOnlyList<string?[]> categoricalColumns,
        IReadOnlyList<string> classes,
        IReadOnlyList<long> labels,
        int histogramBins = 20)
    {
        ArgumentNullException.ThrowIfNull(numericNames);
        ArgumentNullException.ThrowIfNull(numericColumns);
        ArgumentNullException.ThrowIfNull(categoricalNames);
        ArgumentNullException.ThrowIfNull(categoricalColumns);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(histogramBins, 1);
        if (numericNames.Count != numericColumns.Count || categoricalNames.Count != categoricalColumns.Count)
        {
            throw new ArgumentException("Each column needs a name.");
        }

        var classCounts = new long[classes.Count];
        foreach (var label in labels)
        {
            if (label >= 0 && label < classes.Count)
            {
                classCounts[label]++;
            }
        }

        return new DataProfile
        {
            RowCount = labels.Count,
            Numeric = [.. numericNames.Select((name, i) => NumericFeatureProfile.Build(name, numericColumns[i], histogramBins))],
            Categorical = [.. categoricalNames.Select((name, i) => CategoricalFeatureProfile.Build(name, categoricalColumns[i]))],
            Labels = [.. classes.Select((c, i) => new CategoryCount { Value = c, Count = classCounts[i] })],
        };
    }

    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        using var stream = File.Create(path);
        JsonSerializer.Serialize(stream, this, JsonOptions);
    }

    public static DataProfile Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.OpenRead(path);
        try
        {
            return JsonSerializer.Deserialize<DataProfile>(stream, JsonOptions)
                ?? throw new InvalidDataException($"{path}: the data profile is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a data profile: {e.Message}", e);
        }
    }
}

public sealed class NumericFeatureProfile
{
    [JsonPropertyName("name")]
    public string Name { get; init; } = "";

    /// <summary>Values present.</summary>
    [JsonPropertyName("count")]
    public long Count { get; init; }

    [JsonPropertyName("missing")]
    public long Missing { get; init; }

    [JsonPropertyName("mean")]
    public double Mean { get; init; }

    /// <summary>Population standard deviation.</summary>
    [JsonPropertyName("std")]
    public double Std { get; init; }

    [JsonPropertyName("min")]
    public double Min { get; init; }

    [JsonPropertyName("max")]
    public double Max { get; init; }

    /// <summary>Values at <see cref="DataProfile.QuantileLevels"/> (linear interpolation, as numpy's default).</summary>
    [JsonPropertyName("quantiles")]
    public IReadOnlyList<Quantile> Quantiles { get; init; } = [];

    /// <summary>Equal-width bin edges from min to max (bins + 1 of them); the last bin includes max.</summary>
    [JsonPropertyName("binEdges")]
    public IReadOnlyList<double> BinEdges { get; init; } = [];

    [JsonPropertyName("binCounts")]
    public IReadOnlyList<long> BinCounts { get; init; } = [];

    internal static NumericFeatureProfile Build(string name, float[] values, int bins)
    {
        var present = values.Where(v => !float.IsNaN(v)).Select(v => (double)v).Order().ToArray();
        var missing = values.Length - present.Length;
        if (present.Length == 0)
        {
            return new NumericFeatureProfile { Name = name, Missing = missing };
        }

        var mean = present.Average();
        var std = Math.Sqrt(present.Sum(v => (v - mean) * (v - mean)) / present.Length);
        var min = present[0];
        var max = present[^1];
        // A constant feature still gets one bin of non-zero width so later values can be binned against it.
        var width = max > min ? (max - min) / bins : 1.0;
        var binCount = max > min ? bins : 1;
        var edges = Enumerable.Range(0, binCount + 1).Select(i => i == binCount ? (max > min ? max : min + 1) : min + (i * width)).ToArray();
        var counts = new long[binCount];
        foreach (var v in present)
        {
            counts[Math.Min((int)((v - min) / width), binCount - 1)]++;
        }

        return new NumericFeatureProfile
        {
            Name = name,
            Count = present.Length,
            Missing = missing,
            Mean = mean,
            Std = std,
            Min = min,
            Max = max,
            Quantiles = [.. DataProfile.QuantileLevels.Select(q => new Quantile { Level = q, Value = QuantileOfSorted(present, q) })],
            BinEdges = edges,
            BinCounts = counts,
        };
    }

    /// <summary>Linear interpolation between closest ranks (numpy "linear", R type 7).</summary>
    internal static double QuantileOfSorted(double[] sorted, double q)
    {
        var h = (sorted.Length - 1) * q;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }
}

public sealed class CategoricalFeatureProfile
{
    [JsonPropertyName("name")]
    public string Name { get; init; } = "";

    [JsonPropertyName("count")]
    public long Count { get; init; }

    [JsonPropertyName("missing")]
    public long Missing { get; init; }

    /// <summary>Frequency of each category, most frequent first (ties by name).</summary>
    [JsonPropertyName("categories")]
    public IReadOnlyList<CategoryCount> Categories { get; init; } = [];

    internal static CategoricalFeatureProfile Build(string name, string?[] values) => new()
    {
        Name = name,
        Count = values.Count(v => v is not null),
        Missing = values.Count(v => v is null),
        Categories = [.. values.Where(v => v is not null).GroupBy(v => v!, StringComparer.Ordinal)
            .Select(g => new CategoryCount { Value = g.Key, Count = g.Count() })
            .OrderByDescending(c => c.Count).ThenBy(c => c.Value, StringComparer.Ordinal)],
    };
}

public sealed class Quantile
{
    [JsonPropertyName("q")]
    public double Level { get; init; }

    [JsonPropertyName("value")]
    public double Value { get; init; }
}

public sealed class CategoryCount
{
    [JsonPropertyName("value")]
    public string Value { get; init; } = "";

    [JsonPropertyName("count")]
    public long Count { get; init; }
}
