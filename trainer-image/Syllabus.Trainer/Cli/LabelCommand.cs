using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Labeling;

namespace Syllabus.Trainer.Cli;

/// <summary>The parsed `label` options.</summary>
public sealed record LabelArguments(
    string Store, IReadOnlyList<string> Pool, IReadOnlyList<string>? Labels = null, int Port = 8080, IReadOnlyList<string>? Urls = null,
    string? TokenFile = null, long? Budget = null, string? ImportLabelStudio = null, string? Export = null, string ExportFormat = ExportFormats.Csv,
    string? PoolDirectory = null, int PoolPollSeconds = 10, string? TerminationMessagePath = null);

/// <summary>
/// `syllabus-trainer label --store PATH --pool BATCH.csv --labels a,b,c [--budget N] [--token-file F]`: imports scored
/// batches into the durable store and serves the labelling UI and API until stopped; with --export, writes the labels
/// and exits. Exit 0 on success, 2 on bad input.
/// </summary>
public static class LabelCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var store = new Option<string>("--store") { Description = "The SQLite store (created when absent; WAL mode, synchronous=FULL), on the queue's volume", Required = true };
        var pool = new Option<string[]>("--pool") { Description = "Scored batch CSV(s) from `score` to add (items already in the store are kept as they are)" };
        var labels = new Option<string?>("--labels") { Description = "The label set, comma-separated (default: the batch's model classes); fixed when the store is created" };
        var port = new Option<int>("--port", "-p") { Description = "Port on every interface", DefaultValueFactory = _ => 8080 };
        var urls = new Option<string[]>("--urls") { Description = "Kestrel URLs instead of --port, e.g. http://127.0.0.1:0", AllowMultipleArgumentsPerToken = true };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the bearer token writes need (default: STORE.token, created with a random token when absent)" };
        var budget = new Option<long?>("--budget") { Description = "Most labels held; further submissions are refused" };
        var importLabelStudio = new Option<string?>("--import-label-studio") { Description = "Label Studio task JSON to import (items, predictions, annotations)" };
        var export = new Option<string?>("--export") { Description = "Write the labels to this file and exit instead of serving (EXPORT.json records how many, up to which event)" };
        var exportFormat = new Option<string>("--export-format") { Description = $"{string.Join(", ", ExportFormats.All)}", DefaultValueFactory = _ => ExportFormats.Csv };
        exportFormat.AcceptOnlyFromAmong([.. ExportFormats.All]);
        var poolDirectory = new Option<string?>("--pool-dir") { Description = "A folder `score` writes batches to: every BATCH.csv whose BATCH.csv.json exists is imported, at start and while serving" };
        var poolPoll = new Option<int>("--pool-poll-seconds") { Description = "How often --pool-dir is looked at", DefaultValueFactory = _ => 10 };
        var terminationPath = new Option<string?>("--termination-message-path") { Description = "With --export: also write EXPORT.json's summary here (a Job's /dev/termination-log, read by the LabelingQueue operator)" };

        var command = new Command("label", "Serve the labelling UI and API over a durable label store, or export its labels");
        foreach (var option in new Option[] { store, pool, labels, port, urls, tokenFile, budget, importLabelStudio, export, exportFormat, poolDirectory, poolPoll, terminationPath })
        {
            command.Add(option);
        }

        command.SetAction((parse, cancellationToken) => RunAsync(
            new LabelArguments(parse.GetValue(store)!, parse.GetValue(pool) ?? [],
                parse.GetValue(labels)?.Split(',', StringSplitOptions.TrimEntries), parse.GetValue(port),
                parse.GetValue(urls) is { Length: > 0 } u ? u : null, parse.GetValue(tokenFile), parse.GetValue(budget),
                parse.GetValue(importLabelStudio), parse.GetValue(export), parse.GetValue(exportFormat) ?? ExportFormats.Csv,
                parse.GetValue(poolDirectory), parse.GetValue(poolPoll), parse.GetValue(terminationPath)),
            output, error, cancellationToken));
        return command;
    }

    public static async Task<int> RunAsync(LabelArguments arguments, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        LabelStore? store = null;
        try
        {
            Validate(arguments);
            var watcher = arguments.PoolDirectory is { } folder ? new BatchFolder(folder) : null;
            var failures = new BatchImportFailures();
            store = await OpenAsync(arguments, watcher?.NewBatches() ?? [], failures, output, error, cancellationToken);
            if (arguments.Export is { } exportPath)
            {
                await ExportAsync(store, exportPath, arguments.ExportFormat, arguments.TerminationMessagePath, output, cancellationToken);
                return TrainCommand.Success;
            }

            var token = ReadOrCreateToken(arguments, output);
            var server = await LabelServer.StartAsync(store, token, arguments.Urls ?? [$"http://0.0.0.0:{arguments.Port}"], cancellationToken, failures);
            store = null;
            await using (server)
            {
                var stats = await server.StatsAsync(cancellationToken);
                output.WriteLine($"labelling {stats.Total} items ({stats.Pending} pending, {stats.Labelled} labelled, {stats.Skipped} skipped; budget {arguments.Budget?.ToString(CultureInfo.InvariantCulture) ?? "none"}) at {string.Join(", ", server.Addresses)}");
                output.WriteLine($"writes need 'Authorization: Bearer TOKEN' with the token in {TokenPath(arguments)}; the UI asks for it once");
                using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var polling = watcher is null ? Task.CompletedTask : PollAsync(watcher, server, failures, TimeSpan.FromSeconds(arguments.PoolPollSeconds), output, error, stopping.Token);
                await server.WaitForShutdownAsync(cancellationToken);
                await stopping.CancelAsync();
                await polling;
            }

            output.WriteLine("stopped");
            return TrainCommand.Success;
        }
        catch (Exception e) when (e is InputException or DataException or LabelingException or InvalidDataException or JsonException)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainCommand.BadInput;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return TrainCommand.Success;
        }
        catch (IOException e)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainCommand.BadInput;
        }
        finally
        {
            store?.Dispose();
        }
    }

    private static void Validate(LabelArguments arguments)
    {
        if (arguments.Labels is { } labels)
        {
            if (labels.Any(string.IsNullOrEmpty))
            {
                throw new InputException("--labels: an empty label (two commas, or a trailing comma?)");
            }

            if (labels.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            {
                throw new InputException($"--labels: '{twice.Key}' is listed twice");
            }
        }

        if (arguments.PoolDirectory is { } folder && !Directory.Exists(folder))
        {
            // A queue's first start: a folder under the store's own folder (where scoring Jobs write) is created; a
            // missing folder anywhere else is a typo, and an error.
            var storeFolder = Path.GetDirectoryName(Path.GetFullPath(arguments.Store))! + Path.DirectorySeparatorChar;
            if (!Path.GetFullPath(folder).StartsWith(storeFolder, StringComparison.Ordinal))
            {
                throw new InputException($"--pool-dir {folder}: no such folder (only a folder under the store's folder is created)");
            }

            Directory.CreateDirectory(folder);
        }

        if (arguments.TerminationMessagePath is not null && arguments.Export is null)
        {
            throw new InputException("--termination-message-path is only for --export");
        }

        if (arguments.PoolPollSeconds < 1)
        {
            throw new InputException($"--pool-poll-seconds {arguments.PoolPollSeconds}: must be at least 1");
        }

        if (arguments.Budget is < 1)
        {
            throw new InputException($"--budget {arguments.Budget}: must be at least 1");
        }

        if (arguments.Port is < 0 or > 65535)
        {
            throw new InputException($"--port {arguments.Port}: not a port");
        }

        foreach (var file in arguments.Pool.Append(arguments.ImportLabelStudio).OfType<string>())
        {
            if (!File.Exists(file))
            {
                throw new InputException($"{file}: no such file");
            }
        }
    }

    /// <summary>
    /// Opens the store, creating it from the first batch (or Label Studio file) and --labels, and imports the inputs:
    /// a --pool file strictly (a bad one is bad input), a batch found in --pool-dir leniently (a bad one is reported,
    /// recorded in <paramref name="failures"/> and skipped, its file left where it is, so the service still starts).
    /// </summary>
    private static async Task<LabelStore> OpenAsync(LabelArguments arguments, IReadOnlyList<string> folderBatches, BatchImportFailures failures, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var existing = LabelStore.ReadSchema(Path.GetFullPath(arguments.Store));
        StoreSchema? schema = existing;
        JsonNode? labelStudio = arguments.ImportLabelStudio is { } ls ? JsonNode.Parse(File.ReadAllText(ls)) : null;
        var unusable = new HashSet<string>(StringComparer.Ordinal);
        if (schema is null)
        {
            if (arguments.Pool.Count > 0)
            {
                var manifest = LabelExchange.ManifestOf(arguments.Pool[0]);
                var labels = arguments.Labels ?? manifest?.Classes
                    ?? throw new InputException($"--labels: {arguments.Pool[0]} has no manifest ({Path.GetFileName(arguments.Pool[0])}.json) naming the classes; give the label set");
                schema = LabelExchange.SchemaFor(arguments.Pool[0], labels, manifest);
            }
            else if (folderBatches.Count > 0 && labelStudio is null)
            {
                // The store takes its columns from the first batch whose manifest reads; the others wait their turn.
                foreach (var batch in folderBatches)
                {
                    try
                    {
                        var manifest = LabelExchange.ManifestOf(batch);
                        var labels = arguments.Labels ?? manifest?.Classes
                            ?? throw new InvalidDataException($"{batch}: no manifest naming the classes, and no --labels");
                        schema = LabelExchange.SchemaFor(batch, labels, manifest);
                        break;
                    }
                    catch (Exception e) when (IsBadBatch(e))
                    {
                        Skip(batch, e, failures, error);
                        unusable.Add(batch);
                    }
                }

                if (schema is null)
                {
                    throw new InputException($"--pool-dir {arguments.PoolDirectory}: no batch could create the store ({string.Join("; ", failures.Snapshot().Select(f => $"{f.File}: {f.Reason}"))})");
                }
            }
            else if (labelStudio is not null)
            {
                var labels = arguments.Labels ?? throw new InputException("--labels: a store created from a Label Studio file needs the label set");
                schema = new StoreSchema(labels, FeatureColumnsOf(labelStudio), "label", null, null);
            }
            else
            {
                throw new InputException($"--store {arguments.Store} does not exist yet: give --pool (a scored batch) or --import-label-studio to create it");
            }
        }

        var store = LabelStore.Open(arguments.Store, existing is null ? schema : (arguments.Labels is null ? null : schema with { Labels = arguments.Labels }), arguments.Budget);
        try
        {
            foreach (var batch in arguments.Pool)
            {
                output.WriteLine($"{batch}: {await LabelExchange.ImportBatchAsync(store, batch, cancellationToken)} new items");
            }

            foreach (var batch in folderBatches.Where(b => !unusable.Contains(b)))
            {
                await ImportFolderBatchAsync(batch, b => LabelExchange.ImportBatchAsync(store, b, cancellationToken), failures, output, error);
            }

            if (labelStudio is not null)
            {
                var (tasks, added, applied) = await LabelExchange.ImportLabelStudioAsync(store, labelStudio, Path.GetFileName(arguments.ImportLabelStudio!), cancellationToken);
                output.WriteLine($"{arguments.ImportLabelStudio}: {tasks} tasks, {added} new items, {applied} new labels");
            }

            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Imports the batches that appear in --pool-dir while serving; a bad batch is reported and skipped, the service goes on.</summary>
    private static async Task PollAsync(BatchFolder folder, LabelServer server, BatchImportFailures failures, TimeSpan interval, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        string? folderProblem = null;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                List<string> found;
                try
                {
                    found = folder.NewBatches();
                    failures.KeepOnly(folder.Present);
                    folderProblem = null;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // A folder gone or unreadable for a while must not end polling for the life of the pod (the service
                    // would go on serving and every later batch would look empty to the LabelingQueue): said once, retried.
                    if (e.Message != folderProblem)
                    {
                        error.WriteLine($"error: --pool-dir {folder.Folder}: {e.Message} (looked at again every poll)");
                        folderProblem = e.Message;
                    }

                    continue;
                }

                foreach (var batch in found)
                {
                    await ImportFolderBatchAsync(batch, b => server.ImportBatchAsync(b, cancellationToken), failures, output, error);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Imports one batch of --pool-dir: a success clears its earlier failure, a bad batch is reported, recorded and skipped.</summary>
    private static async Task ImportFolderBatchAsync(string batch, Func<string, Task<int>> import, BatchImportFailures failures, TextWriter output, TextWriter error)
    {
        try
        {
            var added = await import(batch);
            failures.Clear(batch);
            output.WriteLine($"{batch}: {added} new items");
        }
        catch (Exception e) when (IsBadBatch(e))
        {
            Skip(batch, e, failures, error);
        }
    }

    /// <summary>Why a batch is not imported: it is unreadable, or the store could not take it (SQLite: disk full, I/O error).</summary>
    private static bool IsBadBatch(Exception e) => e is DataException or LabelingException or InvalidDataException or IOException or JsonException or UnauthorizedAccessException or System.Data.Common.DbException;

    private static void Skip(string batch, Exception e, BatchImportFailures failures, TextWriter error)
    {
        var reason = BatchImportFailures.ReasonOf(batch, e);
        failures.Record(batch, reason, DateTimeOffset.UtcNow);
        error.WriteLine($"error: {batch}: {reason} (not imported; the file is kept and imported again once it changes)");
    }

    /// <summary>The finished batches of a folder (BATCH.csv with its BATCH.csv.json, which `score` writes last) not seen before, or changed since.</summary>
    private sealed class BatchFolder(string path)
    {
        public string Folder => path;

        private readonly Dictionary<string, DateTime> _seen = new(StringComparer.Ordinal);

        /// <summary>The folder's CSV files at the last look (finished or not).</summary>
        public IReadOnlyList<string> Present { get; private set; } = [];

        public List<string> NewBatches()
        {
            var batches = new List<string>();
            Present = [.. Directory.EnumerateFiles(path, "*.csv").Order(StringComparer.Ordinal)];
            // A file removed and put back is a new batch, whatever its manifest's time.
            foreach (var gone in _seen.Keys.Except(Present, StringComparer.Ordinal).ToList())
            {
                _seen.Remove(gone);
            }

            foreach (var csv in Present)
            {
                var manifest = Syllabus.Trainer.Scoring.ScoredBatchFile.ManifestPath(csv);
                if (!File.Exists(manifest))
                {
                    continue;
                }

                var written = File.GetLastWriteTimeUtc(manifest);
                if (!_seen.TryGetValue(csv, out var before) || before != written)
                {
                    _seen[csv] = written;
                    batches.Add(csv);
                }
            }

            return batches;
        }
    }

    private static List<string> FeatureColumnsOf(JsonNode tasks) =>
        [.. ((tasks as JsonArray)?[0]?["data"] as JsonObject ?? []).Select(p => p.Key).Where(k => k != LabelExchange.IdField)];

    private static async Task ExportAsync(LabelStore store, string path, string format, string? terminationMessagePath, TextWriter output, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var stats = await store.StatsAsync(cancellationToken);
        // Written beside and then renamed, so a reader never sees half an export.
        var partial = full + ".partial";
        int count;
        await using (var stream = File.Create(partial))
        {
            if (format == ExportFormats.LabelStudio)
            {
                var tasks = await LabelExchange.ExportLabelStudioAsync(store, cancellationToken);
                await JsonSerializer.SerializeAsync(stream, tasks, cancellationToken: cancellationToken);
                count = (int)stats.Labelled;
            }
            else
            {
                count = await LabelExchange.ExportDatasetAsync(store, stream, format, cancellationToken);
            }
        }

        File.Move(partial, full, overwrite: true);
        var summary = new JsonObject
        {
            ["file"] = full,
            ["format"] = format,
            ["labels"] = count,
            ["lastEventSeq"] = stats.LastEventSequence,
            ["store"] = store.Path,
            ["exportedAt"] = DateTimeOffset.UtcNow,
        };
        await File.WriteAllTextAsync(full + ".json", summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
        if (terminationMessagePath is not null)
        {
            // One line, well under the kubelet's 4 KiB termination message limit (the paths are the only variable part).
            await File.WriteAllTextAsync(terminationMessagePath, summary.ToJsonString(), cancellationToken);
        }

        output.WriteLine($"exported {count} labels ({format}) to {full}");
    }

    private static string TokenPath(LabelArguments arguments) => Path.GetFullPath(arguments.TokenFile ?? arguments.Store + ".token");

    /// <summary>The token from --token-file (which must exist and hold one), or from STORE.token, created with 32 random bytes when absent.</summary>
    private static string ReadOrCreateToken(LabelArguments arguments, TextWriter output)
    {
        var path = TokenPath(arguments);
        if (arguments.TokenFile is null && !File.Exists(path))
        {
            File.WriteAllText(path, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            output.WriteLine($"created a bearer token in {path}");
        }

        if (!File.Exists(path))
        {
            throw new InputException($"--token-file {path}: no such file");
        }

        var token = File.ReadAllText(path).Trim();
        return token.Length > 0 ? token : throw new InputException($"--token-file {path}: the file is empty");
    }
}
