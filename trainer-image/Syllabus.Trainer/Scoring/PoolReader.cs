using System.Globalization;
using System.Text.Json;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Scoring;

/// <summary>One row of an unlabelled pool as read: who it is, where it came from, and its cells as text.</summary>
/// <param name="Id">The id column's value, or FILE:LINE when the pool has no id column.</param>
/// <param name="Line">1-based: the CSV line the record starts on, the Parquet row, or the JSON entry.</param>
/// <param name="Values">Cells in <see cref="Pool.Columns"/> order; null = an empty or missing cell.</param>
public sealed record PoolRow(string Id, string File, long Line, IReadOnlyList<string?> Values);

/// <summary>A row that cannot be scored, and why.</summary>
public sealed record RejectedRow(string Id, string File, long Line, string Reason);

/// <summary>The pool's rows in file order, its columns, the column naming rows (if any), and the rows that could not even be read.</summary>
public sealed record Pool(IReadOnlyList<string> Columns, IReadOnlyList<PoolRow> Rows, IReadOnlyList<RejectedRow> Rejected, string? IdColumn);

/// <summary>
/// Reads an unlabelled pool through the trainer's record readers: CSV, Parquet (by the .parquet extension), or the
/// JSON body of a ModelDeployment's `GET /v2/models/NAME/uncertain` (by .json). Every file must have the same
/// columns; a record with too few or too many cells, malformed quoting, an empty id or an id seen before is rejected
/// with its file and line, never dropped.
/// </summary>
public static class PoolReader
{
    /// <summary>The id column of a pool read from uncertain rows: REQUEST#ROW.</summary>
    public const string UncertainIdColumn = "request_id";

    public static Pool Read(IReadOnlyList<string> files, string? idColumn)
    {
        ArgumentNullException.ThrowIfNull(files);
        if (files.Count == 0)
        {
            throw new DataException("no pool file given");
        }

        // A serving model's uncertain rows carry their request id and row; they are the identity unless told otherwise.
        if (idColumn is null && files.All(f => f.EndsWith(".json", StringComparison.OrdinalIgnoreCase)))
        {
            idColumn = UncertainIdColumn;
        }

        List<string>? columns = null;
        var rows = new List<PoolRow>();
        var rejected = new List<RejectedRow>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                throw new DataException($"{file}: no such pool file", file);
            }

            var (fileColumns, records) = file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? ReadUncertain(file) : ReadRecords(file);
            if (columns is null)
            {
                columns = fileColumns;
                if (idColumn is not null && !columns.Contains(idColumn, StringComparer.Ordinal))
                {
                    throw new DataException($"{file}: --id-column '{idColumn}' is not a column (columns: {string.Join(", ", columns.Take(12))}{(columns.Count > 12 ? ", ..." : "")})", file, column: idColumn);
                }
            }
            else if (!columns.ToHashSet(StringComparer.Ordinal).SetEquals(fileColumns))
            {
                var extra = fileColumns.Except(columns, StringComparer.Ordinal).Concat(columns.Except(fileColumns, StringComparer.Ordinal)).First();
                throw new DataException($"{file}: its columns differ from {files[0]}'s (column '{extra}' is in one only)", file, column: extra);
            }

            var position = columns.Select(c => fileColumns.IndexOf(c)).ToArray();
            var idIndex = idColumn is null ? -1 : columns.IndexOf(idColumn);
            foreach (var (line, cells, problem) in records)
            {
                var values = position.Select(p => p < cells.Count ? cells[p] : null).ToArray();
                var id = idIndex >= 0 ? values[idIndex] ?? "" : $"{file}:{line.ToString(CultureInfo.InvariantCulture)}";
                if (problem is not null)
                {
                    rejected.Add(new RejectedRow(id, file, line, problem));
                }
                else if (id.Length == 0)
                {
                    rejected.Add(new RejectedRow(id, file, line, $"the id column '{idColumn}' is empty"));
                }
                else if (seen.TryGetValue(id, out var first))
                {
                    rejected.Add(new RejectedRow(id, file, line, $"id '{id}' was already used at {first}"));
                }
                else
                {
                    seen[id] = $"{file}:{line.ToString(CultureInfo.InvariantCulture)}";
                    rows.Add(new PoolRow(id, file, line, values));
                }
            }
        }

        return new Pool(columns!, rows, rejected, idColumn);
    }

    private static (List<string> Columns, IEnumerable<(long Line, IReadOnlyList<string?> Cells, string? Problem)> Records) ReadRecords(string file)
    {
        var format = file.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? Syllabus.Api.DataFormats.Parquet : Syllabus.Api.DataFormats.Csv;
        var reader = RecordReaders.Open(file, format);
        return ([.. reader.Columns], Records(reader));
    }

    private static IEnumerable<(long, IReadOnlyList<string?>, string?)> Records(IRecordReader reader)
    {
        using (reader)
        {
            while (reader.Read())
            {
                var cells = new string?[Math.Min(reader.FieldCount, reader.Columns.Count)];
                for (var i = 0; i < cells.Length; i++)
                {
                    var cell = reader[i];
                    cells[i] = cell.IsNumber ? cell.AsText() : cell.Text;
                }

                var problem = reader.Malformation
                    ?? (reader.FieldCount != reader.Columns.Count ? $"has {reader.FieldCount} fields, the header {reader.Columns.Count}" : null);
                yield return (reader.Line, cells, problem);
            }
        }
    }

    /// <summary>The rows a serving model kept as uncertain (its documented /uncertain body): "REQUEST#ROW" ids, inputs as columns.</summary>
    private static (List<string> Columns, IEnumerable<(long Line, IReadOnlyList<string?> Cells, string? Problem)> Records) ReadUncertain(string file)
    {
        JsonElement rows;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(file));
            rows = document.RootElement.TryGetProperty("rows", out var r) && r.ValueKind == JsonValueKind.Array
                ? r.Clone()
                : throw new DataException($"{file}: not a ModelDeployment's uncertain rows (expected an object with a 'rows' array)", file);
        }
        catch (JsonException e)
        {
            throw new DataException($"{file}: not valid JSON: {e.Message}", file, innerException: e);
        }

        var columns = new List<string> { UncertainIdColumn };
        foreach (var row in rows.EnumerateArray())
        {
            if (row.TryGetProperty("inputs", out var inputs) && inputs.ValueKind == JsonValueKind.Object)
            {
                columns.AddRange(inputs.EnumerateObject().Select(p => p.Name).Where(n => !columns.Contains(n, StringComparer.Ordinal)));
            }
        }

        var records = new List<(long, IReadOnlyList<string?>, string?)>();
        var line = 0L;
        foreach (var row in rows.EnumerateArray())
        {
            line++;
            var cells = new string?[columns.Count];
            string? problem = null;
            if (row.ValueKind != JsonValueKind.Object || !row.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Object)
            {
                problem = "entry has no 'inputs' object";
            }
            else
            {
                var id = row.TryGetProperty("id", out var i) ? i.ToString() : "";
                var index = row.TryGetProperty("row", out var r) ? r.ToString() : "";
                cells[0] = $"{id}#{index}";
                foreach (var property in inputs.EnumerateObject())
                {
                    cells[columns.IndexOf(property.Name)] = property.Value.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.String => property.Value.GetString(),
                        _ => property.Value.GetRawText(),
                    };
                }
            }

            records.Add((line, cells, problem));
        }

        return (columns, records);
    }
}
