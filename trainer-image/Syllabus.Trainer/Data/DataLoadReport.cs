using System.Text.Json.Serialization;

namespace Syllabus.Trainer.Data;

/// <summary>What loading did: rows read and used per file, skipped rows with their place and reason, imputed and unknown values.</summary>
public sealed class DataLoadReport
{
    /// <summary>Bad rows kept in detail; the counts stay exact past it.</summary>
    public const int MaxListedBadRows = 200;

    private readonly List<DataFileReport> files = [];
    private readonly List<BadRow> badRows = [];
    private readonly List<BadRow> skippedRows = [];
    private readonly SortedDictionary<string, long> imputed = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, long> unknownCategories = new(StringComparer.Ordinal);
    private readonly List<string> notes = [];

    [JsonPropertyName("files")]
    public IReadOnlyList<DataFileReport> Files => files;

    /// <summary>Malformed rows (wrong field count, unparsable number, unknown label), first <see cref="MaxListedBadRows"/>.</summary>
    [JsonPropertyName("badRows")]
    public IReadOnlyList<BadRow> BadRows => badRows;

    [JsonPropertyName("badRowCount")]
    public long BadRowCount { get; private set; }

    /// <summary>Rows skipped because a feature value was missing (missingValues.policy Skip).</summary>
    [JsonPropertyName("skippedMissingCount")]
    public long SkippedMissingCount { get; private set; }

    /// <summary>Rows skipped for a missing value, first <see cref="MaxListedBadRows"/>, with the first missing column.</summary>
    [JsonPropertyName("skippedMissingRows")]
    public IReadOnlyList<BadRow> SkippedMissingRows => skippedRows;

    /// <summary>Imputed values per column.</summary>
    [JsonPropertyName("imputed")]
    public IReadOnlyDictionary<string, long> Imputed => imputed;

    /// <summary>Categorical values outside the training categories (encoded all-zero), per column.</summary>
    [JsonPropertyName("unknownCategories")]
    public IReadOnlyDictionary<string, long> UnknownCategories => unknownCategories;

    /// <summary>Decisions worth knowing (defaults taken, limits applied).</summary>
    [JsonPropertyName("notes")]
    public IReadOnlyList<string> Notes => notes;

    internal DataFileReport AddFile(string path, string split)
    {
        var file = new DataFileReport { Path = path, Split = split };
        files.Add(file);
        return file;
    }

    internal void AddBadRow(DataFileReport file, long line, string? column, string reason)
    {
        BadRowCount++;
        file.BadRows++;
        if (badRows.Count < MaxListedBadRows)
        {
            badRows.Add(new BadRow { File = file.Path, Line = line, Column = column, Reason = reason });
        }
    }

    internal void AddSkippedMissing(DataFileReport file, long line, string column)
    {
        SkippedMissingCount++;
        file.SkippedMissing++;
        if (skippedRows.Count < MaxListedBadRows)
        {
            skippedRows.Add(new BadRow { File = file.Path, Line = line, Column = column, Reason = "missing value (missingValues.policy Skip)" });
        }
    }

    internal void AddImputed(string column, long count)
    {
        if (count > 0)
        {
            imputed[column] = imputed.GetValueOrDefault(column) + count;
        }
    }

    internal void AddUnknownCategories(string column, long count)
    {
        if (count > 0)
        {
            unknownCategories[column] = unknownCategories.GetValueOrDefault(column) + count;
        }
    }

    internal void AddNote(string note) => notes.Add(note);
}

/// <summary>One data file read by the loader.</summary>
public sealed class DataFileReport
{
    [JsonPropertyName("path")]
    public string Path { get; init; } = "";

    /// <summary>train, validation, test, replay or score.</summary>
    [JsonPropertyName("split")]
    public string Split { get; init; } = "";

    [JsonPropertyName("rowsRead")]
    public long RowsRead { get; internal set; }

    /// <summary>Rows that were parsed and kept (before any split or limit).</summary>
    [JsonPropertyName("rowsUsed")]
    public long RowsUsed { get; internal set; }

    [JsonPropertyName("badRows")]
    public long BadRows { get; internal set; }

    [JsonPropertyName("skippedMissing")]
    public long SkippedMissing { get; internal set; }
}

/// <summary>A skipped malformed row.</summary>
public sealed class BadRow
{
    [JsonPropertyName("file")]
    public string File { get; init; } = "";

    /// <summary>1-based line (CSV, where the record starts) or row (Parquet).</summary>
    [JsonPropertyName("line")]
    public long Line { get; init; }

    [JsonPropertyName("column")]
    public string? Column { get; init; }

    [JsonPropertyName("reason")]
    public string Reason { get; init; } = "";

    public override string ToString() => Column is null ? $"{File}:{Line}: {Reason}" : $"{File}:{Line}: column '{Column}': {Reason}";
}
