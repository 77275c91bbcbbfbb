using System.Net;
using k8s;
using Syllabus.Api;
using Syllabus.Operator.LabelingQueues;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.Tests.ModelDeployments;
using Syllabus.Operator.Tests.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.LabelingQueues;

/// <summary>
/// A LabelingQueue on the real control plane, its labelling service and scoring and export Jobs run by the test
/// kubelet as real <c>syllabus-trainer</c> processes: a scoring Job that fails (no pool yet) is reported and retried;
/// the queue scores an MNIST pool, serves the labelling UI and API (writes
/// need the token of the Secret it created), scores again as labels drain the queue, reaches afterLabels and creates
/// exactly one TrainingRun on the exported labels, and stops scoring at the budget.
/// </summary>
public sealed class LabelingQueueEndToEndTests(TrainingRunCluster cluster) : IClassFixture<TrainingRunCluster>
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(180);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_queue_scores_serves_labels_retrains_once_after_afterLabels_and_stops_at_the_budget()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("lq", trainRows: 1000, testRows: 200);
        var data = Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "mnist");
        var op = await cluster.StartOperatorAsync(ns);
        try
        {
            var runs = cluster.Resources<TrainingRun>();
            var queues = cluster.Resources<LabelingQueue>();

            await runs.CreateAsync(BaseRun(ns), Ct);
            await queues.CreateAsync(Queue(ns), Ct);

            // No pool yet: the first scoring Job fails, reported with its error; it is retried after the backoff.
            var failed = await WaitForAsync(ns, q => Conditions.Find(q.Status?.Conditions, LabelingQueueConditions.Scoring)?.Reason == "ScoringFailed", "the first scoring Job to fail");
            Assert.Contains("pool.csv", Conditions.Find(failed.Status!.Conditions, LabelingQueueConditions.Scoring)!.Message, StringComparison.Ordinal);

            // The pool: 40 test digits (their label column is ignored by scoring).
            await File.WriteAllLinesAsync(Path.Combine(data, "pool.csv"), File.ReadLines(Path.Combine(data, "test.csv")).Take(41), Ct);

            // Batch 1: 5 items selected and imported; the service is ready.
            var q = await WaitForAsync(ns, q => q.Status?.Pending == 5 && q.Status.Batches == 1, "batch 1 to be queued");
            Assert.Equal(Conditions.True, Conditions.Find(q.Status!.Conditions, ConditionTypes.Ready)?.Status);
            Assert.Equal((0, 12), (q.Status.Labelled, q.Status.BudgetRemaining));
            Assert.Equal($"http://{LabelingQueueNames.LabelService("digits")}.{ns}.svc:80", q.Status.ServiceUrl);

            await using var labeller = await LabelingClient.StartAsync(cluster.Client, ns, "digits", Ct);
            Assert.Contains("<html", await labeller.PageAsync(Ct), StringComparison.OrdinalIgnoreCase); // the labelling UI
            using (var refused = await labeller.SubmitAsync((await labeller.FirstPendingAsync(Ct))!, "3", withToken: false, Ct))
            {
                Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            }

            // Labelling the batch drains the queue below a batch: batch 2 (5 more, the budget leaves room for 7).
            Assert.Equal(5, await labeller.LabelAsync(5, Ct));
            q = await WaitForAsync(ns, q => q.Status?.Batches == 2 && q.Status.Pending == 5 && q.Status.Labelled == 5, "batch 2 to be queued");
            Assert.Equal(0, q.Status!.RetrainRounds ?? 0);

            // 8 labels reach afterLabels: one export, one TrainingRun on it, annotated.
            Assert.Equal(3, await labeller.LabelAsync(3, Ct));
            q = await WaitForAsync(ns, q => q.Status?.RetrainRounds == 1, "the first retraining round");
            var retrained = await runs.GetAsync(ns, LabelingQueueNames.RetrainRun("digits", 1), Ct);
            Assert.NotNull(retrained);
            Assert.Equal("pvc://datasets/labelled/round-0001/labels.csv", retrained!.Metadata.Annotations[LabelingQueueNames.ExportAnnotation]);
            Assert.Equal("8", retrained.Metadata.Annotations[LabelingQueueNames.LabelCountAnnotation]);
            Assert.Equal("1", retrained.Metadata.Annotations[LabelingQueueNames.RoundAnnotation]);
            Assert.Equal("digits", retrained.Metadata.Labels[LabelingQueueNames.QueueLabel]);
            Assert.Equal("mnist-digits", retrained.Metadata.Labels["syllabus.dev/model"]);
            // The template's training data stays; the export is added to it.
            Assert.Equal("pvc://datasets/mnist/train.csv", retrained.Spec.Data.Train.Uri);
            Assert.Equal(["pvc://datasets/labelled/round-0001/labels.csv"], retrained.Spec.Data.AdditionalTrain!.Select(s => s.Uri));
            Assert.Contains(retrained.Metadata.OwnerReferences, o => o.Kind == LabelingQueue.KindName && o.Name == "digits" && o.Controller == true);
            var export = Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "labelled", "round-0001", "labels.csv");
            Assert.Equal(1 + 8, File.ReadLines(export).Count());
            Assert.Equal((8, "pvc://datasets/labelled/round-0001/labels.csv"), (q.Status!.RetrainedLabels, q.Status.LastExportUri));

            // A restarted operator continues from status: no second export or run for round 1.
            await op.DisposeAsync();
            op = await cluster.StartOperatorAsync(ns);

            // 2 pending, 4 labels left in the budget: batch 3 selects only 2. Labelling all 4 spends the budget.
            q = await WaitForAsync(ns, q => q.Status?.Batches == 3 && q.Status.Pending == 4, "batch 3 (2 items) to be queued");
            Assert.Equal(4, await labeller.LabelAsync(10, Ct));
            q = await WaitForAsync(ns, q => q.Status?.Phase == LabelingQueuePhases.Exhausted && q.Status.Labelled == 12, "the budget to be spent");
            Assert.Equal((0, 0), (q.Status!.BudgetRemaining, q.Status.Pending));
            Assert.Equal(Conditions.True, Conditions.Find(q.Status.Conditions, ConditionTypes.BudgetExhausted)?.Status);
            Assert.Equal("BudgetExhausted", Conditions.Find(q.Status.Conditions, LabelingQueueConditions.Scoring)?.Reason);

            // Nothing more is scored or retrained (4 labels since round 1, fewer than afterLabels). Of the four finished
            // scoring Jobs the newest three are kept: the failed first attempt is deleted, its pod with it.
            await Task.Delay(TimeSpan.FromSeconds(12), Ct);
            var jobs = (await cluster.Client.BatchV1.ListNamespacedJobAsync(ns, labelSelector: $"{LabelingQueueNames.QueueLabel}=digits", cancellationToken: Ct)).Items;
            Assert.Equal(["digits-export-1", "digits-score-1-2", "digits-score-2-1", "digits-score-3-1"], jobs.Select(j => j.Metadata.Name).Order(StringComparer.Ordinal));
            // (ttlSecondsAfterFinished is set on them, but a 1.20 API server drops it while the TTL feature gate is off.)
            await Eventually.GetAsync(
                async () => (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: "job-name=digits-score-1-1", cancellationToken: Ct)).Items.Count == 0 ? "gone" : null,
                Long, () => "the deleted Job's pod to be garbage-collected");
            var created = (await runs.ListAsync(ns, $"{LabelingQueueNames.QueueLabel}=digits", Ct)).Select(r => r.Metadata.Name);
            Assert.Equal([LabelingQueueNames.RetrainRun("digits", 1)], created);
            q = (await queues.GetAsync(ns, "digits", Ct))!;
            Assert.Equal((1, 4, 3), (q.Status!.RetrainRounds, q.Status.LabelsSinceRetrain, q.Status.Batches));

            // The retrained run trained on the template's rows and the 8 exported labels, each file read as training data.
            await Eventually.GetAsync(
                async () => (await runs.GetAsync(ns, LabelingQueueNames.RetrainRun("digits", 1), Ct))?.Status?.Phase == TrainingRunPhases.Succeeded ? "done" : null,
                Long, () => "the retrained run to succeed");
            var report = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(
                Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "artifacts"), "runs", "retrained", LabelingQueueNames.RetrainRun("digits", 1), "report.json"), Ct))!;
            var files = report["data"]!["files"]!.AsArray().Select(f => (Path: (string)f!["path"]!, Split: (string)f["split"]!, Used: (long)f["rowsUsed"]!)).ToList();
            Assert.Contains(files, f => f.Path.EndsWith("/mnist/train.csv", StringComparison.Ordinal) && f.Split == "train" && f.Used == 1000);
            Assert.Contains(files, f => f.Path.EndsWith("/labelled/round-0001/labels.csv", StringComparison.Ordinal) && f.Split == "train" && f.Used == 8);
        }
        finally
        {
            await op.DisposeAsync();
        }
    }

    [Fact]
    public async Task Keyboard_labels_and_an_undo_in_the_browser_show_in_the_queue_status()
    {
        cluster.Require();
        if (HeadlessChromium.SkipReason is { } noBrowser)
        {
            Assert.Skip(noBrowser);
        }

        var (ns, op, _) = await StartServedQueueAsync("lqui");
        await using var running = op;

        // The UI on the labelling pod's address, as `kubectl port-forward` would give it, with the Secret's token.
        var secret = await cluster.Client.CoreV1.ReadNamespacedSecretAsync(LabelingQueueNames.TokenSecret("digits"), ns, cancellationToken: Ct);
        var token = System.Text.Encoding.UTF8.GetString(secret.Data[LabelingQueueNames.TokenKey]);
        var pod = await ReadyLabelPodAsync(ns);
        var profile = Directory.CreateTempSubdirectory("syllabus-chromium-");
        using var browser = await HeadlessChromium.StartAsync(profile.FullName, Ct);
        using var page = await browser.OpenPageAsync(Ct);
        await page.NavigateAsync($"http://{pod.Status.PodIP}:{LabelingQueueNames.ContainerPort}/#token={token}", Ct);
        await page.WaitForAsync("document.body.dataset.ready === 'true'", Ct, UiMessage);
        Assert.Equal("0 labelled of a budget of 6 · 6 pending · 0 skipped", await page.EvaluateAsync("document.getElementById('counts').textContent", Ct));

        // Three digits typed as their keys, then Backspace undoes the last one.
        var typed = new List<string>();
        foreach (var (key, labelled) in new[] { ("3", 1), ("7", 2), ("1", 3) })
        {
            typed.Add((await page.EvaluateAsync("document.getElementById('item-id').textContent", Ct))!);
            await page.PressKeyAsync(key, $"Digit{key}", 48 + int.Parse(key, System.Globalization.CultureInfo.InvariantCulture), key, Ct);
            await page.WaitForAsync($"document.body.dataset.busy === 'false' && document.getElementById('counts').dataset.labelled === '{labelled}'", Ct, UiMessage);
        }

        // The status has seen all three before the undo, so the 2 below can only come from the undo reaching it.
        await WaitForAsync(ns, q => q.Status?.Labelled == 3, "the status to count the browser's 3 labels");
        await page.PressKeyAsync("Backspace", "Backspace", 8, null, Ct);
        await page.WaitForAsync("document.body.dataset.busy === 'false' && document.getElementById('counts').dataset.labelled === '2'", Ct, UiMessage);
        Assert.StartsWith("undid the label '1'", await page.EvaluateAsync("document.getElementById('message').textContent", Ct), StringComparison.Ordinal);
        // The undone item is offered again.
        Assert.Equal(typed[2], await page.EvaluateAsync("document.getElementById('item-id').textContent", Ct));

        // The operator reads the service's counts into the queue's status: 2 labelled, 4 pending, 4 of the budget left.
        var q = await WaitForAsync(ns, q => q.Status?.Labelled == 2, "the status to count the browser's 2 labels");
        Assert.Equal((2, 4, 0, 4), (q.Status!.Labelled, q.Status.Pending, q.Status.Skipped, q.Status.BudgetRemaining));
        Assert.Equal(LabelingQueuePhases.Labelling, q.Status.Phase);
        Assert.Equal("BudgetCovered", Conditions.Find(q.Status.Conditions, LabelingQueueConditions.Scoring)?.Reason);
        Assert.Equal(Conditions.False, Conditions.Find(q.Status.Conditions, ConditionTypes.BudgetExhausted)?.Status);

        // kubectl get lq: the API server's printer columns over that status.
        var (columns, rows) = await cluster.GetTableAsync(ns, LabelingQueue.Plural);
        var row = rows.Single();
        Assert.Equal(("4", "2", "4"), (row[columns.ToList().IndexOf("Pending")], row[columns.ToList().IndexOf("Labelled")], row[columns.ToList().IndexOf("Budget")]));
        browser.Dispose();
        profile.Delete(recursive: true);
    }

    [Fact]
    public async Task A_deploymentRef_pool_queues_the_uncertain_rows_its_serve_pod_kept_identified_by_content()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("lqmd", trainRows: 1000, testRows: 200);
        var digits = await TestDigits.LoadAsync(Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "mnist", "test.csv"), Ct);
        await using var op = await cluster.StartOperatorAsync(ns);
        await cluster.Resources<TrainingRun>().CreateAsync(BaseRun(ns), Ct);
        await cluster.Resources<ModelDeployment>().CreateAsync((ModelDeployment)Manifests.LoadAll($$$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: ModelDeployment
            metadata: {name: live, namespace: {{{ns}}}}
            spec:
              source: {trainingRun: {name: base}}
              replicas: 1
            """, "test").Single(), Ct);

        // The queue's pool is the serve pod's uncertain rows alone: nothing is scored while it has no ready pod.
        var queue = Queue(ns);
        (queue.Spec.Pool, queue.Spec.BatchSize, queue.Spec.Budget, queue.Spec.Retrain, queue.Spec.ExportUri) =
            (new PoolSpec { DeploymentRef = new LocalObjectReference { Name = "live" } }, 5, 5, null, null);
        await cluster.Resources<LabelingQueue>().CreateAsync(queue, Ct);

        // Eight requests to the serve pod, one digit each: it keeps them as its uncertain rows (capacity 100).
        var servePod = await Eventually.GetAsync(
            async () => (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"{ModelDeploymentNames.DeploymentLabel}=live,{ModelDeploymentNames.ArmLabel}={AnalysisArms.Stable}", cancellationToken: Ct)).Items
                .FirstOrDefault(p => p.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true),
            Long, () => "a ready serve pod of ModelDeployment live");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < 8; i++)
        {
            using var infer = await http.PostAsync(new Uri($"http://{servePod.Status.PodIP}:{ModelDeploymentNames.ContainerPort}/v2/models/live/infer"),
                new StringContent(ModelDeploymentEndToEndTests.Infer(digits.Rows[i].Pixels, $"live-{i}").ToJsonString(), System.Text.Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, infer.StatusCode);
        }

        // Batch 1: the 5 most uncertain of them (margin), queued under their content ids, counted in status.
        var q = await WaitForAsync(ns, q => q.Status?.Batches == 1 && q.Status.Pending == 5 && q.Status.UncertainImported == 5, "batch 1 of the serve pod's rows to be queued");
        Assert.Equal(0, q.Status!.UncertainRejected);
        var job = await cluster.Client.BatchV1.ReadNamespacedJobAsync(LabelingQueueNames.ScoreJob("digits", 1, 1), ns, cancellationToken: Ct);
        var args = job.Spec.Template.Spec.Containers.Single().Args;
        Assert.Equal($"http://{servePod.Status.PodIP}:{ModelDeploymentNames.ContainerPort}/v2/models/live/uncertain", args[args.IndexOf("--uncertain") + 1]);
        Assert.DoesNotContain("--pool", args);

        var labelPod = await ReadyLabelPodAsync(ns);
        var items = System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync(new Uri($"http://{labelPod.Status.PodIP}:{LabelingQueueNames.ContainerPort}/api/items?state=pending"), Ct))!["items"]!.AsArray();
        Assert.Equal(5, items.Count);
        // Identified by their content, the requests that sent them kept as their source.
        Assert.All(items, i => Assert.Matches("^live:[0-9a-f]{32}$", (string)i!["id"]!));
        Assert.All(items, i => Assert.Matches(@" \(request live-[0-7]#0\)$", (string)i!["source"]!["file"]!));
        Assert.Equal(5, items.Select(i => (string)i!["id"]!).Distinct().Count());
    }

    [Fact]
    public async Task A_drift_policys_Label_action_has_the_queue_score_the_drifted_deployments_uncertain_rows_at_once()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("lqdrift", trainRows: 1000, testRows: 200);
        var digits = await TestDigits.LoadAsync(Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "mnist", "test.csv"), Ct);
        await using var op = await cluster.StartOperatorAsync(ns);
        await cluster.Resources<TrainingRun>().CreateAsync(BaseRun(ns), Ct);
        await cluster.Resources<ModelDeployment>().CreateAsync((ModelDeployment)Manifests.LoadAll($$$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: ModelDeployment
            metadata: {name: live, namespace: {{{ns}}}}
            spec:
              source: {trainingRun: {name: base}}
              replicas: 1
            """, "test").Single(), Ct);
        var queue = Queue(ns);
        (queue.Spec.Pool, queue.Spec.BatchSize, queue.Spec.Budget, queue.Spec.Retrain, queue.Spec.ExportUri) =
            (new PoolSpec { DeploymentRef = new LocalObjectReference { Name = "live" } }, 5, 20, null, null);
        await cluster.Resources<LabelingQueue>().CreateAsync(queue, Ct);
        var servePod = await Eventually.GetAsync(
            async () => (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"{ModelDeploymentNames.DeploymentLabel}=live,{ModelDeploymentNames.ArmLabel}={AnalysisArms.Stable}", cancellationToken: Ct)).Items
                .FirstOrDefault(p => p.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true),
            Long, () => "a ready serve pod of ModelDeployment live");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < 8; i++)
        {
            using var infer = await http.PostAsync(new Uri($"http://{servePod.Status.PodIP}:{ModelDeploymentNames.ContainerPort}/v2/models/live/infer"),
                new StringContent(ModelDeploymentEndToEndTests.Infer(digits.Rows[i].Pixels, $"live-{i}").ToJsonString(), System.Text.Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, infer.StatusCode);
        }

        // Batch 1 fills the queue to a whole batch (5 pending): no further round would start on its own.
        await WaitForAsync(ns, q => q.Status?.Batches == 1 && q.Status.Pending == 5, "batch 1 of the serve pod's rows to be queued");

        // A DriftPolicy whose detector always breaches (every pixel's PSI is at least 0) asks the queue for 3 samples.
        var policy = (DriftPolicy)Manifests.LoadAll($$$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: DriftPolicy
            metadata: {name: live-drift, namespace: {{{ns}}}}
            spec:
              deploymentRef: {name: live}
              interval: 1s
              minWindowSize: 1
              consecutiveBreaches: 1
              cooldown: 1h
              detectors:
              - {name: pixels, type: FeatureDrift, stattest: psi, threshold: 0}
              actions:
              - {type: Label, labelingQueueRef: {name: digits}, samples: 3}
            """, "test").Single();
        await cluster.Resources<DriftPolicy>().CreateAsync(policy, Ct);
        var asked = await Eventually.GetAsync(async () => (await cluster.Resources<DriftPolicy>().GetAsync(ns, "live-drift", Ct))?.Status?.LabelRequest, Long, () => "the policy's label request");
        Assert.Equal(("digits", 3, 1), (asked.LabelingQueue, asked.Samples, asked.Revision));

        // The queue scores the 3 uncertain rows not queued yet, once, and records the request as handled.
        var q = await WaitForAsync(ns, q => q.Status?.Batches == 2 && q.Status.Pending == 8 && q.Status.DriftRequestHandledAt == asked.RequestedAt, "the drift round to be queued");
        var job = await cluster.Client.BatchV1.ReadNamespacedJobAsync(LabelingQueueNames.ScoreJob("digits", 2, 1), ns, cancellationToken: Ct);
        var args = job.Spec.Template.Spec.Containers.Single().Args;
        Assert.Equal("3", args[args.IndexOf("--batch") + 1]);
        Assert.Contains($"http://{servePod.Status.PodIP}:{ModelDeploymentNames.ContainerPort}/v2/models/live/uncertain", args);
        await cluster.WaitForEventsAsync(ns, "digits", events => events.Any(e => e.Reason == "Scoring" && e.Message.Contains("for DriftPolicy live-drift", StringComparison.Ordinal)), "the Scoring Event for the DriftPolicy's round");

        // Inside the policy's cooldown no new request comes, and the handled one starts no second round: no Job for a
        // third batch appears while the queue is reconciled again (every 5 s, the labelling service's counts).
        await WaitForAsync(ns, q => Conditions.Find(q.Status?.Conditions, ConditionTypes.Ready)?.LastTransitionTime is not null && q.Status!.Scoring is null, "the queue to settle after the drift round");
        await Task.Delay(TimeSpan.FromSeconds(12), Ct); // two of the queue's 5 s polls: a second round would have been created by now
        q = (await cluster.Resources<LabelingQueue>().GetAsync(ns, "digits", Ct))!;
        Assert.Equal((2, (LabelingScoringStatus?)null), (q.Status!.Batches, q.Status.Scoring));
        Assert.DoesNotContain((await cluster.Client.BatchV1.ListNamespacedJobAsync(ns, cancellationToken: Ct)).Items, j => j.Metadata.Name == LabelingQueueNames.ScoreJob("digits", 3, 1));
    }

    [Fact]
    public async Task A_token_secret_deleted_by_hand_is_created_again_and_the_labelling_pod_restarts_onto_the_new_token()
    {
        cluster.Require();
        var (ns, op, q) = await StartServedQueueAsync("lqtok");
        await using var running = op;
        var oldHash = q.Status!.TokenHash!;
        var oldToken = await TokenAsync(ns);
        Assert.Equal(oldHash, Hash(oldToken));
        var oldPod = await ReadyLabelPodAsync(ns);
        Assert.Equal(oldHash, oldPod.Metadata.Annotations[LabelingQueueNames.TokenHashAnnotation]);

        // kubectl delete secret digits-token: the operator creates it again with a new token and rolls the pod onto it.
        await cluster.Client.CoreV1.DeleteNamespacedSecretAsync(LabelingQueueNames.TokenSecret("digits"), ns, cancellationToken: Ct);
        q = await WaitForAsync(ns, q => q.Status?.TokenHash is { } h && h != oldHash, "a new token hash in status");
        var newToken = await TokenAsync(ns);
        Assert.NotEqual(oldToken, newToken);
        Assert.Equal(q.Status!.TokenHash, Hash(newToken));
        var newPod = await Eventually.GetAsync(
            async () => await ReadyLabelPodAsync(ns) is { } p && p.Metadata.Name != oldPod.Metadata.Name ? p : null,
            Long, () => "a new labelling pod to be ready");
        Assert.Equal(q.Status.TokenHash, newPod.Metadata.Annotations[LabelingQueueNames.TokenHashAnnotation]);

        // The new pod takes the new token only; the store (on the claim) kept the queue.
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var api = $"http://{newPod.Status.PodIP}:{LabelingQueueNames.ContainerPort}";
        var item = (string)System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync(new Uri($"{api}/api/next?limit=1"), Ct))!["items"]![0]!["id"]!;
        async Task<HttpStatusCode> SubmitAsync(string token, string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri($"{api}/api/submit"))
            {
                Content = System.Net.Http.Json.JsonContent.Create(new { itemId = item, label = "3", idempotencyKey = key }),
            };
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request, Ct);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await SubmitAsync(oldToken, "old"));
        Assert.Equal(HttpStatusCode.OK, await SubmitAsync(newToken, "new"));
        await WaitForAsync(ns, q => q.Status?.Labelled == 1 && q.Status.Pending == 5, "the new token's label in status");
        await cluster.WaitForEventsAsync(ns, "digits", events => events.Any(e => e.Reason == "TokenSecretRecreated" && e.Type == "Warning"), "the TokenSecretRecreated Warning");
    }

    [Fact]
    public async Task A_committee_queue_is_invalid_until_its_members_succeed_then_scores_with_every_model()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("lqqbc", trainRows: 1000, testRows: 200);
        var data = Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "mnist");
        await File.WriteAllLinesAsync(Path.Combine(data, "pool.csv"), File.ReadLines(Path.Combine(data, "test.csv")).Take(41), Ct);
        await using var op = await cluster.StartOperatorAsync(ns);
        var runs = cluster.Resources<TrainingRun>();
        await runs.CreateAsync(BaseRun(ns), Ct);
        var queue = Queue(ns);
        (queue.Spec.BatchSize, queue.Spec.Budget, queue.Spec.Retrain, queue.Spec.ExportUri) = (5, 10, null, null);
        queue.Spec.Strategy = new StrategySpec { Type = SelectionStrategies.QueryByCommittee, Disagreement = CommitteeDisagreements.ConsensusEntropy, Committee = [new() { Name = "member" }] };
        await cluster.Resources<LabelingQueue>().CreateAsync(queue, Ct);

        // The member does not exist yet: Valid=False naming it (CommitteeNotReady: a person must act), nothing scored.
        var q = await WaitForAsync(ns, q => Conditions.Find(q.Status?.Conditions, ConditionTypes.Valid)?.Reason == "CommitteeNotReady", "the queue to wait for its committee");
        Assert.Contains("TrainingRun member does not exist", Conditions.Find(q.Status!.Conditions, ConditionTypes.Valid)!.Message, StringComparison.Ordinal);
        Assert.Equal(Conditions.False, Conditions.Find(q.Status.Conditions, ConditionTypes.Valid)!.Status);

        // A second model on the same data (another seed and width) joins spec.model's once it succeeds.
        var member = BaseRun(ns);
        member.Metadata.Name = "member";
        member.Spec.Seed = 7;
        member.Spec.Model.HiddenLayers = [24];
        member.Spec.Artifacts.Uri = "pvc://artifacts/runs/member";
        await runs.CreateAsync(member, Ct);
        q = await WaitForAsync(ns, q => q.Status?.Batches == 1 && q.Status.Pending == 5, "batch 1 scored by the committee");
        Assert.Equal((Conditions.True, "Valid"), (Conditions.Find(q.Status!.Conditions, ConditionTypes.Valid)!.Status, Conditions.Find(q.Status.Conditions, ConditionTypes.Valid)!.Reason));
        var args = (await cluster.Client.BatchV1.ReadNamespacedJobAsync(LabelingQueueNames.ScoreJob("digits", 1, 1), ns, cancellationToken: Ct)).Spec.Template.Spec.Containers.Single().Args;
        var models = args.Select((a, i) => (a, i)).Where(x => x.a == "--model").Select(x => args[x.i + 1]).ToList();
        var done = await runs.ListAsync(ns, null, Ct);
        Assert.Equal([done.Single(r => r.Metadata.Name == "base").Status!.Result!.ModelUri!, done.Single(r => r.Metadata.Name == "member").Status!.Result!.ModelUri!], models);
        Assert.Equal("consensus-entropy", args[args.IndexOf("--strategy") + 1]);
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "labelling", "digits", "batches", "batch-0001.csv.json"), Ct))!;
        Assert.Equal(("consensus-entropy", 2), ((string)manifest["strategy"]!, manifest["models"]!.AsArray().Count));
    }

    /// <summary>
    /// A namespace with a pool of 20 digits, an operator, the base run and a queue "digits" whose one batch is its whole
    /// budget (6): once labels start, the pending items cover what is left, so no second batch changes the counts.
    /// Returns when the batch is queued and served.
    /// </summary>
    private async Task<(string Ns, RunningOperator Operator, LabelingQueue Queue)> StartServedQueueAsync(string prefix)
    {
        var ns = await cluster.NewNamespaceAsync(prefix, trainRows: 1000, testRows: 200);
        var data = Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "datasets"), "mnist");
        await File.WriteAllLinesAsync(Path.Combine(data, "pool.csv"), File.ReadLines(Path.Combine(data, "test.csv")).Take(21), Ct);
        var op = await cluster.StartOperatorAsync(ns);
        await cluster.Resources<TrainingRun>().CreateAsync(BaseRun(ns), Ct);
        var queue = Queue(ns);
        (queue.Spec.BatchSize, queue.Spec.Budget, queue.Spec.Retrain, queue.Spec.ExportUri) = (6, 6, null, null);
        await cluster.Resources<LabelingQueue>().CreateAsync(queue, Ct);
        var served = await WaitForAsync(ns, q => q.Status?.Pending == 6 && q.Status.Batches == 1 && Conditions.Find(q.Status.Conditions, ConditionTypes.Ready)?.Status == Conditions.True, "batch 1 to be queued and served");
        return (ns, op, served);
    }

    private async Task<string> TokenAsync(string ns) => System.Text.Encoding.UTF8.GetString(
        (await cluster.Client.CoreV1.ReadNamespacedSecretAsync(LabelingQueueNames.TokenSecret("digits"), ns, cancellationToken: Ct)).Data[LabelingQueueNames.TokenKey]);

    private static string Hash(string token) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)))[..16];

    private const string UiMessage = "document.getElementById('message') && document.getElementById('message').textContent";

    /// <summary>The labelling Deployment's ready pod.</summary>
    private async Task<k8s.Models.V1Pod> ReadyLabelPodAsync(string ns) => await Eventually.GetAsync(
        async () => (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"{LabelingQueueNames.QueueLabel}=digits,{LabelingQueueNames.RoleLabel}={LabelingQueueNames.LabelRole}", cancellationToken: Ct)).Items
            .FirstOrDefault(p => p.Metadata.DeletionTimestamp is null && !string.IsNullOrEmpty(p.Status?.PodIP) && p.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true),
        Long,
        () => "a ready labelling pod");

    private static TrainingRun BaseRun(string ns) => (TrainingRun)Manifests.LoadAll($$"""
        apiVersion: syllabus.dev/v1alpha1
        kind: TrainingRun
        metadata: {name: base, namespace: {{ns}}}
        spec:
          model: {architecture: MLP, hiddenLayers: [32]}
          data:
            train: {uri: pvc://datasets/mnist/train.csv}
            test: {uri: pvc://datasets/mnist/test.csv}
            validationFraction: 0.1
            normalization: Scale
            scale: 255
            difficultyColumn: difficulty
          epochs: 2
          batchSize: 32
          artifacts: {uri: pvc://artifacts/runs/base}
        """, "test").Single();

    private static LabelingQueue Queue(string ns) => (LabelingQueue)Manifests.LoadAll($$$"""
        apiVersion: syllabus.dev/v1alpha1
        kind: LabelingQueue
        metadata: {name: digits, namespace: {{{ns}}}}
        spec:
          model: {trainingRun: {name: base}}
          pool:
            dataset: {uri: pvc://datasets/mnist/pool.csv}
          strategy: {type: Margin}
          batchSize: 5
          labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
          budget: 12
          storeUri: pvc://datasets/labelling/digits
          exportUri: pvc://datasets/labelled
          retrain:
            afterLabels: 8
            template:
              metadata:
                labels: {syllabus.dev/model: mnist-digits}
              spec:
                model: {architecture: MLP, hiddenLayers: [16]}
                data:
                  train: {uri: pvc://datasets/mnist/train.csv}
                  difficultyColumn: difficulty
                  test: {uri: pvc://datasets/mnist/test.csv}
                  classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
                  normalization: Scale
                  scale: 255
                epochs: 1
                batchSize: 8
                artifacts: {uri: pvc://artifacts/runs/retrained}
        """, "test").Single();

    private async Task<LabelingQueue> WaitForAsync(string ns, Func<LabelingQueue, bool> condition, string what)
    {
        var queues = cluster.Resources<LabelingQueue>();
        LabelingQueue? last = null;
        try
        {
            return await Eventually.GetAsync(
                async () => (last = await queues.GetAsync(ns, "digits", Ct)) is { } q && condition(q) ? q : null,
                Long,
                () => $"{what}; last status: {(last?.Status is null ? "none" : Manifests.ToJson(last.Status))}");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{e.Message}\n{await PodsAsync(ns)}", e);
        }
    }

    /// <summary>The queue's pods, their state and the tail of each container's log, for a failure's message.</summary>
    private async Task<string> PodsAsync(string ns)
    {
        var pods = await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: LabelingQueueNames.QueueLabel, cancellationToken: CancellationToken.None);
        return string.Join("\n", pods.Items.Select(p =>
        {
            var log = cluster.Kubelet.ReadContainerLog(ns, p.Metadata.Name, p.Spec.Containers[0].Name);
            return $"pod {p.Metadata.Name}: {p.Status?.Phase} ready={p.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Status}\n  {(log.Length > 2000 ? log[^2000..] : log)}";
        }));
    }
}
