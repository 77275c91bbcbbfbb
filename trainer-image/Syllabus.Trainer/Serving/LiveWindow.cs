using System.Text.Json.Nodes;
using Syllabus.Trainer.Profiling;

namespace Syllabus.Trainer.Serving;

/// <summary>
/// The most recent input rows (bounded), summarised in the training data profile's binning so that a drift detector
/// can compare live traffic with training data: per numeric column the counts in the profile's bins (values outside
/// the training range counted apart, never clamped in) and the window's quantiles at the profile's levels; per
/// categorical column the counts of the training categories and of categories unseen in training; the predicted classes.
/// Without a profile the same summary comes without bins.
/// </summary>
public sealed class LiveWindow
{
    private readonly Lock _lock = new();
    private readonly InferenceProtocol _protocol;
    private readonly IReadOnlyList<string> _classes;
    private readonly NumericFeatureProfile?[] _numericProfiles;
    private readonly CategoricalFeatureProfile?[] _categoricalProfiles;
    private readonly double[] _numeric;
    private readonly string?[] _categorical;
    private readonly int[] _predicted;
    private readonly float[] _probabilities;
    private int _next;
    private int _count;
    private long _total;

    /// <exception cref="InvalidDataException">The profile does not describe this model's columns, or was written for a
    /// model with another schema fingerprint than <paramref name="schemaFingerprint"/>.</exception>
    public LiveWindow(InferenceProtocol protocol, IReadOnlyList<string> classes, DataProfile? profile, int capacity, string? schemaFingerprint = null)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        if (profile?.SchemaFingerprint is { } recorded && schemaFingerprint is not null && recorded != schemaFingerprint)
        {
            throw new InvalidDataException(
                $"the data profile was written for schema fingerprint {recorded}, the model has {schemaFingerprint}: its bins do not describe this model's inputs (give the profile of this model's TrainingRun)");
        }

        _protocol = protocol;
        _classes = classes;
        Capacity = capacity;
        Profile = profile;
        _numericProfiles = [.. protocol.NumericColumns.Select(name => profile is null ? null
            : profile.Numeric.FirstOrDefault(p => p.Name == name)
              ?? throw new InvalidDataException($"the data profile has no numeric column '{name}', a numeric feature of the model (is it this model's training profile?)"))];
        _categoricalProfiles = [.. protocol.CategoricalColumns.Select(name => profile is null ? null
            : profile.Categorical.FirstOrDefault(p => p.Name == name)
              ?? throw new InvalidDataException($"the data profile has no categorical column '{name}', a categorical feature of the model (is it this model's training profile?)"))];
        _numeric = new double[(long)capacity * protocol.NumericColumns.Count];
        _categorical = new string?[(long)capacity * protocol.CategoricalColumns.Count];
        _predicted = new int[capacity];
        _probabilities = new float[(long)capacity * classes.Count];
    }

    public int Capacity { get; }

    public DataProfile? Profile { get; }

    /// <summary>Adds the rows of one request, their predicted class indices and (for drift) their class probabilities.</summary>
    public void Add(InputRows rows, ReadOnlySpan<int> predicted, ReadOnlySpan<float> probabilities = default)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int numericWidth = _protocol.NumericColumns.Count, categoricalWidth = _protocol.CategoricalColumns.Count, k = _classes.Count;
        lock (_lock)
        {
            for (var r = 0; r < rows.Count; r++)
            {
                rows.Numeric.AsSpan(r * numericWidth, numericWidth).CopyTo(_numeric.AsSpan(_next * numericWidth, numericWidth));
                rows.Categorical.AsSpan(r * categoricalWidth, categoricalWidth).CopyTo(_categorical.AsSpan(_next * categoricalWidth, categoricalWidth));
                if (probabilities.Length >= (r + 1) * k)
                {
                    probabilities.Slice(r * k, k).CopyTo(_probabilities.AsSpan(_next * k, k));
                }

                _predicted[_next] = predicted[r];
                _next = (_next + 1) % Capacity;
                _count = Math.Min(_count + 1, Capacity);
                _total++;
            }
        }
    }

    /// <summary>
    /// Identifies this window's row numbering: a restarted server counts from 1 again under a new instance, so a mark
    /// taken from another instance says nothing about which of these rows were evaluated.
    /// </summary>
    public string Instance { get; } = Guid.NewGuid().ToString("N");

    /// <summary>
    /// The window's rows, oldest first, as the drift evaluator takes them (numeric columns as floats, categoricals as
    /// strings, and the model's class probabilities for prediction drift, the confidence drop and CBPE). Rows are
    /// numbered from 1 in the order served; only rows numbered after <paramref name="since"/> and up to
    /// <paramref name="until"/> (the newest when null) are taken, so consecutive evaluations can test disjoint rows.
    /// A <paramref name="since"/> from another <see cref="Instance"/> (<paramref name="sinceInstance"/>) is ignored:
    /// every row of this one is new to it. The result carries the number of its newest row, the capacity and the
    /// instance, to ask for the next rows with.
    /// </summary>
    public Drift.DriftWindow ToDriftWindow(long since = 0, long? until = null, string? sinceInstance = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(since);
        int numericWidth = _protocol.NumericColumns.Count, categoricalWidth = _protocol.CategoricalColumns.Count, k = _classes.Count;
        lock (_lock)
        {
            if (sinceInstance is not null && sinceInstance != Instance)
            {
                since = 0;
            }

            var oldestNumber = _total - _count + 1;
            var last = Math.Min(until ?? _total, _total);
            // Compared before any arithmetic: a mark at or past the newest row asks for nothing (and since + 1 cannot overflow).
            var firstNumber = since >= last ? last + 1 : Math.Max(since + 1, oldestNumber);
            var rows = (int)Math.Max(0, last - firstNumber + 1);
            var first = (int)((_next - _count + Capacity + (firstNumber - oldestNumber)) % Capacity);
            var numeric = Enumerable.Range(0, numericWidth).Select(_ => new float[rows]).ToList();
            var categorical = Enumerable.Range(0, categoricalWidth).Select(_ => new string?[rows]).ToList();
            var probabilities = new float[(long)rows * k];
            for (var i = 0; i < rows; i++)
            {
                var slot = (first + i) % Capacity;
                for (var c = 0; c < numericWidth; c++)
                {
                    numeric[c][i] = (float)_numeric[(slot * numericWidth) + c];
                }

                for (var c = 0; c < categoricalWidth; c++)
                {
                    categorical[c][i] = _categorical[(slot * categoricalWidth) + c];
                }

                _probabilities.AsSpan(slot * k, k).CopyTo(probabilities.AsSpan(i * k, k));
            }

            return new Drift.DriftWindow(_protocol.NumericColumns, numeric, _protocol.CategoricalColumns, categorical, rows)
            {
                Probabilities = probabilities,
                Sequence = new Api.DriftWindowSequence { Instance = Instance, RowsSeen = last, Capacity = Capacity },
            };
        }
    }

    /// <summary>The window as JSON (the documented `GET /v2/models/NAME/window` body).</summary>
    public JsonObject Snapshot(string model)
    {
        double[] numeric;
        string?[] categorical;
        int[] predicted;
        int count;
        long total;
        lock (_lock)
        {
            count = _count;
            total = _total;
            numeric = (double[])_numeric.Clone();
            categorical = (string?[])_categorical.Clone();
            predicted = (int[])_predicted.Clone();
        }

        var numericColumns = new JsonArray();
        var numericWidth = _protocol.NumericColumns.Count;
        for (var c = 0; c < numericWidth; c++)
        {
            var values = new List<double>(count);
            for (var r = 0; r < count; r++)
            {
                values.Add(numeric[(r * numericWidth) + c]);
            }

            numericColumns.Add(NumericSummary(_protocol.NumericColumns[c], values, _numericProfiles[c]));
        }

        var categoricalColumns = new JsonArray();
        var categoricalWidth = _protocol.CategoricalColumns.Count;
        for (var c = 0; c < categoricalWidth; c++)
        {
            var values = new List<string?>(count);
            for (var r = 0; r < count; r++)
            {
                values.Add(categorical[(r * categoricalWidth) + c]);
            }

            categoricalColumns.Add(CategoricalSummary(_protocol.CategoricalColumns[c], values, _categoricalProfiles[c]));
        }

        var classCounts = new long[_classes.Count];
        for (var r = 0; r < count; r++)
        {
            classCounts[predicted[r]]++;
        }

        return new JsonObject
        {
            ["model"] = model,
            ["rows"] = count,
            ["capacity"] = Capacity,
            ["rowsSeen"] = total,
            ["profile"] = Profile is not null,
            ["numeric"] = numericColumns,
            ["categorical"] = categoricalColumns,
            ["predictions"] = new JsonArray([.. _classes.Select((name, i) => (JsonNode)new JsonObject { ["value"] = name, ["count"] = classCounts[i] })]),
        };
    }

    private static JsonObject NumericSummary(string name, List<double> values, NumericFeatureProfile? profile)
    {
        var present = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        var summary = new JsonObject
        {
            ["name"] = name,
            ["count"] = present.Length,
            ["missing"] = values.Count - present.Length,
            ["mean"] = present.Length > 0 ? present.Average() : null,
            ["min"] = present.Length > 0 ? present[0] : null,
            ["max"] = present.Length > 0 ? present[^1] : null,
            ["quantiles"] = present.Length > 0
                ? new JsonArray([.. DataProfile.QuantileLevels.Select(q => (JsonNode)new JsonObject { ["q"] = q, ["value"] = NumericFeatureProfile.QuantileOfSorted(present, q) })])
                : new JsonArray(),
        };
        if (profile is null || profile.BinEdges.Count < 2)
        {
            return summary;
        }

        // The profile's equal-width bins: bin i holds [edge i, edge i+1), the last also its upper edge.
        var edges = profile.BinEdges;
        var bins = edges.Count - 1;
        var width = edges[1] - edges[0];
        var counts = new long[bins];
        long below = 0, above = 0;
        foreach (var v in present)
        {
            if (v < edges[0])
            {
                below++;
            }
            else if (v > edges[^1])
            {
                above++;
            }
            else
            {
                counts[Math.Min((int)((v - edges[0]) / width), bins - 1)]++;
            }
        }

        if (profile.QuantileBinEdges is { } quantileEdges)
        {
            // The drift bins (PSI, Jensen–Shannon): quantile edges with open outer bins, counted as the profile counted training.
            var quantileCounts = NumericFeatureProfile.CountQuantileBins(quantileEdges, present);
            summary["quantileBinEdges"] = new JsonArray([.. quantileEdges.Select(e => (JsonNode)e)]);
            summary["quantileBinCounts"] = new JsonArray([.. quantileCounts.Select(n => (JsonNode)n)]);
        }

        summary["binEdges"] = new JsonArray([.. edges.Select(e => (JsonNode)e)]);
        summary["binCounts"] = new JsonArray([.. counts.Select(n => (JsonNode)n)]);
        summary["belowRange"] = below;
        summary["aboveRange"] = above;
        return summary;
    }

    private static JsonObject CategoricalSummary(string name, List<string?> values, CategoricalFeatureProfile? profile)
    {
        var counts = values.Where(v => v is not null).GroupBy(v => v!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
        var summary = new JsonObject
        {
            ["name"] = name,
            ["count"] = values.Count(v => v is not null),
            ["missing"] = values.Count(v => v is null),
        };
        if (profile is null)
        {
            summary["categories"] = new JsonArray([.. counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => (JsonNode)new JsonObject { ["value"] = p.Key, ["count"] = p.Value })]);
            return summary;
        }

        // The training categories in the profile's order, then what training never saw.
        var known = profile.Categories.Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        summary["categories"] = new JsonArray([.. profile.Categories.Select(c => (JsonNode)new JsonObject { ["value"] = c.Value, ["count"] = counts.GetValueOrDefault(c.Value) })]);
        summary["unseen"] = new JsonArray([.. counts.Where(p => !known.Contains(p.Key)).OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => (JsonNode)new JsonObject { ["value"] = p.Key, ["count"] = p.Value })]);
        return summary;
    }
}
