using System.Globalization;
using System.Text.Json;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Scoring;

/// <summary>One row of an unlabelled pool as read: who it is, where it came from, and its cells as text.</summary>
/// <param name="Id">The id column's value, or FILE:LINE when the pool has no id column.</param>
/// <param name="Line">1-based: the CSV line the record starts on, the Parquet row, or the JSON entry.</param>
/// <param name="Values">Cells in <see cref="Pool.Columns"/> order; null = an empty or missing cell.</param>
public sealed record PoolRow(string Id, string File, long Line, IReadOnlyList<string?> Values)
{
    /// <summary>
    /// A serve pod's uncertain row: the requests that sent it, as REQUEST#ROW (several when clients sent the same row
    /// again); information only, never its identity (clients may reuse request ids). Null for dataset rows.
    /// </summary>
    public IReadOnlyList<string>? Requests { get; init; }

    /// <summary>Where the row came from, for a person: the file, and the requests of an uncertain row.</summary>
    public string Source => Requests is { Count: > 0 } requests ? $"{File} (request {string.Join("; ", requests)})" : File;
}

/// <summary>A row that cannot be scored, and why.</summary>
public sealed record RejectedRow(string Id, string File, long Line, string Reason);

/// <summary>The pool's rows in file order, its columns, the column naming rows (if any), and the rows that could not even be read.</summary>
public sealed record Pool(IReadOnlyList<string> Columns, IReadOnlyList<PoolRow> Rows, IReadOnlyList<RejectedRow> Rejected, string? IdColumn);

/// <summary>
/// Reads an unlabelled pool through the trainer's record readers: CSV, Parquet (by the .parquet extension), or the
/// JSON body of a ModelDeployment's `GET /v2/models/NAME/uncertain` (by .json). Every file must have the same
/// columns; a record with too few or too many cells, malformed quoting, an empty id or an id seen before is rejected
/// with its file and line, never dropped. An uncertain row is identified by its content (<see cref="ContentId"/>):
/// the same inputs sent again are the same row, its requests listed together.
/// </summary>
public static class PoolReader
{
    /// <summary>The id column of a pool read from uncertain rows: the row's <see cref="ContentId"/>.</summary>
    public const string UncertainIdColumn = "live_id";

    /// <summary>
    /// The identity of an uncertain live row: <c>live:</c> and the first 128 bits (hex) of the SHA-256 of its inputs
    /// as the serve pod wrote them, column by column in ordinal name order, so two different rows never share an id
    /// whatever request ids clients sent, and the same row sent twice (or kept by two pods) is one row.
    /// </summary>
    public static string ContentId(IEnumerable<KeyValuePair<string, string?>> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var text = new System.Text.StringBuilder();
        foreach (var (name, value) in inputs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // Unit and record separators keep names and values apart; a null cell is not the text "null".
            text.Append(name).Append('\u001f').Append(value is null ? "\u0000" : "=" + value).Append('\u001e');
        }

        return "live:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text.ToString())))[..32];
    }

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
        var seen = new Dictionary<string, (string At, int Row)>(StringComparer.Ordinal);
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
            foreach (var (line, cells, problem, request) in records)
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
                    if (request is not null && rows[first.Row].Requests is { } requests)
                    {
                        // The same live row sent again: one row, both requests recorded.
                        rows[first.Row] = rows[first.Row] with { Requests = [.. requests, request] };
                    }
                    else
                    {
                        rejected.Add(new RejectedRow(id, file, line, $"id '{id}' was already used at {first.At}"));
                    }
                }
                else
                {
                    seen[id] = ($"{file}:{line.ToString(CultureInfo.InvariantCulture)}", rows.Count);
                    rows.Add(new PoolRow(id, file, line, values) { Requests = request is null ? null : [request] });
                }
            }
        }

        return new Pool(columns!, rows, rejected, idColumn);
    }

    private static (List<string> Columns, IEnumerable<(long Line, IReadOnlyList<string?> Cells, string? Problem, string? Request)> Records) ReadRecords(string file)
    {
        var format = file.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? Syllabus.Api.DataFormats.Parquet : Syllabus.Api.DataFormats.Csv;
        var reader = RecordReaders.Open(file, format);
        return ([.. reader.Columns], Records(reader));
    }

    private static IEnumerable<(long, IReadOnlyList<string?>, string?, string?)> Records(IRecordReader reader)
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
                yield return (reader.Line, cells, problem, null);
            }
        }
    }

    /// <summary>The rows a serving model kept as uncertain (its documented /uncertain body): content ids, inputs as columns, REQUEST#ROW beside.</summary>
    private static (List<string> Columns, IEnumerable<(long Line, IReadOnlyList<string?> Cells, string? Problem, string? Request)> Records) ReadUncertain(string file)
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
            // An entry that is not an object is rejected below with its position, not a crash here.
            if (row.ValueKind == JsonValueKind.Object && row.TryGetProperty("inputs", out var inputs) && inputs.ValueKind == JsonValueKind.Object)
            {
                columns.AddRange(inputs.EnumerateObject().Select(p => p.Name).Where(n => !columns.Contains(n, StringComparer.Ordinal)));
            }
        }

        var records = new List<(long, IReadOnlyList<string?>, string?, string?)>();
        var line = 0L;
        foreach (var row in rows.EnumerateArray())
        {
            line++;
            var cells = new string?[columns.Count];
            string? problem = null;
            string? request = null;
            if (row.ValueKind != JsonValueKind.Object || !row.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Object)
            {
                problem = "entry has no 'inputs' object";
            }
            else
            {
                var id = row.TryGetProperty("id", out var i) ? i.ToString() : "";
                var index = row.TryGetProperty("row", out var r) ? r.ToString() : "";
                request = $"{id}#{index}";
                var values = inputs.EnumerateObject().Select(property => KeyValuePair.Create(property.Name, property.Value.ValueKind switch
                {
                    JsonValueKind.Null => null,
                    JsonValueKind.String => property.Value.GetString(),
                    _ => property.Value.GetRawText(),
                })).ToList();
                foreach (var (name, value) in values)
                {
                    cells[columns.IndexOf(name)] = value;
                }

                cells[0] = ContentId(values);
            }

            records.Add((line, cells, problem, request));
        }

        return (columns, records);
    }
}
