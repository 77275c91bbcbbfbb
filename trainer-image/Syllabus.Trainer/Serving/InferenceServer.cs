using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Storage;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Serving;

/// <summary>
/// Serves one model bundle over the Open Inference Protocol (KServe v2 REST) on Kestrel, with dynamic batching,
/// Prometheus metrics and the Syllabus extensions (live window, feedback and online accuracy, uncertain rows).
/// </summary>
public sealed class InferenceServer : IAsyncDisposable
{
    /// <summary>The protocol extensions GET /v2 lists: Syllabus's own endpoints, documented in the README.</summary>
    public static readonly IReadOnlyList<string> Extensions = ["syllabus_feedback", "syllabus_window", "syllabus_uncertain", "syllabus_drift"];

    private const string ModelItem = "syllabus.model";

    // Messages quote names with '; the default encoder would escape them (and '+') for HTML, which JSON over HTTP does not need.
    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly ServeOptions _options;
    private readonly ModelBundle _bundle;
    private readonly InferenceProtocol _protocol;
    private readonly DynamicBatcher _batcher;
    private readonly LiveWindow _window;
    private readonly FeedbackLog _feedback;
    private readonly UncertainRows _uncertain;
    private readonly WebApplication _app;
    private readonly Prometheus.Histogram.Child _confidence;
    private readonly Prometheus.Counter.Child[] _predictedClass;
    private volatile bool _ready;

    private InferenceServer(ServeOptions options, ModelBundle bundle, DataProfile? profile, string name, string version)
    {
        _options = options;
        _bundle = bundle;
        Name = name;
        Version = version;
        Metrics = new ServingMetrics(name);
        _protocol = new InferenceProtocol(bundle.Schema);
        _window = new LiveWindow(_protocol, bundle.Classes, profile, options.WindowSize, bundle.SchemaFingerprint);
        var temperature = bundle.Calibrated ? bundle.Temperature : (double?)null;
        if (profile?.Predictions is { Rows: > 0 } predictions && predictions.Temperature != temperature)
        {
            // The confidence drop and CBPE compare live confidences with the profile's: both must be at one temperature.
            throw new InvalidDataException(
                $"the data profile's held-out confidences were computed at temperature {predictions.Temperature?.ToString("R", System.Globalization.CultureInfo.InvariantCulture) ?? "1 (raw softmax)"}, the model's at {temperature?.ToString("R", System.Globalization.CultureInfo.InvariantCulture) ?? "1 (raw softmax)"} (give the profile of this model's TrainingRun)");
        }
        _feedback = new FeedbackLog(bundle.Schema, options.FeedbackCapacity, options.AccuracyWindow);
        _uncertain = new UncertainRows(_protocol, bundle.Classes, options.UncertainCapacity, options.UncertainHorizon);
        _confidence = Metrics.Confidence.WithLabels(name);
        _predictedClass = [.. bundle.Classes.Select(c => Metrics.Predictions.WithLabels(name, c))];
        var batchRequests = Metrics.BatchRequests.WithLabels(name);
        var batchRows = Metrics.BatchRows.WithLabels(name);
        var forward = Metrics.Forward.WithLabels(name);
        _batcher = new DynamicBatcher(Forward, bundle.Schema.FeatureCount, options.MaxBatchSize, options.MaxQueueDelay)
        {
            BatchCompleted = (requests, rows, elapsed) =>
            {
                batchRequests.Observe(requests);
                batchRows.Observe(rows);
                forward.Observe(elapsed.TotalSeconds);
            },
        };
        _app = Build();
    }

    /// <summary>The name the model is served under.</summary>
    public string Name { get; }

    public string Version { get; }

    public ServingMetrics Metrics { get; }

    public DataProfile? Profile => _window.Profile;

    /// <summary>The addresses Kestrel listens on (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<string> Addresses =>
        [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>Loads the model (and its training profile) and starts serving it.</summary>
    /// <exception cref="InputException">Bad options, or a model or profile that cannot be served, named.</exception>
    public static async Task<InferenceServer> StartAsync(ServeOptions options, Action<string> log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        if (options.Validate() is { } problem)
        {
            throw new InputException(problem);
        }

        var device = TrainingDevice.Resolve(options.Device);
        ModelBundle bundle;
        try
        {
            bundle = ModelBundle.Load(options.Model, device);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new InputException($"--model: {e.Message}", e);
        }

        InferenceServer? server = null;
        try
        {
            var profile = LoadProfile(options, bundle.Folder!, log);
            var name = options.Name ?? bundle.Document.TrainingRun ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(bundle.Folder!));
            try
            {
                server = new InferenceServer(options, bundle, profile, name, options.Version ?? "1");
            }
            catch (InvalidDataException e)
            {
                throw new InputException($"--profile: {e.Message}", e);
            }

            await server.StartAsync(cancellationToken);
            log($"serving model '{server.Name}' version {server.Version} ({bundle.Config.Architecture}, {bundle.Schema.Columns.Count} input columns, "
                + $"{bundle.Classes.Count} classes) on {device} at {string.Join(", ", server.Addresses)}; "
                + $"batching up to {options.MaxBatchSize} rows, waiting up to {options.MaxQueueDelay.TotalMilliseconds} ms");
            return server;
        }
        catch
        {
            if (server is not null)
            {
                await server.DisposeAsync();
            }
            else
            {
                bundle.Dispose();
            }

            throw;
        }
    }

    private static DataProfile? LoadProfile(ServeOptions options, string modelFolder, Action<string> log)
    {
        string path;
        if (options.Profile is not null)
        {
            try
            {
                path = ArtifactLocation.ResolvePath(options.Profile, Directory.GetCurrentDirectory());
            }
            catch (ArgumentException e)
            {
                throw new InputException($"--profile: {e.Message}", e);
            }

            if (!File.Exists(path))
            {
                throw new InputException($"--profile: {path} does not exist");
            }
        }
        else
        {
            // A TrainingRun's artifacts: model/ and profile.json side by side.
            path = Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(modelFolder)) ?? modelFolder, "profile.json");
            if (!File.Exists(path))
            {
                log($"no data profile at {path}: the live window is served without the training binning (give --profile)");
                return null;
            }
        }

        try
        {
            var profile = DataProfile.Load(path);
            log($"live window binned as the training profile {path}");
            return profile;
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new InputException($"--profile: {e.Message}", e);
        }
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        // One forward before taking traffic, so readiness means the model has run.
        await Task.Run(() => Forward(new float[_bundle.Schema.FeatureCount], 1), cancellationToken);
        await _app.StartAsync(cancellationToken);
        _app.Lifetime.ApplicationStopping.Register(() => _ready = false);
        _ready = true;
    }

    /// <summary>Completes when the host stops (SIGTERM, Ctrl+C) or <paramref name="cancellationToken"/> fires.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _ready = false;
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await _app.DisposeAsync();
            await _batcher.DisposeAsync();
            _bundle.Dispose();
        }
    }

    private float[] Forward(float[] features, int rows)
    {
        using var scope = NewDisposeScope();
        var x = tensor(features, [rows, _bundle.Schema.FeatureCount], device: _bundle.Device);
        return _bundle.PredictProbabilities(x).cpu().data<float>().ToArray();
    }

    private WebApplication Build()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "syllabus-trainer" });
        builder.Logging.ClearProviders().AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = _options.MaxRequestBytes;
            kestrel.AddServerHeader = false;
        });
        builder.WebHost.UseUrls([.. _options.Urls ?? [$"http://0.0.0.0:{_options.Port}"]]);
        var app = builder.Build();

        app.MapGet("/v2/health/live", Handle("live", c => Json(c, 200, new JsonObject { ["live"] = true })));
        app.MapGet("/v2/health/ready", Handle("ready", c => Json(c, _ready ? 200 : 503, new JsonObject { ["ready"] = _ready })));
        app.MapGet("/v2", Handle("server_metadata", ServerMetadata));
        app.MapGet("/metrics", Handle("metrics", async c =>
        {
            c.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Metrics.ExportAsync(c.Response.Body, c.RequestAborted);
        }));
        foreach (var prefix in new[] { "/v2/models/{model}", "/v2/models/{model}/versions/{version}" })
        {
            app.MapGet(prefix, Handle("model_metadata", ModelMetadata));
            app.MapGet(prefix + "/ready", Handle("model_ready", c =>
            {
                Resolve(c);
                return Json(c, _ready ? 200 : 503, new JsonObject { ["name"] = Name, ["ready"] = _ready });
            }));
            app.MapPost(prefix + "/infer", Handle("infer", InferAsync));
            app.MapPost(prefix + "/feedback", Handle("feedback", FeedbackAsync));
            app.MapGet(prefix + "/feedback", Handle("feedback_summary", c =>
            {
                Resolve(c);
                return Json(c, 200, _feedback.Summary());
            }));
            app.MapGet(prefix + "/window", Handle("window", c =>
            {
                Resolve(c);
                return Json(c, 200, _window.Snapshot(Name));
            }));
            app.MapGet(prefix + "/drift", Handle("drift", c =>
            {
                Resolve(c);
                var (status, body) = EvaluateDrift(c.Request.Query);
                return Json(c, status, body);
            }));
            app.MapGet(prefix + "/uncertain", Handle("uncertain", c =>
            {
                Resolve(c);
                int? limit = null;
                if (c.Request.Query.TryGetValue("limit", out var text))
                {
                    limit = int.TryParse(text, out var n) && n >= 0 ? n : throw new InferenceException(400, $"limit '{text}' is not a non-negative integer");
                }

                return Json(c, 200, _uncertain.Snapshot(Name, limit));
            }));
        }

        return app;
    }

    private RequestDelegate Handle(string endpoint, Func<HttpContext, Task> handler) => async context =>
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await handler(context);
        }
        catch (InferenceException e)
        {
            await Error(context, e.StatusCode, e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await Error(context, e.StatusCode, $"the request body is larger than this server takes (--max-request-bytes {_options.MaxRequestBytes})");
        }
        catch (BadHttpRequestException e)
        {
            await Error(context, e.StatusCode, e.Message);
        }
        catch (JsonException e)
        {
            await Error(context, 400, $"the request body is not valid JSON: {e.Message}");
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (ObjectDisposedException) when (!_ready)
        {
            await Error(context, 503, "the server is shutting down");
        }
        finally
        {
            var model = context.Items.TryGetValue(ModelItem, out var m) ? (string)m! : "";
            Metrics.Requests.WithLabels(model, endpoint, context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
            Metrics.Latency.WithLabels(model, endpoint).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    };

    /// <summary>Checks the model (and version) the route names is the one served.</summary>
    private void Resolve(HttpContext context)
    {
        var model = (string?)context.Request.RouteValues["model"];
        if (model != Name)
        {
            throw new InferenceException(404, $"model '{model}' is not served here (this server serves '{Name}')");
        }

        context.Items[ModelItem] = Name;
        if (context.Request.RouteValues.TryGetValue("version", out var version) && (string?)version != Version)
        {
            throw new InferenceException(404, $"model '{Name}' has no version '{version}' (serving version '{Version}')");
        }
    }

    private Task ServerMetadata(HttpContext context) => Json(context, 200, new JsonObject
    {
        ["name"] = "syllabus-trainer",
        ["version"] = typeof(InferenceServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown",
        ["extensions"] = new JsonArray([.. Extensions.Select(e => (JsonNode)e)]),
    });

    private Task ModelMetadata(HttpContext context)
    {
        Resolve(context);
        static JsonArray Tensors(IEnumerable<TensorMetadata> tensors) => new([.. tensors.Select(t => (JsonNode)new JsonObject
        {
            ["name"] = t.Name,
            ["datatype"] = t.Datatype,
            ["shape"] = new JsonArray([.. t.Shape.Select(d => (JsonNode)d)]),
        })]);
        return Json(context, 200, new JsonObject
        {
            ["name"] = Name,
            ["versions"] = new JsonArray(Version),
            ["platform"] = "torchsharp",
            ["inputs"] = Tensors(_protocol.Inputs),
            ["outputs"] = Tensors(_protocol.Outputs),
            // Syllabus extension: what a client needs to read the outputs and to check it encodes as training did.
            ["syllabus"] = new JsonObject
            {
                ["architecture"] = _bundle.Config.Architecture,
                ["classes"] = new JsonArray([.. _bundle.Classes.Select(c => (JsonNode)c)]),
                ["columns"] = new JsonArray([.. _bundle.Schema.Columns.Select(c => (JsonNode)new JsonObject { ["name"] = c.Name, ["kind"] = c.Kind })]),
                ["schemaFingerprint"] = _bundle.SchemaFingerprint,
                ["trainingRun"] = _bundle.Document.TrainingRun,
                ["dataProfile"] = _window.Profile is not null,
            },
        });
    }

    private async Task InferAsync(HttpContext context)
    {
        Resolve(context);
        var cancellationToken = context.RequestAborted;
        InferenceRequest request;
        using (var document = await JsonDocument.ParseAsync(context.Request.Body, default, cancellationToken))
        {
            request = _protocol.Decode(document.RootElement, _options.MaxRows);
        }

        var rows = request.Rows;
        var probabilities = await _batcher.PredictAsync(rows.Features, rows.Count, cancellationToken);
        var id = request.Id ?? Guid.NewGuid().ToString("N");
        var k = _bundle.Classes.Count;
        var predicted = new int[rows.Count];
        for (var r = 0; r < rows.Count; r++)
        {
            var p = probabilities.AsSpan(r * k, k);
            predicted[r] = InferenceProtocol.ArgMax(p);
            _confidence.Observe(p[predicted[r]]);
            _predictedClass[predicted[r]].Inc();
        }

        _window.Add(rows, predicted, probabilities);
        _feedback.Record(id, predicted);
        _uncertain.Add(id, rows, probabilities);

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter, new JsonWriterOptions { Encoder = JsonOptions.Encoder }))
        {
            InferenceProtocol.WriteResponse(writer, Name, Version, id, request.Outputs, probabilities, rows.Count, _bundle.Classes);
        }

        await context.Response.BodyWriter.FlushAsync(cancellationToken);
    }

    private async Task FeedbackAsync(HttpContext context)
    {
        Resolve(context);
        List<FeedbackItem> items;
        using (var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted))
        {
            items = FeedbackLog.Parse(document.RootElement);
        }

        var summary = _feedback.Apply(items);
        var correct = (int)summary["correct"]!;
        Metrics.Feedback.WithLabels(Name, "correct").Inc(correct);
        Metrics.Feedback.WithLabels(Name, "incorrect").Inc(items.Count - correct);
        var (accuracy, judged) = _feedback.OnlineAccuracy();
        Metrics.OnlineAccuracy.WithLabels(Name).Set(accuracy);
        Metrics.OnlineAccuracyJudgements.WithLabels(Name).Set(judged);
        await Json(context, 200, summary);
    }

    /// <summary>
    /// The documented `GET /v2/models/NAME/drift` body: the live window against the training profile, as `syllabus-trainer
    /// drift` evaluates a file (query: detector, correction None|Bonferroni|BenjaminiHochberg, driftShare, threshold).
    /// </summary>
    private (int Status, JsonNode Body) EvaluateDrift(IQueryCollection query)
    {
        var profile = _window.Profile ?? throw new InferenceException(StatusCodes.Status409Conflict, "this server has no training profile (profile.json beside the model, or --profile), so drift cannot be evaluated");
        // The live probabilities come from this bundle: at its temperature, which the profile must share.
        // since/until/instance select the rows served after an earlier evaluation's, so consecutive evaluations test disjoint rows.
        var since = query.TryGetValue("since", out var sinceText) ? Count(sinceText.ToString(), "since") : 0;
        long? until = query.TryGetValue("until", out var untilText) ? Count(untilText.ToString(), "until") : null;
        var instance = query.TryGetValue("instance", out var instanceText) ? instanceText.ToString() : null;
        var window = _window.ToDriftWindow(since, until, instance) with { Temperature = _bundle.Calibrated ? _bundle.Temperature : null };
        if (window.Rows == 0)
        {
            // Nothing to test (yet, or since the mark): said with where the window stands, so a caller can still see its capacity.
            var message = since > 0 && instance == _window.Instance ? $"{Api.DriftDetectorNames.EmptyWindowMessage} after row {since}" : Api.DriftDetectorNames.EmptyWindowMessage;
            return (StatusCodes.Status409Conflict, new JsonObject { ["error"] = message, ["window"] = JsonSerializer.SerializeToNode(window.Sequence) });
        }

        var options = new Drift.DriftOptions
        {
            Detector = query.TryGetValue("detector", out var detector) ? detector.ToString() : Api.DriftDetectorNames.Auto,
            Correction = query.TryGetValue("correction", out var correction) ? correction.ToString() : Api.MultipleTestCorrections.None,
            DriftShare = query.TryGetValue("driftShare", out var share) ? Number(share.ToString(), "driftShare", 0, 1) : 0.5,
            Threshold = query.TryGetValue("threshold", out var threshold) ? Number(threshold.ToString(), "threshold", 0, double.MaxValue) : null,
        };
        if (!Api.DriftDetectorNames.All.Contains(options.Detector))
        {
            throw new InferenceException(StatusCodes.Status400BadRequest, $"detector '{options.Detector}' is not one of {string.Join(", ", Api.DriftDetectorNames.All)}");
        }

        if (options.Correction is not (Api.MultipleTestCorrections.None or Api.MultipleTestCorrections.Bonferroni or Api.MultipleTestCorrections.BenjaminiHochberg))
        {
            throw new InferenceException(StatusCodes.Status400BadRequest, $"correction '{options.Correction}' is not None, Bonferroni or BenjaminiHochberg");
        }

        try
        {
            var outcome = Drift.DriftEvaluator.Evaluate(profile, window, options, Name, TimeProvider.System.GetUtcNow());
            return (200, JsonSerializer.SerializeToNode(outcome.Report)!);
        }
        catch (Drift.DriftInputException e)
        {
            throw new InferenceException(StatusCodes.Status409Conflict, e.Message);
        }

        static long Count(string text, string name) =>
            long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
                ? n
                : throw new InferenceException(StatusCodes.Status400BadRequest, $"{name} '{text}' is not a non-negative integer (a row number of this server's window)");

        static double Number(string text, string name, double min, double max) =>
            double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
                ? v
                : throw new InferenceException(StatusCodes.Status400BadRequest, $"{name} '{text}' is not a number between {min} and {max}");
    }

    private static Task Json(HttpContext context, int status, JsonNode body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(body.ToJsonString(JsonOptions), context.RequestAborted);
    }

    private static Task Error(HttpContext context, int status, string message) =>
        context.Response.HasStarted ? Task.CompletedTask : Json(context, status, new JsonObject { ["error"] = message });
}
