using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using CsvHelper;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Scoring;

/// <summary>
/// The JSON written beside a scored batch (OUT.json): how the batch was made and what the labelling service needs to
/// show and export it (classes, the feature columns in file order, the label column, an image shape).
/// </summary>
public sealed class ScoredBatchManifest
{
    public const string CurrentFormat = "syllabus-scored-batch/v1";

    [JsonPropertyName("format")]
    public string Format { get; init; } = CurrentFormat;

    [JsonPropertyName("strategy")]
    public string Strategy { get; init; } = "";

    [JsonPropertyName("models")]
    public IReadOnlyList<string> Models { get; init; } = [];

    [JsonPropertyName("trainingRuns")]
    public IReadOnlyList<string?> TrainingRuns { get; init; } = [];

    [JsonPropertyName("schemaFingerprint")]
    public string SchemaFingerprint { get; init; } = "";

    [JsonPropertyName("classes")]
    public IReadOnlyList<string> Classes { get; init; } = [];

    /// <summary>The label column a training file of these features takes (the model's).</summary>
    [JsonPropertyName("labelColumn")]
    public string LabelColumn { get; init; } = "label";

    /// <summary>The pool's columns other than the id column, in file order: what the batch file carries after its own columns.</summary>
    [JsonPropertyName("featureColumns")]
    public IReadOnlyList<string> FeatureColumns { get; init; } = [];

    [JsonPropertyName("idColumn")]
    public string? IdColumn { get; init; }

    /// <summary>[channels, height, width] when the inputs are an image: the CNN's input shape, or a square of numeric columns.</summary>
    [JsonPropertyName("imageShape")]
    public IReadOnlyList<int>? ImageShape { get; init; }

    /// <summary>The columns holding the image's pixels, channel-major, row by row.</summary>
    [JsonPropertyName("imageColumns")]
    public IReadOnlyList<string>? ImageColumns { get; init; }

    [JsonPropertyName("batchSize")]
    public int BatchSize { get; init; }

    [JsonPropertyName("seed")]
    public int Seed { get; init; }

    [JsonPropertyName("balanceClasses")]
    public bool BalanceClasses { get; init; }

    [JsonPropertyName("diversity")]
    public string Diversity { get; init; } = "none";

    [JsonPropertyName("poolRows")]
    public int PoolRows { get; init; }

    [JsonPropertyName("scoredRows")]
    public int ScoredRows { get; init; }

    [JsonPropertyName("selectedRows")]
    public int SelectedRows { get; init; }

    /// <summary>Pool rows left out because the --exclude-store already holds them.</summary>
    [JsonPropertyName("excludedRows")]
    public int ExcludedRows { get; init; }

    [JsonPropertyName("rejectedRows")]
    public int RejectedRows { get; init; }

    [JsonPropertyName("rejectsFile")]
    public string RejectsFile { get; init; } = "";

    [JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; init; }

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Options));

    /// <exception cref="InvalidDataException">Not a scored batch's manifest.</exception>
    public static ScoredBatchManifest Load(string path)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize<ScoredBatchManifest>(File.ReadAllText(path))
                ?? throw new InvalidDataException($"{path}: empty");
            return manifest.Format == CurrentFormat
                ? manifest
                : throw new InvalidDataException($"{path}: format '{manifest.Format}' is not {CurrentFormat}");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a scored batch manifest: {e.Message}", e);
        }
    }

    /// <summary>The image shape of a model's inputs: a CNN's [C, H, W]; a square number (at least 8x8) of numeric columns as one grey channel; otherwise null.</summary>
    public static (IReadOnlyList<int>? Shape, IReadOnlyList<string>? Columns) ImageOf(ModelBundle model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var columns = model.Schema.Columns;
        if (columns.Any(c => c.Kind != FeatureKinds.Numeric))
        {
            return (null, null);
        }

        if (model.Config.InputShape is { Count: 3 } shape)
        {
            return (shape, [.. columns.Select(c => c.Name)]);
        }

        var side = (int)Math.Round(Math.Sqrt(columns.Count));
        return side >= 8 && side * side == columns.Count ? ([1, side, side], [.. columns.Select(c => c.Name)]) : (null, null);
    }
}

/// <summary>
/// The score mode's outputs: the batch as CSV (<see cref="MetaColumns"/>, a probability column per class, then the
/// pool's own columns), the rejects as CSV (id, file, line, reason) and the manifest (OUT.json).
/// </summary>
public static class ScoredBatchFile
{
    public const string Id = "id";
    public const string Rank = "rank";
    public const string Score = "score";
    public const string Predicted = "predicted";
    public const string Confidence = "confidence";
    public const string SourceFile = "source_file";
    public const string SourceLine = "source_line";
    public const string ProbabilityPrefix = "proba:";

    public static readonly IReadOnlyList<string> MetaColumns = [Id, Rank, Score, Predicted, Confidence];

    public static string ManifestPath(string batchFile) => batchFile + ".json";

    public static string DefaultRejectsPath(string batchFile) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(batchFile))!, Path.GetFileNameWithoutExtension(batchFile) + ".rejects.csv");

    /// <summary>The header of a batch file: meta columns, probabilities, source, then the pool's columns.</summary>
    /// <exception cref="DataException">A pool column that has the name of one of the batch's own columns.</exception>
    public static IReadOnlyList<string> Header(IReadOnlyList<string> classes, IReadOnlyList<string> featureColumns)
    {
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentNullException.ThrowIfNull(featureColumns);
        string[] own = [.. MetaColumns, .. classes.Select(c => ProbabilityPrefix + c), SourceFile, SourceLine];
        var clash = featureColumns.FirstOrDefault(c => own.Contains(c, StringComparer.Ordinal));
        return clash is null
            ? [.. own, .. featureColumns]
            : throw new DataException($"pool column '{clash}' has the name of a column the scored batch adds ({string.Join(", ", own.Take(6))}, ...); rename it or pass it as --id-column", null, column: clash);
    }

    public static void Write(string path, ScoreResult result, IReadOnlyList<string> classes, IReadOnlyList<string> poolColumns, string? idColumn)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(poolColumns);
        var featureIndex = poolColumns.Select((c, i) => (c, i)).Where(p => p.c != idColumn).ToArray();
        var header = Header(classes, [.. featureIndex.Select(p => p.c)]);
        using var writer = CsvWriter.Create(File.Create(path), new CsvWriterOptions { FormatProvider = CultureInfo.InvariantCulture }, false);
        writer.WriteRecord([.. header]);
        var rank = 0;
        foreach (var index in result.Batch)
        {
            var s = result.Scored[index];
            var record = new List<string>(header.Count)
            {
                s.Row.Id,
                (++rank).ToString(CultureInfo.InvariantCulture),
                s.Score.ToString("R", CultureInfo.InvariantCulture),
                classes[s.Predicted],
                s.Confidence.ToString("R", CultureInfo.InvariantCulture),
            };
            record.AddRange(s.Probabilities.Select(p => p.ToString("R", CultureInfo.InvariantCulture)));
            record.Add(s.Row.Source);
            record.Add(s.Row.Line.ToString(CultureInfo.InvariantCulture));
            record.AddRange(featureIndex.Select(p => s.Row.Values[p.i] ?? ""));
            writer.WriteRecord([.. record]);
        }
    }

    public static void WriteRejects(string path, IReadOnlyList<RejectedRow> rejected)
    {
        ArgumentNullException.ThrowIfNull(rejected);
        using var writer = CsvWriter.Create(File.Create(path), new CsvWriterOptions { FormatProvider = CultureInfo.InvariantCulture }, false);
        writer.WriteRecord([Id, SourceFile, SourceLine, "reason"]);
        foreach (var r in rejected.OrderBy(r => r.File, StringComparer.Ordinal).ThenBy(r => r.Line))
        {
            writer.WriteRecord([r.Id, r.File, r.Line.ToString(CultureInfo.InvariantCulture), r.Reason]);
        }
    }
}
