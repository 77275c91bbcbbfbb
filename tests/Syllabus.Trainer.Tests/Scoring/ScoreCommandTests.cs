using System.Globalization;
using System.Text.Json.Nodes;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Scoring;
using Syllabus.Trainer.Tests.Training;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Scoring;

/// <summary>Four tiny models on the blob data: two with the same feature schema, one min-max normalised, one without feature f7.</summary>
public sealed class ScoreFixture : IDisposable
{
    internal TrainerFixture Data { get; } = new(trainRows: 300, testRows: 60);

    public ScoreFixture()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        string Train(string name, string hidden, string dataExtra = "") =>
            new TrainingJob(Data.Resolve(Data.Manifest(name, epochs: 2, hidden: hidden, file: name + ".yaml", dataExtra: dataExtra)), TimeProvider.System).Run(cancellationToken).ModelFolder;
        ModelA = Train("a", "[16]");
        ModelB = Train("b", "[8, 8]");
        Standardised = Train("standardised", "[16]", "    normalization: MinMax");
        WithoutF7 = Train("without-f7", "[16]", "    featureColumns: [f0, f1, f2, f3, f4, f5, f6]");
    }

    public string WithoutF7 { get; }

    public string ModelA { get; }

    public string ModelB { get; }

    public string Standardised { get; }

    public string Folder => Data.Folder;

    public void Dispose() => Data.Dispose();
}

[Collection(TorchCollection.Name)]
public sealed class ScoreCommandTests(ScoreFixture fixture) : IClassFixture<ScoreFixture>
{
    private (int Exit, string Output, string Error) Score(params string[] extra)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var root = TrainCommand.CreateRoot(output, error, _ => null, TimeProvider.System);
        var exit = root.Parse(["score", "--device", "cpu", .. extra]).Invoke();
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The fixture's test rows as a pool, with a row that is not a number and a row with too few cells appended.</summary>
    private string Pool(string name, bool withId = false)
    {
        var lines = File.ReadAllLines(Path.Combine(fixture.Folder, "test.csv")).ToList();
        var width = lines[0].Split(',').Length;
        lines.Add(string.Join(',', Enumerable.Repeat("0.5", width - 1).Prepend("cat").Select((v, i) => i == 3 ? "abc" : v)));
        lines.Add("cat,1.0,2.0");
        if (withId)
        {
            lines = [.. lines.Select((l, i) => (i == 0 ? "row_id" : $"r{Math.Min(i, 5)}-{(i < 5 ? 0 : i)}") + "," + l)];
            lines.Add("r1-0," + lines[1].Split(',', 2)[1]);
        }

        var path = Path.Combine(fixture.Folder, name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Writes_the_batch_with_identity_scores_and_features_and_lists_every_row_it_could_not_score()
    {
        var pool = Pool("pool.csv");
        var outFile = Path.Combine(fixture.Folder, "scored", "batch.csv");
        var (exit, output, error) = Score("--model", fixture.ModelA, "--pool", pool, "--strategy", "least-confidence", "--batch", "10", "--seed", "4", "--out", outFile);
        Assert.True(exit == 0, error);
        Assert.Contains("scored 60 of 62 pool rows", output);

        var lines = File.ReadAllLines(outFile);
        var header = lines[0].Split(',');
        Assert.Equal(["id", "rank", "score", "predicted", "confidence", "proba:cat", "proba:dog", "proba:fish", "source_file", "source_line", "label", "difficulty"], header[..12]);
        Assert.Equal(11, lines.Length);
        var poolLines = File.ReadAllLines(pool);
        var scores = new List<double>();
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            var lineNumber = int.Parse(cells[9], CultureInfo.InvariantCulture);
            Assert.Equal($"{pool}:{lineNumber}", cells[0]);
            // The original row, as it was in the pool, after the batch's own columns.
            Assert.Equal(poolLines[lineNumber - 1], string.Join(',', cells[10..]));
            var p = cells[5..8].Select(c => double.Parse(c, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(1.0, p.Sum(), 4);
            Assert.Equal(1 - p.Max(), double.Parse(cells[2], CultureInfo.InvariantCulture), 6);
            Assert.Equal(new[] { "cat", "dog", "fish" }[Array.IndexOf(p, p.Max())], cells[3]);
            scores.Add(double.Parse(cells[2], CultureInfo.InvariantCulture));
        }

        Assert.Equal(scores.OrderDescending(), scores);
        var rejects = File.ReadAllLines(Path.Combine(fixture.Folder, "scored", "batch.rejects.csv"));
        Assert.Equal(3, rejects.Length);
        Assert.Contains($"{pool}:62,{pool},62,", rejects[1]);
        Assert.Contains("'abc' is not a finite number", rejects[1]);
        Assert.Contains($"{pool}:63,{pool},63,\"has 3 fields, the header 10\"", rejects[2]);
        var manifest = ScoredBatchManifest.Load(outFile + ".json");
        Assert.Equal((62, 60, 10, 2), (manifest.PoolRows, manifest.ScoredRows, manifest.SelectedRows, manifest.RejectedRows));
        Assert.Equal(["cat", "dog", "fish"], manifest.Classes);
        Assert.Null(manifest.ImageShape);
    }

    [Fact]
    public void The_same_seed_selects_the_same_random_batch_and_another_seed_another()
    {
        var pool = Pool("pool-random.csv");
        string Run(int seed)
        {
            var outFile = Path.Combine(fixture.Folder, $"random-{seed}-{Guid.NewGuid():N}.csv");
            Assert.Equal(0, Score("--model", fixture.ModelA, "--pool", pool, "--strategy", "random", "--batch", "8", "--seed", seed.ToString(CultureInfo.InvariantCulture), "--out", outFile).Exit);
            return string.Join('|', File.ReadAllLines(outFile).Skip(1).Select(l => l.Split(',')[0]));
        }

        Assert.Equal(Run(1), Run(1));
        Assert.NotEqual(Run(1), Run(2));
    }

    [Fact]
    public void A_committee_scores_disagreement_and_needs_two_models_with_one_schema()
    {
        var pool = Pool("pool-committee.csv");
        var outFile = Path.Combine(fixture.Folder, "committee.csv");
        var (exit, _, error) = Score("--model", fixture.ModelA, "--model", fixture.ModelB, "--pool", pool, "--strategy", "max-disagreement", "--batch", "5", "--balance-classes", "--out", outFile);
        Assert.True(exit == 0, error);
        Assert.Equal(6, File.ReadAllLines(outFile).Length);
        Assert.Equal(2, ScoredBatchManifest.Load(outFile + ".json").Models.Count);

        var alone = Score("--model", fixture.ModelA, "--pool", pool, "--strategy", "vote-entropy", "--batch", "5", "--out", outFile);
        Assert.Equal(2, alone.Exit);
        Assert.Contains("two --model or more", alone.Error);

        // Other feature columns: not one committee.
        var mixed = Score("--model", fixture.ModelA, "--model", fixture.WithoutF7, "--pool", pool, "--strategy", "consensus-entropy", "--batch", "5", "--out", outFile);
        Assert.Equal(2, mixed.Exit);
        Assert.Contains("does not take", mixed.Error);
        Assert.Contains("feature column 'f7'; a committee's members must take the same feature columns", mixed.Error);
    }

    [Fact]
    public void Committee_members_encode_the_rows_with_their_own_fitted_normalisation()
    {
        var pool = Pool("pool-own-encoders.csv");
        Dictionary<string, double[]> Probabilities(params string[] models)
        {
            var outFile = Path.Combine(fixture.Folder, $"own-encoders-{Guid.NewGuid():N}.csv");
            var (exit, _, error) = Score([.. models.SelectMany(m => new[] { "--model", m }), "--pool", pool, "--strategy", models.Length > 1 ? "consensus-entropy" : "entropy", "--batch", "100", "--out", outFile]);
            Assert.True(exit == 0, error);
            return File.ReadAllLines(outFile).Skip(1).Select(l => l.Split(','))
                .ToDictionary(c => c[0], c => c[5..8].Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray());
        }

        // A (standardised inputs) and the MinMax model, each alone, then as a committee.
        var a = Probabilities(fixture.ModelA);
        var minMax = Probabilities(fixture.Standardised);
        var committee = Probabilities(fixture.ModelA, fixture.Standardised);

        Assert.Equal(60, committee.Count);
        // The committee's probabilities are the mean of what each member gives on its own, row by row.
        foreach (var (id, p) in committee)
        {
            Assert.Equal([.. a[id].Zip(minMax[id], (x, y) => (x + y) / 2)], p, (x, y) => Math.Abs(x - y) < 1e-5);
        }

        // The members' fitted preprocessing differs: A's standardised encoding is not what the MinMax model takes.
        Assert.NotEqual(ModelBundleSchema(fixture.ModelA), ModelBundleSchema(fixture.Standardised));
    }

    private static string ModelBundleSchema(string model)
    {
        using var bundle = Syllabus.Trainer.Bundles.ModelBundle.Load(model, TorchSharp.torch.CPU);
        return bundle.Schema.Normalization;
    }

    [Fact]
    public void An_id_column_names_rows_and_a_repeated_id_is_rejected_not_dropped()
    {
        var pool = Pool("pool-ids.csv", withId: true);
        var outFile = Path.Combine(fixture.Folder, "ids.csv");
        var (exit, _, error) = Score("--model", fixture.ModelA, "--pool", pool, "--strategy", "entropy", "--batch", "60", "--diversity", "k-center", "--id-column", "row_id", "--out", outFile);
        Assert.True(exit == 0, error);
        var ids = File.ReadAllLines(outFile).Skip(1).Select(l => l.Split(',')[0]).ToList();
        Assert.All(ids, id => Assert.StartsWith("r", id, StringComparison.Ordinal));
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.DoesNotContain("row_id", File.ReadAllLines(outFile)[0].Split(','));
        var rejects = File.ReadAllText(Path.Combine(fixture.Folder, "ids.rejects.csv"));
        Assert.Contains($"id 'r1-0' was already used at {pool}:2", rejects);

        var unknown = Score("--model", fixture.ModelA, "--pool", pool, "--strategy", "entropy", "--batch", "5", "--out", outFile);
        Assert.Equal(2, unknown.Exit);
        Assert.Contains("column 'row_id' is not an input of the model", unknown.Error);
    }

    [Fact]
    public void A_serving_models_uncertain_rows_are_identified_by_content_not_by_the_clients_request_id()
    {
        static JsonObject Row(string id, int row, JsonNode? first)
        {
            var inputs = new JsonObject { ["f0"] = first };
            for (var f = 1; f < 8; f++)
            {
                inputs[$"f{f}"] = 0.5;
            }

            return new JsonObject { ["id"] = id, ["row"] = row, ["uncertainty"] = 0.3, ["inputs"] = inputs };
        }

        // A client reused req-1 for two different rows; req-2 sent the first row again; req-7's row is not a number.
        var json = Path.Combine(fixture.Folder, "uncertain.json");
        File.WriteAllText(json, new JsonObject
        {
            ["model"] = "a",
            ["rows"] = new JsonArray(Row("req-1", 0, 1.5), Row("req-1", 0, 2.5), Row("req-2", 0, 1.5), Row("req-7", 1, "oops")),
        }.ToJsonString());
        var outFile = Path.Combine(fixture.Folder, "uncertain-batch.csv");
        var (exit, _, error) = Score("--model", fixture.ModelA, "--pool", json, "--strategy", "margin", "--batch", "5", "--out", outFile);
        Assert.True(exit == 0, error);

        // Both rows of req-1 are kept, under ids of their content; the repeated row is one row naming both requests.
        var batch = File.ReadAllLines(outFile).Skip(1).Select(l => l.Split(',')).ToDictionary(r => r[8], r => r[0]);
        Assert.Equal([$"{json} (request req-1#0)", $"{json} (request req-1#0; req-2#0)"], batch.Keys.Order(StringComparer.Ordinal));
        Assert.All(batch.Values, id => Assert.Matches("^live:[0-9a-f]{32}$", id));
        Assert.NotEqual(batch[$"{json} (request req-1#0)"], batch[$"{json} (request req-1#0; req-2#0)"]);
        Assert.Equal(PoolReader.ContentId([.. Enumerable.Range(0, 8).Select(f => KeyValuePair.Create($"f{f}", (string?)(f == 0 ? "1.5" : "0.5")))]), batch[$"{json} (request req-1#0; req-2#0)"]);
        Assert.Contains("request req-7#1: ", File.ReadAllText(Path.Combine(fixture.Folder, "uncertain-batch.rejects.csv")));
        Assert.Equal(PoolReader.UncertainIdColumn, ScoredBatchManifest.Load(outFile + ".json").IdColumn);

        // The identity does not hang on the order of the inputs, and a missing value is not the text "null".
        Assert.Equal(PoolReader.ContentId([new("a", "1"), new("b", null)]), PoolReader.ContentId([new("b", null), new("a", "1")]));
        Assert.NotEqual(PoolReader.ContentId([new("a", "1"), new("b", null)]), PoolReader.ContentId([new("a", "1"), new("b", "null")]));
    }

    [Fact]
    public void An_uncertain_rows_entry_that_is_not_an_object_is_rejected_with_its_position_and_the_rest_are_scored()
    {
        var inputs = new JsonObject([.. Enumerable.Range(0, 8).Select(f => KeyValuePair.Create($"f{f}", (JsonNode?)(0.1 * f)))]);
        var json = Path.Combine(fixture.Folder, "uncertain-not-object.json");
        File.WriteAllText(json, new JsonObject
        {
            ["model"] = "a",
            ["rows"] = new JsonArray(5, new JsonObject { ["id"] = "req-1", ["row"] = 0, ["inputs"] = inputs }, "text"),
        }.ToJsonString());
        var outFile = Path.Combine(fixture.Folder, "uncertain-not-object", "batch.csv");
        var (exit, _, error) = Score("--model", fixture.ModelA, "--pool", json, "--strategy", "margin", "--batch", "5", "--out", outFile);

        Assert.True(exit == 0, error);
        Assert.Single(File.ReadAllLines(outFile).Skip(1));
        var rejects = File.ReadAllLines(Path.Combine(Path.GetDirectoryName(outFile)!, "batch.rejects.csv")).Skip(1).ToList();
        Assert.Equal(2, rejects.Count);
        Assert.All(rejects, r => Assert.Contains("entry has no 'inputs' object", r, StringComparison.Ordinal));
        Assert.Contains($"{json},1,", rejects[0], StringComparison.Ordinal);
        Assert.Contains($"{json},3,", rejects[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Serve_pods_uncertain_rows_join_the_dataset_pool_and_another_schema_is_rejected_and_counted()
    {
        static JsonObject Body(string prefix, int rows, int offset) => new()
        {
            ["model"] = "served",
            ["rows"] = new JsonArray([.. Enumerable.Range(0, rows).Select(r => (JsonNode)new JsonObject
            {
                ["id"] = $"req-{r}",
                ["row"] = offset,
                ["uncertainty"] = 0.4,
                ["inputs"] = new JsonObject([.. Enumerable.Range(0, 8).Select(f => KeyValuePair.Create($"{prefix}{f}", (JsonNode?)(0.1 * (r + f))))]),
            })]),
        };

        // Two serve pods: one serving the scoring model's inputs (f0..f7), one another schema (g0..g7).
        using var pods = new UncertainPods(new Dictionary<string, JsonObject> { ["/same/"] = Body("f", 4, 0), ["/other/"] = Body("g", 3, 1) });
        var pool = Pool("pool-uncertain.csv");
        var outFile = Path.Combine(fixture.Folder, "uncertain-merge", "batch.csv");
        var termination = Path.Combine(fixture.Folder, "uncertain-merge", "termination-log");
        Directory.CreateDirectory(Path.GetDirectoryName(outFile)!);
        var (exit, output, error) = Score("--model", fixture.ModelA, "--pool", pool, "--uncertain", pods.Url("/same/"), "--uncertain", pods.Url("/other/"),
            "--strategy", "random", "--batch", "200", "--out", outFile, "--termination-message-path", termination);
        Assert.True(exit == 0, error);
        Assert.Contains("7 uncertain rows from 2 serve pods: 4 selected, 0 already in the store, 3 rejected", output);

        // The matching pod's rows are in the batch under their content ids, sourced from its URL and request, with the dataset's rows.
        var batch = File.ReadAllLines(outFile).Skip(1).Select(l => l.Split(',')).ToList();
        var live = batch.Where(r => r[0].StartsWith("live:", StringComparison.Ordinal)).ToList();
        Assert.Equal([.. Enumerable.Range(0, 4).Select(r => $"{pods.Url("/same/")} (request req-{r}#0)")], live.Select(r => r[8]).Order(StringComparer.Ordinal));
        Assert.Equal(60 + 4, batch.Count);

        // The other schema's rows: rejected with the reason, never imputed.
        var rejects = File.ReadAllLines(Path.Combine(fixture.Folder, "uncertain-merge", "batch.rejects.csv"));
        var other = rejects.Where(l => l.Contains(pods.Url("/other/"), StringComparison.Ordinal)).ToList();
        Assert.Equal(3, other.Count);
        Assert.All(other, l => Assert.Contains("missing 'f0', 'f1', 'f2', 'f3', 'f4' and 3 more; not an input of the scoring model 'g0'", l, StringComparison.Ordinal));

        var summary = JsonNode.Parse(File.ReadAllText(termination))!;
        Assert.Equal((7, 4, 3, 0), ((int)summary["uncertainRows"]!, (int)summary["uncertainSelected"]!, (int)summary["uncertainRejected"]!, (int)summary["uncertainExcluded"]!));
        Assert.Equal((64, 2 + 3), ((int)summary["selectedRows"]!, (int)summary["rejectedRows"]!));
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(pods.Url("/other/"))} live:[0-9a-f]{{32}}: request req-0#1: the serving model's inputs are not the scoring model's", (string)summary["firstUncertainReject"]!);
        Assert.True(File.ReadAllText(termination).Length < 4096, "a termination message is at most 4096 bytes");

        // Without a dataset the pool is the serve pods' rows alone; an unreachable pod fails the run naming its URL.
        var alone = Score("--model", fixture.ModelA, "--uncertain", pods.Url("/same/"), "--strategy", "margin", "--batch", "2", "--out", Path.Combine(fixture.Folder, "uncertain-alone", "batch.csv"));
        Assert.True(alone.Exit == 0, alone.Error);
        Assert.Contains("selected 2", alone.Output);
        var gone = Score("--model", fixture.ModelA, "--uncertain", pods.Url("/missing/"), "--strategy", "margin", "--batch", "2", "--out", Path.Combine(fixture.Folder, "uncertain-gone", "batch.csv"));
        Assert.Equal((2, true), (gone.Exit, gone.Error.Contains($"--uncertain {pods.Url("/missing/")}: answered 404", StringComparison.Ordinal)));
        var none = Score("--model", fixture.ModelA, "--strategy", "margin", "--batch", "2", "--out", Path.Combine(fixture.Folder, "uncertain-none", "batch.csv"));
        Assert.Equal((2, true), (none.Exit, none.Error.Contains("give a pool file, an --uncertain URL, or both", StringComparison.Ordinal)));
    }

    [Fact]
    public void Two_serve_pods_reusing_a_request_id_give_both_rows_and_a_row_both_kept_is_one()
    {
        static JsonObject Body(params (string Id, double First)[] rows) => new()
        {
            ["model"] = "served",
            ["rows"] = new JsonArray([.. rows.Select(r => (JsonNode)new JsonObject
            {
                ["id"] = r.Id,
                ["row"] = 0,
                ["uncertainty"] = 0.4,
                ["inputs"] = new JsonObject([.. Enumerable.Range(0, 8).Select(f => KeyValuePair.Create($"f{f}", (JsonNode?)(f == 0 ? r.First : 0.25)))]),
            })]),
        };

        // Each pod numbers its own requests: both have a req-1, with different rows; pod b also kept pod a's row (req-5).
        using var pods = new UncertainPods(new Dictionary<string, JsonObject> { ["/a/"] = Body(("req-1", 1.0)), ["/b/"] = Body(("req-1", 2.0), ("req-5", 1.0)) });
        var outFile = Path.Combine(fixture.Folder, "uncertain-pods", "batch.csv");
        var (exit, output, error) = Score("--model", fixture.ModelA, "--uncertain", pods.Url("/a/"), "--uncertain", pods.Url("/b/"), "--strategy", "margin", "--batch", "10", "--out", outFile);
        Assert.True(exit == 0, error);
        Assert.Contains("2 selected, 0 already in the store, 0 rejected", output);
        var sources = File.ReadAllLines(outFile).Skip(1).Select(l => l.Split(',')[8]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal([$"{pods.Url("/a/")} (request req-1#0; req-5#0)", $"{pods.Url("/b/")} (request req-1#0)"], sources);
    }

    /// <summary>Serve pods' `GET .../uncertain` bodies on a loopback HttpListener, by path; any other path is a 404.</summary>
    private sealed class UncertainPods : IDisposable
    {
        private readonly System.Net.HttpListener _listener = new();
        private readonly Task _serving;
        private readonly int _port;

        public UncertainPods(Dictionary<string, JsonObject> bodies)
        {
            _port = FreePort();
            _listener.Prefixes.Add($"http://127.0.0.1:{_port}/");
            _listener.Start();
            _serving = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    System.Net.HttpListenerContext context;
                    try
                    {
                        context = await _listener.GetContextAsync();
                    }
                    catch (Exception e) when (e is System.Net.HttpListenerException or ObjectDisposedException)
                    {
                        return;
                    }

                    var path = context.Request.Url!.AbsolutePath;
                    var body = bodies.FirstOrDefault(b => path.StartsWith(b.Key, StringComparison.Ordinal)).Value;
                    context.Response.StatusCode = body is null ? 404 : 200;
                    var bytes = System.Text.Encoding.UTF8.GetBytes(body?.ToJsonString() ?? "{}");
                    await context.Response.OutputStream.WriteAsync(bytes);
                    context.Response.Close();
                }
            });
        }

        public string Url(string path) => $"http://127.0.0.1:{_port}{path}v2/models/served/uncertain";

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _serving.Wait(TimeSpan.FromSeconds(5));
        }

        private static int FreePort()
        {
            using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            socket.Start();
            return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
        }
    }

    [Fact]
    public async Task Scores_a_Parquet_pool_naming_rows_by_file_and_row()
    {
        var path = Path.Combine(fixture.Folder, "pool.parquet");
        var random = new Random(3);
        double?[] Column(int f) => [.. Enumerable.Range(0, 12).Select(r => r == 5 && f == 2 ? null : (double?)(random.NextDouble() * 2))];
        await Syllabus.Trainer.Tests.Data.ParquetFixture.WriteAsync(path, [.. Enumerable.Range(0, 8).Select(f => (Syllabus.Trainer.Tests.Data.ParquetFixture.Column)new Syllabus.Trainer.Tests.Data.ParquetFixture.Doubles($"f{f}", Column(f)))]);
        var outFile = Path.Combine(fixture.Folder, "parquet-batch.csv");
        var (exit, output, error) = Score("--model", fixture.ModelA, "--pool", path, "--strategy", "entropy", "--batch", "3", "--out", outFile);
        Assert.True(exit == 0, error);
        Assert.Contains("scored 11 of 12 pool rows", output);
        Assert.All(File.ReadAllLines(outFile).Skip(1), l => Assert.StartsWith(path + ":", l, StringComparison.Ordinal));
        // Row 6 has a missing f2 and the model was fitted without imputation: rejected with the reason.
        Assert.Contains($"{path}:6,{path},6,", File.ReadAllText(Path.Combine(fixture.Folder, "parquet-batch.rejects.csv")));
    }

    [Fact]
    public async Task Rows_already_in_the_label_store_are_left_out_and_counted()
    {
        var pool = Pool("pool-exclude.csv");
        var first = Path.Combine(fixture.Folder, "exclude", "batch-1.csv");
        Assert.Equal(0, Score("--model", fixture.ModelA, "--pool", pool, "--strategy", "margin", "--batch", "10", "--out", first).Exit);
        var store = Path.Combine(fixture.Folder, "exclude", "labels.db");
        using (var opened = Syllabus.Trainer.Labeling.LabelStore.Open(store, Syllabus.Trainer.Labeling.LabelExchange.SchemaFor(first, ["cat", "dog", "fish"], ScoredBatchManifest.Load(first + ".json")), null))
        {
            await Syllabus.Trainer.Labeling.LabelExchange.ImportBatchAsync(opened, first, TestContext.Current.CancellationToken);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var second = Path.Combine(fixture.Folder, "exclude", "batch-2.csv");
        var (exit, output, error) = Score("--model", fixture.ModelA, "--pool", pool, "--strategy", "margin", "--batch", "10", "--exclude-store", store, "--out", second);
        Assert.True(exit == 0, error);
        Assert.Contains($"scored 50 of 62 pool rows (10 already in {store})", output);
        string[] Ids(string file) => [.. File.ReadAllLines(file).Skip(1).Select(l => l.Split(',')[0])];
        Assert.Empty(Ids(first).Intersect(Ids(second)));
        var manifest = ScoredBatchManifest.Load(second + ".json");
        Assert.Equal((62, 10, 50), (manifest.PoolRows, manifest.ExcludedRows, manifest.ScoredRows));
    }
}
