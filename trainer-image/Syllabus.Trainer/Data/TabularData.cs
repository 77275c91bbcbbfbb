namespace Syllabus.Trainer.Data;

/// <summary>One split, encoded and normalised, ready for tensors.</summary>
public sealed class TabularData
{
    public TabularData(
        int featureCount,
        float[] features,
        long[] labels,
        float[]? weights = null,
        double[]? difficulty = null,
        string?[]? slices = null,
        DateTimeOffset?[]? timestamps = null)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegative(featureCount);
        if ((long)labels.Length * featureCount != features.Length)
        {
            throw new ArgumentException($"{features.Length} feature values do not make {labels.Length} rows of {featureCount} features.", nameof(features));
        }

        CheckLength(weights?.Length, labels.Length, nameof(weights));
        CheckLength(difficulty?.Length, labels.Length, nameof(difficulty));
        CheckLength(slices?.Length, labels.Length, nameof(slices));
        CheckLength(timestamps?.Length, labels.Length, nameof(timestamps));
        FeatureCount = featureCount;
        Features = features;
        Labels = labels;
        Weights = weights;
        Difficulty = difficulty;
        Slices = slices;
        Timestamps = timestamps;
    }

    public int Count => Labels.Length;

    public int FeatureCount { get; }

    /// <summary>Row-major Count x FeatureCount.</summary>
    public float[] Features { get; }

    /// <summary>Class indices; -1 where unlabelled.</summary>
    public long[] Labels { get; }

    public float[]? Weights { get; }

    public double[]? Difficulty { get; }

    public string?[]? Slices { get; }

    public DateTimeOffset?[]? Timestamps { get; }

    /// <summary>An empty split with this many features.</summary>
    public static TabularData Empty(int featureCount) => new(featureCount, [], []);

    /// <summary>The features of one row.</summary>
    public ReadOnlySpan<float> Row(int index) => Features.AsSpan(index * FeatureCount, FeatureCount);

    /// <summary>The given rows, in the given order (repeats allowed).</summary>
    public TabularData Subset(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var n = indices.Count;
        var features = new float[(long)n * FeatureCount];
        var labels = new long[n];
        var weights = Weights is null ? null : new float[n];
        var difficulty = Difficulty is null ? null : new double[n];
        var slices = Slices is null ? null : new string?[n];
        var timestamps = Timestamps is null ? null : new DateTimeOffset?[n];
        for (var i = 0; i < n; i++)
        {
            var r = indices[i];
            if ((uint)r >= (uint)Count)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), $"Row {r} is outside 0..{Count - 1}.");
            }

            Array.Copy(Features, (long)r * FeatureCount, features, (long)i * FeatureCount, FeatureCount);
            labels[i] = Labels[r];
            if (weights is not null)
            {
                weights[i] = Weights![r];
            }

            if (difficulty is not null)
            {
                difficulty[i] = Difficulty![r];
            }

            if (slices is not null)
            {
                slices[i] = Slices![r];
            }

            if (timestamps is not null)
            {
                timestamps[i] = Timestamps![r];
            }
        }

        return new TabularData(FeatureCount, features, labels, weights, difficulty, slices, timestamps);
    }

    /// <summary>
    /// The rows of <paramref name="a"/> followed by those of <paramref name="b"/>. An optional column present on one
    /// side only is filled for the other with weight 1, difficulty NaN, no slice, no timestamp.
    /// </summary>
    public static TabularData Concat(TabularData a, TabularData b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.FeatureCount != b.FeatureCount)
        {
            throw new ArgumentException($"Cannot concatenate data with {a.FeatureCount} and {b.FeatureCount} features.", nameof(b));
        }

        return new TabularData(
            a.FeatureCount,
            [.. a.Features, .. b.Features],
            [.. a.Labels, .. b.Labels],
            Join(a.Weights, a.Count, b.Weights, b.Count, 1f),
            Join(a.Difficulty, a.Count, b.Difficulty, b.Count, double.NaN),
            Join(a.Slices, a.Count, b.Slices, b.Count, null),
            Join(a.Timestamps, a.Count, b.Timestamps, b.Count, null));
    }

    private static T[]? Join<T>(T[]? x, int xCount, T[]? y, int yCount, T fill)
    {
        if (x is null && y is null)
        {
            return null;
        }

        var result = new T[xCount + yCount];
        if (x is null)
        {
            Array.Fill(result, fill, 0, xCount);
        }
        else
        {
            x.CopyTo(result, 0);
        }

        if (y is null)
        {
            Array.Fill(result, fill, xCount, yCount);
        }
        else
        {
            y.CopyTo(result, xCount);
        }

        return result;
    }

    private static void CheckLength(int? length, int expected, string name)
    {
        if (length is { } l && l != expected)
        {
            throw new ArgumentException($"{name} has {l} values for {expected} rows.", name);
        }
    }
}
