using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Tests.Bundles;
using Syllabus.Trainer.Tests.Training;
using static Syllabus.Trainer.Tests.Serving.Http;

namespace Syllabus.Trainer.Tests.Serving;

[Collection(TorchCollection.Name)]
public sealed class ServeTests(ServeFixture fixture) : IClassFixture<ServeFixture>
{
    private const string Model = "/v2/models/serve";

    private HttpClient Client => fixture.NumericClient;

    /// <summary>The test split's rows: raw rows (every column as text) and the feature columns as floats in schema order.</summary>
    private (List<IReadOnlyDictionary<string, string?>> Raw, List<float[]> Features) TestRows(ModelBundle bundle)
    {
        var raw = ModelBundleTests.RawRows(fixture.TestCsv);
        return (raw, [.. raw.Select(r => bundle.Schema.Columns.Select(c => float.Parse(r[c.Name]!, CultureInfo.InvariantCulture)).ToArray())]);
    }

    [Fact]
    public async Task Health_and_metadata_follow_the_open_inference_protocol()
    {
        var (liveStatus, live) = await Get(Client, "/v2/health/live");
        var (readyStatus, ready) = await Get(Client, "/v2/health/ready");
        var (_, server) = await Get(Client, "/v2");
        var (metadataStatus, metadata) = await Get(Client, Model);
        var (_, versioned) = await Get(Client, Model + "/versions/1");
        var (modelReadyStatus, modelReady) = await Get(Client, Model + "/ready");
        var (unknownStatus, unknown) = await Get(Client, "/v2/models/nope");
        var (unknownVersionStatus, unknownVersion) = await Get(Client, Model + "/versions/7/ready");

        Assert.Equal((200, true), (liveStatus, (bool)live!["live"]!));
        Assert.Equal((200, true), (readyStatus, (bool)ready!["ready"]!));
        Assert.Equal("syllabus-trainer", (string)server!["name"]!);
        Assert.False(string.IsNullOrEmpty((string)server["version"]!));
        Assert.Equal(["syllabus_feedback", "syllabus_window", "syllabus_uncertain", "syllabus_drift"], Strings(server["extensions"]));
        Assert.Equal(200, metadataStatus);
        Assert.Equal("serve", (string)metadata!["name"]!);
        Assert.Equal(["1"], Strings(metadata["versions"]));
        Assert.Equal("torchsharp", (string)metadata["platform"]!);
        Assert.Equal("""[{"name":"features","datatype":"FP32","shape":[-1,8]}]""", metadata["inputs"]!.ToJsonString());
        Assert.Equal("""[{"name":"probabilities","datatype":"FP32","shape":[-1,3]},{"name":"label","datatype":"BYTES","shape":[-1]}]""", metadata["outputs"]!.ToJsonString());
        Assert.Equal(TrainerFixture.Classes, Strings(metadata["syllabus"]!["classes"]));
        Assert.Equal(metadata.ToJsonString(), versioned!.ToJsonString());
        Assert.Equal((200, true, "serve"), (modelReadyStatus, (bool)modelReady!["ready"]!, (string)modelReady["name"]!));
        Assert.Equal(404, unknownStatus);
        Assert.Contains("model 'nope' is not served here", (string)unknown!["error"]!, StringComparison.Ordinal);
        Assert.Equal(404, unknownVersionStatus);
        Assert.Contains("no version '7'", (string)unknownVersion!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_answers_what_the_bundle_predicts_for_flat_and_nested_data_and_echoes_the_id()
    {
        using var bundle = ModelBundle.Load(fixture.NumericModelFolder);
        var (raw, features) = TestRows(bundle);
        using var expectedTensor = bundle.PredictProbabilities(raw);
        var expected = expectedTensor.data<float>().ToArray();

        var (status, flat) = await Post(Client, Model + "/infer", FeaturesRequest(features, id: "flat-1"));
        var (_, nested) = await Post(Client, Model + "/infer", FeaturesRequest(features, id: "nested-1", nested: true));
        var (_, labelOnly) = await Post(Client, Model + "/infer", Add(FeaturesRequest(features.Take(2)), "outputs", new JsonArray(new JsonObject { ["name"] = "label" })));
        var (_, noId) = await Post(Client, Model + "/infer", FeaturesRequest(features.Take(1)));

        Assert.Equal(200, status);
        Assert.Equal(("serve", "1", "flat-1"), ((string)flat!["model_name"]!, (string)flat["model_version"]!, (string)flat["id"]!));
        Assert.Equal("nested-1", (string)nested!["id"]!);
        foreach (var response in new[] { flat, nested })
        {
            var probabilities = Output(response, "probabilities");
            Assert.Equal("FP32", (string)probabilities["datatype"]!);
            Assert.Equal([features.Count, 3], probabilities["shape"]!.AsArray().Select(d => (int)d!));
            var actual = Floats(probabilities["data"]);
            Assert.Equal(expected.Length, actual.Length);
            Assert.All(expected.Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-6f));
            var labels = Output(response, "label");
            Assert.Equal(("BYTES", features.Count), ((string)labels["datatype"]!, (int)labels["shape"]![0]!));
            Assert.Equal(
                Enumerable.Range(0, features.Count).Select(r => bundle.Classes[Array.IndexOf(expected, expected.Skip(r * 3).Take(3).Max(), r * 3) - (r * 3)]),
                Strings(labels["data"]));
        }

        Assert.Equal(["label"], labelOnly!["outputs"]!.AsArray().Select(o => (string)o!["name"]!));
        Assert.Equal(32, ((string)noId!["id"]!).Length);
    }

    private static JsonObject Add(JsonObject request, string key, JsonNode value)
    {
        request[key] = value;
        return request;
    }

    public static TheoryData<string, int, string> BadRequests => new()
    {
        { """{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""", 400, "input 'features': shape [1, 3], the model takes [-1, 8]" },
        { """{"inputs":[{"name":"features","shape":[2,8],"datatype":"FP32","data":[1,2,3]}]}""", 400, "input 'features': data has 3 elements, shape [2, 8] needs 16" },
        { """{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP64","data":[1,2,3,4,5,6,7,8]}]}""", 400, "input 'features': datatype FP64, the model takes FP32" },
        { """{"inputs":[{"name":"pixels","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}""", 400, "input 'pixels' is not an input of this model (inputs: features)" },
        { """{"inputs":[]}""", 400, "input 'features' is missing" },
        { """{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,"8"]}]}""", 400, "input 'features': element 7 is a JSON string" },
        { """{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,1e39]}]}""", 400, "input 'features': element 7 (1e39) is beyond float range" },
        { """{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,1e999]}]}""", 400, "input 'features': element 7 (1e999) is not a finite number" },
        { """{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,null]}]}""", 400, "input 'features': row 0: column 'f7': missing value" },
        { """{"inputs":[{"name":"features","shape":[2,8],"datatype":"FP32","data":[[1,2,3,4,5,6,7,8],[1,2,3]]}]}""", 400, "input 'features': data[1] has 3 elements, shape [2, 8] needs 8" },
        { """{"inputs":[{"name":"features","shape":[0,8],"datatype":"FP32","data":[]}]}""", 400, "shape [0, 8] has no rows" },
        { """{"inputs":[{"name":"features","shape":[101,8],"datatype":"FP32","data":[]}]}""", 413, "101 rows, more than this server takes in one request (--max-rows 100)" },
        { """{"id":7,"inputs":[]}""", 400, "\"id\" is a JSON number; it must be a string" },
        { """{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}],"outputs":[{"name":"logits"}]}""", 400, "requested output 'logits' is not an output of this model (outputs: probabilities, label)" },
        { """[1,2]""", 400, "the request body is a JSON array" },
        { """{"inputs":""", 400, "the request body is not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task A_bad_infer_request_gets_an_error_naming_the_input_and_problem_and_the_server_carries_on(string body, int status, string message)
    {
        var (actualStatus, error) = await Send(Client, HttpMethod.Post, Model + "/infer", body);
        var (afterStatus, _) = await Post(Client, Model + "/infer", FeaturesRequest([new float[8]]));

        Assert.Equal(status, actualStatus);
        Assert.Contains(message, (string)error!["error"]!, StringComparison.Ordinal);
        Assert.Equal(200, afterStatus);
    }

    [Fact]
    public async Task A_body_larger_than_the_limit_is_refused_with_413_and_counted_by_code()
    {
        var huge = new StringBuilder("""{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8""");
        huge.Append(',', ServeFixture.MaxRequestBytes).Append("]}]}");
        var before = await Metric(Client, """syllabus_serve_requests_total{model="serve",endpoint="infer",code="413"}""") ?? 0;

        var (status, error) = await Send(Client, HttpMethod.Post, Model + "/infer", huge.ToString());

        Assert.Equal(413, status);
        Assert.Contains($"--max-request-bytes {ServeFixture.MaxRequestBytes}", (string)error!["error"]!, StringComparison.Ordinal);
        Assert.Equal(before + 1, await Metric(Client, """syllabus_serve_requests_total{model="serve",endpoint="infer",code="413"}"""));
    }

    [Fact]
    public async Task Concurrent_requests_are_answered_from_shared_forwards_each_with_its_own_rows()
    {
        using var bundle = ModelBundle.Load(fixture.NumericModelFolder);
        var (raw, features) = TestRows(bundle);
        using var expectedTensor = bundle.PredictProbabilities(raw);
        var expected = expectedTensor.data<float>().ToArray();
        const string batches = """syllabus_serve_batch_requests_count{model="serve"}""";
        const string merged = """syllabus_serve_batch_requests_sum{model="serve"}""";
        var batchesBefore = await Metric(Client, batches) ?? 0;
        var mergedBefore = await Metric(Client, merged) ?? 0;

        var responses = await Task.WhenAll(Enumerable.Range(0, 16).Select(r => Post(Client, Model + "/infer", FeaturesRequest([features[r]], id: $"concurrent-{r}"))));

        for (var r = 0; r < 16; r++)
        {
            Assert.Equal(200, responses[r].Status);
            Assert.Equal($"concurrent-{r}", (string)responses[r].Body!["id"]!);
            var actual = Floats(Output(responses[r].Body!, "probabilities")["data"]);
            Assert.All(expected.Skip(r * 3).Take(3).Zip(actual), p => Assert.Equal(p.First, p.Second, 1e-6f));
        }

        var forwards = await Metric(Client, batches) - batchesBefore;
        var requests = await Metric(Client, merged) - mergedBefore;
        Assert.Equal(16, requests);
        // 16 requests sent at once, each waiting up to 50 ms for company: far fewer forwards than requests.
        Assert.True(forwards < 16, $"{forwards} forwards for 16 concurrent requests: nothing was batched");
    }

    [Fact]
    public async Task Feedback_judges_earlier_predictions_by_id_and_row_into_online_accuracy()
    {
        using var bundle = ModelBundle.Load(fixture.NumericModelFolder);
        var (_, features) = TestRows(bundle);
        var (_, response) = await Post(Client, Model + "/infer", FeaturesRequest(features.Take(4), id: "feedback-1"));
        var predicted = Strings(Output(response!, "label")["data"]);
        var wrong = TrainerFixture.Classes.First(c => c != predicted[3]);
        var (_, before) = await Get(Client, Model + "/feedback");
        var correctBefore = (long)before!["correctTotal"]!;
        var incorrectBefore = (long)before["incorrectTotal"]!;

        var (allStatus, all) = await Post(Client, Model + "/feedback", new JsonObject { ["id"] = "feedback-1", ["labels"] = new JsonArray(predicted[0], predicted[1], predicted[2]) });
        var (rowStatus, one) = await Post(Client, Model + "/feedback", new JsonObject { ["id"] = "feedback-1", ["row"] = 3, ["label"] = wrong });
        var (againStatus, again) = await Post(Client, Model + "/feedback", new JsonObject { ["id"] = "feedback-1", ["row"] = 0, ["label"] = predicted[0] });
        var (neverStatus, never) = await Post(Client, Model + "/feedback", new JsonObject { ["id"] = "never-issued", ["row"] = 0, ["label"] = "cat" });
        var (rowOutStatus, rowOut) = await Post(Client, Model + "/feedback", new JsonObject { ["id"] = "feedback-1", ["row"] = 9, ["label"] = "cat" });
        var (labelStatus, label) = await Post(Client, Model + "/feedback", new JsonObject { ["id"] = "feedback-1", ["row"] = 0, ["label"] = "zebra" });

        Assert.Equal((200, 3, 3), (allStatus, (int)all!["accepted"]!, (int)all["correct"]!));
        Assert.Equal((200, 1, 0), (rowStatus, (int)one!["accepted"]!, (int)one["correct"]!));
        Assert.Equal(correctBefore + 3, (long)one["correctTotal"]!);
        Assert.Equal(incorrectBefore + 1, (long)one["incorrectTotal"]!);
        var judged = (int)one["judged"]!;
        var accuracy = (double)one["onlineAccuracy"]!;
        Assert.Equal((double)(correctBefore + 3) / (correctBefore + incorrectBefore + 4), accuracy, 9);
        Assert.Equal(correctBefore + incorrectBefore + 4, judged);
        Assert.Equal(accuracy, await Metric(Client, """syllabus_serve_online_accuracy{model="serve"}"""));
        Assert.Equal(correctBefore + 3, await Metric(Client, """syllabus_serve_feedback_total{model="serve",outcome="correct"}"""));
        Assert.Equal(409, againStatus);
        Assert.StartsWith("prediction 'feedback-1' row 0 already has a label", (string)again!["error"]!, StringComparison.Ordinal);
        Assert.Equal(404, neverStatus);
        Assert.Contains("no prediction with id 'never-issued'", (string)never!["error"]!, StringComparison.Ordinal);
        Assert.Equal(400, rowOutStatus);
        Assert.Contains("has 4 rows; row 9 is not one of them", (string)rowOut!["error"]!, StringComparison.Ordinal);
        Assert.Equal(400, labelStatus);
        Assert.Contains("label 'zebra' for prediction 'feedback-1' row 0 is not a class of the model (cat, dog, fish)", (string)label!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_count_requests_by_code_predicted_classes_and_confidence()
    {
        const string ok = """syllabus_serve_requests_total{model="serve",endpoint="infer",code="200"}""";
        const string confidence = """syllabus_serve_prediction_confidence_count{model="serve"}""";
        var okBefore = await Metric(Client, ok) ?? 0;
        var confidenceBefore = await Metric(Client, confidence) ?? 0;
        var classesBefore = await Task.WhenAll(TrainerFixture.Classes.Select(c => Metric(Client, $$"""syllabus_serve_predictions_total{model="serve",class="{{c}}"}""")));

        var (_, response) = await Post(Client, Model + "/infer", FeaturesRequest(Enumerable.Range(0, 5).Select(i => Enumerable.Repeat(i * 0.5f, 8).ToArray())));
        var labels = Strings(Output(response!, "label")["data"]);

        Assert.Equal(okBefore + 1, await Metric(Client, ok));
        Assert.Equal(confidenceBefore + 5, await Metric(Client, confidence));
        for (var c = 0; c < 3; c++)
        {
            Assert.Equal((classesBefore[c] ?? 0) + labels.Count(l => l == TrainerFixture.Classes[c]), await Metric(Client, $$"""syllabus_serve_predictions_total{model="serve",class="{{TrainerFixture.Classes[c]}}"}""") ?? 0);
        }

        Assert.NotNull(await Metric(Client, """syllabus_serve_request_duration_seconds_bucket{model="serve",endpoint="infer",le="+Inf"}"""));
    }

    [Fact]
    public async Task The_live_window_bins_recent_inputs_in_the_training_profiles_bins()
    {
        var profile = DataProfile.Load(Path.Combine(Path.GetDirectoryName(fixture.NumericModelFolder)!, "profile.json"));
        var f0 = profile.Numeric.Single(p => p.Name == "f0");
        var (_, before) = await Get(Client, Model + "/window");
        var seenBefore = (long)before!["rowsSeen"]!;
        // f0 at the training minimum (first bin), just above the maximum (beyond the range), and at the maximum (last bin).
        var rows = new[] { f0.Min, f0.Max + 1, f0.Max }.Select(v => new[] { (float)v, 0, 0, 0, 0, 0, 0, 0 }).ToList();
        await Post(Client, Model + "/infer", FeaturesRequest(rows));
        var binsBefore = before["numeric"]!.AsArray().Single(c => (string)c!["name"]! == "f0")!;

        var (status, window) = await Get(Client, Model + "/window");
        var column = window!["numeric"]!.AsArray().Single(c => (string)c!["name"]! == "f0")!;

        Assert.Equal(200, status);
        Assert.True((bool)window["profile"]!);
        Assert.Equal(seenBefore + 3, (long)window["rowsSeen"]!);
        Assert.Equal(profile.Numeric.Select(p => p.Name), window["numeric"]!.AsArray().Select(c => (string)c!["name"]!));
        Assert.Equal(f0.BinEdges, column["binEdges"]!.AsArray().Select(e => (double)e!));
        var counts = column["binCounts"]!.AsArray().Select(n => (long)n!).ToArray();
        var countsBefore = binsBefore["binCounts"]!.AsArray().Select(n => (long)n!).ToArray();
        Assert.Equal(countsBefore[0] + 1, counts[0]);
        Assert.Equal(countsBefore[^1] + 1, counts[^1]);
        Assert.Equal((long)binsBefore["aboveRange"]! + 1, (long)column["aboveRange"]!);
        Assert.Equal((long)column["count"]!, counts.Sum() + (long)column["belowRange"]! + (long)column["aboveRange"]!);
        Assert.Equal(DataProfile.QuantileLevels, column["quantiles"]!.AsArray().Select(q => (double)q!["q"]!));
        Assert.Equal((long)window["rows"]!, window["predictions"]!.AsArray().Sum(p => (long)p!["count"]!));
    }

    [Fact]
    public async Task Drift_of_the_live_window_against_the_training_profile_is_evaluated_as_the_drift_command_does()
    {
        // Rows far outside the training range in every feature: the window drifts, feature by feature.
        var shifted = Enumerable.Range(0, 40).Select(i => Enumerable.Repeat(50f + i, 8).ToArray()).ToList();
        await Post(Client, Model + "/infer", FeaturesRequest(shifted));

        var (status, report) = await Get(Client, Model + "/drift?detector=ks&correction=Bonferroni");
        Assert.Equal(200, status);
        Assert.Equal("serve", (string)report!["model"]!);
        Assert.True((int)report["currentRows"]! >= 40);
        var features = report["features"]!.AsArray();
        Assert.Equal(8, features.Count);
        Assert.All(features, f => Assert.Equal("ks", (string)f!["detector"]!));
        Assert.Contains(features, f => (bool)f!["drifted"]!);
        Assert.NotNull(report["predictionDrift"]);

        // The rows after the window's newest row so far: none yet, then exactly the ones served since.
        var window = report["window"]!;
        var (instance, rowsSeen, capacity) = ((string)window["instance"]!, (long)window["rowsSeen"]!, (int)window["capacity"]!);
        Assert.True(rowsSeen >= 40 && capacity >= (int)report["currentRows"]!);
        var (empty, emptyBody) = await Get(Client, Model + $"/drift?detector=ks&since={rowsSeen}&instance={instance}");
        Assert.Equal(409, empty);
        Assert.EndsWith($"after row {rowsSeen}", (string)emptyBody!["error"]!, StringComparison.Ordinal);
        Assert.Equal((rowsSeen, capacity), ((long)emptyBody["window"]!["rowsSeen"]!, (int)emptyBody["window"]!["capacity"]!));
        await Post(Client, Model + "/infer", FeaturesRequest(shifted.Take(7).ToList()));
        var (_, since) = await Get(Client, Model + $"/drift?detector=ks&since={rowsSeen}&instance={instance}");
        Assert.Equal((7, rowsSeen + 7), ((int)since!["currentRows"]!, (long)since["window"]!["rowsSeen"]!));
        var (_, upTo) = await Get(Client, Model + $"/drift?detector=ks&since={rowsSeen}&until={rowsSeen + 3}&instance={instance}");
        Assert.Equal(3, (int)upTo!["currentRows"]!);
        var (badSince, badSinceBody) = await Get(Client, Model + "/drift?since=-1");
        Assert.Equal(400, badSince);
        Assert.Contains("since '-1'", (string)badSinceBody!["error"]!, StringComparison.Ordinal);

        var (badDetector, bad) = await Get(Client, Model + "/drift?detector=nope");
        Assert.Equal(400, badDetector);
        Assert.Contains("detector 'nope'", (string)bad!["error"]!, StringComparison.Ordinal);
        var (badShare, _) = await Get(Client, Model + "/drift?driftShare=2");
        Assert.Equal(400, badShare);
    }

    [Fact]
    public async Task The_most_uncertain_recent_rows_are_kept_most_uncertain_first_for_labelling()
    {
        // A row at the centre of the three blobs is as uncertain as this model gets; rows deep inside a blob are sure.
        var sure = Enumerable.Range(0, 3).Select(c => Enumerable.Range(0, 8).Select(f => f % 3 == c ? 6f : -2f).ToArray());
        var unsure = new[] { Enumerable.Repeat(0.7f, 8).ToArray() };
        var (_, response) = await Post(Client, Model + "/infer", FeaturesRequest(sure.Concat(unsure), id: "uncertain-1"));
        var probabilities = Floats(Output(response!, "probabilities")["data"]);
        var ours = Enumerable.Range(0, 4).Select(r => 1.0 - probabilities.Skip(r * 3).Take(3).Max()).ToArray();

        var (status, uncertain) = await Get(Client, Model + "/uncertain");
        var (_, limited) = await Get(Client, Model + "/uncertain?limit=2");
        var (badLimitStatus, badLimit) = await Get(Client, Model + "/uncertain?limit=-1");

        Assert.Equal(200, status);
        var kept = uncertain!["rows"]!.AsArray();
        Assert.InRange(kept.Count, 1, 5);
        var scores = kept.Select(r => (double)r!["uncertainty"]!).ToList();
        Assert.Equal(scores.OrderDescending(), scores);
        Assert.True(scores[0] >= ours.Max() - 1e-7);
        if (ours.Max() > scores.Skip(1).DefaultIfEmpty(0).Max())
        {
            Assert.Equal(("uncertain-1", 3), ((string)kept[0]!["id"]!, (int)kept[0]!["row"]!));
            Assert.Equal(0.7, (double)kept[0]!["inputs"]!["f5"]!, 6);
        }

        Assert.Equal(Math.Min(2, kept.Count), limited!["rows"]!.AsArray().Count);
        Assert.Equal(400, badLimitStatus);
        Assert.Contains("limit '-1'", (string)badLimit!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_model_with_a_categorical_column_takes_one_input_per_column_with_BYTES_for_categories()
    {
        using var bundle = ModelBundle.Load(fixture.MixedModelFolder);
        var rows = new List<IReadOnlyDictionary<string, string?>>
        {
            new Dictionary<string, string?> { ["x"] = "1.5", ["colour"] = "red" },
            new Dictionary<string, string?> { ["x"] = "-2", ["colour"] = "blue" },
            new Dictionary<string, string?> { ["x"] = "0", ["colour"] = "purple" },
        };
        using var expectedTensor = bundle.PredictProbabilities(rows);
        var expected = expectedTensor.data<float>().ToArray();
        JsonObject Request(JsonNode colourData, string colourType = "BYTES") => new()
        {
            ["inputs"] = new JsonArray(
                new JsonObject { ["name"] = "x", ["shape"] = new JsonArray(3), ["datatype"] = "FP32", ["data"] = new JsonArray(1.5, -2, 0) },
                new JsonObject { ["name"] = "colour", ["shape"] = new JsonArray(3, 1), ["datatype"] = colourType, ["data"] = colourData }),
        };

        var (_, metadata) = await Get(fixture.MixedClient, "/v2/models/mixed");
        var (status, response) = await Post(fixture.MixedClient, "/v2/models/mixed/infer", Request(new JsonArray(new JsonArray("red"), new JsonArray("blue"), new JsonArray("purple"))));
        var (wrongTypeStatus, wrongType) = await Post(fixture.MixedClient, "/v2/models/mixed/infer", Request(new JsonArray(1, 2, 3), "FP32"));
        var (numberStatus, number) = await Post(fixture.MixedClient, "/v2/models/mixed/infer", Request(new JsonArray("red", 2, "blue")));
        var (_, window) = await Get(fixture.MixedClient, "/v2/models/mixed/window");

        Assert.Equal("""[{"name":"x","datatype":"FP32","shape":[-1]},{"name":"colour","datatype":"BYTES","shape":[-1]}]""", metadata!["inputs"]!.ToJsonString());
        Assert.Equal(200, status);
        Assert.All(expected.Zip(Floats(Output(response!, "probabilities")["data"])), p => Assert.Equal(p.First, p.Second, 1e-6f));
        Assert.Equal((400, "input 'colour': datatype FP32, the model takes BYTES"), (wrongTypeStatus, (string)wrongType!["error"]!));
        Assert.Equal(400, numberStatus);
        Assert.Contains("input 'colour': element 1 is a JSON number; BYTES data holds strings", (string)number!["error"]!, StringComparison.Ordinal);
        var colour = window!["categorical"]!.AsArray().Single(c => (string)c!["name"]! == "colour")!;
        Assert.Equal(["blue", "green", "red"], colour["categories"]!.AsArray().Select(c => (string)c!["value"]!).Order());
        Assert.Equal("""[{"value":"purple","count":1}]""", colour["unseen"]!.ToJsonString());
    }

    [Fact]
    public async Task The_serve_command_refuses_bad_options_and_models_by_name()
    {
        var missing = Path.Combine(fixture.Data.Folder, "no-such-model");
        var (code, error) = await RunServe("--model", missing, "--urls", "http://127.0.0.1:0");
        var (batchCode, batchError) = await RunServe("--model", fixture.NumericModelFolder, "--max-batch-size", "0");

        Assert.Equal(TrainCommand.BadInput, code);
        Assert.Contains("--model:", error, StringComparison.Ordinal);
        Assert.Contains("no-such-model", error, StringComparison.Ordinal);
        Assert.Equal(TrainCommand.BadInput, batchCode);
        Assert.Contains("--max-batch-size: 0 must be at least 1", batchError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_f_resolves_a_ModelDeployment_to_its_named_or_newest_eligible_selected_TrainingRun()
    {
        var folder = fixture.Data.Folder;
        var run = Path.Combine(folder, "run.yaml");
        var labelled = Path.Combine(folder, "labelled-run.yaml");
        File.WriteAllText(labelled, File.ReadAllText(run).Replace("  name: serve\n", "  name: serve\n  labels: {team: digits}\n", StringComparison.Ordinal));
        string Deployment(string file, string source, string extra = "")
        {
            File.WriteAllText(Path.Combine(folder, file), $"""
                apiVersion: syllabus.dev/v1alpha1
                kind: ModelDeployment
                metadata:
                  name: web
                spec:
                  source:
                    {source}
                {extra}
                """ + "\n");
            return Path.Combine(folder, file);
        }

        var named = DeploymentResolver.Resolve([Deployment("named.yaml", "trainingRun: {name: serve}"), run], null, Environment.GetEnvironmentVariable);
        var selected = DeploymentResolver.Resolve([Deployment("selected.yaml", "selector: {matchLabels: {team: digits}}"), labelled], null, Environment.GetEnvironmentVariable);
        var none = Assert.Throws<InputException>(() => DeploymentResolver.Resolve(
            [Deployment("none.yaml", "selector: {matchExpressions: [{key: team, operator: In, values: [faces]}]}"), labelled], null, Environment.GetEnvironmentVariable));
        var pinned = Assert.Throws<InputException>(() => DeploymentResolver.Resolve(
            [Deployment("pinned.yaml", "trainingRun: {name: serve}", "  pinnedRevision: 3"), run], null, Environment.GetEnvironmentVariable));
        var (code, error) = await RunServe("--model", fixture.NumericModelFolder, "-f", run);

        Assert.Equal(("web", "serve", Path.GetFullPath(fixture.NumericModelFolder)), (named.Deployment, named.TrainingRun, Path.GetFullPath(named.ModelFolder)));
        Assert.Equal(Path.GetFullPath(fixture.NumericModelFolder), Path.GetFullPath(selected.ModelFolder));
        Assert.Contains("no Succeeded TrainingRun with passed gates in the given files matches spec.source.selector", none.Message, StringComparison.Ordinal);
        Assert.Contains("spec.pinnedRevision 3", pinned.Message, StringComparison.Ordinal);
        Assert.Equal(TrainCommand.BadInput, code);
        Assert.Contains("give either --model URI or -f", error, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Error)> RunServe(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var root = TrainCommand.CreateRoot(output, error, _ => null, TimeProvider.System);
        var code = await root.Parse(["serve", .. args]).InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
        return (code, error.ToString());
    }
}
