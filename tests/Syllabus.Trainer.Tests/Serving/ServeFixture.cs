using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Syllabus.Trainer.Serving;
using Syllabus.Trainer.Tests.Training;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Serving;

/// <summary>
/// Two tiny trained models, each served on a free loopback port: "serve" takes only numeric columns (one FP32 tensor),
/// "mixed" a numeric and a categorical column (one input per column). Batching waits 50 ms so that concurrent
/// requests meet in one forward.
/// </summary>
public sealed class ServeFixture : IAsyncLifetime
{
    public static readonly TimeSpan QueueDelay = TimeSpan.FromMilliseconds(50);
    public const int MaxRows = 100;
    public const int MaxRequestBytes = 64 * 1024;

    internal TrainerFixture Data { get; } = new(trainRows: 300, testRows: 60);

    public string NumericModelFolder { get; private set; } = "";

    public string MixedModelFolder { get; private set; } = "";

    public InferenceServer Numeric { get; private set; } = null!;

    public InferenceServer Mixed { get; private set; } = null!;

    public HttpClient NumericClient { get; private set; } = null!;

    public HttpClient MixedClient { get; private set; } = null!;

    public string TestCsv => Path.Combine(Data.Folder, "test.csv");

    public string MixedCsv => Path.Combine(Data.Folder, "mixed.csv");

    public async ValueTask InitializeAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        NumericModelFolder = new TrainingJob(Data.Resolve(Data.Manifest("serve", epochs: 2)), TimeProvider.System).Run(cancellationToken).ModelFolder;
        WriteMixed();
        MixedModelFolder = new TrainingJob(Data.Resolve(Path.Combine(Data.Folder, "mixed.yaml")), TimeProvider.System).Run(cancellationToken).ModelFolder;
        Numeric = await Start(NumericModelFolder, cancellationToken);
        Mixed = await Start(MixedModelFolder, cancellationToken);
        NumericClient = new HttpClient { BaseAddress = new Uri(Numeric.Addresses[0]) };
        MixedClient = new HttpClient { BaseAddress = new Uri(Mixed.Addresses[0]) };
    }

    private static Task<InferenceServer> Start(string model, CancellationToken cancellationToken) =>
        InferenceServer.StartAsync(new ServeOptions
        {
            Model = model,
            Urls = ["http://127.0.0.1:0"],
            MaxQueueDelay = QueueDelay,
            MaxBatchSize = 64,
            MaxRows = MaxRows,
            MaxRequestBytes = MaxRequestBytes,
            WindowSize = 500,
            UncertainCapacity = 5,
            UncertainHorizon = 1000,
        }, _ => { }, cancellationToken);

    /// <summary>A numeric column x and a categorical colour that decides the label (red a, green b, blue c).</summary>
    private void WriteMixed()
    {
        var random = new Random(5);
        var colours = new[] { "red", "green", "blue" };
        var labels = new[] { "a", "b", "c" };
        var text = new StringBuilder("x,colour,label\n");
        for (var r = 0; r < 240; r++)
        {
            var c = r % 3;
            text.Append(((random.NextDouble() * 10) - 5).ToString("F3", CultureInfo.InvariantCulture)).Append(',').Append(colours[c]).Append(',').Append(labels[c]).Append('\n');
        }

        File.WriteAllText(MixedCsv, text.ToString());
        File.WriteAllText(Path.Combine(Data.Folder, "mixed.yaml"), """
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata:
              name: mixed
            spec:
              model:
                architecture: MLP
                hiddenLayers: [8]
              data:
                train: {uri: mixed.csv}
                test: {uri: mixed.csv}
                labelColumn: label
                categoricalColumns: [colour]
                validationFraction: 0.2
              optimizer: {type: Adam, learningRate: 0.05}
              epochs: 3
              batchSize: 32
              seed: 3
              artifacts: {uri: out/mixed}
            """ + "\n");
    }

    public async ValueTask DisposeAsync()
    {
        NumericClient?.Dispose();
        MixedClient?.Dispose();
        if (Numeric is not null)
        {
            await Numeric.DisposeAsync();
        }

        if (Mixed is not null)
        {
            await Mixed.DisposeAsync();
        }

        Data.Dispose();
    }
}

/// <summary>HTTP helpers for the serve tests.</summary>
internal static class Http
{
    public static async Task<(int Status, JsonNode? Body)> Send(HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public static Task<(int Status, JsonNode? Body)> Get(HttpClient client, string path) => Send(client, HttpMethod.Get, path);

    public static Task<(int Status, JsonNode? Body)> Post(HttpClient client, string path, JsonNode body) => Send(client, HttpMethod.Post, path, body.ToJsonString());

    /// <summary>The value of the sample <paramref name="sample"/> (name with labels, exactly as exported) in /metrics; null when absent.</summary>
    public static async Task<double?> Metric(HttpClient client, string sample)
    {
        var text = await client.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(sample + " ", StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(sample.Length + 1)..], CultureInfo.InvariantCulture);
    }

    public static JsonObject FeaturesRequest(IEnumerable<float[]> rows, string? id = null, bool nested = false)
    {
        var list = rows.ToList();
        var data = nested
            ? new JsonArray([.. list.Select(r => (JsonNode)new JsonArray([.. r.Select(v => (JsonNode)v)]))])
            : new JsonArray([.. list.SelectMany(r => r).Select(v => (JsonNode)v)]);
        var request = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "features",
                ["shape"] = new JsonArray(list.Count, list[0].Length),
                ["datatype"] = "FP32",
                ["data"] = data,
            }),
        };
        if (id is not null)
        {
            request["id"] = id;
        }

        return request;
    }

    public static float[] Floats(JsonNode? node) => [.. node!.AsArray().Select(v => v!.GetValue<float>())];

    public static string[] Strings(JsonNode? node) => [.. node!.AsArray().Select(v => v!.GetValue<string>())];

    public static JsonNode Output(JsonNode response, string name) => response["outputs"]!.AsArray().Single(o => (string)o!["name"]! == name)!;

    public static Task<HttpResponseMessage> PostRaw(HttpClient client, string path, HttpContent content) => client.PostAsync(path, content, TestContext.Current.CancellationToken);

    public static JsonContent Content(JsonNode body) => JsonContent.Create(body);
}
