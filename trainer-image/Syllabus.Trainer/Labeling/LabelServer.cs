using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Syllabus.Trainer.Labeling;

/// <summary>
/// The labelling service on Kestrel: the web UI (static files built into the program, no CDN) and the JSON API over a
/// <see cref="LabelStore"/>. Reads are open; writes need <c>Authorization: Bearer TOKEN</c>, compared in constant time.
/// A write is answered only after the store committed it.
/// </summary>
public sealed class LabelServer : IAsyncDisposable
{
    private const int MaxBatch = 200;
    private const long MaxImportBytes = 256L * 1024 * 1024;
    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly LabelStore _store;
    private readonly BatchImportFailures _failures;
    private readonly byte[] _tokenHash;
    private readonly WebApplication _app;

    private LabelServer(LabelStore store, string token, IReadOnlyList<string> urls, BatchImportFailures failures)
    {
        _store = store;
        _failures = failures;
        _tokenHash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        _app = Build(urls);
    }

    /// <summary>The addresses Kestrel listens on (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<string> Addresses =>
        [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>
    /// Starts serving <paramref name="store"/> (which the server then owns); <paramref name="failures"/> are the batches
    /// that could not be imported, reported by <c>GET /api/stats</c>.
    /// </summary>
    public static async Task<LabelServer> StartAsync(LabelStore store, string token, IReadOnlyList<string> urls, CancellationToken cancellationToken, BatchImportFailures? failures = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        var server = new LabelServer(store, token, urls, failures ?? new BatchImportFailures());
        await server._app.StartAsync(cancellationToken);
        return server;
    }

    /// <summary>Adds a scored batch's new items to the store while serving.</summary>
    public Task<int> ImportBatchAsync(string batchFile, CancellationToken cancellationToken) => LabelExchange.ImportBatchAsync(_store, batchFile, cancellationToken);

    public Task<LabelStats> StatsAsync(CancellationToken cancellationToken) => _store.StatsAsync(cancellationToken);

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await _app.DisposeAsync();
            _store.Dispose();
        }
    }

    private WebApplication Build(IReadOnlyList<string> urls)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "syllabus-trainer" });
        builder.Logging.ClearProviders().AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = MaxImportBytes;
            kestrel.AddServerHeader = false;
        });
        builder.WebHost.UseUrls([.. urls]);
        var app = builder.Build();

        app.MapGet("/", Static("index.html", "text/html; charset=utf-8"));
        app.MapGet("/app.js", Static("app.js", "text/javascript; charset=utf-8"));
        app.MapGet("/healthz", Handle(c => Json(c, 200, new JsonObject { ["ok"] = true })));
        app.MapGet("/api/config", Handle(Config));
        app.MapGet("/api/stats", Handle(async c =>
        {
            var body = StatsJson(await _store.StatsAsync(c.RequestAborted));
            body["batchesNotImported"] = _failures.ToJson();
            body["batchesNotImportedCount"] = _failures.Count;
            await Json(c, 200, body);
        }));
        app.MapGet("/api/next", Handle(Next));
        app.MapGet("/api/items", Handle(Items));
        app.MapGet("/api/items/{id}", Handle(Item));
        app.MapGet("/api/events", Handle(Events));
        app.MapGet("/api/export", Handle(Export));
        app.MapPost("/api/submit", Write(Submit));
        app.MapPost("/api/skip", Write(Skip));
        app.MapPost("/api/undo", Write(Undo));
        app.MapPost("/api/import/label-studio", Write(ImportLabelStudio));
        return app;
    }

    private static RequestDelegate Static(string name, string contentType) => async context =>
    {
        await using var resource = typeof(LabelServer).Assembly.GetManifestResourceStream($"Syllabus.Trainer.Labeling.wwwroot.{name}")
            ?? throw new InvalidOperationException($"the UI file {name} is not built into the program");
        context.Response.ContentType = contentType;
        context.Response.Headers.CacheControl = "no-cache";
        await resource.CopyToAsync(context.Response.Body, context.RequestAborted);
    };

    private static RequestDelegate Handle(Func<HttpContext, Task> handler) => async context =>
    {
        try
        {
            await handler(context);
        }
        catch (LabelingException e)
        {
            await Error(context, e.StatusCode, e.Message);
        }
        catch (JsonException e)
        {
            await Error(context, 400, $"the request body is not valid JSON: {e.Message}");
        }
        catch (BadHttpRequestException e)
        {
            await Error(context, e.StatusCode, e.Message);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
    };

    /// <summary>A write: the bearer token first, then the handler.</summary>
    private RequestDelegate Write(Func<HttpContext, Task> handler) => Handle(context =>
    {
        var header = context.Request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        var given = header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) ? header[Scheme.Length..].Trim() : null;
        // Hashing first makes the comparison constant-time whatever the lengths.
        if (given is null || !CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), _tokenHash))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            throw new LabelingException(401, given is null ? "writes need 'Authorization: Bearer TOKEN' (the token in --token-file)" : "the bearer token is not this service's");
        }

        return handler(context);
    });

    private Task Config(HttpContext context)
    {
        var schema = _store.Schema;
        return Json(context, 200, new JsonObject
        {
            ["labels"] = Array(schema.Labels),
            ["featureColumns"] = Array(schema.FeatureColumns),
            ["labelColumn"] = schema.LabelColumn,
            ["imageShape"] = schema.ImageShape is null ? null : new JsonArray([.. schema.ImageShape.Select(d => (JsonNode)d)]),
            ["imageColumns"] = schema.ImageColumns is null ? null : Array(schema.ImageColumns),
            ["budget"] = _store.Budget,
        });
    }

    private async Task Next(HttpContext context)
    {
        var limit = 10;
        if (context.Request.Query.TryGetValue("limit", out var text) && (!int.TryParse(text, out limit) || limit < 1 || limit > MaxBatch))
        {
            throw new LabelingException(400, $"limit '{text}' is not an integer from 1 to {MaxBatch}");
        }

        var items = await _store.NextAsync(limit, context.RequestAborted);
        await Json(context, 200, new JsonObject { ["items"] = new JsonArray([.. items.Select(ItemJson)]) });
    }

    private async Task Items(HttpContext context)
    {
        string? state = context.Request.Query["state"];
        if (state is not (null or ItemStates.Pending or ItemStates.Labelled or ItemStates.Skipped))
        {
            throw new LabelingException(400, $"state '{state}' is not one of {ItemStates.Pending}, {ItemStates.Labelled}, {ItemStates.Skipped}");
        }

        var items = await _store.ItemsAsync(state, context.RequestAborted);
        await Json(context, 200, new JsonObject { ["items"] = new JsonArray([.. items.Select(ItemJson)]) });
    }

    private async Task Item(HttpContext context)
    {
        var id = (string)context.Request.RouteValues["id"]!;
        var item = await _store.ItemAsync(id, context.RequestAborted) ?? throw new LabelingException(404, $"item '{id}' is not in this store");
        await Json(context, 200, ItemJson(item));
    }

    private async Task Events(HttpContext context)
    {
        var events = await _store.EventsAsync(context.RequestAborted);
        await Json(context, 200, new JsonObject { ["events"] = new JsonArray([.. events.Select(EventJson)]) });
    }

    private async Task Export(HttpContext context)
    {
        var format = context.Request.Query["format"].FirstOrDefault() ?? ExportFormats.Csv;
        if (format == ExportFormats.LabelStudio)
        {
            await Json(context, 200, await LabelExchange.ExportLabelStudioAsync(_store, context.RequestAborted));
            return;
        }

        if (format is not (ExportFormats.Csv or ExportFormats.Parquet))
        {
            throw new LabelingException(400, $"format '{format}' is not one of {string.Join(", ", ExportFormats.All)}");
        }

        // Buffered, so that a failure is still an error response rather than half a file.
        using var buffer = new MemoryStream();
        var count = await LabelExchange.ExportDatasetAsync(_store, buffer, format, context.RequestAborted);
        context.Response.ContentType = format == ExportFormats.Csv ? "text/csv; charset=utf-8" : "application/vnd.apache.parquet";
        context.Response.Headers.ContentDisposition = $"attachment; filename=labels.{(format == ExportFormats.Csv ? "csv" : "parquet")}";
        context.Response.Headers["X-Syllabus-Labels"] = count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        buffer.Position = 0;
        await buffer.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    private async Task Submit(HttpContext context)
    {
        var body = await Body(context);
        var outcome = await _store.LabelAsync(Text(body, "itemId", required: true)!, Text(body, "label", required: true)!, Text(body, "idempotencyKey", required: true)!, context.RequestAborted);
        await Outcome(context, outcome);
    }

    private async Task Skip(HttpContext context)
    {
        var body = await Body(context);
        var outcome = await _store.SkipAsync(Text(body, "itemId", required: true)!, Text(body, "idempotencyKey", required: true)!, context.RequestAborted);
        await Outcome(context, outcome);
    }

    private async Task Undo(HttpContext context)
    {
        var body = context.Request.ContentLength is 0 ? new JsonObject() : await Body(context);
        var outcome = await _store.UndoAsync(Text(body, "itemId", required: false), Text(body, "idempotencyKey", required: false), context.RequestAborted);
        await Outcome(context, outcome);
    }

    private async Task ImportLabelStudio(HttpContext context)
    {
        var document = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        var (tasks, added, applied) = await LabelExchange.ImportLabelStudioAsync(_store, document, "label-studio", context.RequestAborted);
        await Json(context, 200, new JsonObject { ["tasks"] = tasks, ["itemsAdded"] = added, ["labelsAdded"] = applied });
    }

    private async Task Outcome(HttpContext context, WriteOutcome outcome)
    {
        var stats = await _store.StatsAsync(context.RequestAborted);
        await Json(context, 200, new JsonObject
        {
            ["event"] = EventJson(outcome.Event),
            ["duplicate"] = outcome.Duplicate,
            ["stats"] = StatsJson(stats),
        });
    }

    private static async Task<JsonObject> Body(HttpContext context) =>
        await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject
            ?? throw new LabelingException(400, "the request body must be a JSON object");

    private static string? Text(JsonObject body, string name, bool required)
    {
        var node = body[name];
        if (node is null)
        {
            return required ? throw new LabelingException(400, $"'{name}' is required") : null;
        }

        return node is JsonValue value && value.TryGetValue<string>(out var text)
            ? text
            : throw new LabelingException(400, $"'{name}' must be a string");
    }

    private JsonObject ItemJson(StoredItem stored)
    {
        var item = stored.Item;
        var features = new JsonObject();
        for (var c = 0; c < _store.Schema.FeatureColumns.Count; c++)
        {
            features[_store.Schema.FeatureColumns[c]] = item.Features[c];
        }

        return new JsonObject
        {
            ["id"] = item.Id,
            ["state"] = stored.State,
            ["label"] = stored.Label,
            ["batch"] = item.Batch,
            ["rank"] = item.Rank,
            ["score"] = item.Score,
            ["predicted"] = item.Predicted,
            ["confidence"] = item.Confidence,
            ["probabilities"] = item.Probabilities is null ? null : new JsonObject([.. item.Probabilities.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))]),
            ["source"] = item.SourceFile is null ? null : new JsonObject { ["file"] = item.SourceFile, ["line"] = item.SourceLine },
            ["features"] = features,
        };
    }

    private static JsonObject EventJson(LabelEvent e) => new()
    {
        ["seq"] = e.Sequence,
        ["itemId"] = e.ItemId,
        ["kind"] = e.Kind,
        ["label"] = e.Label,
        ["idempotencyKey"] = e.IdempotencyKey,
        ["at"] = e.At,
        ["undoneAt"] = e.UndoneAt,
    };

    public static JsonObject StatsJson(LabelStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        return new JsonObject
        {
            ["total"] = stats.Total,
            ["pending"] = stats.Pending,
            ["labelled"] = stats.Labelled,
            ["skipped"] = stats.Skipped,
            ["budget"] = stats.Budget,
            ["budgetLeft"] = stats.BudgetLeft,
            ["budgetExhausted"] = stats.BudgetExhausted,
            ["perLabel"] = new JsonObject([.. stats.PerLabel.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))]),
            ["lastEventSeq"] = stats.LastEventSequence,
        };
    }

    private static JsonArray Array(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode)v)]);

    private static Task Json(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString(JsonOptions), context.RequestAborted);
    }

    private static Task Error(HttpContext context, int status, string message) =>
        context.Response.HasStarted ? Task.CompletedTask : Json(context, status, new JsonObject { ["error"] = message });
}
