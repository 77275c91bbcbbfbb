using System.Runtime.Intrinsics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Syllabus.Trainer.Data;

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

    /// <summary>
    /// The model bundle's schema fingerprint (<see cref="Data.FeatureSchema.Fingerprint"/>), written by `train` with the
    /// model: a window encoded for another schema is refused. Null in profiles from before drift detection.
    /// </summary>
    [JsonPropertyName("schemaFingerprint")]
    public string? SchemaFingerprint { get; init; }

    /// <summary>
    /// Training rows drawn by a seeded reservoir (Algorithm R) whose values <see cref="NumericFeatureProfile.Sample"/>
    /// holds: the reference sample of the KS and Wasserstein tests. Null in older profiles.
    /// </summary>
    [JsonPropertyName("sample")]
    public ReservoirSample? Sample { get; init; }

    /// <summary>The model's predictions on the held-out split (predicted classes, confidences). Null in older profiles.</summary>
    [JsonPropertyName("predictions")]
    public PredictionProfile? Predictions { get; init; }

    /// <summary>Rows kept by the reservoir sample unless told otherwise.</summary>
    public const int DefaultSampleSize = 3000;

    /// <summary>Quantile bins per numeric feature for PSI and Jensen–Shannon (20 bins, as ventiles).</summary>
    public const int DefaultQuantileBins = 20;

    /// <summary>A numeric feature with at most this many distinct values also keeps their counts (Evidently bins such a feature by value).</summary>
    public const int MaxValueCounts = 20;

    /// <summary>This profile with the model's fingerprint and held-out predictions, as `train` writes it beside the model.</summary>
    public DataProfile WithModel(string schemaFingerprint, PredictionProfile predictions)
    {
        ArgumentNullException.ThrowIfNull(schemaFingerprint);
        ArgumentNullException.ThrowIfNull(predictions);
        return new DataProfile
        {
            RowCount = RowCount,
            Numeric = Numeric,
            Categorical = Categorical,
            Labels = Labels,
            SchemaFingerprint = schemaFingerprint,
            Sample = Sample,
            Predictions = predictions,
        };
    }

    /// <summary>Builds the profile; NaN in a numeric column and null in a categorical one mean missing.</summary>
    public static DataProfile Build(
        IReadOnlyList<string> numericNames,
        IReadOnlyList<float[]> numericColumns,
        IReadOnlyList<string> categoricalNames,
        IReadOnlyList<string?[]> categoricalColumns,
        IReadOnlyList<string> classes,
        IReadOnlyList<long> labels,
        int histogramBins = 20,
        int sampleSize = DefaultSampleSize,
        int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(numericNames);
        ArgumentNullException.ThrowIfNull(numericColumns);
        ArgumentNullException.ThrowIfNull(categoricalNames);
        ArgumentNullException.ThrowIfNull(categoricalColumns);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(histogramBins, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleSize, 1);
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

        var rows = numericColumns.Count > 0 ? numericColumns[0].Length : labels.Count;
        var sampled = ReservoirSample.Draw(rows, sampleSize, seed);
        return new DataProfile
        {
            RowCount = labels.Count,
            Numeric = [.. numericNames.Select((name, i) => NumericFeatureProfile.Build(name, numericColumns[i], histogramBins, sampled))],
            Sample = new ReservoirSample { Rows = sampled.Length, Seed = seed, Capacity = sampleSize },
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

    /// <summary>
    /// The drift bins: the distinct inner quantile edges at levels k/<see cref="DataProfile.DefaultQuantileBins"/>
    /// (linear interpolation), with open outer bins, so bin 0 is (−∞, e₀), bin i is [eᵢ₋₁, eᵢ) and the last [eₖ₋₁, +∞);
    /// a live value can never fall outside them. Null in older profiles.
    /// </summary>
    [JsonPropertyName("quantileBinEdges")]
    public IReadOnlyList<double>? QuantileBinEdges { get; init; }

    /// <summary>Training values per drift bin (<see cref="QuantileBinEdges"/>.Count + 1 of them).</summary>
    [JsonPropertyName("quantileBinCounts")]
    public IReadOnlyList<long>? QuantileBinCounts { get; init; }

    /// <summary>Distinct present values in training.</summary>
    [JsonPropertyName("distinctCount")]
    public long? DistinctCount { get; init; }

    /// <summary>Counts of each value when there are at most <see cref="DataProfile.MaxValueCounts"/> distinct values (ascending by value); otherwise null.</summary>
    [JsonPropertyName("valueCounts")]
    public IReadOnlyList<ValueCount>? ValueCounts { get; init; }

    /// <summary>The present values of the reservoir-sampled training rows (<see cref="DataProfile.Sample"/>), in row order.</summary>
    [JsonPropertyName("sample")]
    [JsonConverter(typeof(CompactFloatArrayConverter))]
    public float[]? Sample { get; init; }

    /// <summary>The drift bin of a value: the number of <see cref="QuantileBinEdges"/> at or below it.</summary>
    public static int QuantileBin(IReadOnlyList<double> edges, double value)
    {
        ArgumentNullException.ThrowIfNull(edges);
        return edges is double[] array ? QuantileBin(array, value) : QuantileBin([.. edges], value);
    }

    /// <summary>The drift bin of a value: the number of <paramref name="edges"/> at or below it.</summary>
    public static int QuantileBin(ReadOnlySpan<double> edges, double value)
    {
        int lo = 0, hi = edges.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (edges[mid] <= value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>Values per drift bin (edges.Count + 1 bins).</summary>
    public static long[] CountQuantileBins(IReadOnlyList<double> edges, ReadOnlySpan<double> values)
    {
        ArgumentNullException.ThrowIfNull(edges);
        double[] array = [.. edges];
        var counts = new long[array.Length + 1];
        foreach (var v in values)
        {
            counts[QuantileBin(array, v)]++;
        }

        return counts;
    }

    /// <summary>
    /// Values per drift bin for float values: the same counts as the double overload gives for the same values (a
    /// value's bin is the number of edges at or below it; a NaN's is 0), counted with vector comparisons instead of a
    /// binary search per value. For a float v and a double edge e, v ≥ e exactly when v ≥ the smallest float ≥ e, so
    /// the comparisons can be made in float, eight at a time. Each edge counts the values at or above it, a chunk of
    /// values at a time while the chunk is in cache; the bins are the differences of those counts.
    /// </summary>
    public static long[] CountQuantileBins(IReadOnlyList<double> edges, ReadOnlySpan<float> values)
    {
        ArgumentNullException.ThrowIfNull(edges);
        var thresholds = new float[edges.Count];
        for (var k = 0; k < thresholds.Length; k++)
        {
            var edge = edges[k];
            if (double.IsNaN(edge) || (k > 0 && !(edge > edges[k - 1])))
            {
                throw new ArgumentException($"quantile bin edge {k} ({edge}) does not follow the edge before it in increasing order", nameof(edges));
            }

            var threshold = (float)edge;
            thresholds[k] = (double)threshold < edge ? MathF.BitIncrement(threshold) : threshold;
        }

        const int chunkLength = 4096;
        var atOrAbove = new long[thresholds.Length];
        ref var start = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(values);
        for (var chunkStart = 0; chunkStart < values.Length; chunkStart += chunkLength)
        {
            var chunkEnd = Math.Min(chunkStart + chunkLength, values.Length);
            for (var k = 0; k < thresholds.Length; k++)
            {
                var i = chunkStart;
                long count = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var threshold = Vector256.Create(thresholds[k]);
                    var ones = Vector256<int>.Zero;
                    for (; i <= chunkEnd - Vector256<float>.Count; i += Vector256<float>.Count)
                    {
                        // A true lane is all ones, −1 as an integer.
                        ones -= Vector256.GreaterThanOrEqual(Vector256.LoadUnsafe(ref start, (nuint)i), threshold).AsInt32();
                    }

                    count = Vector256.Sum(ones);
                }

                for (; i < chunkEnd; i++)
                {
                    count += values[i] >= thresholds[k] ? 1 : 0;
                }

                atOrAbove[k] += count;
            }
        }

        var counts = new long[thresholds.Length + 1];
        var previous = (long)values.Length;
        for (var k = 0; k < thresholds.Length; k++)
        {
            counts[k] = previous - atOrAbove[k];
            previous = atOrAbove[k];
        }

        counts[^1] = previous;
        return counts;
    }

    internal static NumericFeatureProfile Build(string name, float[] values, int bins, int[]? sampledRows = null)
    {
        float[]? sample = sampledRows is null ? null : [.. sampledRows.Select(r => values[r]).Where(v => !float.IsNaN(v))];
        var present = values.Where(v => !float.IsNaN(v)).Select(v => (double)v).Order().ToArray();
        var missing = values.Length - present.Length;
        if (present.Length == 0)
        {
            return new NumericFeatureProfile { Name = name, Missing = missing, Sample = sample, DistinctCount = 0, QuantileBinEdges = [], QuantileBinCounts = [0], ValueCounts = [] };
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

        var quantileEdges = Enumerable.Range(1, DataProfile.DefaultQuantileBins - 1)
            .Select(k => QuantileOfSorted(present, (double)k / DataProfile.DefaultQuantileBins)).Distinct().ToArray();
        var quantileCounts = CountQuantileBins(quantileEdges, present);

        var distinct = new List<ValueCount>();
        for (var i = 0; i < present.Length;)
        {
            var j = i;
            while (j < present.Length && present[j] == present[i])
            {
                j++;
            }

            distinct.Add(new ValueCount { Value = present[i], Count = j - i });
            i = j;
        }

        return new NumericFeatureProfile
        {
            Name = name,
            Count = present.Length,
            QuantileBinEdges = quantileEdges,
            QuantileBinCounts = quantileCounts,
            DistinctCount = distinct.Count,
            ValueCounts = distinct.Count <= DataProfile.MaxValueCounts ? distinct : null,
            Sample = sample,
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

public sealed class ValueCount
{
    [JsonPropertyName("value")]
    public double Value { get; init; }

    [JsonPropertyName("count")]
    public long Count { get; init; }
}

/// <summary>How the reference sample for KS and Wasserstein was drawn.</summary>
public sealed class ReservoirSample
{
    /// <summary>Rows drawn (the training rows when there were fewer than <see cref="Capacity"/>).</summary>
    [JsonPropertyName("rows")]
    public int Rows { get; init; }

    [JsonPropertyName("capacity")]
    public int Capacity { get; init; }

    /// <summary>The run's seed: the same data and seed draw the same rows.</summary>
    [JsonPropertyName("seed")]
    public int Seed { get; init; }

    /// <summary>Algorithm R over rows 0..count−1 with a seeded <see cref="Random"/> (<see cref="Reservoir{T}"/>); the chosen row indices, ascending.</summary>
    public static int[] Draw(int count, int capacity, int seed) => Reservoir<int>.SampleIndices(count, capacity, seed);
}

/// <summary>The trained model on its held-out split: what prediction drift, the confidence drop and CBPE compare with.</summary>
public sealed class PredictionProfile
{
    /// <summary>Confidence histogram bins: equal width over [0, 1], the last including 1.</summary>
    public const int ConfidenceBins = 20;

    /// <summary>The split predicted (test, or validation when there is no test split).</summary>
    [JsonPropertyName("split")]
    public string Split { get; init; } = "";

    [JsonPropertyName("rows")]
    public long Rows { get; init; }

    /// <summary>Predicted (arg-max) classes, in class order.</summary>
    [JsonPropertyName("predictedClasses")]
    public IReadOnlyList<CategoryCount> PredictedClasses { get; init; } = [];

    /// <summary>Histogram of the maximum class probability, <see cref="ConfidenceBins"/> equal bins over [0, 1].</summary>
    [JsonPropertyName("confidenceHistogram")]
    public IReadOnlyList<long> ConfidenceHistogram { get; init; } = [];

    /// <summary>Mean maximum class probability: the training baseline of the confidence drop, and CBPE's expected accuracy on held-out data.</summary>
    [JsonPropertyName("meanConfidence")]
    public double MeanConfidence { get; init; }

    /// <summary>Accuracy on the held-out split's labels, beside which the expected accuracy can be judged.</summary>
    [JsonPropertyName("accuracy")]
    public double Accuracy { get; init; }

    /// <summary>
    /// The fitted temperature the probabilities were computed at (temperature scaling); null for the raw softmax (a
    /// model without a validation split, or a profile from before calibration).
    /// </summary>
    [JsonPropertyName("temperature")]
    public double? Temperature { get; init; }

    /// <summary>The confidence histogram bin of a maximum probability.</summary>
    public static int ConfidenceBin(double confidence) => Math.Clamp((int)(confidence * ConfidenceBins), 0, ConfidenceBins - 1);

    /// <summary>
    /// From class probabilities (rows x classes, row-major) and the rows' labels (−1 unlabelled); <paramref name="temperature"/>
    /// is the fitted temperature they were computed at, null for the raw softmax.
    /// </summary>
    public static PredictionProfile Build(string split, ReadOnlySpan<float> probabilities, IReadOnlyList<string> classes, IReadOnlyList<long> labels, double? temperature = null)
    {
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(labels);
        var k = classes.Count;
        if (k == 0 || probabilities.Length != labels.Count * k)
        {
            throw new ArgumentException($"{probabilities.Length} probabilities are not {labels.Count} rows of {k} classes");
        }

        var predicted = new long[k];
        var histogram = new long[ConfidenceBins];
        double confidenceSum = 0;
        long correct = 0, labelled = 0;
        for (var r = 0; r < labels.Count; r++)
        {
            var row = probabilities.Slice(r * k, k);
            var best = 0;
            for (var c = 1; c < k; c++)
            {
                if (row[c] > row[best])
                {
                    best = c;
                }
            }

            predicted[best]++;
            histogram[ConfidenceBin(row[best])]++;
            confidenceSum += row[best];
            if (labels[r] >= 0)
            {
                labelled++;
                correct += labels[r] == best ? 1 : 0;
            }
        }

        return new PredictionProfile
        {
            Split = split,
            Rows = labels.Count,
            PredictedClasses = [.. classes.Select((c, i) => new CategoryCount { Value = c, Count = predicted[i] })],
            ConfidenceHistogram = histogram,
            MeanConfidence = labels.Count > 0 ? confidenceSum / labels.Count : 0,
            Accuracy = labelled > 0 ? (double)correct / labelled : 0,
            Temperature = temperature,
        };
    }
}

/// <summary>Writes a float array on one line (the reservoir sample would otherwise take a line per value in the indented profile).</summary>
internal sealed class CompactFloatArrayConverter : JsonConverter<float[]>
{
    public override float[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("expected an array of numbers");
        }

        var values = new List<float>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            values.Add(reader.GetSingle());
        }

        return [.. values];
    }

    public override void Write(Utf8JsonWriter writer, float[] value, JsonSerializerOptions options)
    {
        var text = new System.Text.StringBuilder(value.Length * 4);
        text.Append('[');
        for (var i = 0; i < value.Length; i++)
        {
            if (i > 0)
            {
                text.Append(',');
            }

            text.Append(value[i].ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        }

        text.Append(']');
        writer.WriteRawValue(text.ToString(), skipInputValidation: true);
    }
}
