using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsvHelper;
using Parquet;
using Parquet.Schema;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Scoring;

namespace Syllabus.Trainer.Labeling;

/// <summary>Export formats, by their CLI and query names.</summary>
public static class ExportFormats
{
    public const string Csv = "csv";
    public const string Parquet = "parquet";
    public const string LabelStudio = "label-studio";

    public static readonly IReadOnlyList<string> All = [Csv, Parquet, LabelStudio];
}

/// <summary>
/// Moves items and labels in and out of a <see cref="LabelStore"/>: scored batches from the score mode in; labelled
/// items out as a training dataset (the original feature columns and the label column, CSV or Parquet); and Label
/// Studio's task JSON both ways (choices results, predictions with a score).
/// </summary>
public static class LabelExchange
{
    /// <summary>Label Studio control and object names used in results: a Choices tag "label" over an object "item".</summary>
    public const string FromName = "label";
    public const string ToName = "item";
    public const string IdField = "syllabus_id";

    /// <summary>The manifest beside a batch file (OUT.json), when the score mode wrote one.</summary>
    public static ScoredBatchManifest? ManifestOf(string batchFile)
    {
        var path = ScoredBatchFile.ManifestPath(batchFile);
        return File.Exists(path) ? ScoredBatchManifest.Load(path) : null;
    }

    /// <summary>The store schema for batches: their manifest's feature columns, label column and image shape.</summary>
    public static StoreSchema SchemaFor(string batchFile, IReadOnlyList<string> labels, ScoredBatchManifest? manifest)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (manifest is not null)
        {
            return new StoreSchema(labels, manifest.FeatureColumns, manifest.LabelColumn, manifest.ImageShape, manifest.ImageColumns);
        }

        using var reader = RecordReaders.Open(batchFile, Syllabus.Api.DataFormats.Csv);
        return new StoreSchema(labels, [.. reader.Columns.Where(c => !IsBatchColumn(c))], "label", null, null);
    }

    /// <summary>The items of a scored batch file, strictly: an unreadable record is an error naming its line.</summary>
    /// <exception cref="DataException">The file is not a scored batch, or a record is malformed.</exception>
    public static List<LabelItem> ReadBatch(string batchFile, StoreSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        using var reader = RecordReaders.Open(batchFile, Syllabus.Api.DataFormats.Csv);
        int Index(string column) => reader.Columns.ToList().IndexOf(column);
        var id = Index(ScoredBatchFile.Id);
        if (id < 0)
        {
            throw new DataException($"{batchFile}: no '{ScoredBatchFile.Id}' column; is it a batch the score mode wrote?", batchFile, 1, ScoredBatchFile.Id);
        }

        var features = schema.FeatureColumns.Select(c => (c, i: Index(c))).ToArray();
        if (features.FirstOrDefault(f => f.i < 0) is { c: not null } absent)
        {
            throw new DataException($"{batchFile}: feature column '{absent.c}' of the store is missing", batchFile, 1, absent.c);
        }

        var probabilities = reader.Columns.Select((c, i) => (c, i)).Where(p => p.c.StartsWith(ScoredBatchFile.ProbabilityPrefix, StringComparison.Ordinal)).ToArray();
        int rank = Index(ScoredBatchFile.Rank), score = Index(ScoredBatchFile.Score), predicted = Index(ScoredBatchFile.Predicted),
            confidence = Index(ScoredBatchFile.Confidence), file = Index(ScoredBatchFile.SourceFile), line = Index(ScoredBatchFile.SourceLine);
        var batch = Path.GetFileName(batchFile);
        var items = new List<LabelItem>();
        while (reader.Read())
        {
            if (reader.Malformation is { } problem || reader.FieldCount != reader.Columns.Count)
            {
                throw new DataException($"{batchFile}:{reader.Line}: {reader.Malformation ?? $"has {reader.FieldCount} fields, the header {reader.Columns.Count}"}", batchFile, reader.Line);
            }

            string? Cell(int i) => i < 0 ? null : reader[i].Text is { Length: > 0 } t ? t : null;
            double? Number(int i) => Cell(i) is { } t ? double.Parse(t, CultureInfo.InvariantCulture) : null;
            try
            {
                items.Add(new LabelItem(
                    Cell(id) ?? throw new DataException($"{batchFile}:{reader.Line}: empty id", batchFile, reader.Line, ScoredBatchFile.Id),
                    batch, (int?)Number(rank), Number(score), Cell(predicted), Number(confidence),
                    probabilities.Length == 0 ? null : probabilities.ToDictionary(p => p.c[ScoredBatchFile.ProbabilityPrefix.Length..], p => Number(p.i) ?? double.NaN),
                    Cell(file), (long?)Number(line), [.. features.Select(f => Cell(f.i))]));
            }
            catch (FormatException e)
            {
                throw new DataException($"{batchFile}:{reader.Line}: a number column holds text: {e.Message}", batchFile, reader.Line, innerException: e);
            }
        }

        return items;
    }

    /// <summary>Adds a scored batch's items that the store does not hold yet; returns how many were new.</summary>
    /// <exception cref="LabelingException">400: the batch was scored from a pool with other feature columns.</exception>
    /// <exception cref="DataException">The file is not a readable scored batch.</exception>
    public static async Task<int> ImportBatchAsync(LabelStore store, string batchFile, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var manifest = ManifestOf(batchFile);
        if (manifest is not null && !manifest.FeatureColumns.SequenceEqual(store.Schema.FeatureColumns))
        {
            throw new LabelingException(400, $"{batchFile}: its feature columns differ from the store's (was it scored from another pool?)");
        }

        return await store.ImportAsync(ReadBatch(batchFile, store.Schema), cancellationToken);
    }

    /// <summary>Writes the labelled items as a dataset: the feature columns and the label column (replacing a column of that name).</summary>
    /// <returns>How many labelled items were written.</returns>
    public static async Task<int> ExportDatasetAsync(LabelStore store, Stream destination, string format, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var labelled = await store.ItemsAsync(ItemStates.Labelled, cancellationToken);
        var schema = store.Schema;
        var labelIndex = schema.FeatureColumns.ToList().IndexOf(schema.LabelColumn);
        string[] header = labelIndex >= 0 ? [.. schema.FeatureColumns] : [.. schema.FeatureColumns, schema.LabelColumn];
        var rows = labelled.Select(item =>
        {
            var values = item.Item.Features.ToArray();
            if (labelIndex >= 0)
            {
                values[labelIndex] = item.Label;
                return values;
            }

            return [.. values, item.Label];
        }).ToList();
        if (format == ExportFormats.Csv)
        {
            using var writer = CsvWriter.Create(destination, new CsvWriterOptions { FormatProvider = CultureInfo.InvariantCulture }, true);
            writer.WriteRecord(header);
            foreach (var row in rows)
            {
                writer.WriteRecord([.. row.Select(v => v ?? "")]);
            }
        }
        else if (format == ExportFormats.Parquet)
        {
            await WriteParquetAsync(destination, header, rows, labelIndex >= 0 ? labelIndex : header.Length - 1, cancellationToken);
        }
        else
        {
            throw new LabelingException(400, $"dataset format '{format}' is not one of {ExportFormats.Csv}, {ExportFormats.Parquet}");
        }

        return rows.Count;
    }

    /// <summary>Numeric columns (every value a number or empty) as nullable doubles, the rest and the label as strings.</summary>
    private static async Task WriteParquetAsync(Stream destination, string[] header, List<string?[]> rows, int labelIndex, CancellationToken cancellationToken)
    {
        var numeric = header.Select((name, c) => c != labelIndex && rows.All(r => r[c] is null || r[c]!.Length == 0 || double.TryParse(r[c]!, NumberStyles.Float, CultureInfo.InvariantCulture, out _))).ToArray();
        var fields = header.Select((name, c) => numeric[c] ? (DataField)new DataField<double?>(name) : new DataField<string>(name, nullable: true)).ToArray();
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), destination, cancellationToken: cancellationToken);
        using var group = writer.CreateRowGroup();
        for (var c = 0; c < header.Length; c++)
        {
            if (numeric[c])
            {
                var values = rows.Select(r => r[c] is { Length: > 0 } t ? double.Parse(t, CultureInfo.InvariantCulture) : (double?)null).ToArray();
                await group.WriteAsync<double>(fields[c], values.AsMemory(), cancellationToken: cancellationToken);
            }
            else
            {
                var values = rows.Select(r => r[c] is { Length: > 0 } t ? t : null).ToArray();
                await group.WriteAsync(fields[c], values!);
            }
        }
    }

    /// <summary>Every item as a Label Studio task: features and the id in data, the label (if any) as an annotation, the model's prediction with its confidence as score.</summary>
    public static async Task<JsonArray> ExportLabelStudioAsync(LabelStore store, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var items = await store.ItemsAsync(null, cancellationToken);
        var tasks = new JsonArray();
        foreach (var stored in items)
        {
            var data = new JsonObject { [IdField] = stored.Item.Id };
            for (var c = 0; c < store.Schema.FeatureColumns.Count; c++)
            {
                data[store.Schema.FeatureColumns[c]] = stored.Item.Features[c];
            }

            var task = new JsonObject
            {
                ["id"] = stored.Sequence,
                ["data"] = data,
                ["annotations"] = stored.State == ItemStates.Labelled
                    ? new JsonArray(new JsonObject { ["id"] = stored.EventSequence, ["result"] = Choice(stored.Label!) })
                    : new JsonArray(),
            };
            if (stored.Item.Predicted is { } predicted)
            {
                task["predictions"] = new JsonArray(new JsonObject
                {
                    ["model_version"] = stored.Item.Batch,
                    ["score"] = stored.Item.Confidence,
                    ["result"] = Choice(predicted),
                });
            }

            tasks.Add(task);
        }

        return tasks;
    }

    private static JsonArray Choice(string label) => new(new JsonObject
    {
        ["from_name"] = FromName,
        ["to_name"] = ToName,
        ["type"] = "choices",
        ["value"] = new JsonObject { ["choices"] = new JsonArray(label) },
    });

    /// <summary>
    /// Reads Label Studio tasks: items from data (<see cref="IdField"/> or the task id; the store's feature columns, all
    /// required), the first prediction's choice and score, and each task's latest annotation that is not cancelled.
    /// </summary>
    /// <exception cref="LabelingException">400: not a task list, a task without a feature, or a choice outside the labels; each named.</exception>
    public static (List<LabelItem> Items, List<(string ItemId, string Label, string Key)> Labels) ReadLabelStudio(JsonNode? document, IReadOnlyList<string>? featureColumns, string batch)
    {
        if (document is not JsonArray tasks)
        {
            throw new LabelingException(400, "a Label Studio import is a JSON array of tasks");
        }

        var items = new List<LabelItem>();
        var labels = new List<(string, string, string)>();
        for (var t = 0; t < tasks.Count; t++)
        {
            var task = tasks[t] as JsonObject ?? throw new LabelingException(400, $"task {t}: not an object");
            var data = task["data"] as JsonObject ?? throw new LabelingException(400, $"task {t}: no 'data' object");
            var taskId = task["id"]?.ToString();
            var id = data[IdField]?.ToString() ?? taskId ?? throw new LabelingException(400, $"task {t}: neither data.{IdField} nor id");
            featureColumns ??= [.. data.Select(p => p.Key).Where(k => k != IdField)];
            var features = featureColumns.Select(c => data.ContainsKey(c)
                ? data[c] is JsonValue v && v.TryGetValue<string>(out var s) ? s : data[c]?.ToJsonString()
                : throw new LabelingException(400, $"task {t} ('{id}'): data has no '{c}' (the store's feature columns: {string.Join(", ", featureColumns.Take(8))}{(featureColumns.Count > 8 ? ", ..." : "")})")).ToList();
            string? predicted = null;
            double? score = null;
            if (task["predictions"] is JsonArray { Count: > 0 } predictions && predictions[0] is JsonObject prediction)
            {
                predicted = FirstChoice(prediction["result"], t);
                score = prediction["score"]?.GetValue<double>();
            }

            items.Add(new LabelItem(id, batch, null, null, predicted, score, null, null, null, features));
            var annotation = (task["annotations"] as JsonArray ?? [])
                .OfType<JsonObject>()
                .LastOrDefault(a => a["was_cancelled"]?.GetValue<bool>() != true && FirstChoice(a["result"], t) is not null);
            if (annotation is not null)
            {
                labels.Add((id, FirstChoice(annotation["result"], t)!, $"label-studio:{taskId ?? id}:{annotation["id"]?.ToString() ?? "0"}"));
            }
        }

        return (items, labels);
    }

    /// <summary>
    /// Imports Label Studio tasks into the store: every task is checked first (features, a known label for each
    /// annotation), so a bad file changes nothing; annotations are labels with the key label-studio:TASK:ANNOTATION,
    /// so importing a file again adds nothing.
    /// </summary>
    /// <returns>Tasks read, items new to the store, labels new to the store.</returns>
    public static async Task<(int Tasks, int ItemsAdded, int LabelsAdded)> ImportLabelStudioAsync(LabelStore store, JsonNode? document, string batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var (items, labels) = ReadLabelStudio(document, store.Schema.FeatureColumns, batch);
        if (labels.FirstOrDefault(l => !store.Schema.Labels.Contains(l.Label)) is { ItemId: not null } outside)
        {
            throw new LabelingException(400, $"task '{outside.ItemId}': label '{outside.Label}' is not one of the labels {string.Join(",", store.Schema.Labels)}");
        }

        var added = await store.ImportAsync(items, cancellationToken);
        var applied = 0;
        foreach (var (itemId, label, key) in labels)
        {
            applied += (await store.LabelAsync(itemId, label, key, cancellationToken)).Duplicate ? 0 : 1;
        }

        return (items.Count, added, applied);
    }

    private static string? FirstChoice(JsonNode? result, int task) =>
        (result as JsonArray ?? []).OfType<JsonObject>()
            .Where(r => r["type"]?.ToString() == "choices")
            .Select(r => r["value"]?["choices"] is JsonArray { Count: > 0 } choices ? choices[0]!.ToString() : throw new LabelingException(400, $"task {task}: a choices result without value.choices"))
            .FirstOrDefault();

    private static bool IsBatchColumn(string column) =>
        ScoredBatchFile.MetaColumns.Contains(column) || column is ScoredBatchFile.SourceFile or ScoredBatchFile.SourceLine || column.StartsWith(ScoredBatchFile.ProbabilityPrefix, StringComparison.Ordinal);
}
