using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Syllabus.Api;

namespace Syllabus.Trainer.Data;

/// <summary>Kinds of input column.</summary>
public static class FeatureKinds
{
    public const string Numeric = "Numeric";
    public const string Categorical = "Categorical";
}

/// <summary>
/// How raw input columns become model features: column order, one-hot categories, imputation and normalisation
/// fitted on the training data, and the class names. Stored in model.json and applied identically at score and
/// serve time.
/// </summary>
public sealed class FeatureSchema
{
    private MissingValueTokens? missingTokens;

    [JsonPropertyName("labelColumn")]
    public string LabelColumn { get; init; } = "label";

    /// <summary>Class names in index order.</summary>
    [JsonPropertyName("classes")]
    public IReadOnlyList<string> Classes { get; init; } = [];

    /// <summary>Input columns in feature order.</summary>
    [JsonPropertyName("columns")]
    public IReadOnlyList<FeatureColumn> Columns { get; init; } = [];

    /// <summary>The normalisation the numeric columns' shift and divisor came from (None, Standard, MinMax, Scale).</summary>
    [JsonPropertyName("normalization")]
    public string Normalization { get; init; } = Normalizations.None;

    /// <summary>missingValues.policy the data was loaded with.</summary>
    [JsonPropertyName("missingValuePolicy")]
    public string MissingValuePolicy { get; init; } = MissingValuePolicies.Fail;

    /// <summary>missingValues.tokens the data was loaded with: the cell texts that mean missing.</summary>
    [JsonPropertyName("missingValueTokens")]
    public IReadOnlyList<string> MissingValueTokens { get; init; } = MissingValuesSpec.DefaultTokens;

    /// <summary><see cref="MissingValueTokens"/> as the matcher every encoder of this schema uses (built once).</summary>
    [JsonIgnore]
    public MissingValueTokens MissingCells => missingTokens ??= new MissingValueTokens(MissingValueTokens);

    [JsonPropertyName("difficultyColumn")]
    public string? DifficultyColumn { get; init; }

    [JsonPropertyName("sliceColumn")]
    public string? SliceColumn { get; init; }

    [JsonPropertyName("weightColumn")]
    public string? WeightColumn { get; init; }

    [JsonPropertyName("timestampColumn")]
    public string? TimestampColumn { get; init; }

    /// <summary>Written for readers of model.json; derived from the columns.</summary>
    [JsonPropertyName("featureCount")]
    public int FeatureCount => Columns.Sum(c => c.Width);

    /// <summary>One name per feature: the column, or column=category for a one-hot feature.</summary>
    [JsonPropertyName("featureNames")]
    public IReadOnlyList<string> FeatureNames => [.. Columns.SelectMany(c => c.Kind == FeatureKinds.Categorical
        ? c.Categories!.Select(cat => $"{c.Name}={cat}")
        : [c.Name])];

    /// <summary>
    /// SHA-256 of this schema's JSON (columns with their fitted statistics and categories, classes, normalisation,
    /// missing-value policy): two models take the same raw input the same way exactly when their fingerprints match.
    /// </summary>
    public string Fingerprint() =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(this)));

    /// <summary>Columns a raw row may carry besides the features: the label and the special columns.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> NonFeatureColumns =>
        [.. new[] { LabelColumn, DifficultyColumn, SliceColumn, WeightColumn, TimestampColumn }.Where(c => !string.IsNullOrEmpty(c)).Select(c => c!)];

    /// <summary>
    /// The first difference between these feature columns and <paramref name="names"/> (with <paramref name="kinds"/>),
    /// in order, as a message naming the column; null when they are the same.
    /// </summary>
    public string? FeatureDifference(IReadOnlyList<string> names, IReadOnlyList<string> kinds)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(kinds);
        for (var i = 0; i < Math.Max(names.Count, Columns.Count); i++)
        {
            if (i >= Columns.Count)
            {
                return $"column '{names[i]}' (feature {i + 1}) is not a feature of the fitted model ({Columns.Count} feature columns: {Describe(Columns.Select(c => c.Name))})";
            }

            if (i >= names.Count)
            {
                return $"column '{Columns[i].Name}' (feature {i + 1}) of the fitted model is missing ({names.Count} feature columns given)";
            }

            if (!string.Equals(names[i], Columns[i].Name, StringComparison.Ordinal))
            {
                return $"column '{names[i]}' is feature {i + 1}, where the fitted model has '{Columns[i].Name}' (its feature columns, in order: {Describe(Columns.Select(c => c.Name))})";
            }

            if (kinds[i] != Columns[i].Kind)
            {
                return $"column '{names[i]}' is {kinds[i]}, the fitted model has it {Columns[i].Kind}";
            }
        }

        return null;
    }

    /// <summary>
    /// Encodes raw rows (column name -> value as text; null or one of <see cref="MissingValueTokens"/> = missing, as in
    /// a training file) into features, row-major, strictly
    /// and exactly as training encodes files: every feature column must be present (an absent one is an error naming
    /// it), a column that is neither a feature nor the label or a special column is an error naming it, a number must
    /// be finite and within float range (<see cref="FeatureValues.NumberProblem"/>), a missing value takes the fitted
    /// imputation value (or is an error when the model was fitted without imputation), and a category not seen in
    /// training encodes as all zeros.
    /// </summary>
    /// <exception cref="DataException">The row, column and problem.</exception>
    public float[] Encode(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var width = FeatureCount;
        var result = new float[(long)rows.Count * width];
        var known = Columns.Select(c => c.Name).Concat(NonFeatureColumns).ToHashSet(StringComparer.Ordinal);
        var missing = MissingCells;
        for (var r = 0; r < rows.Count; r++)
        {
            var values = rows[r] ?? throw new DataException($"row {r}: null row.");
            var unknown = values.Keys.FirstOrDefault(k => !known.Contains(k));
            if (unknown is not null)
            {
                throw new DataException(
                    $"row {r}: column '{unknown}' is not an input of this model (features: {Describe(Columns.Select(c => c.Name))}).", null, r, unknown);
            }

            var offset = 0;
            foreach (var column in Columns)
            {
                if (!values.TryGetValue(column.Name, out var text))
                {
                    throw new DataException($"row {r}: no value for feature column '{column.Name}' (give it; null or a missing-value token for a missing value).", null, r, column.Name);
                }

                var features = result.AsSpan((int)(((long)r * width) + offset), column.Width);
                var cell = RawCell.OfText(text);
                // The tokens the training files were read with (pandas' defaults unless configured) mean missing here too.
                var isMissing = missing.IsMissing(cell);
                if (column.Kind == FeatureKinds.Categorical)
                {
                    column.EncodeCategory(isMissing ? null : cell.AsText(), features, MissingValuePolicy, r);
                }
                else
                {
                    double? x = null;
                    if (!isMissing)
                    {
                        if (!cell.TryGetNumber(out var number))
                        {
                            throw new DataException($"row {r}: column '{column.Name}': '{text}' {FeatureValues.NotANumber}.", null, r, column.Name);
                        }

                        if (FeatureValues.NumberProblem(number) is { } problem)
                        {
                            throw new DataException($"row {r}: column '{column.Name}': '{text}' {problem}.", null, r, column.Name);
                        }

                        x = number;
                    }

                    features[0] = column.EncodeNumber(x, MissingValuePolicy, r);
                }

                offset += column.Width;
            }
        }

        return result;
    }

    /// <summary>One raw row as <see cref="Encode(IReadOnlyList{IReadOnlyDictionary{string, string?}})"/> encodes it.</summary>
    public float[] Encode(IReadOnlyDictionary<string, string?> values) => Encode([values]);

    private static string Describe(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count <= 12 ? string.Join(", ", list) : string.Join(", ", list.Take(12)) + $", ... ({list.Count} in all)";
    }

    /// <summary>
    /// The class index of a label: the class whose name is the label as written (surrounding whitespace aside); -1
    /// when there is none. A label is never read as an index: "1" names the class "1", and "1.0" is another name.
    /// </summary>
    public long ClassIndex(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        var trimmed = label.Trim();
        for (var i = 0; i < Classes.Count; i++)
        {
            if (string.Equals(Classes[i], trimmed, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>One input column of a <see cref="FeatureSchema"/>.</summary>
public sealed class FeatureColumn
{
    private Dictionary<string, int>? categoryIndex;

    [JsonPropertyName("name")]
    public string Name { get; init; } = "";

    /// <summary>Numeric or Categorical.</summary>
    [JsonPropertyName("kind")]
    public string Kind { get; init; } = FeatureKinds.Numeric;

    /// <summary>Categorical: the training data's categories in one-hot order (sorted).</summary>
    [JsonPropertyName("categories")]
    public IReadOnlyList<string>? Categories { get; init; }

    /// <summary>Numeric: the value a missing entry takes (missingValues Impute).</summary>
    [JsonPropertyName("imputeValue")]
    public double? ImputeValue { get; init; }

    /// <summary>Categorical: the category a missing entry takes (missingValues Impute); null encodes it all-zero.</summary>
    [JsonPropertyName("imputeCategory")]
    public string? ImputeCategory { get; init; }

    /// <summary>Numeric: subtracted before dividing by <see cref="Divisor"/>.</summary>
    [JsonPropertyName("shift")]
    public double Shift { get; init; }

    /// <summary>Numeric: the normalised value is (x - shift) / divisor.</summary>
    [JsonPropertyName("divisor")]
    public double Divisor { get; init; } = 1.0;

    [JsonIgnore]
    public int Width => Kind == FeatureKinds.Categorical ? Categories?.Count ?? 0 : 1;

    public float Normalize(double value) => (float)((value - Shift) / Divisor);

    /// <summary>
    /// The feature of a numeric value (null = missing): the value, or the fitted imputation value when missing,
    /// normalised. Training and serving both encode through here.
    /// </summary>
    /// <exception cref="DataException">Missing without an imputation value, or the normalised value leaves float range.</exception>
    public float EncodeNumber(double? value, string missingValuePolicy, long? row = null)
    {
        var raw = value ?? ImputeValue ?? throw new DataException(
            $"{RowPrefix(row)}column '{Name}': missing value (the model was fitted with missingValues.policy {missingValuePolicy}, so it has no imputation value).", null, row, Name);
        // Raw values are 32-bit, as the data loader holds them, so a value encodes the same from a file or a request.
        double x = (float)raw;
        var feature = Normalize(x);
        return float.IsFinite(feature)
            ? feature
            : throw new DataException($"{RowPrefix(row)}column '{Name}': {x.ToString("R", CultureInfo.InvariantCulture)} normalises to {feature}, beyond float range.", null, row, Name);
    }

    /// <summary>
    /// Writes the one-hot features of a category (null = missing) into <paramref name="features"/>: a missing value
    /// takes the fitted imputation category (all zeros when it has none but the model was fitted with Impute), and a
    /// category not seen in training is all zeros. Training and serving both encode through here.
    /// </summary>
    /// <returns>False when the category was not seen in training.</returns>
    public bool EncodeCategory(string? category, Span<float> features, string missingValuePolicy, long? row = null)
    {
        if (category is null)
        {
            category = ImputeCategory;
            if (category is null)
            {
                return missingValuePolicy == MissingValuePolicies.Impute
                    ? true
                    : throw new DataException(
                        $"{RowPrefix(row)}column '{Name}': missing value (the model was fitted with missingValues.policy {missingValuePolicy}, so it has no imputation value).", null, row, Name);
            }
        }

        var index = CategoryIndex(category);
        if (index < 0)
        {
            return false;
        }

        features[index] = 1f;
        return true;
    }

    private static string RowPrefix(long? row) => row is { } r ? $"row {r}: " : "";

    /// <summary>The one-hot position of a category; -1 when it was not seen in training.</summary>
    public int CategoryIndex(string category)
    {
        categoryIndex ??= (Categories ?? []).Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        return categoryIndex.TryGetValue(category, out var i) ? i : -1;
    }
}

/// <summary>The checks a numeric cell passes to become a feature, shared by training and serving.</summary>
public static class FeatureValues
{
    /// <summary>The reason given for text that does not parse as a number and is not a missing-value token.</summary>
    public const string NotANumber = "is not a finite number (nor one of data.missingValues.tokens)";

    /// <summary>Why a parsed number cannot be a feature value (NaN, an infinity, beyond float range), or null.</summary>
    public static string? NumberProblem(double value) =>
        !double.IsFinite(value) ? "is not a finite number"
        : Math.Abs(value) > float.MaxValue ? "is beyond float range (±3.4e38)"
        : null;
}
