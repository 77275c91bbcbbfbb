using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.Tests.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.ModelDeployments;

/// <summary>
/// A ModelDeployment on the real control plane, its serve pods run by the test kubelet as real <c>syllabus-trainer
/// serve</c> processes on their own pod addresses, traffic routed through the Service's endpoints as kube-proxy would:
/// a first model is served, a bad candidate (near-random, judged by live feedback) is aborted, a good one promoted, and
/// a revision whose TrainingRun is gone is pinned, with no failed request throughout.
/// </summary>
public sealed class ModelDeploymentEndToEndTests(TrainingRunCluster cluster) : IClassFixture<TrainingRunCluster>
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(240);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TrainingRun Run(string ns, string name, string optimizer = "{type: Adam, learningRate: 0.001}", int epochs = 3, int seed = 1) =>
        (TrainingRun)Manifests.LoadAll($$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata:
              name: {{name}}
              namespace: {{ns}}
              labels: {syllabus.dev/model: digits}
            spec:
              model: {architecture: MLP, hiddenLayers: [64]}
              data:
                train: {uri: pvc://datasets/mnist/train.csv}
                test: {uri: pvc://datasets/mnist/test.csv}
                validationFraction: 0.1
                normalization: Scale
                scale: 255
                difficultyColumn: difficulty
              optimizer: {{optimizer}}
              epochs: {{epochs}}
              seed: {{seed}}
              batchSize: 32
              artifacts: {uri: pvc://artifacts/runs/{{name}}}
            """, "test").Single();

    private static ModelDeployment Deployment(string ns) => (ModelDeployment)Manifests.LoadAll($$"""
        apiVersion: syllabus.dev/v1alpha1
        kind: ModelDeployment
        metadata: {name: digits, namespace: {{ns}}}
        spec:
          source:
            selector:
              matchLabels: {syllabus.dev/model: digits}
          replicas: 2
          promotion:
            canary: {weight: 50, analysisDuration: 10m}
          analysis:
            interval: 2s
            count: 6
            inconclusiveLimit: 60
            metrics:
            - {name: live-accuracy, source: Server, metric: accuracy, atLeast: 0.7, minSamples: 10}
          revisionHistoryLimit: 5
        """, "test").Single();

    [Fact]
    public async Task A_bad_candidate_is_rolled_back_a_good_one_promoted_and_a_pinned_revision_serves_after_its_run_is_gone_with_no_failed_request()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("md", trainRows: 3000, testRows: 400);
        var digits = await TestDigits.LoadAsync(Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "mnist", "test.csv"), Ct);
        await using var op = await cluster.StartOperatorAsync(ns);
        var runs = cluster.Resources<TrainingRun>();
        var deployments = cluster.Resources<ModelDeployment>();

        await runs.CreateAsync(Run(ns, "good-1"), Ct);
        await deployments.CreateAsync(Deployment(ns), Ct);
        var md = await WaitForAsync(ns, d => d.Status?.Phase == ModelDeploymentPhases.Healthy && d.Status.StableRevision == 1, "revision 1 to serve");

        await using var endpoints = await ServiceEndpoints.StartAsync(cluster.Client, ns, "digits", ModelDeploymentNames.PortName, Ct);
        await endpoints.WaitUntilAsync(e => e.Count == 2, TimeSpan.FromSeconds(60), Ct);
        var row = JsonSerializer.Serialize(Infer(digits.Rows[0].Pixels, "load"));
        await using var load = ServiceLoad.Start(endpoints, new ServiceLoadOptions
        {
            CreateRequest = () => new HttpRequestMessage(HttpMethod.Post, "/v2/models/digits/infer") { Content = new StringContent(row, Encoding.UTF8, "application/json") },
            Concurrency = 2,
        });
        await using var feedback = FeedbackLoop.Start(endpoints, digits);

        // A near-random model (learning rate 1e-9) succeeds without gates: canaried, judged by live accuracy, aborted.
        await runs.CreateAsync(Run(ns, "bad", optimizer: "{type: SGD, learningRate: 0.000000001}", epochs: 1), Ct);
        md = await WaitForAsync(ns, d => d.Status?.Revisions?.Any(r => r.TrainingRun == "bad" && r.Outcome == RevisionOutcomes.Rejected) == true, "the bad candidate to be rolled back");
        var rolledBack = Conditions.Find(md.Status!.Conditions, ConditionTypes.RolledBack)!;
        Assert.Equal((Conditions.True, "AnalysisFailed"), (rolledBack.Status, rolledBack.Reason));
        Assert.Matches(@"live-accuracy [0-9.]+ < 0\.7 in 1 of \d+ measurements", rolledBack.Message);
        Assert.Equal(ModelDeploymentPhases.Degraded, md.Status.Phase);
        Assert.Equal(1, md.Status.StableRevision);
        await cluster.WaitForEventsAsync(ns, "digits", events => events.Any(e => e.Reason == "RolledBack" && e.Type == "Warning"), "the RolledBack Warning");

        // A good candidate: canaried and promoted; the Deployment rolls to it and the canary scales to zero.
        await runs.CreateAsync(Run(ns, "good-2", seed: 2), Ct);
        md = await WaitForAsync(ns, d => d.Status?.Phase == ModelDeploymentPhases.Healthy && d.Status.Revisions?.Any(r => r.TrainingRun == "good-2" && r.Outcome == RevisionOutcomes.Stable) == true, "the good candidate to be promoted");
        var promoted = md.Status!.Revisions!.Single(r => r.TrainingRun == "good-2");
        Assert.Equal(md.Status.StableRevision, promoted.Revision);
        Assert.StartsWith("analysis Successful: live-accuracy", promoted.Reason, StringComparison.Ordinal);
        Assert.Equal([(1, RevisionOutcomes.Superseded), (2, RevisionOutcomes.Rejected), (3, RevisionOutcomes.Stable)],
            md.Status.Revisions!.OrderBy(r => r.Revision).Select(r => (r.Revision, r.Outcome)));
        Assert.Equal(0, (await cluster.Client.AppsV1.ReadNamespacedDeploymentAsync(ModelDeploymentNames.Deployment("digits", AnalysisArms.Canary), ns, cancellationToken: Ct)).Spec.Replicas);

        // Pin revision 1 after its TrainingRun is gone: served from the recorded model URI.
        await runs.DeleteAsync(ns, "good-1", Ct);
        await Eventually.GetAsync(async () => await runs.GetAsync(ns, "good-1", Ct) is null ? "gone" : null, Long, () => "good-1 to be deleted");
        await deployments.PatchAsync(ns, "digits", new V1Patch("""{"spec":{"pinnedRevision":1}}""", V1Patch.PatchType.MergePatch), Ct);
        md = await WaitForAsync(ns, d => d.Status?.StableRevision == 1 && d.Status.Phase == ModelDeploymentPhases.Healthy, "the pinned revision to serve");
        Assert.Equal("Pinned", Conditions.Find(md.Status!.Conditions, ConditionTypes.Progressing)!.Reason);
        var pods = await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"{ModelDeploymentNames.DeploymentLabel}=digits,{ModelDeploymentNames.ArmLabel}=stable", cancellationToken: Ct);
        Assert.All(pods.Items.Where(p => p.Metadata.DeletionTimestamp is null), p => Assert.Equal("1", p.Metadata.Labels[ModelDeploymentNames.RevisionLabel]));
        Assert.Equal(md.Metadata.Generation, md.Status.ObservedGeneration);

        await load.StopAsync();
        await feedback.DisposeAsync();
        Assert.True(load.Served > 100, load.Describe());
        Assert.True(load.Failures.Count == 0, $"failed requests through the Service:\n{load.Describe()}\n{string.Join("\n", load.Failures.Take(20))}\nendpoints:\n{endpoints.Describe()}");
        Assert.True(feedback.Failures.Count == 0, string.Join("\n", feedback.Failures.Take(20)));
        Assert.Empty(cluster.Kubelet.Errors);

        // The operator wrote no spec: the user's pin is the only spec change (generation 2).
        Assert.Equal(2, md.Metadata.Generation);
    }

    private async Task<ModelDeployment> WaitForAsync(string ns, Func<ModelDeployment, bool> condition, string what)
    {
        var deployments = cluster.Resources<ModelDeployment>();
        ModelDeployment? last = null;
        var deadline = DateTime.UtcNow + Long;
        while (DateTime.UtcNow < deadline)
        {
            last = await deployments.GetAsync(ns, "digits", Ct);
            if (last is not null && condition(last))
            {
                return last;
            }

            await Task.Delay(250, Ct);
        }

        var runs = await cluster.Resources<TrainingRun>().ListAsync(ns, ct: Ct);
        Assert.Fail($"timed out waiting for {what}; ModelDeployment is:\n{(last is null ? "gone" : KubernetesYaml.Serialize(last.Status))}\nruns: {string.Join(", ", runs.Select(r => $"{r.Metadata.Name}={r.Status?.Phase}"))}");
        return null!;
    }

    internal static JsonObject Infer(float[] pixels, string id) => new()
    {
        ["id"] = id,
        ["inputs"] = new JsonArray(new JsonObject
        {
            ["name"] = "features",
            ["shape"] = new JsonArray(1, pixels.Length),
            ["datatype"] = "FP32",
            ["data"] = new JsonArray([.. pixels.Select(p => (JsonNode)p)]),
        }),
    };
}

/// <summary>Labelled digits from a test CSV (label, p0..p783, and the fixture's difficulty column).</summary>
internal sealed record TestDigits(IReadOnlyList<(string Label, float[] Pixels)> Rows)
{
    public static async Task<TestDigits> LoadAsync(string path, CancellationToken ct)
    {
        var lines = await File.ReadAllLinesAsync(path, ct);
        var header = lines[0].Split(',');
        var labelIndex = Array.IndexOf(header, "label");
        var pixelIndexes = header.Select((h, i) => (h, i)).Where(p => p.h.Length > 1 && p.h[0] == 'p' && char.IsAsciiDigit(p.h[1])).Select(p => p.i).ToArray();
        return new TestDigits([.. lines.Skip(1).Take(200).Select(l =>
        {
            var cells = l.Split(',');
            return (cells[labelIndex], pixelIndexes.Select(i => float.Parse(cells[i], System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        })]);
    }
}

/// <summary>
/// A client that asks for predictions through the Service and sends the true label back for each, to the replica that
/// answered (a prediction's feedback is kept by that replica), as a labelling pipeline would.
/// </summary>
internal sealed class FeedbackLoop : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> failures = new();
    private readonly Task loop;
    private int disposed;

    private FeedbackLoop(ServiceEndpoints endpoints, TestDigits digits) => loop = Task.Run(() => RunAsync(endpoints, digits, stop.Token));

    public IReadOnlyList<string> Failures => [.. failures];

    public static FeedbackLoop Start(ServiceEndpoints endpoints, TestDigits digits) => new(endpoints, digits);

    private async Task RunAsync(ServiceEndpoints endpoints, TestDigits digits, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var i = 0; !ct.IsCancellationRequested; i++)
        {
            var endpoint = endpoints.Next();
            if (endpoint is null)
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
                continue;
            }

            var (label, pixels) = digits.Rows[i % digits.Rows.Count];
            var id = $"fb-{i}";
            try
            {
                using var infer = await http.PostAsync(new Uri($"http://{endpoint}/v2/models/digits/infer"),
                    new StringContent(ModelDeploymentEndToEndTests.Infer(pixels, id).ToJsonString(), Encoding.UTF8, "application/json"), ct).ConfigureAwait(false);
                if (infer.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue($"infer {id} at {endpoint}: {(int)infer.StatusCode} {await infer.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
                    continue;
                }

                using var answer = await http.PostAsJsonAsync(new Uri($"http://{endpoint}/v2/models/digits/feedback"), new { id, labels = new[] { label } }, ct).ConfigureAwait(false);
                if (answer.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue($"feedback {id} at {endpoint}: {(int)answer.StatusCode} {await answer.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                // A replica going away between the two calls (scale-down, rollout) loses that one label, as it would in a
                // cluster; the load loop above is what must see no failed request.
            }

            await Task.Delay(25, ct).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        stop.Dispose();
    }
}
