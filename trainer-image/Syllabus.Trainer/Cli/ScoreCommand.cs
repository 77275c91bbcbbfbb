using System.CommandLine;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Scoring;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Cli;

/// <summary>The parsed `score` options.</summary>
public sealed record ScoreArguments(
    IReadOnlyList<string> Models, IReadOnlyList<string> Pool, string Strategy, int Batch, string Out,
    int Seed = 0, bool BalanceClasses = false, string Diversity = "none", int DiversityCandidates = 0, string? IdColumn = null,
    string? Rejects = null, string? Device = null, string? ExcludeStore = null,
    IReadOnlyList<string>? Uncertain = null, string? TerminationMessagePath = null);

/// <summary>
/// `syllabus-trainer score --model URI [--model URI ...] --pool FILE --strategy S --batch N --out FILE`: scores an
/// unlabelled pool and writes the next batch to label; exit 0 on success, 2 on bad input.
/// </summary>
public static class ScoreCommand
{
    public const string NoDiversity = "none";
    public const string KCenter = "k-center";

    public static Command Create(TextWriter output, TextWriter error, Func<string, string?> environment)
    {
        var models = new Option<string[]>("--model", "-m") { Description = "Model artifact folder or URI; several make a committee (same feature schema required)", Required = true };
        var pool = new Option<string[]>("--pool") { Description = "Unlabelled rows: CSV, Parquet (.parquet) or a ModelDeployment's uncertain rows (.json); repeatable" };
        var uncertain = new Option<string[]>("--uncertain") { Description = "A serve pod's GET /v2/models/M/uncertain URL: its kept rows join the pool (identified by their content, live:HASH; their REQUEST#ROW in the source); repeatable" };
        var terminationPath = new Option<string?>("--termination-message-path") { Description = "Also write the batch's counts as compact JSON here (a Job's /dev/termination-log, read by the LabelingQueue operator)" };
        var strategy = new Option<string>("--strategy") { Description = $"One of {string.Join(", ", AcquisitionStrategies.All)}", Required = true };
        strategy.AcceptOnlyFromAmong([.. AcquisitionStrategies.All]);
        var batch = new Option<int>("--batch") { Description = "Rows to select", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of tie-breaking and of the random strategy", DefaultValueFactory = _ => 0 };
        var balance = new Option<bool>("--balance-classes") { Description = "At most ceil(batch / classes) rows per predicted class (unused slots go to the best remaining rows)" };
        var diversity = new Option<string>("--diversity") { Description = "k-center: greedy k-center over the best-scored candidates in the model's penultimate features; none", DefaultValueFactory = _ => NoDiversity };
        diversity.AcceptOnlyFromAmong(NoDiversity, KCenter);
        var candidates = new Option<int>("--diversity-candidates") { Description = $"Best-scored rows k-center chooses among (default {SelectionOptions.DefaultCandidatesPerSlot} x batch)" };
        var idColumn = new Option<string?>("--id-column") { Description = "Column identifying a row (default: FILE:LINE)" };
        var outFile = new Option<string>("--out", "-o") { Description = "The batch, as CSV; OUT.json describes it", Required = true };
        var rejects = new Option<string?>("--rejects") { Description = "Rows that could not be scored, with the reason (default: OUT's name + .rejects.csv)" };
        var device = new Option<string?>("--device") { Description = $"auto (CUDA when available), cpu, cuda or cuda:N; default ${TrainingDevice.EnvironmentVariable} or auto" };
        var excludeStore = new Option<string?>("--exclude-store") { Description = "A label store whose items (pending, labelled or skipped) are left out of the pool, counted as excluded" };

        var command = new Command("score", "Score an unlabelled pool with a model (or a committee) and write the next batch to label");
        foreach (var option in new Option[] { models, pool, uncertain, strategy, batch, seed, balance, diversity, candidates, idColumn, outFile, rejects, device, excludeStore, terminationPath })
        {
            command.Add(option);
        }

        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(
            new ScoreArguments(parse.GetValue(models) ?? [], parse.GetValue(pool) ?? [], parse.GetValue(strategy)!, parse.GetValue(batch), parse.GetValue(outFile)!,
                parse.GetValue(seed), parse.GetValue(balance), parse.GetValue(diversity) ?? NoDiversity, parse.GetValue(candidates), parse.GetValue(idColumn),
                parse.GetValue(rejects), parse.GetValue(device) ?? environment(TrainingDevice.EnvironmentVariable), parse.GetValue(excludeStore),
                parse.GetValue(uncertain) ?? [], parse.GetValue(terminationPath)),
            output, error, environment)));
        return command;
    }

    public static int Run(ScoreArguments arguments, TextWriter output, TextWriter error, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var bundles = new List<ModelBundle>();
        try
        {
            Validate(arguments);
            TorchSharp.torch.set_num_threads(TrainCommand.IntraOpThreads(environment));
            var device = TrainingDevice.Resolve(arguments.Device);
            foreach (var model in arguments.Models)
            {
                try
                {
                    bundles.Add(ModelBundle.Load(model, device));
                }
                catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    throw new InputException($"--model {model}: {e.Message}", e);
                }

                // Members may differ in their fitted preprocessing (each encodes the rows itself), not in columns or classes.
                if (PoolScorer.CommitteeProblem([bundles[0], bundles[^1]]) is { } problem)
                {
                    throw new InputException(problem);
                }
            }

            var first = bundles[0];
            var (pool, uncertainCounts) = ReadPool(arguments, first);
            var excluded = 0;
            var uncertainExcluded = 0;
            if (arguments.ExcludeStore is { } store)
            {
                if (!File.Exists(store))
                {
                    throw new InputException($"--exclude-store {store}: no such file");
                }

                // Rows already queued for labelling (or labelled) are not offered again.
                HashSet<string> queued;
                try
                {
                    queued = Syllabus.Trainer.Labeling.LabelStore.ReadItemIds(store);
                }
                catch (Microsoft.Data.Sqlite.SqliteException e)
                {
                    throw new InputException($"--exclude-store {store}: not a readable label store: {e.Message}", e);
                }

                var kept = pool.Rows.Where(r => !queued.Contains(r.Id)).ToList();
                excluded = pool.Rows.Count - kept.Count;
                uncertainExcluded = pool.Rows.Count(r => queued.Contains(r.Id) && uncertainCounts.Ids.Contains(r.Id));
                pool = pool with { Rows = kept };
            }

            var idColumn = pool.IdColumn;
            var featureColumns = pool.Columns.Where(c => c != idColumn).ToList();
            ScoredBatchFile.Header(first.Classes, featureColumns);
            foreach (var bundle in bundles)
            {
                var unknown = featureColumns.FirstOrDefault(c => !bundle.Schema.Columns.Any(f => f.Name == c) && !bundle.Schema.NonFeatureColumns.Contains(c));
                if (unknown is not null)
                {
                    throw new InputException($"--pool: column '{unknown}' is not an input of the model{(bundles.Count > 1 ? $" {bundle.Folder}" : "")} (nor its label or a special column); name it with --id-column if it identifies rows, or remove it");
                }
            }

            var selection = new SelectionOptions(arguments.Batch, arguments.Seed, AcquisitionStrategies.SmallestFirst(arguments.Strategy), arguments.BalanceClasses,
                arguments.Diversity == KCenter, arguments.DiversityCandidates);
            ScoreResult result;
            try
            {
                result = PoolScorer.Score(pool, bundles, arguments.Strategy, selection);
            }
            catch (InvalidDataException e)
            {
                throw new InputException($"--diversity {arguments.Diversity}: {e.Message}", e);
            }

            var outPath = Path.GetFullPath(arguments.Out);
            Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
            var rejectsPath = Path.GetFullPath(arguments.Rejects ?? ScoredBatchFile.DefaultRejectsPath(outPath));
            ScoredBatchFile.Write(outPath, result, first.Classes, pool.Columns, idColumn);
            ScoredBatchFile.WriteRejects(rejectsPath, result.Rejected);
            var (shape, imageColumns) = ScoredBatchManifest.ImageOf(first);
            new ScoredBatchManifest
            {
                Strategy = arguments.Strategy,
                Models = [.. bundles.Select(b => b.Folder!)],
                TrainingRuns = [.. bundles.Select(b => b.Document.TrainingRun)],
                SchemaFingerprint = first.SchemaFingerprint,
                Classes = first.Classes,
                LabelColumn = first.Schema.LabelColumn,
                FeatureColumns = featureColumns,
                IdColumn = idColumn,
                ImageShape = shape,
                ImageColumns = imageColumns,
                BatchSize = arguments.Batch,
                Seed = arguments.Seed,
                BalanceClasses = arguments.BalanceClasses,
                Diversity = arguments.Diversity,
                PoolRows = pool.Rows.Count + pool.Rejected.Count + excluded,
                ExcludedRows = excluded,
                ScoredRows = result.Scored.Count,
                SelectedRows = result.Batch.Count,
                RejectedRows = result.Rejected.Count,
                RejectsFile = rejectsPath,
                CreatedAt = DateTimeOffset.UtcNow,
            }.Save(ScoredBatchFile.ManifestPath(outPath));
            // Rows of the serve pods rejected when merged (another schema, a repeated id) or when encoded, by their source.
            var uncertainRejects = result.Rejected.Where(r => arguments.Uncertain?.Contains(r.File) == true).ToList();
            var summary = new ScoreSummary(pool.Rows.Count + pool.Rejected.Count + excluded, excluded, result.Scored.Count, result.Batch.Count, result.Rejected.Count,
                uncertainCounts.Rows, uncertainExcluded, uncertainRejects.Count, result.Batch.Count(i => uncertainCounts.Ids.Contains(result.Scored[i].Row.Id)),
                uncertainRejects.FirstOrDefault() is { } firstReject ? $"{firstReject.File} {firstReject.Id}: {firstReject.Reason}" : null);
            if (arguments.TerminationMessagePath is { } terminationMessage)
            {
                File.WriteAllText(terminationMessage, System.Text.Json.JsonSerializer.Serialize(summary, ScoreSummary.Json));
            }

            if (uncertainCounts.Rows > 0 || arguments.Uncertain is { Count: > 0 })
            {
                output.WriteLine($"{summary.UncertainRows} uncertain rows from {arguments.Uncertain!.Count} serve pods: {summary.UncertainSelected} selected, {summary.UncertainExcluded} already in the store, {summary.UncertainRejected} rejected");
            }

            output.WriteLine($"scored {result.Scored.Count} of {pool.Rows.Count + pool.Rejected.Count + excluded} pool rows{(excluded > 0 ? $" ({excluded} already in {arguments.ExcludeStore})" : "")} with {arguments.Strategy} ({bundles.Count} model{(bundles.Count == 1 ? "" : "s")}); selected {result.Batch.Count} into {outPath}");
            if (result.Rejected.Count > 0)
            {
                output.WriteLine($"{result.Rejected.Count} rows could not be scored; see {rejectsPath} (first: {result.Rejected[0].File}:{result.Rejected[0].Line}: {result.Rejected[0].Reason})");
            }

            return TrainCommand.Success;
        }
        catch (Exception e) when (e is InputException or DataException)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainCommand.BadInput;
        }
        finally
        {
            foreach (var bundle in bundles)
            {
                bundle.Dispose();
            }
        }
    }

    /// <summary>The dataset's rows (--pool) and the serve pods' uncertain rows (--uncertain), merged in the dataset's columns.</summary>
    private static (Pool Pool, UncertainCounts Counts) ReadPool(ScoreArguments arguments, ModelBundle model)
    {
        var dataset = arguments.Pool.Count > 0 ? PoolReader.Read(arguments.Pool, arguments.IdColumn) : null;
        if (arguments.Uncertain is not { Count: > 0 } urls)
        {
            return (dataset!, new UncertainCounts(0, 0, new HashSet<string>()));
        }

        var folder = Directory.CreateTempSubdirectory("syllabus-uncertain-");
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var sources = urls.Select((url, i) => (url, PoolReader.Read([UncertainSources.Fetch(http, url, folder.FullName, i)], null))).ToList();
            return UncertainSources.Merge(dataset, sources, [.. model.Schema.Columns.Select(c => c.Name)], [.. model.Schema.NonFeatureColumns]);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static void Validate(ScoreArguments arguments)
    {
        if (arguments.Pool.Count == 0 && arguments.Uncertain is not { Count: > 0 })
        {
            throw new InputException("--pool: give a pool file, an --uncertain URL, or both");
        }

        if (arguments.Models.Count == 0)
        {
            throw new InputException("--model: give at least one model");
        }

        if (!AcquisitionStrategies.All.Contains(arguments.Strategy))
        {
            throw new InputException($"--strategy '{arguments.Strategy}' is not one of {string.Join(", ", AcquisitionStrategies.All)}");
        }

        if (AcquisitionStrategies.NeedsCommittee(arguments.Strategy) && arguments.Models.Count < 2)
        {
            throw new InputException($"--strategy {arguments.Strategy} measures a committee's disagreement: give two --model or more");
        }

        if (arguments.Batch < 1)
        {
            throw new InputException($"--batch {arguments.Batch}: select at least one row");
        }

        if (arguments.Diversity is not (NoDiversity or KCenter))
        {
            throw new InputException($"--diversity '{arguments.Diversity}' is not one of {NoDiversity}, {KCenter}");
        }

        if (arguments.DiversityCandidates < 0 || (arguments.DiversityCandidates > 0 && arguments.DiversityCandidates < arguments.Batch))
        {
            throw new InputException($"--diversity-candidates {arguments.DiversityCandidates}: must be at least --batch ({arguments.Batch})");
        }
    }
}

/// <summary>A scoring run's counts: the termination message of the LabelingQueue's scoring Jobs.</summary>
public sealed record ScoreSummary(
    int PoolRows, int ExcludedRows, int ScoredRows, int SelectedRows, int RejectedRows,
    int UncertainRows, int UncertainExcluded, int UncertainRejected, int UncertainSelected, string? FirstUncertainReject)
{
    internal static readonly System.Text.Json.JsonSerializerOptions Json = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };
}
