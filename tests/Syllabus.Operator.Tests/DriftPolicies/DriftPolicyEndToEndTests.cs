using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.DriftPolicies;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.Tests.ModelDeployments;
using Syllabus.Operator.Tests.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.DriftPolicies;

/// <summary>
/// A DriftPolicy on the real control plane watching a ModelDeployment whose serve pods the test kubelet runs as real
/// <c>syllabus-trainer serve</c> processes: in-distribution digits give no action; digits rotated by 90° give Drifted
/// after the configured breaches and exactly one retraining TrainingRun (warm-started from the served model, replaying
/// its training data, gated on forgetting), which holds across an operator restart; the ModelDeployment promotes the
/// retrained model only after it beat the old one on live feedback; a second drift inside the cooldown creates nothing;
/// bad input (a feature the model lacks, a Prometheus that is down) is a condition with a message, never a retrain.
/// </summary>
public sealed class DriftPolicyEndToEndTests(TrainingRunCluster cluster) : IClassFixture<TrainingRunCluster>
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(300);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TrainingRun BaseRun(string ns) => (TrainingRun)Manifests.LoadAll($$"""
        apiVersion: syllabus.dev/v1alpha1
        kind: TrainingRun
        metadata:
          name: digits-base
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
          optimizer: {type: Adam, learningRate: 0.001}
          epochs: 3
          seed: 1
          batchSize: 32
          artifacts: {uri: pvc://artifacts/runs/digits-base}
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
            mustBeat: {metric: accuracy, margin: 0.1}
            canary: {weight: 50, analysisDuration: 10m}
          analysis:
            interval: 2s
            count: 5
            inconclusiveLimit: 60
            stable: false  # the second drift below is the policy's to see; the stable analysis would roll it back first
            metrics:
            - {name: live-accuracy, source: Server, metric: accuracy, atLeast: 0.5, minSamples: 20}
        """, "test").Single();

    /// <summary>The policy under test: pixels and predicted classes, two breaches in a row, one retrain a day, a 1-hour cooldown.</summary>
    private static DriftPolicy Policy(string ns) => (DriftPolicy)Manifests.LoadAll($$$"""
        apiVersion: syllabus.dev/v1alpha1
        kind: DriftPolicy
        metadata: {name: digits-drift, namespace: {{{ns}}}}
        spec:
          deploymentRef: {name: digits}
          interval: 2s
          minWindowSize: 200
          consecutiveBreaches: 2
          detectors:
          - {name: pixels, type: FeatureDrift, stattest: auto, driftShare: 0.3}
          - {name: predicted, type: PredictionDrift, stattest: jensenshannon}
          actions:
          - type: Alert
          - type: Retrain
            retrain:
              warmStart: true
              replayFraction: 0.5
              template:
                metadata:
                  labels: {team: vision}
                spec:
                  model: {architecture: MLP, hiddenLayers: [64]}
                  data:
                    train: {uri: pvc://datasets/mnist/rotated-train.csv}
                    test: {uri: pvc://datasets/mnist/rotated-test.csv}
                    validationFraction: 0.1
                    normalization: Scale
                    scale: 255
                    difficultyColumn: difficulty
                  continual:
                    previousTasks:
                    - {name: digits-base, test: {uri: pvc://datasets/mnist/test.csv}}
                  optimizer: {type: Adam, learningRate: 0.001}
                  epochs: 4
                  seed: 1
                  batchSize: 32
                  gates:
                  - {metric: forgetting, atMost: 0.3}
                  artifacts: {uri: pvc://artifacts/retrain}
          cooldown: 1h
          maxRetrainsPerDay: 3
          historyLimit: 10
        """, "test").Single();

    [Fact]
    public async Task Shifted_traffic_retrains_once_across_a_restart_the_better_model_is_promoted_and_a_second_drift_in_the_cooldown_creates_nothing()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("drift", trainRows: 3000, testRows: 400);
        var mnist = Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "mnist");
        await DigitFiles.WriteRotatedAsync(Path.Combine(mnist, "train.csv"), Path.Combine(mnist, "rotated-train.csv"), Ct);
        await DigitFiles.WriteRotatedAsync(Path.Combine(mnist, "test.csv"), Path.Combine(mnist, "rotated-test.csv"), Ct);
        var plain = await TestDigits.LoadAsync(Path.Combine(mnist, "test.csv"), Ct);
        var rotated = await TestDigits.LoadAsync(Path.Combine(mnist, "rotated-test.csv"), Ct);
        var inverted = new TestDigits([.. plain.Rows.Select(r => (r.Label, r.Pixels.Select(p => 255f - p).ToArray()))]);
        var runs = cluster.Resources<TrainingRun>();
        var deployments = cluster.Resources<ModelDeployment>();
        var policies = cluster.Resources<DriftPolicy>();
        var op = await cluster.StartOperatorAsync(ns);
        try
        {
            await runs.CreateAsync(BaseRun(ns), Ct);
            await deployments.CreateAsync(Deployment(ns), Ct);
            await WaitForAsync(deployments, ns, "digits", d => d.Status?.Phase == ModelDeploymentPhases.Healthy && d.Status.StableRevision == 1, "revision 1 to serve");
            await using var endpoints = await ServiceEndpoints.StartAsync(cluster.Client, ns, "digits", ModelDeploymentNames.PortName, Ct);
            await endpoints.WaitUntilAsync(e => e.Count == 2, TimeSpan.FromSeconds(60), Ct);
            await using var traffic = DigitTraffic.Start(endpoints, plain);
            await Eventually.TrueAsync(() => Task.FromResult(traffic.Served > 0 || traffic.Failed), "the first rows to be served", Long);
            Assert.True(traffic.Served > 0, traffic.Describe());

            // Bad input is a condition with a message, never a retrain: a feature the model lacks, a Prometheus that is down.
            var retrain = Policy(ns).Spec.Actions[1];
            await policies.CreateAsync(new DriftPolicy
            {
                Metadata = new V1ObjectMeta { Name = "unknown-feature", NamespaceProperty = ns },
                Spec = new DriftPolicySpec
                {
                    DeploymentRef = new LocalObjectReference { Name = "digits" },
                    Interval = "2s",
                    MinWindowSize = 50,
                    ConsecutiveBreaches = 1,
                    Detectors = [new DriftDetector { Name = "pixels", Type = DetectorTypes.FeatureDrift, Features = ["p100", "no-such-pixel"] }],
                    Actions = [retrain],
                },
            }, Ct);
            await policies.CreateAsync(new DriftPolicy
            {
                Metadata = new V1ObjectMeta { Name = "prometheus-down", NamespaceProperty = ns },
                Spec = new DriftPolicySpec
                {
                    DeploymentRef = new LocalObjectReference { Name = "digits" },
                    Interval = "2s",
                    MinWindowSize = 50,
                    ConsecutiveBreaches = 1,
                    PrometheusAddress = "http://127.0.0.1:9",
                    Detectors = [new DriftDetector { Name = "errors", Type = DetectorTypes.PromQL, Query = "sum(rate(syllabus_serve_requests_total{code=~\"5..\"}[1m]))", AtMost = 0 }],
                    Actions = [retrain],
                },
            }, Ct);
            await policies.CreateAsync(new DriftPolicy
            {
                Metadata = new V1ObjectMeta { Name = "window-too-small", NamespaceProperty = ns },
                Spec = new DriftPolicySpec
                {
                    DeploymentRef = new LocalObjectReference { Name = "digits" },
                    Interval = "2s",
                    MinWindowSize = 5000, // serve's window holds 1,000 rows
                    ConsecutiveBreaches = 1,
                    Detectors = [new DriftDetector { Name = "pixels", Type = DetectorTypes.FeatureDrift }],
                    Actions = [retrain],
                },
            }, Ct);
            var unknown = await WaitForAsync(policies, ns, "unknown-feature", p => Conditions.Find(p.Status?.Conditions, ConditionTypes.Ready) is { Status: Conditions.False, Reason: "EvaluationFailed" }, "the unknown feature to be reported");
            Assert.Contains("no-such-pixel", Conditions.Find(unknown.Status!.Conditions, ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
            Assert.Equal(DriftOutcomes.Error, unknown.Status.History![0].Outcome);
            var down = await WaitForAsync(policies, ns, "prometheus-down", p => Conditions.Find(p.Status?.Conditions, ConditionTypes.Ready) is { Status: Conditions.False, Reason: "EvaluationFailed" }, "the Prometheus outage to be reported");
            Assert.Contains("unreachable", Conditions.Find(down.Status!.Conditions, ConditionTypes.Ready)!.Message, StringComparison.Ordinal);

            var tooSmall = await WaitForAsync(policies, ns, "window-too-small", p => Conditions.Find(p.Status?.Conditions, ConditionTypes.Ready) is { Status: Conditions.False, Reason: "WindowTooSmall" }, "a minWindowSize the window cannot reach to be reported");
            Assert.Contains("can never be reached", Conditions.Find(tooSmall.Status!.Conditions, ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
            Assert.Null(tooSmall.Status.History);

            // In-distribution traffic: evaluations run and come out clean; nothing is created.
            await policies.CreateAsync(Policy(ns), Ct);
            var clean = await WaitForAsync(policies, ns, "digits-drift", p => p.Status?.History?.Count(h => h.Outcome == DriftOutcomes.Clean) >= 3, "three clean evaluations of in-distribution traffic");
            Assert.Equal((Conditions.False, "NoDrift"), Status(clean, ConditionTypes.Drifted));
            // A replica is tested once it has served minWindowSize rows since its last test: one or both per evaluation.
            Assert.All(clean.Status!.History!, h => Assert.True(h.Replicas is 1 or 2 && h.WindowSize >= 200 * h.Replicas, $"{h.Replicas} replicas, {h.WindowSize} rows"));
            Assert.Equal(0, clean.Status.ConsecutiveBreaches);
            Assert.Null(clean.Status.RetrainCount);
            // Each evaluation tests the rows served after the last one's: every replica's mark moves on, no row twice.
            var marks = clean.Status.WindowMarks!;
            Assert.Equal(2, marks.Count);
            var later = await WaitForAsync(policies, ns, "digits-drift",
                p => p.Status?.LastEvaluationTime > clean.Status.LastEvaluationTime && p.Status.History![0].Outcome == DriftOutcomes.Clean, "the next counted evaluation");
            long Moved(DriftWindowMark m) => m.RowsSeen - marks.Single(old => old.Pod == m.Pod).RowsSeen;
            Assert.All(later.Status!.WindowMarks!, m => Assert.True(Moved(m) == 0 || Moved(m) >= 200, $"{m.Pod} moved {Moved(m)} rows"));
            // Rows tested + rows that left a window untested = how far the marks moved (each row once, none twice).
            var counted = later.Status.History!.Where(h => h.Time > clean.Status.LastEvaluationTime && h.Outcome is DriftOutcomes.Clean or DriftOutcomes.Breached).ToList();
            Assert.Equal(counted.Sum(h => h.WindowSize + (h.UntestedRows ?? 0)), later.Status.WindowMarks!.Sum(Moved));

            // Rotated digits: Drifted after two breaching evaluations, exactly one retraining run.
            traffic.Switch(rotated);
            var drifted = await WaitForAsync(policies, ns, "digits-drift", p => p.Status?.RetrainCount == 1, "the drift to retrain");
            Assert.Equal((Conditions.True, "DriftDetected"), Status(drifted, ConditionTypes.Drifted));
            var acted = drifted.Status!.History!.First(h => h.Actions?.Any(a => a.StartsWith("retrained", StringComparison.Ordinal)) == true);
            Assert.Equal(DriftOutcomes.Breached, acted.Outcome);
            Assert.Contains(acted.Detectors!, d => d.Name == "pixels" && d.Breached && d.DriftedFeatures > 0 && d.TopFeatures!.Count > 0);
            Assert.True(drifted.Status.History!.TakeWhile(h => h != acted).Count() + 2 <= drifted.Status.History!.Count
                && drifted.Status.History!.SkipWhile(h => h != acted).Skip(1).First().Outcome == DriftOutcomes.Breached,
                "the action follows two breaching evaluations in a row");
            var retrainName = DriftPolicyNames.RetrainRun("digits-drift", 1);
            var run = (await runs.GetAsync(ns, retrainName, Ct))!;
            var served = (await deployments.GetAsync(ns, "digits", Ct))!.Status!.Revisions!.Single(r => r.Revision == 1);
            Assert.Equal(served.ModelUri, run.Spec.BaseModel!.Uri);
            Assert.Equal("pvc://datasets/mnist/train.csv", run.Spec.Data.Replay!.Data.Uri);
            Assert.Equal(0.5, run.Spec.Data.Replay.Fraction);
            Assert.Equal($"pvc://artifacts/retrain/{retrainName}", run.Spec.Artifacts.Uri);
            Assert.Equal(("digits", "vision", "digits-drift"), (run.Metadata.Labels["syllabus.dev/model"], run.Metadata.Labels["team"], run.Metadata.Labels[DriftPolicyNames.PolicyLabel]));
            Assert.Equal("1", run.Metadata.Annotations[DriftPolicyNames.DriftedRevisionAnnotation]);
            await cluster.WaitForEventsAsync(ns, "digits-drift", events => events.Any(e => e.Reason == "DriftDetected" && e.Type == "Warning" && e.Message.Contains("features drifted (p", StringComparison.Ordinal)), "the DriftDetected Warning");

            // The cooldown holds across an operator restart: the drift goes on, breaches are counted, nothing is created.
            await op.DisposeAsync();
            var restartedAt = DateTime.UtcNow;
            op = await cluster.StartOperatorAsync(ns);
            var held = await WaitForAsync(policies, ns, "digits-drift",
                p => p.Status?.History?.Count(h => h.Time > restartedAt && h.Actions?.Any(a => a.StartsWith("none: in cooldown", StringComparison.Ordinal)) == true) >= 2,
                "evaluations inside the cooldown after the restart");
            Assert.Equal(1, held.Status!.RetrainCount);
            Assert.Single(await runs.ListAsync(ns, $"{DriftPolicyNames.PolicyLabel}=digits-drift", Ct));

            // The retrained model passes its forgetting gate and beats the old one on live feedback: promoted.
            var promoted = await WaitForAsync(deployments, ns, "digits",
                d => d.Status?.Phase == ModelDeploymentPhases.Healthy && d.Status.Revisions?.Any(r => r.TrainingRun == retrainName && r.Outcome == RevisionOutcomes.Stable) == true,
                "the retrained model to be promoted");
            run = (await runs.GetAsync(ns, retrainName, Ct))!;
            Assert.True(Conditions.IsTrue(run.Status!.Conditions, ConditionTypes.GatesPassed), KubernetesYaml.Serialize(run.Status));
            var stable = promoted.Status!.Revisions!.Single(r => r.TrainingRun == retrainName);
            Assert.StartsWith("analysis Successful", stable.Reason, StringComparison.Ordinal);

            // A new stable model starts the count again; a second drift (inverted digits) inside the cooldown creates nothing.
            await WaitForAsync(policies, ns, "digits-drift", p => p.Status?.StableRevision == stable.Revision, "the policy to follow the new stable revision");
            traffic.Switch(inverted);
            var second = await WaitForAsync(policies, ns, "digits-drift",
                p => p.Status?.StableRevision == stable.Revision && Conditions.IsTrue(p.Status.Conditions, ConditionTypes.Drifted)
                    && p.Status.History?.FirstOrDefault()?.Revision == stable.Revision && p.Status.History[0].Actions?.Any(a => a.StartsWith("none: in cooldown", StringComparison.Ordinal)) == true,
                "the second drift to be detected and held by the cooldown");
            Assert.Equal(1, second.Status!.RetrainCount);
            Assert.Single(await runs.ListAsync(ns, $"{DriftPolicyNames.PolicyLabel}=digits-drift", Ct));

            // The bad-input policies never retrained, and nobody's spec was written.
            Assert.DoesNotContain(await runs.ListAsync(ns, ct: Ct), r => r.Metadata.Labels is { } l && l.TryGetValue(DriftPolicyNames.PolicyLabel, out var p) && p is "unknown-feature" or "prometheus-down" or "window-too-small");
            foreach (var name in new[] { "digits-drift", "unknown-feature", "prometheus-down", "window-too-small" })
            {
                Assert.Equal(1, (await policies.GetAsync(ns, name, Ct))!.Metadata.Generation);
            }

            Assert.Equal(1, (await deployments.GetAsync(ns, "digits", Ct))!.Metadata.Generation);
            await traffic.StopAsync();
            Assert.True(traffic.Served > 500, traffic.Describe());
            Assert.Empty(cluster.Kubelet.Errors);

            // A profile that does not describe the served model (another schema fingerprint): the restarted serve pods
            // refuse to start, and the policy says why instead of evaluating anything.
            var profile = Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "artifacts"), "retrain", retrainName, "profile.json");
            var json = JsonNode.Parse(await File.ReadAllTextAsync(profile, Ct))!.AsObject();
            json["schemaFingerprint"] = "sha256:" + new string('0', 64);
            await File.WriteAllTextAsync(profile, json.ToJsonString(), Ct);
            await cluster.Client.CoreV1.DeleteCollectionNamespacedPodAsync(ns, labelSelector: $"{ModelDeploymentNames.DeploymentLabel}=digits", cancellationToken: Ct);
            var refused = await WaitForAsync(policies, ns, "digits-drift",
                p => Conditions.Find(p.Status?.Conditions, ConditionTypes.Ready) is { Reason: "NoReadyReplica" } c && c.Message.Contains("schema fingerprint", StringComparison.Ordinal),
                "the policy to report the serve pods refusing the profile");
            Assert.Equal(1, refused.Status!.RetrainCount);
        }
        finally
        {
            await op.DisposeAsync();
        }
    }

    private static (string Status, string Reason) Status(DriftPolicy policy, string type) =>
        Conditions.Find(policy.Status?.Conditions, type) is { } c ? (c.Status, c.Reason) : ("absent", "");

    private async Task<T> WaitForAsync<T>(ResourceClient<T> client, string ns, string name, Func<T, bool> condition, string what)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        T? last = null;
        var deadline = DateTime.UtcNow + Long;
        while (DateTime.UtcNow < deadline)
        {
            last = await client.GetAsync(ns, name, Ct);
            if (last is not null && condition(last))
            {
                return last;
            }

            await Task.Delay(250, Ct);
        }

        var runs = await cluster.Resources<TrainingRun>().ListAsync(ns, ct: Ct);
        var md = await cluster.Resources<ModelDeployment>().GetAsync(ns, "digits", Ct);
        Assert.Fail($"timed out waiting for {what}; {name} is:\n{(last is null ? "gone" : KubernetesYaml.Serialize(last))}\nModelDeployment status:\n{KubernetesYaml.Serialize(md?.Status)}\nruns: {string.Join(", ", runs.Select(r => $"{r.Metadata.Name}={r.Status?.Phase}"))}");
        return null!;
    }
}

/// <summary>Digit CSVs turned by 90°: the same labels, a different input distribution.</summary>
internal static class DigitFiles
{
    public static async Task WriteRotatedAsync(string source, string target, CancellationToken ct)
    {
        var lines = await File.ReadAllLinesAsync(source, ct);
        var header = lines[0].Split(',');
        var pixel = Enumerable.Range(0, 784).Select(i => Array.IndexOf(header, $"p{i.ToString(CultureInfo.InvariantCulture)}")).ToArray();
        Assert.DoesNotContain(-1, pixel);
        var output = new List<string>(lines.Length) { lines[0] };
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            var turned = (string[])cells.Clone();
            for (var r = 0; r < 28; r++)
            {
                for (var c = 0; c < 28; c++)
                {
                    // Clockwise: the new (r, c) is the old (27 - c, r).
                    turned[pixel[(r * 28) + c]] = cells[pixel[((27 - c) * 28) + r]];
                }
            }

            output.Add(string.Join(',', turned));
        }

        await File.WriteAllLinesAsync(target, output, ct);
    }
}

/// <summary>
/// Traffic through the Service's endpoints as a client would send it: batches of 10 digits from the current set,
/// each answered prediction followed by its true labels (feedback) to the replica that answered.
/// </summary>
internal sealed class DigitTraffic : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> failures = new();
    private readonly Task loop;
    private volatile TestDigits digits;
    private long served;

    private DigitTraffic(ServiceEndpoints endpoints, TestDigits start)
    {
        digits = start;
        loop = Task.Run(() => RunAsync(endpoints, stop.Token));
    }

    public long Served => Interlocked.Read(ref served);

    public bool Failed => !failures.IsEmpty;

    public static DigitTraffic Start(ServiceEndpoints endpoints, TestDigits digits) => new(endpoints, digits);

    public void Switch(TestDigits next) => digits = next;

    public string Describe() => $"{Served} rows served; failures:\n{string.Join("\n", failures.Take(20))}";

    private async Task RunAsync(ServiceEndpoints endpoints, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; !ct.IsCancellationRequested; i++)
        {
            var endpoint = endpoints.Next();
            if (endpoint is null)
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
                continue;
            }

            var set = digits;
            var rows = Enumerable.Range(0, 10).Select(k => set.Rows[((i * 10) + k) % set.Rows.Count]).ToList();
            var id = $"t-{i}";
            var body = new JsonObject
            {
                ["id"] = id,
                ["inputs"] = new JsonArray(new JsonObject
                {
                    ["name"] = "features",
                    ["shape"] = new JsonArray(rows.Count, 784),
                    ["datatype"] = "FP32",
                    ["data"] = new JsonArray([.. rows.SelectMany(r => r.Pixels).Select(p => (JsonNode)p)]),
                }),
            };
            try
            {
                using var infer = await http.PostAsync(new Uri($"http://{endpoint}/v2/models/digits/infer"), new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), ct).ConfigureAwait(false);
                if (infer.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue($"infer {id} at {endpoint}: {(int)infer.StatusCode} {await infer.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
                    continue;
                }

                Interlocked.Add(ref served, rows.Count);
                using var answer = await http.PostAsJsonAsync(new Uri($"http://{endpoint}/v2/models/digits/feedback"), new { id, labels = rows.Select(r => r.Label).ToArray() }, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                // A replica going away (rollout, scale-down) between the calls: the next endpoint is tried.
            }

            if (failures.Count > 20)
            {
                return; // a request the model refuses will not start working: stop, and let the test say why
            }

            await Task.Delay(20, ct).ConfigureAwait(false);
        }
    }

    public async Task StopAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        stop.Dispose();
    }
}
