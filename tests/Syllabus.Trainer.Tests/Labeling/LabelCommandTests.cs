using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Labeling;
using Syllabus.Trainer.Tests.Data;

namespace Syllabus.Trainer.Tests.Labeling;

public sealed class LabelCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(LabelArguments arguments)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await LabelCommand.RunAsync(arguments, output, error, TestContext.Current.CancellationToken);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Export_writes_the_labelled_rows_and_records_how_many_up_to_which_event()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var batch = LabelProcess.WriteBatch(_folder.Path, 4);
        var store = _folder.Full("labels.db");
        using (var opened = LabelStore.Open(store, LabelExchange.SchemaFor(batch, ["cat", "dog"], null), null))
        {
            await opened.ImportAsync(LabelExchange.ReadBatch(batch, opened.Schema), cancellationToken);
            await opened.LabelAsync("item-3", "dog", "a", cancellationToken);
            await opened.LabelAsync("item-1", "cat", "b", cancellationToken);
            await opened.SkipAsync("item-2", "c", cancellationToken);
        }

        var (exit, output, error) = await RunAsync(new LabelArguments(store, [], Export: _folder.Full("out/labels.csv")));
        Assert.True(exit == 0, error);
        Assert.Contains("exported 2 labels (csv)", output);
        Assert.Equal("x,y,label\r\n1.25,1,cat\r\n3.25,3,dog\r\n", await File.ReadAllTextAsync(_folder.Full("out/labels.csv"), cancellationToken));
        var summary = await File.ReadAllTextAsync(_folder.Full("out/labels.csv.json"), cancellationToken);
        Assert.Contains("\"labels\": 2", summary);
        Assert.Contains("\"lastEventSeq\": 3", summary);
        Assert.False(File.Exists(_folder.Full("out/labels.csv.partial")));

        // A LabelingQueue's export Job: the same summary, on one line, in its termination message.
        var (again, _, againError) = await RunAsync(new LabelArguments(store, [], Export: _folder.Full("out/again.csv"), TerminationMessagePath: _folder.Full("termination-log")));
        Assert.True(again == 0, againError);
        var message = JsonNode.Parse(await File.ReadAllTextAsync(_folder.Full("termination-log"), cancellationToken))!;
        Assert.Equal((2, 3), (message["labels"]!.GetValue<int>(), message["lastEventSeq"]!.GetValue<int>()));
    }

    [Fact]
    public async Task A_pool_folder_under_the_store_folder_is_created_one_elsewhere_is_a_typo()
    {
        var batch = LabelProcess.WriteBatch(_folder.Path, 2);
        var created = await RunAsync(new LabelArguments(_folder.Full("queue/labels.db"), [batch], Labels: ["cat", "dog"], PoolDirectory: _folder.Full("queue/batches"), Export: _folder.Full("x.csv")));
        Assert.True(created.Exit == 0, created.Error);
        Assert.True(Directory.Exists(_folder.Full("queue/batches")));

        var typo = await RunAsync(new LabelArguments(_folder.Full("queue/labels.db"), [], PoolDirectory: _folder.Full("other/batches"), Export: _folder.Full("y.csv")));
        Assert.Equal(2, typo.Exit);
        Assert.Contains("other/batches: no such folder (only a folder under the store's folder is created)", typo.Error);
        Assert.False(Directory.Exists(_folder.Full("other")));

        var serving = await RunAsync(new LabelArguments(_folder.Full("queue/labels.db"), [], TerminationMessagePath: _folder.Full("t"), Urls: ["http://127.0.0.1:0"]));
        Assert.Equal((2, "error: --termination-message-path is only for --export\n"), (serving.Exit, serving.Error.ReplaceLineEndings("\n")));
    }

    [Fact]
    public async Task Bad_inputs_exit_2_naming_the_problem()
    {
        var batch = LabelProcess.WriteBatch(_folder.Path, 2);
        var noLabels = await RunAsync(new LabelArguments(_folder.Full("a.db"), [batch], Export: _folder.Full("x.csv")));
        Assert.Equal(2, noLabels.Exit);
        Assert.Contains("--labels: ", noLabels.Error);
        Assert.Contains("give the label set", noLabels.Error);
        var twice = await RunAsync(new LabelArguments(_folder.Full("a.db"), [batch], Labels: ["cat", "cat"]));
        Assert.Equal((2, "error: --labels: 'cat' is listed twice\n"), (twice.Exit, twice.Error.ReplaceLineEndings("\n")));
        var budget = await RunAsync(new LabelArguments(_folder.Full("a.db"), [batch], Labels: ["cat"], Budget: 0));
        Assert.Contains("--budget 0: must be at least 1", budget.Error);
        var nothing = await RunAsync(new LabelArguments(_folder.Full("new.db"), [], Labels: ["cat"]));
        Assert.Contains("does not exist yet", nothing.Error);
        var token = await RunAsync(new LabelArguments(_folder.Full("b.db"), [batch], Labels: ["cat", "dog"], TokenFile: _folder.Full("missing-token"), Urls: ["http://127.0.0.1:0"]));
        Assert.Equal(2, token.Exit);
        Assert.Contains("missing-token: no such file", token.Error);
        // The predicted labels of a batch outside the label set do not stop an import, but a batch without an id does.
        File.WriteAllText(_folder.Full("noid.csv"), "x,y\n1,2\n");
        var noId = await RunAsync(new LabelArguments(_folder.Full("c.db"), [_folder.Full("noid.csv")], Labels: ["cat"], Export: _folder.Full("y.csv")));
        Assert.Contains("no 'id' column", noId.Error);
    }

    [Fact]
    public async Task Batches_written_to_the_pool_folder_while_serving_are_imported_once_finished()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var batches = Directory.CreateDirectory(_folder.Full("batches")).FullName;
        LabelProcess.WriteManifest(LabelProcess.WriteBatch(batches, 3, name: "batch-1.csv"));
        using var service = await LabelProcess.StartAsync("--store", _folder.Full("labels.db"), "--pool-dir", batches, "--pool-poll-seconds", "1");
        using var client = new HttpClient { BaseAddress = service.Address };
        async Task<int> Total() => (int)(await client.GetFromJsonAsync<JsonObject>("/api/stats", cancellationToken))!["total"]!;
        Assert.Equal(3, await Total());

        // A batch without its manifest is still being written: not imported. Items 3 and 4 overlap: 3 is not added twice.
        var second = LabelProcess.WriteBatch(batches, 3, first: 3, name: "batch-2.csv");
        await Task.Delay(TimeSpan.FromSeconds(2.5), cancellationToken);
        Assert.Equal(3, await Total());
        LabelProcess.WriteManifest(second);
        await service.WaitForStatsAsync(client, stats => (int)stats["total"]! == 5, cancellationToken);

        Assert.Contains("batch-2.csv: 2 new items", service.Output);
        Assert.Equal(["cat", "dog"], (await client.GetFromJsonAsync<JsonObject>("/api/config", cancellationToken))!["labels"]!.AsArray().Select(l => (string)l!));
    }

    [Fact]
    public async Task Polling_survives_the_pool_folder_going_away_for_a_while()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var batches = Directory.CreateDirectory(_folder.Full("batches")).FullName;
        LabelProcess.WriteManifest(LabelProcess.WriteBatch(batches, 3, name: "batch-1.csv"));
        using var service = await LabelProcess.StartAsync("--store", _folder.Full("labels.db"), "--pool-dir", batches, "--pool-poll-seconds", "1");
        using var client = new HttpClient { BaseAddress = service.Address };

        // The folder is gone for a few polls (said once in the log), then back with a new batch: it is imported.
        Directory.Delete(batches, recursive: true);
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(service.Output, "error: --pool-dir "));
        Directory.CreateDirectory(batches);
        LabelProcess.WriteManifest(LabelProcess.WriteBatch(batches, 2, first: 4, name: "batch-2.csv"));
        await service.WaitForStatsAsync(client, stats => (int)stats["total"]! == 5, cancellationToken);
    }

    [Fact]
    public async Task A_bad_batch_at_start_up_is_reported_kept_and_skipped_and_the_service_serves_the_rest()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var batches = Directory.CreateDirectory(_folder.Full("batches")).FullName;
        // batch-0: its manifest is not JSON, so it cannot create the store either; batch-2: a record with a cell too many.
        var unreadable = LabelProcess.WriteBatch(batches, 2, first: 10, name: "batch-0.csv");
        File.WriteAllText(Syllabus.Trainer.Scoring.ScoredBatchFile.ManifestPath(unreadable), "{ not json");
        LabelProcess.WriteManifest(LabelProcess.WriteBatch(batches, 3, name: "batch-1.csv"));
        var malformed = LabelProcess.WriteBatch(batches, 2, first: 4, name: "batch-2.csv");
        File.AppendAllText(malformed, "item-6,6,0.1,cat,0.6,6.25,6,extra\n");
        LabelProcess.WriteManifest(malformed);
        LabelProcess.WriteManifest(LabelProcess.WriteBatch(batches, 2, first: 7, name: "batch-3.csv"));

        using var service = await LabelProcess.StartAsync("--store", _folder.Full("labels.db"), "--pool-dir", batches, "--pool-poll-seconds", "1");
        using var client = new HttpClient { BaseAddress = service.Address };
        async Task<JsonObject> Stats() => (await client.GetFromJsonAsync<JsonObject>("/api/stats", cancellationToken))!;

        // The good batches are served; the bad ones are named with the reason, in the log and in the stats, and kept.
        var stats = await Stats();
        Assert.Equal(3 + 2, (int)stats["total"]!);
        var failures = stats["batchesNotImported"]!.AsArray().Select(f => ((string)f!["file"]!, (string)f["reason"]!)).ToList();
        Assert.Equal(2, (int)stats["batchesNotImportedCount"]!);
        Assert.Equal(["batch-0.csv", "batch-2.csv"], failures.Select(f => f.Item1));
        Assert.Contains("not a scored batch manifest", failures[0].Item2, StringComparison.Ordinal);
        Assert.Equal("line 4: has 8 fields, the header 7", failures[1].Item2);
        Assert.Contains($"error: {malformed}: ", service.Output, StringComparison.Ordinal);
        Assert.Contains("(not imported; the file is kept and imported again once it changes)", service.Output, StringComparison.Ordinal);
        Assert.True(File.Exists(malformed));
        using (var absent = await client.GetAsync(new Uri("/api/items/item-4", UriKind.Relative), cancellationToken))
        {
            Assert.Equal(System.Net.HttpStatusCode.NotFound, absent.StatusCode);
        }

        // Rewritten, the batch is imported and no longer reported.
        LabelProcess.WriteManifest(LabelProcess.WriteBatch(batches, 2, first: 4, name: "batch-2.csv"));
        stats = await service.WaitForStatsAsync(client, s => (int)s["total"]! == 7, cancellationToken);

        Assert.Equal(["batch-0.csv"], stats["batchesNotImported"]!.AsArray().Select(f => (string)f!["file"]!));

        // Removed by hand, a bad batch is no longer reported: nothing is left to import.
        File.Delete(unreadable);
        stats = await service.WaitForStatsAsync(client, s => (int)s["batchesNotImportedCount"]! == 0, cancellationToken);

        Assert.Empty(stats["batchesNotImported"]!.AsArray());
    }

    [Fact]
    public async Task A_pool_folder_with_no_batch_that_can_create_the_store_is_an_error_naming_each()
    {
        var batches = Directory.CreateDirectory(_folder.Full("batches")).FullName;
        var unreadable = LabelProcess.WriteBatch(batches, 2, name: "batch-1.csv");
        File.WriteAllText(Syllabus.Trainer.Scoring.ScoredBatchFile.ManifestPath(unreadable), "[]");
        var (exit, _, error) = await RunAsync(new LabelArguments(_folder.Full("labels.db"), [], PoolDirectory: batches, Urls: ["http://127.0.0.1:0"]));
        Assert.Equal(2, exit);
        Assert.Contains("no batch could create the store (batch-1.csv: ", error, StringComparison.Ordinal);
    }
}
