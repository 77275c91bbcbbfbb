using System.Globalization;
using Syllabus.Api;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Storage;

namespace Syllabus.Trainer.Data;

/// <summary>Everything the trainer needs from DataSpec: encoded splits, the fitted schema, the load report and the raw profile.</summary>
public sealed record LoadedData(
    TabularData Train,
    TabularData Validation,
    TabularData? Test,
    FeatureSchema Schema,
    DataLoadReport Report,
    DataProfile Profile)
{
    /// <summary>Older data to mix in (DataSpec.replay), encoded with the same schema.</summary>
    public TabularData? Replay { get; init; }

    /// <summary>The training rows, in <see cref="Train"/>'s order, encoded with the curriculum teacher's own schema.</summary>
    public TabularData? TrainForTeacher { get; init; }

    /// <summary>
    /// The named test set's identity, <c>sha256:HEX</c> over its files' names and bytes in load order, so two runs' test
    /// metrics are known to be comparable; null when there is no named test set (a validation split is per run).
    /// </summary>
    public string? TestDataFingerprint { get; init; }
}

/// <summary>A window read for drift: the rows encoded, and the raw feature values (NaN / null where missing) by column.</summary>
public sealed record WindowData(
    TabularData Encoded,
    IReadOnlyList<string> NumericNames,
    IReadOnlyList<float[]> Numeric,
    IReadOnlyList<string> CategoricalNames,
    IReadOnlyList<string?[]> Categorical);

/// <summary>Loads CSV and Parquet data as DataSpec describes.</summary>
public static class DataLoader
{
    /// <summary>Validation share used when DataSpec names neither validation nor validationFraction.</summary>
    public const double DefaultValidationFraction = 0.1;

    /// <summary>
    /// Reads the training data, fits the schema (classes, categories, imputation, normalisation) on it, and loads the
    /// other splits with it. With <paramref name="preprocessing"/> (a base model's fitted schema, for fine-tuning)
    /// nothing is fitted: its feature columns (same names, order and kinds, or a <see cref="DataException"/> naming
    /// the first that differs), normalisation statistics, categories and imputation values are used as they are, and
    /// its classes, when it lists any, are the class list.
    /// </summary>
    /// <param name="teacher">A curriculum teacher's schema: the training rows are also encoded with it
    /// (<see cref="LoadedData.TrainForTeacher"/>), so the teacher scores them as it was trained to.</param>
    public static LoadedData Load(DataSpec spec, string baseDirectory, int seed, FeatureSchema? preprocessing = null, FeatureSchema? teacher = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(baseDirectory);
        var report = new DataLoadReport();
        var budget = new BadRowBudget(spec.MaxBadRows);

        var trainFiles = ResolveFiles(spec.Train, baseDirectory);
        var plan = ColumnPlan.FromSpec(spec, trainFiles[0]);
        if (preprocessing is not null)
        {
            CheckKept(spec, plan, preprocessing, trainFiles[0]);
            report.AddNote("baseModel: the base model's preprocessing is kept (feature order, normalisation statistics, categories, imputation values).");
        }

        IReadOnlyList<string>? knownClasses = preprocessing is { Classes.Count: > 0 } ? preprocessing.Classes
            : spec.Classes is { Count: > 0 } ? spec.Classes : null;
        var rows = ParseFiles(trainFiles, spec.Train.Format, "train", plan, spec, knownClasses, labelRequired: true, report, budget);
        var trainRowCount = rows.Count;
        foreach (var (source, i) in (spec.AdditionalTrain ?? []).Select((s, i) => (s, i)))
        {
            // Rows keep their own file and line; from here on they are training rows like train's.
            var files = ResolveFiles(source, baseDirectory);
            CheckSameColumns(files, source.Format, $"data.additionalTrain[{i}]", plan, trainFiles[0], spec.Train.Format);
            rows.AddRange(ParseFiles(files, source.Format, "train", plan, spec, knownClasses, labelRequired: true, report, budget));
        }

        if (rows.Count == 0)
        {
            throw new DataException($"No usable training rows in {spec.Train.Uri} ({report.BadRowCount} bad, {report.SkippedMissingCount} skipped for missing values).", trainFiles[0]);
        }

        var classes = knownClasses ?? InferClasses(rows);
        if (knownClasses is null)
        {
            MapLabels(rows, classes);
        }

        // The label budget bounds the labels the run uses from data.train: it is drawn before the validation hold-out, so
        // held-out rows come out of it (a separate data.validation file is not part of it). data.additionalTrain's rows
        // are added whole: they are labels added to the template's data (a LabelingQueue's export), which a sample
        // would otherwise discard in proportion.
        if (spec.Limit is { } limit && limit < trainRowCount)
        {
            var trainRows = rows[..trainRowCount];
            var added = rows[trainRowCount..];
            var chosen = Sampling.StratifiedSample(trainRows.Select(r => r.Label).ToArray(), limit, seed);
            var addedNote = added.Count > 0 ? $" and all {added.Count} rows of data.additionalTrain" : "";
            report.AddNote(spec.Validation is null
                ? $"data.limit: using {limit} of {trainRowCount} labelled rows of data.train (stratified, seeded){addedNote}; the validation hold-out comes out of these {limit + added.Count}."
                : $"data.limit: using {limit} of {trainRowCount} rows of data.train (stratified, seeded){addedNote}.");
            rows = [.. chosen.Select(i => trainRows[i]), .. added];
        }

        List<ParsedRow> validationRows;
        if (spec.Validation is not null)
        {
            var validationFiles = ResolveFiles(spec.Validation, baseDirectory);
            validationRows = ParseFiles(validationFiles, spec.Validation.Format, "validation", plan, spec, classes, labelRequired: true, report, budget);
            RequireRows(validationRows, "data.validation", spec.Validation.Uri, validationFiles, report);
        }
        else
        {
            var fraction = spec.ValidationFraction ?? DefaultValidationFraction;
            if (spec.ValidationFraction is null)
            {
                report.AddNote($"data.validation and data.validationFraction are unset: held out {fraction:0.##} of the training data (stratified, seeded).");
            }

            var (trainIndices, validationIndices) = Sampling.StratifiedSplit(rows.Select(r => r.Label).ToArray(), fraction, seed);
            validationRows = [.. validationIndices.Select(i => rows[i])];
            rows = [.. trainIndices.Select(i => rows[i])];
        }

        var schema = preprocessing is null ? Fit(spec, plan, classes, rows) : new FeatureSchema
        {
            LabelColumn = plan.Label,
            Classes = [.. classes],
            Columns = preprocessing.Columns,
            Normalization = preprocessing.Normalization,
            MissingValuePolicy = preprocessing.MissingValuePolicy,
            // The tokens this model's training files were read with: serving reads requests the same way.
            MissingValueTokens = new MissingValueTokens(spec.MissingValues.Tokens).Tokens,
            DifficultyColumn = plan.Difficulty,
            SliceColumn = plan.Slice,
            WeightColumn = plan.Weight,
            TimestampColumn = plan.Timestamp,
        };
        var profile = BuildProfile(plan, schema, rows, seed);
        var train = Encode(rows, plan, schema, report);
        TabularData? trainForTeacher = null;
        if (teacher is not null)
        {
            var kinds = plan.Features.Select(f => plan.Categorical.Contains(f, StringComparer.Ordinal) ? FeatureKinds.Categorical : FeatureKinds.Numeric).ToList();
            if (teacher.FeatureDifference(plan.Features, kinds) is { } difference)
            {
                throw new DataException($"curriculum.difficulty.teacher: the teacher must take this data's feature columns, but {difference}.", trainFiles[0]);
            }

            // Counts of imputed and unknown values are the run's, not the teacher's: a scratch report.
            trainForTeacher = Encode(rows, plan, teacher, new DataLoadReport());
        }

        var validation = Encode(validationRows, plan, schema, report);

        TabularData? test = null;
        string? testFingerprint = null;
        if (spec.Test is not null)
        {
            var testFiles = ResolveFiles(spec.Test, baseDirectory);
            var testRows = ParseFiles(testFiles, spec.Test.Format, "test", plan, spec, classes, labelRequired: true, report, budget);
            // The gates and the final report are judged on the test set; an empty one is a failure, never a quiet
            // fall-back to the validation split.
            RequireRows(testRows, "data.test", spec.Test.Uri, testFiles, report);
            test = Encode(testRows, plan, schema, report);
            testFingerprint = FilesFingerprint(testFiles);
        }

        TabularData? replay = null;
        if (spec.Replay is not null)
        {
            var replayRows = ParseFiles(ResolveFiles(spec.Replay.Data, baseDirectory), spec.Replay.Data.Format, "replay", plan, spec, classes, labelRequired: true, report, budget);
            if (spec.Replay.BufferSize is { } bufferSize)
            {
                var read = replayRows.Count;
                replayRows = [.. Reservoir<int>.SampleIndices(read, bufferSize, seed).Select(i => replayRows[i])];
                report.AddNote($"data.replay: a replay buffer of {replayRows.Count} of the {read} older rows (reservoir sample, bufferSize {bufferSize}, seed {seed})");
            }

            replay = Encode(replayRows, plan, schema, report);
        }

        return new LoadedData(train, validation, test, schema, report, profile) { Replay = replay, TrainForTeacher = trainForTeacher, TestDataFingerprint = testFingerprint };
    }

    /// <summary>
    /// Loads data with an already fitted schema (score and serve time, or a base model's data). A file without the
    /// label column, or an empty label, gives label -1.
    /// </summary>
    public static TabularData LoadWithSchema(DatasetSource source, DataSpec spec, FeatureSchema schema, string baseDirectory, DataLoadReport report)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(report);
        var plan = ColumnPlan.FromSchema(schema, spec);
        // Missing values are handled as the schema was fitted (its imputation values), whatever the spec says now.
        var asFitted = new DataSpec { MissingValues = new MissingValuesSpec { Policy = schema.MissingValuePolicy, Tokens = [.. schema.MissingValueTokens] } };
        var rows = ParseFiles(ResolveFiles(source, baseDirectory), source.Format, "score", plan, asFitted, schema.Classes, labelRequired: false, report, new BadRowBudget(spec.MaxBadRows));
        return Encode(rows, plan, schema, report);
    }

    /// <summary>
    /// Reads a window of rows (drift) with a fitted schema, strictly: every feature column must be present and no
    /// column may be other than a feature, the label or a special column (a <see cref="DataException"/> names it), and
    /// any bad row fails (no bad-row budget). Returns the raw feature values (the statistics compare these with the
    /// profile) and the rows encoded as the model takes them. Rows without a label, or a file without the label
    /// column, get label −1.
    /// </summary>
    public static WindowData LoadWindow(string path, string format, FeatureSchema schema, DataLoadReport report)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(report);
        var spec = new DataSpec { MaxBadRows = 0, MissingValues = new MissingValuesSpec { Policy = schema.MissingValuePolicy, Tokens = [.. schema.MissingValueTokens] } };
        var plan = ColumnPlan.FromSchema(schema, spec);
        using (var reader = RecordReaders.Open(path, format))
        {
            var known = plan.Features.Concat(schema.NonFeatureColumns).ToHashSet(StringComparer.Ordinal);
            var unknown = reader.Columns.FirstOrDefault(c => !known.Contains(c));
            if (unknown is not null)
            {
                throw new DataException(
                    $"{path}: column '{unknown}' is not an input of this model (its feature columns: {Describe(plan.Features)}; label '{schema.LabelColumn}').", path, 1, unknown);
            }
        }

        var rows = ParseFiles([path], format, "window", plan, spec, schema.Classes, labelRequired: false, report, new BadRowBudget(0));
        var numeric = plan.Numeric.Select((_, c) => rows.Select(r => r.Numeric[c]).ToArray()).ToList();
        var categorical = plan.Categorical.Select((_, c) => rows.Select(r => r.Categorical[c]).ToArray()).ToList();
        return new WindowData(Encode(rows, plan, schema, report), plan.Numeric, numeric, plan.Categorical, categorical);
    }

    /// <summary>
    /// An additional training source's files have every column train's rows are read by and no column train's first file
    /// lacks; otherwise a <see cref="DataException"/> naming the field, the file and the column.
    /// </summary>
    private static void CheckSameColumns(string[] files, string format, string field, ColumnPlan plan, string firstTrainFile, string trainFormat)
    {
        HashSet<string> trainColumns;
        using (var train = RecordReaders.Open(firstTrainFile, trainFormat))
        {
            trainColumns = train.Columns.ToHashSet(StringComparer.Ordinal);
        }

        var required = plan.Features.Append(plan.Label).Concat(new[] { plan.Difficulty, plan.Slice, plan.Weight, plan.Timestamp }.OfType<string>()).ToList();
        foreach (var file in files)
        {
            using var reader = RecordReaders.Open(file, format);
            var columns = reader.Columns.ToHashSet(StringComparer.Ordinal);
            if (required.FirstOrDefault(c => !columns.Contains(c)) is { } missing)
            {
                throw new DataException(
                    $"{field}: {file} has no column '{missing}', which the training data is read by (its columns must match data.train's; it has: {Describe(reader.Columns)}).", file, 1, missing);
            }

            if (reader.Columns.FirstOrDefault(c => !trainColumns.Contains(c)) is { } extra)
            {
                throw new DataException(
                    $"{field}: {file} has column '{extra}', which data.train ({firstTrainFile}) does not have (its columns must match data.train's).", file, 1, extra);
            }
        }
    }

    /// <summary>A named split that came out empty (every row bad or skipped) fails, naming the split and why.</summary>
    private static void RequireRows(List<ParsedRow> rows, string field, string uri, string[] files, DataLoadReport report)
    {
        if (rows.Count > 0)
        {
            return;
        }

        var read = report.Files.Where(f => files.Contains(f.Path, StringComparer.Ordinal)).ToList();
        var bad = report.BadRows.Where(b => files.Contains(b.File, StringComparer.Ordinal)).Take(3).Select(b => b.ToString()).ToList();
        throw new DataException(
            $"{field}: no usable rows in {uri}: {read.Sum(f => f.RowsRead)} read, {read.Sum(f => f.BadRows)} bad, {read.Sum(f => f.SkippedMissing)} skipped for missing values"
            + (bad.Count > 0 ? $" (first bad: {string.Join("; ", bad)})" : "") + ".",
            files[0]);
    }

    /// <summary>The files of a source: the file itself, or every file of the format in a folder, sorted by name.</summary>
    /// <summary><c>sha256:HEX</c> over each file's name (without its folder) and bytes, in order.</summary>
    internal static string FilesFingerprint(IReadOnlyList<string> files)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 16];
        foreach (var file in files)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file) + "\n"));
            using var stream = File.OpenRead(file);
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }

        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    internal static string[] ResolveFiles(DatasetSource source, string baseDirectory)
    {
        string path;
        try
        {
            path = ArtifactLocation.ResolvePath(source.Uri, baseDirectory);
        }
        catch (ArgumentException e)
        {
            throw new DataException($"Data URI '{source.Uri}': {e.Message}", source.Uri, innerException: e);
        }

        if (System.IO.File.Exists(path))
        {
            return [path];
        }

        if (Directory.Exists(path))
        {
            var extension = source.Format == DataFormats.Parquet ? "*.parquet" : "*.csv";
            var files = Directory.GetFiles(path, extension).Order(StringComparer.Ordinal).ToArray();
            return files.Length > 0
                ? files
                : throw new DataException($"{path}: the folder has no {extension} files (data URI '{source.Uri}', format {source.Format}).", path);
        }

        throw new DataException($"{path}: no such file or folder (data URI '{source.Uri}').", path);
    }

    private static List<ParsedRow> ParseFiles(
        string[] files,
        string format,
        string split,
        ColumnPlan plan,
        DataSpec spec,
        IReadOnlyList<string>? classes,
        bool labelRequired,
        DataLoadReport report,
        BadRowBudget budget)
    {
        var rows = new List<ParsedRow>();
        var labelLookup = classes is null ? null : new FeatureSchema { Classes = classes };
        var missing = new MissingValueTokens(spec.MissingValues.Tokens);
        foreach (var path in files)
        {
            using var reader = RecordReaders.Open(path, format);
            var file = report.AddFile(path, split);
            var map = plan.Map(reader, labelRequired);
            while (reader.Read())
            {
                file.RowsRead++;
                var row = ParseRow(reader, plan, map, labelRequired, spec.MissingValues.Policy, missing, file, report, budget);
                if (row is null)
                {
                    continue;
                }

                if (labelLookup is not null && row.RawLabel is not null)
                {
                    row.Label = labelLookup.ClassIndex(row.RawLabel);
                    if (row.Label < 0)
                    {
                        budget.Add(report, file, row.Line, plan.Label, $"unknown label '{row.RawLabel}' (classes: {Describe(classes!)})");
                        continue;
                    }
                }

                file.RowsUsed++;
                rows.Add(row);
            }
        }

        return rows;
    }

    private static ParsedRow? ParseRow(IRecordReader reader, ColumnPlan plan, ColumnMap map, bool labelRequired, string missingPolicy, MissingValueTokens missing, DataFileReport file, DataLoadReport report, BadRowBudget budget)
    {
        var line = reader.Line;
        if (reader.Malformation is { } malformation)
        {
            budget.Add(report, file, line, null, malformation);
            return null;
        }

        if (reader.FieldCount != reader.Columns.Count)
        {
            budget.Add(report, file, line, null, $"expected {reader.Columns.Count} fields, found {reader.FieldCount}");
            return null;
        }

        var row = new ParsedRow(file, line, new float[plan.Numeric.Count], new string?[plan.Categorical.Count]);
        int? firstMissing = null;
        for (var c = 0; c < plan.Numeric.Count; c++)
        {
            var index = map.Numeric[c];
            // Fast path: a finite number is present (unless a token such as -999 looks like one).
            if (!missing.HasNumericTokens && reader.TryGetNumber(index, out var x) && FeatureValues.NumberProblem(x) is null)
            {
                row.Numeric[c] = (float)x;
                continue;
            }

            var cell = reader[index];
            if (missing.IsMissing(cell))
            {
                row.Numeric[c] = float.NaN;
                firstMissing ??= index;
            }
            else if (cell.TryGetNumber(out x) && FeatureValues.NumberProblem(x) is null)
            {
                row.Numeric[c] = (float)x;
            }
            else
            {
                // The same check as serving (FeatureSchema.Encode): NaN, infinities and values beyond float range are bad.
                var text = cell.AsText();
                var problem = cell.TryGetNumber(out var parsed) ? FeatureValues.NumberProblem(parsed) : FeatureValues.NotANumber;
                budget.Add(report, file, line, plan.Numeric[c], text.Length == 0
                    ? "an empty cell is not a number (\"\" is not in data.missingValues.tokens)"
                    : $"'{text}' {problem}");
                return null;
            }
        }

        for (var c = 0; c < plan.Categorical.Count; c++)
        {
            var cell = reader[map.Categorical[c]];
            if (missing.IsMissing(cell))
            {
                firstMissing ??= map.Categorical[c];
            }
            else
            {
                row.Categorical[c] = cell.AsText();
            }
        }

        if (map.Label >= 0 && !missing.IsMissing(reader[map.Label]))
        {
            row.RawLabel = reader[map.Label].AsText();
        }
        else if (labelRequired)
        {
            budget.Add(report, file, line, plan.Label, "missing label");
            return null;
        }

        if (map.Difficulty >= 0)
        {
            if (!TryNumber(reader[map.Difficulty], out var d))
            {
                budget.Add(report, file, line, plan.Difficulty, $"difficulty '{reader[map.Difficulty].AsText()}' is not a finite number");
                return null;
            }

            row.Difficulty = d;
        }

        if (map.Weight >= 0)
        {
            if (!TryNumber(reader[map.Weight], out var w) || w < 0)
            {
                budget.Add(report, file, line, plan.Weight, $"weight '{reader[map.Weight].AsText()}' is not a non-negative number");
                return null;
            }

            row.Weight = (float)w;
        }

        if (map.Slice >= 0 && !missing.IsMissing(reader[map.Slice]))
        {
            row.Slice = reader[map.Slice].AsText();
        }

        if (map.Timestamp >= 0 && !missing.IsMissing(reader[map.Timestamp]))
        {
            if (!TryTimestamp(reader[map.Timestamp], out var t))
            {
                budget.Add(report, file, line, plan.Timestamp, $"timestamp '{reader[map.Timestamp].AsText()}' is neither ISO 8601 nor Unix seconds");
                return null;
            }

            row.Timestamp = t;
        }

        if (firstMissing is { } missingColumn)
        {
            switch (missingPolicy)
            {
                case MissingValuePolicies.Skip:
                    report.AddSkippedMissing(file, line, reader.Columns[missingColumn]);
                    return null;
                case MissingValuePolicies.Impute:
                    break;
                default:
                    var name = reader.Columns[missingColumn];
                    throw new DataException(
                        $"{file.Path}:{line}:{missingColumn + 1}: column '{name}': missing value (data.missingValues.policy is {missingPolicy}; use Skip or Impute to accept missing values).",
                        file.Path, line, name);
            }
        }

        return row;
    }

    private static bool TryNumber(RawCell cell, out double value) =>
        cell.TryGetNumber(out value) && double.IsFinite(value);

    private static bool TryTimestamp(RawCell cell, out DateTimeOffset value)
    {
        if (cell.TryGetNumber(out var seconds) && double.IsFinite(seconds))
        {
            try
            {
                value = DateTimeOffset.FromUnixTimeMilliseconds(checked((long)Math.Round(seconds * 1000)));
                return true;
            }
            catch (Exception e) when (e is ArgumentOutOfRangeException or OverflowException)
            {
                value = default;
                return false;
            }
        }

        return DateTimeOffset.TryParse(cell.AsText(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out value);
    }

    /// <summary>
    /// Without data.classes the classes are the labels found, as written: sorted by value when every label is an
    /// integer (so 1..K gives K classes, with no class 0 that never occurs), otherwise by text.
    /// </summary>
    private static List<string> InferClasses(List<ParsedRow> rows)
    {
        var distinct = rows.Select(r => r.RawLabel!).Distinct(StringComparer.Ordinal).ToList();
        var integers = distinct.Select(l => long.TryParse(l, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : (long?)null).ToList();
        return integers.All(v => v is not null)
            ? [.. distinct.Zip(integers).OrderBy(p => p.Second).ThenBy(p => p.First, StringComparer.Ordinal).Select(p => p.First)]
            : [.. distinct.Order(StringComparer.Ordinal)];
    }

    private static void MapLabels(List<ParsedRow> rows, IReadOnlyList<string> classes)
    {
        var lookup = new FeatureSchema { Classes = classes };
        foreach (var row in rows)
        {
            // Classes come from these very labels, so every label maps.
            row.Label = lookup.ClassIndex(row.RawLabel!);
        }
    }

    /// <summary>Whether data of this spec can be encoded with a base model's fitted schema as it is.</summary>
    private static void CheckKept(DataSpec spec, ColumnPlan plan, FeatureSchema kept, string firstTrainFile)
    {
        var kinds = plan.Features.Select(f => plan.Categorical.Contains(f, StringComparer.Ordinal) ? FeatureKinds.Categorical : FeatureKinds.Numeric).ToList();
        if (kept.FeatureDifference(plan.Features, kinds) is { } difference)
        {
            throw new DataException(
                $"baseModel: fine-tuning keeps the base model's features, but {difference}; list them in the base model's order with data.featureColumns (and data.categoricalColumns).",
                firstTrainFile);
        }

        if (spec.Normalization != kept.Normalization)
        {
            throw new DataException(
                $"data.normalization is {spec.Normalization} but the base model was fitted with {kept.Normalization}; fine-tuning keeps the base model's normalisation statistics, so set data.normalization: {kept.Normalization}.");
        }

        if (spec.Normalization == Normalizations.Scale && kept.Columns.FirstOrDefault(c => c.Kind == FeatureKinds.Numeric && c.Divisor != spec.Scale) is { } scaled)
        {
            throw new DataException(
                $"data.scale is {spec.Scale} but the base model divides column '{scaled.Name}' by {scaled.Divisor}; fine-tuning keeps the base model's normalisation, so set data.scale: {scaled.Divisor}.");
        }

        if (spec.MissingValues.Policy == MissingValuePolicies.Impute && kept.MissingValuePolicy != MissingValuePolicies.Impute)
        {
            throw new DataException(
                $"data.missingValues.policy is Impute but the base model was fitted with {kept.MissingValuePolicy} and has no imputation values; fine-tuning keeps the base model's preprocessing.");
        }
    }

    private static FeatureSchema Fit(DataSpec spec, ColumnPlan plan, IReadOnlyList<string> classes, List<ParsedRow> rows)
    {
        var impute = spec.MissingValues.Policy == MissingValuePolicies.Impute ? spec.MissingValues.Impute ?? ImputeStrategies.Mean : null;
        var normalization = spec.Normalization;
        if (normalization == Normalizations.Scale && spec.Scale is not > 0)
        {
            throw new DataException("data.normalization is Scale but data.scale is not a positive number.");
        }

        var columns = new List<FeatureColumn>(plan.Features.Count);
        foreach (var name in plan.Features)
        {
            var c = plan.Categorical.IndexOf(name);
            if (c >= 0)
            {
                var values = rows.Select(r => r.Categorical[c]).Where(v => v is not null).Select(v => v!).ToList();
                var categories = values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
                string? imputeCategory = impute is null or ImputeStrategies.Zero
                    ? null
                    : values.GroupBy(v => v, StringComparer.Ordinal).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => g.Key).FirstOrDefault();
                columns.Add(new FeatureColumn { Name = name, Kind = FeatureKinds.Categorical, Categories = categories, ImputeCategory = imputeCategory });
                continue;
            }

            var n = plan.Numeric.IndexOf(name);
            var present = rows.Select(r => (double)r.Numeric[n]).Where(v => !double.IsNaN(v)).ToArray();
            double? imputeValue = impute switch
            {
                null => null,
                ImputeStrategies.Zero => 0.0,
                ImputeStrategies.Median => present.Length == 0 ? 0.0 : Median(present),
                ImputeStrategies.MostFrequent => present.Length == 0 ? 0.0 : present.GroupBy(v => v).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key,
                _ => present.Length == 0 ? 0.0 : present.Average(),
            };
            var fitted = imputeValue is { } fill && present.Length < rows.Count
                ? [.. present, .. Enumerable.Repeat(fill, rows.Count - present.Length)]
                : present;
            var (shift, divisor) = NormalizationParameters(normalization, spec.Scale, fitted);
            columns.Add(new FeatureColumn { Name = name, Kind = FeatureKinds.Numeric, ImputeValue = imputeValue, Shift = shift, Divisor = divisor });
        }

        return new FeatureSchema
        {
            LabelColumn = plan.Label,
            Classes = [.. classes],
            Columns = columns,
            Normalization = normalization,
            MissingValuePolicy = spec.MissingValues.Policy,
            MissingValueTokens = new MissingValueTokens(spec.MissingValues.Tokens).Tokens,
            DifficultyColumn = plan.Difficulty,
            SliceColumn = plan.Slice,
            WeightColumn = plan.Weight,
            TimestampColumn = plan.Timestamp,
        };
    }

    private static (double Shift, double Divisor) NormalizationParameters(string normalization, double? scale, double[] values)
    {
        switch (normalization)
        {
            case Normalizations.None:
                return (0, 1);
            case Normalizations.Scale:
                return (0, scale!.Value);
            case Normalizations.MinMax:
                if (values.Length == 0)
                {
                    return (0, 1);
                }

                var min = values.Min();
                var range = values.Max() - min;
                // A constant column maps to 0 rather than dividing by zero.
                return (min, range > 0 ? range : 1);
            case Normalizations.Standard:
                if (values.Length == 0)
                {
                    return (0, 1);
                }

                var mean = values.Average();
                var variance = values.Sum(v => (v - mean) * (v - mean)) / values.Length;
                var std = Math.Sqrt(variance);
                return (mean, std > 0 ? std : 1);
            default:
                throw new DataException($"data.normalization '{normalization}' is not one of None, Standard, MinMax, Scale.");
        }
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static DataProfile BuildProfile(ColumnPlan plan, FeatureSchema schema, List<ParsedRow> rows, int seed)
    {
        var numeric = plan.Numeric.Select((_, c) => rows.Select(r => r.Numeric[c]).ToArray()).ToList();
        var categorical = plan.Categorical.Select((_, c) => rows.Select(r => r.Categorical[c]).ToArray()).ToList();
        return DataProfile.Build(plan.Numeric, numeric, plan.Categorical, categorical, schema.Classes, rows.Select(r => r.Label).ToArray(), seed: seed);
    }

    private static TabularData Encode(List<ParsedRow> rows, ColumnPlan plan, FeatureSchema schema, DataLoadReport report)
    {
        var width = schema.FeatureCount;
        var features = new float[(long)rows.Count * width];
        var labels = new long[rows.Count];
        var imputed = new long[schema.Columns.Count];
        var unknown = new long[schema.Columns.Count];
        var offset = 0;
        for (var k = 0; k < schema.Columns.Count; k++)
        {
            var column = schema.Columns[k];
            if (column.Kind == FeatureKinds.Categorical)
            {
                var c = plan.Categorical.IndexOf(column.Name);
                for (var i = 0; i < rows.Count; i++)
                {
                    var value = rows[i].Categorical[c];
                    if (value is null)
                    {
                        imputed[k]++;
                    }

                    try
                    {
                        // One encoder for training and serving (FeatureColumn.EncodeCategory).
                        if (!column.EncodeCategory(value, features.AsSpan((int)(((long)i * width) + offset), column.Width), schema.MissingValuePolicy))
                        {
                            unknown[k]++;
                        }
                    }
                    catch (DataException e)
                    {
                        throw AtRow(rows[i], column, e);
                    }
                }
            }
            else
            {
                var n = plan.Numeric.IndexOf(column.Name);
                for (var i = 0; i < rows.Count; i++)
                {
                    double x = rows[i].Numeric[n];
                    double? value = double.IsNaN(x) ? null : x;
                    if (value is null)
                    {
                        imputed[k]++;
                    }

                    try
                    {
                        // One encoder for training and serving (FeatureColumn.EncodeNumber).
                        features[((long)i * width) + offset] = column.EncodeNumber(value, schema.MissingValuePolicy);
                    }
                    catch (DataException e)
                    {
                        throw AtRow(rows[i], column, e);
                    }
                }
            }

            offset += column.Width;
        }

        for (var k = 0; k < schema.Columns.Count; k++)
        {
            report.AddImputed(schema.Columns[k].Name, imputed[k]);
            report.AddUnknownCategories(schema.Columns[k].Name, unknown[k]);
        }

        for (var i = 0; i < rows.Count; i++)
        {
            labels[i] = rows[i].Label;
        }

        return new TabularData(
            width,
            features,
            labels,
            plan.Weight is null ? null : rows.Select(r => r.Weight).ToArray(),
            plan.Difficulty is null ? null : rows.Select(r => r.Difficulty).ToArray(),
            plan.Slice is null ? null : rows.Select(r => r.Slice).ToArray(),
            plan.Timestamp is null ? null : rows.Select(r => r.Timestamp).ToArray());
    }

    private static DataException AtRow(ParsedRow row, FeatureColumn column, DataException e) =>
        new($"{row.File.Path}:{row.Line}: {e.Message}", row.File.Path, row.Line, column.Name, e);

    private static string Describe(IReadOnlyList<string> names) =>
        names.Count <= 12 ? string.Join(", ", names) : string.Join(", ", names.Take(12)) + $", ... ({names.Count} in all)";

    /// <summary>One parsed, not yet encoded row.</summary>
    private sealed class ParsedRow(DataFileReport file, long line, float[] numeric, string?[] categorical)
    {
        public DataFileReport File { get; } = file;

        public long Line { get; } = line;

        /// <summary>Numeric feature values; NaN where missing.</summary>
        public float[] Numeric { get; } = numeric;

        /// <summary>Categorical feature values; null where missing.</summary>
        public string?[] Categorical { get; } = categorical;

        public string? RawLabel { get; set; }

        public long Label { get; set; } = -1;

        public double Difficulty { get; set; } = double.NaN;

        public float Weight { get; set; } = 1f;

        public string? Slice { get; set; }

        public DateTimeOffset? Timestamp { get; set; }
    }

    /// <summary>Counts bad rows across the whole load and fails once data.maxBadRows is exceeded.</summary>
    private sealed class BadRowBudget(int maxBadRows)
    {
        private readonly List<string> first = [];
        private long count;

        public void Add(DataLoadReport report, DataFileReport file, long line, string? column, string reason)
        {
            count++;
            report.AddBadRow(file, line, column, reason);
            if (first.Count < 5)
            {
                first.Add(column is null ? $"{file.Path}:{line}: {reason}" : $"{file.Path}:{line}: column '{column}': {reason}");
            }

            if (count > maxBadRows)
            {
                throw new DataException(
                    $"More than data.maxBadRows ({maxBadRows}) bad rows; the first: {string.Join("; ", first)}",
                    file.Path, line, column);
            }
        }
    }

    /// <summary>Which columns play which role, by name.</summary>
    private sealed class ColumnPlan
    {
        public required string Label { get; init; }

        public required List<string> Features { get; init; }

        public required List<string> Numeric { get; init; }

        public required List<string> Categorical { get; init; }

        public string? Difficulty { get; init; }

        public string? Slice { get; init; }

        public string? Weight { get; init; }

        public string? Timestamp { get; init; }

        public static ColumnPlan FromSpec(DataSpec spec, string firstTrainFile)
        {
            var special = new[] { spec.LabelColumn, spec.DifficultyColumn, spec.SliceColumn, spec.WeightColumn, spec.TimestampColumn }
                .Where(c => !string.IsNullOrEmpty(c)).Select(c => c!).ToHashSet(StringComparer.Ordinal);
            List<string> features;
            if (spec.FeatureColumns is { Count: > 0 } declared)
            {
                features = [.. declared];
                var clash = features.FirstOrDefault(special.Contains);
                if (clash is not null)
                {
                    throw new DataException($"data.featureColumns names '{clash}', which is also the label or a special column.", firstTrainFile, column: clash);
                }
            }
            else
            {
                using var reader = RecordReaders.Open(firstTrainFile, spec.Train.Format);
                features = [.. reader.Columns.Where(c => !special.Contains(c))];
            }

            var categorical = spec.CategoricalColumns ?? [];
            var notFeature = categorical.FirstOrDefault(c => !features.Contains(c, StringComparer.Ordinal));
            if (notFeature is not null)
            {
                throw new DataException($"data.categoricalColumns names '{notFeature}', which is not a feature column.", firstTrainFile, column: notFeature);
            }

            if (features.Count == 0)
            {
                throw new DataException($"{firstTrainFile}: no feature columns (every column is the label or a special column).", firstTrainFile);
            }

            return new ColumnPlan
            {
                Label = spec.LabelColumn,
                Features = features,
                Numeric = [.. features.Where(f => !categorical.Contains(f, StringComparer.Ordinal))],
                Categorical = [.. features.Where(f => categorical.Contains(f, StringComparer.Ordinal))],
                Difficulty = NullIfEmpty(spec.DifficultyColumn),
                Slice = NullIfEmpty(spec.SliceColumn),
                Weight = NullIfEmpty(spec.WeightColumn),
                Timestamp = NullIfEmpty(spec.TimestampColumn),
            };
        }

        public static ColumnPlan FromSchema(FeatureSchema schema, DataSpec spec) => new()
        {
            Label = schema.LabelColumn,
            Features = [.. schema.Columns.Select(c => c.Name)],
            Numeric = [.. schema.Columns.Where(c => c.Kind != FeatureKinds.Categorical).Select(c => c.Name)],
            Categorical = [.. schema.Columns.Where(c => c.Kind == FeatureKinds.Categorical).Select(c => c.Name)],
            Difficulty = NullIfEmpty(spec.DifficultyColumn ?? schema.DifficultyColumn),
            Slice = NullIfEmpty(spec.SliceColumn ?? schema.SliceColumn),
            Weight = NullIfEmpty(spec.WeightColumn ?? schema.WeightColumn),
            Timestamp = NullIfEmpty(spec.TimestampColumn ?? schema.TimestampColumn),
        };

        public ColumnMap Map(IRecordReader reader, bool labelRequired)
        {
            var index = reader.Columns.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
            int Required(string name, string role) => index.TryGetValue(name, out var i)
                ? i
                : throw new DataException($"{reader.File}: no {role} column '{name}' (columns: {Describe(reader.Columns)}).", reader.File, 1, name);
            // Data scored with a fitted schema need not carry the training-only columns (weight, difficulty, ...).
            int Optional(string? name, string role) => name is null ? -1 : labelRequired ? Required(name, role) : index.GetValueOrDefault(name, -1);

            return new ColumnMap(
                [.. Numeric.Select(n => Required(n, "feature"))],
                [.. Categorical.Select(n => Required(n, "feature"))],
                labelRequired ? Required(Label, "label") : index.GetValueOrDefault(Label, -1),
                Optional(Difficulty, "difficulty"),
                Optional(Slice, "slice"),
                Optional(Weight, "weight"),
                Optional(Timestamp, "timestamp"));
        }

        private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
    }

    private sealed record ColumnMap(int[] Numeric, int[] Categorical, int Label, int Difficulty, int Slice, int Weight, int Timestamp);
}
