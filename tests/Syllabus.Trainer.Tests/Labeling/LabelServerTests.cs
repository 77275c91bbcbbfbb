using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Syllabus.Trainer.Labeling;
using Syllabus.Trainer.Tests.Data;

namespace Syllabus.Trainer.Tests.Labeling;

public sealed class LabelServerTests : IAsyncLifetime
{
    private const string Token = "s3cret-token";
    private readonly TempFolder _folder = new();
    private LabelServer _server = null!;
    private HttpClient _client = null!;

    public async ValueTask InitializeAsync()
    {
        var store = LabelStore.Open(_folder.Full("labels.db"), LabelStoreTests.Schema, budget: 3);
        await store.ImportAsync(LabelStoreTests.Items(4), TestContext.Current.CancellationToken);
        _server = await LabelServer.StartAsync(store, Token, ["http://127.0.0.1:0"], TestContext.Current.CancellationToken);
        _client = new HttpClient { BaseAddress = new Uri(_server.Addresses[0]) };
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }

    private async Task<(HttpStatusCode Status, JsonNode Body)> PostAsync(string path, object body, string? token = Token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = token is null ? null : new AuthenticationHeaderValue("Bearer", token);
        using var response = await _client.SendAsync(request, TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!);
    }

    private async Task<(HttpStatusCode Status, JsonNode Body)> GetAsync(string path)
    {
        using var response = await _client.GetAsync(path, TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!);
    }

    [Fact]
    public async Task Writes_need_the_bearer_token()
    {
        var none = await PostAsync("/api/submit", new { itemId = "item-1", label = "cat", idempotencyKey = "k" }, token: null);
        Assert.Equal(HttpStatusCode.Unauthorized, none.Status);
        Assert.Contains("Authorization: Bearer", (string)none.Body["error"]!);
        var wrong = await PostAsync("/api/undo", new { }, token: "s3cret-tokeN");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Equal(0, (int)(await GetAsync("/api/stats")).Body["labelled"]!);
    }

    [Fact]
    public async Task Submit_skip_undo_next_and_stats_work_over_the_API()
    {
        var submitted = await PostAsync("/api/submit", new { itemId = "item-1", label = "dog", idempotencyKey = "k1" });
        Assert.Equal(HttpStatusCode.OK, submitted.Status);
        Assert.False((bool)submitted.Body["duplicate"]!);
        Assert.Equal(1, (int)submitted.Body["stats"]!["labelled"]!);
        Assert.True((bool)(await PostAsync("/api/submit", new { itemId = "item-1", label = "dog", idempotencyKey = "k1" })).Body["duplicate"]!);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync("/api/skip", new { itemId = "item-2", idempotencyKey = "k2" })).Status);

        var next = await GetAsync("/api/next?limit=5");
        Assert.Equal(["item-3", "item-4"], next.Body["items"]!.AsArray().Select(i => (string)i!["id"]!));
        Assert.Equal("3.5", (string)next.Body["items"]![0]!["features"]!["x"]!);
        Assert.Equal("cat", (string)next.Body["items"]![0]!["predicted"]!);

        var undone = await PostAsync("/api/undo", new { });
        Assert.Equal("item-2", (string)undone.Body["event"]!["itemId"]!);
        var stats = (await GetAsync("/api/stats")).Body;
        Assert.Equal((4, 3, 1, 0, 2), ((int)stats["total"]!, (int)stats["pending"]!, (int)stats["labelled"]!, (int)stats["skipped"]!, (int)stats["budgetLeft"]!));
        Assert.Equal("labelled", (string)(await GetAsync("/api/items/item-1")).Body["state"]!);
    }

    [Fact]
    public async Task Bad_labels_unknown_items_and_malformed_bodies_are_client_errors()
    {
        var label = await PostAsync("/api/submit", new { itemId = "item-1", label = "fish", idempotencyKey = "k" });
        Assert.Equal((HttpStatusCode.BadRequest, "label 'fish' is not one of the labels cat,dog"), (label.Status, (string)label.Body["error"]!));
        var item = await PostAsync("/api/submit", new { itemId = "nope", label = "cat", idempotencyKey = "k" });
        Assert.Equal((HttpStatusCode.BadRequest, "item 'nope' is not in this store"), (item.Status, (string)item.Body["error"]!));
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/api/items/nope")).Status);
        var key = await PostAsync("/api/submit", new { itemId = "item-1", label = "cat" });
        Assert.Equal(HttpStatusCode.BadRequest, key.Status);
        Assert.Contains("'idempotencyKey' is required", (string)key.Body["error"]!);
        using var bad = new HttpRequestMessage(HttpMethod.Post, "/api/submit") { Content = new StringContent("{not json", System.Text.Encoding.UTF8, "application/json") };
        bad.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await _client.SendAsync(bad, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync("/api/next?limit=0")).Status);
    }

    [Fact]
    public async Task The_budget_is_enforced_over_the_API()
    {
        foreach (var i in new[] { 1, 2, 3 })
        {
            Assert.Equal(HttpStatusCode.OK, (await PostAsync("/api/submit", new { itemId = $"item-{i}", label = "cat", idempotencyKey = $"k{i}" })).Status);
        }

        var spent = await PostAsync("/api/submit", new { itemId = "item-4", label = "cat", idempotencyKey = "k4" });
        Assert.Equal(HttpStatusCode.Conflict, spent.Status);
        Assert.Contains("budget of 3 labels is spent", (string)spent.Body["error"]!);
        Assert.True((bool)(await GetAsync("/api/stats")).Body["budgetExhausted"]!);
    }

    [Fact]
    public async Task Exports_the_labelled_items_with_their_features_as_CSV_Parquet_and_Label_Studio_tasks()
    {
        await PostAsync("/api/submit", new { itemId = "item-2", label = "cat", idempotencyKey = "k1" });
        await PostAsync("/api/submit", new { itemId = "item-1", label = "dog", idempotencyKey = "k2" });
        var csv = await _client.GetStringAsync("/api/export?format=csv", TestContext.Current.CancellationToken);
        Assert.Equal("x,colour,label\r\n1.5,,dog\r\n2.5,red,cat\r\n", csv);

        using var parquet = await _client.GetAsync("/api/export?format=parquet", TestContext.Current.CancellationToken);
        Assert.Equal("2", parquet.Headers.GetValues("X-Syllabus-Labels").Single());
        var parquetPath = _folder.Full("labels.parquet");
        await File.WriteAllBytesAsync(parquetPath, await parquet.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken), TestContext.Current.CancellationToken);
        using (var reader = Syllabus.Trainer.Data.RecordReaders.Open(parquetPath, Syllabus.Api.DataFormats.Parquet))
        {
            Assert.Equal(["x", "colour", "label"], reader.Columns);
            Assert.True(reader.Read());
            Assert.True(reader[0].IsNumber);
            Assert.Equal((1.5, "dog"), (reader[0].Number, reader[2].Text));
        }

        var tasks = (await GetAsync("/api/export?format=label-studio")).Body.AsArray();
        Assert.Equal(4, tasks.Count);
        var first = tasks[0]!;
        Assert.Equal("item-1", (string)first["data"]!["syllabus_id"]!);
        Assert.Equal("1.5", (string)first["data"]!["x"]!);
        var result = first["annotations"]![0]!["result"]![0]!;
        Assert.Equal(("label", "item", "choices", "dog"), ((string)result["from_name"]!, (string)result["to_name"]!, (string)result["type"]!, (string)result["value"]!["choices"]![0]!));
        Assert.Equal(0.51, (double)first["predictions"]![0]!["score"]!, 6);
        Assert.Equal("cat", (string)first["predictions"]![0]!["result"]![0]!["value"]!["choices"]![0]!);
        Assert.Empty(tasks[2]!["annotations"]!.AsArray());

        // Round trip: a store built from the export has the same items and labels.
        using var copy = LabelStore.Open(_folder.Full("copy.db"), LabelStoreTests.Schema, null);
        var (items, labels) = LabelExchange.ReadLabelStudio(tasks, copy.Schema.FeatureColumns, "ls");
        await copy.ImportAsync(items, TestContext.Current.CancellationToken);
        foreach (var (itemId, label, key) in labels)
        {
            await copy.LabelAsync(itemId, label, key, TestContext.Current.CancellationToken);
        }

        Assert.Equal(["item-1:dog", "item-2:cat"], (await copy.ItemsAsync(ItemStates.Labelled, TestContext.Current.CancellationToken)).Select(i => $"{i.Item.Id}:{i.Label}"));
        Assert.Equal(["2.5", "red"], (await copy.ItemAsync("item-2", TestContext.Current.CancellationToken))!.Item.Features);
        Assert.Equal(0.51, (await copy.ItemAsync("item-1", TestContext.Current.CancellationToken))!.Item.Confidence!.Value, 6);
    }

    [Fact]
    public async Task Serves_the_UI_from_the_program()
    {
        var html = await _client.GetStringAsync("/", TestContext.Current.CancellationToken);
        Assert.Contains("<script src=\"app.js\"></script>", html);
        Assert.DoesNotContain("https://", html);
        var script = await _client.GetStringAsync("/app.js", TestContext.Current.CancellationToken);
        Assert.Contains("/api/submit", script);
    }

    [Fact]
    public async Task Imports_Label_Studio_tasks_with_their_annotations_once()
    {
        static JsonNode Choice(string label) => new JsonArray(new JsonObject
        {
            ["from_name"] = "label", ["to_name"] = "item", ["type"] = "choices", ["value"] = new JsonObject { ["choices"] = new JsonArray(label) },
        });
        var tasks = new JsonArray(
            new JsonObject
            {
                ["id"] = 41,
                ["data"] = new JsonObject { ["x"] = "9.5", ["colour"] = "blue" },
                ["annotations"] = new JsonArray(
                    new JsonObject { ["id"] = 1, ["result"] = Choice("cat") },
                    new JsonObject { ["id"] = 2, ["was_cancelled"] = true, ["result"] = Choice("dog") }),
                ["predictions"] = new JsonArray(new JsonObject { ["score"] = 0.7, ["result"] = Choice("dog") }),
            },
            new JsonObject { ["id"] = 42, ["data"] = new JsonObject { ["syllabus_id"] = "item-1", ["x"] = "1.5", ["colour"] = null }, ["annotations"] = new JsonArray(new JsonObject { ["id"] = 3, ["result"] = Choice("dog") }) });
        var first = await PostAsync("/api/import/label-studio", tasks);
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal((2, 1, 2), ((int)first.Body["tasks"]!, (int)first.Body["itemsAdded"]!, (int)first.Body["labelsAdded"]!));
        var again = await PostAsync("/api/import/label-studio", tasks);
        Assert.Equal((0, 0), ((int)again.Body["itemsAdded"]!, (int)again.Body["labelsAdded"]!));
        var item = (await GetAsync("/api/items/41")).Body;
        Assert.Equal(("labelled", "cat", "dog", 0.7), ((string)item["state"]!, (string)item["label"]!, (string)item["predicted"]!, (double)item["confidence"]!));
        Assert.Equal("dog", (string)(await GetAsync("/api/items/item-1")).Body["label"]!);

        var missing = await PostAsync("/api/import/label-studio", new JsonArray(new JsonObject { ["id"] = 50, ["data"] = new JsonObject { ["x"] = "1" } }));
        Assert.Equal(HttpStatusCode.BadRequest, missing.Status);
        Assert.Contains("data has no 'colour'", (string)missing.Body["error"]!);
        var outside = await PostAsync("/api/import/label-studio", new JsonArray(new JsonObject { ["id"] = 51, ["data"] = new JsonObject { ["x"] = "1", ["colour"] = "red" }, ["annotations"] = new JsonArray(new JsonObject { ["id"] = 9, ["result"] = Choice("fish") }) }));
        Assert.Equal(HttpStatusCode.BadRequest, outside.Status);
        Assert.Contains("label 'fish' is not one of the labels cat,dog", (string)outside.Body["error"]!);
        // A refused file changes nothing.
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/api/items/51")).Status);
    }
}
