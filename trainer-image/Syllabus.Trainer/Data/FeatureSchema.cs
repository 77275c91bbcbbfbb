using System.Globalization;
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
    /// Encodes one raw example (column name -> value as text; null or one of <see cref="MissingValueTokens"/> = missing) into features. Missing values
    /// are imputed when the schema was fitted with Impute, otherwise they are an error; unknown categories encode as
    /// all zeros.
    /// </summary>
    public float[] Encode(IReadOnlyDictionary<string, string?> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var result = new float[FeatureCount];
        var offset = 0;
        foreach (var column in Columns)
        {
            values.TryGetValue(column.Name, out var text);
            var cell = RawCell.OfText(text);
            var isMissing = (missingTokens ??= new MissingValueTokens(MissingValueTokens)).IsMissing(cell);
            if (column.Kind == FeatureKinds.Categorical)
            {
                string? category = isMissing ? column.ImputeCategory : cell.AsText();
                if (isMissing && category is null && MissingValuePolicy != MissingValuePolicies.Impute)
                {
                    throw new DataException($"column '{column.Name}': missing value.", null, column: column.Name);
                }

                if (category is not null && column.CategoryIndex(category) is var index && index >= 0)
                {
                    result[offset + index] = 1f;
                }
            }
            else
            {
                double x;
                if (isMissing)
                {
                    x = column.ImputeValue ?? throw new DataException($"column '{column.Name}': missing value.", null, column: column.Name);
                }
                else if (!cell.TryGetNumber(out x))
                {
                    throw new DataException($"column '{column.Name}': '{text}' is not a number.", null, column: column.Name);
                }

                result[offset] = column.Normalize(x);
            }

            offset += column.Width;
        }

        return result;
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

    /// <summary>The one-hot position of a category; -1 when it was not seen in training.</summary>
    public int CategoryIndex(string category)
    {
        categoryIndex ??= (Categories ?? []).Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        return categoryIndex.TryGetValue(category, out var i) ? i : -1;
    }
}
