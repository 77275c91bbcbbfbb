using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.Tests.Install;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.TrainingRuns;

/// <summary>
/// Least privilege, exercised: the operator runs as the ServiceAccount of config/default (its rendered roles, a token for
/// it) through every path of its controllers, and the calls its client made are compared with the rendered role both
/// ways: each call granted (and none refused), each granted rule used. A rule the code no longer needs, or a call the
/// role lacks, fails here by name.
/// </summary>
public sealed class OperatorRbacEndToEndTests(TrainingRunCluster cluster) : IClassFixture<TrainingRunCluster>
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(120);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_controller_path_calls_only_what_config_default_grants_and_uses_every_rule_it_grants()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("rbac", trainRows: 300, testRows: 100);
        var runs = cluster.Resources<TrainingRun>();

        // A Job already holding the name of attempt 1 of "taken" (not that run's, not labelled as the operator's): creating
        // it meets AlreadyExists, which is success without a read (the cache, filtered by managed-by, never shows it).
        await cluster.Client.BatchV1.CreateNamespacedJobAsync(new V1Job
        {
            Metadata = new V1ObjectMeta { Name = TrainingRunNames.Job("taken", 1) },
            Spec = new V1JobSpec
            {
                Template = new V1PodTemplateSpec
                {
                    Spec = new V1PodSpec
                    {
                        RestartPolicy = "Never",
                        NodeSelector = new Dictionary<string, string> { ["rbac-test/no-such-node"] = "true" },
                        Containers = [new V1Container { Name = "c", Image = "busybox", Command = ["true"] }],
                    },
                },
            },
        }, ns, cancellationToken: Ct);

        await using (await cluster.StartOperatorAsync(ns, leaderElection: true))
        {
            await cluster.Resources<Curriculum>().CreateAsync(new Curriculum
            {
                Metadata = new V1ObjectMeta { Name = "easy-first", NamespaceProperty = ns },
                Spec = new CurriculumSpec
                {
                    Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "difficulty" },
                    Stages = [new CurriculumStage { Name = "easy", DataFraction = 0.5, MinEpochs = 1, MaxEpochs = 1 }, new CurriculumStage { Name = "all", DataFraction = 1.0 }],
                },
            }, Ct);
            await runs.CreateAsync(Run(ns, "base", "  curriculumRef: {name: easy-first}\n  ttlSecondsAfterFinished: 1"), Ct);
            var child = Run(ns, "child", "  baseModel: {trainingRun: {name: base}}");
            child.Metadata.Labels = new Dictionary<string, string> { ["rbac-test/model"] = "child" };
            await runs.CreateAsync(child, Ct);
            await runs.CreateAsync(Run(ns, "taken"), Ct);
            await runs.CreateAsync(Run(ns, "invalid", gates: "  - {metric: accuracy, atLeast: 0.1, atMost: 0.9}"), Ct);

            // The invalid run's Warning repeats on each reconcile: the second one patches the Event's count.
            await WaitUntilAsync(async () =>
            {
                var events = await cluster.Client.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: "involvedObject.name=invalid", cancellationToken: Ct);
                if (events.Items.Any(e => e.Reason == TrainingRunReasons.InvalidSpec && e.Count >= 2))
                {
                    return true;
                }

                await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
                    new V1Patch(new { metadata = new { annotations = new Dictionary<string, string> { ["rbac-test/touched"] = DateTime.UtcNow.Ticks.ToString(System.Globalization.CultureInfo.InvariantCulture) } } }, V1Patch.PatchType.MergePatch),
                    SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, "invalid", cancellationToken: Ct);
                return false;
            }, "the InvalidSpec event of the invalid run to repeat");

            // The base run trains, succeeds and is deleted by its TTL (finalizer: its Job and ConfigMap go first).
            await WaitUntilAsync(async () => await runs.GetAsync(ns, "base", Ct) is null, "the base run to succeed and be removed by its TTL", TimeSpan.FromSeconds(180));
            await WaitUntilAsync(async () => (await cluster.Client.BatchV1.ListNamespacedJobAsync(ns, labelSelector: $"{TrainingRunNames.RunLabel}=base", cancellationToken: Ct)).Items.Count == 0, "the base run's Job to go");
            await WaitUntilAsync(
                async () => (await runs.GetAsync(ns, "taken", Ct))?.Status?.Attempts >= 1,
                "the taken run's Job create to meet AlreadyExists");

            // A hand edit of the child run's Job metadata is applied back (server-side apply of the Job's metadata: patch).
            V1Job? childJob = null;
            await WaitUntilAsync(
                async () => (childJob = (await cluster.Client.BatchV1.ListNamespacedJobAsync(ns, labelSelector: $"{TrainingRunNames.RunLabel}=child", cancellationToken: Ct)).Items.FirstOrDefault()) is not null,
                "the child run's Job");
            await cluster.Client.BatchV1.PatchNamespacedJobAsync(
                new V1Patch("{\"metadata\":{\"labels\":{\"" + TrainingRunNames.AppNameLabel + "\":\"edited\"}}}", V1Patch.PatchType.MergePatch), childJob!.Metadata.Name, ns, cancellationToken: Ct);
            await WaitUntilAsync(
                async () => (await cluster.Client.BatchV1.ReadNamespacedJobAsync(childJob.Metadata.Name, ns, cancellationToken: Ct)).Metadata.Labels[TrainingRunNames.AppNameLabel] == TrainingRunNames.AppName,
                "the hand edit of the child's Job to be applied back");

            // So is a hand edit of its ConfigMap (created with a POST, applied back with a patch when it drifts).
            var childConfig = TrainingRunNames.ConfigMap("child");
            await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(
                new V1Patch("{\"metadata\":{\"labels\":{\"" + TrainingRunNames.AppNameLabel + "\":\"edited\"}}}", V1Patch.PatchType.MergePatch), childConfig, ns, cancellationToken: Ct);
            await WaitUntilAsync(
                async () => (await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync(childConfig, ns, cancellationToken: Ct)).Metadata.Labels[TrainingRunNames.AppNameLabel] == TrainingRunNames.AppName,
                "the hand edit of the child's ConfigMap to be applied back");

            // A ModelDeployment serving the child run: its Deployment and Service are applied (created, then a hand edit
            // of each applied back), its status written, and a user's action annotation handled and removed.
            var serving = cluster.Resources<ModelDeployment>();
            await serving.CreateAsync(new ModelDeployment
            {
                Metadata = new V1ObjectMeta { Name = "serve-child", NamespaceProperty = ns },
                Spec = new ModelDeploymentSpec { Source = new ModelSourceSpec { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["rbac-test/model"] = "child" } } }, Replicas = 1 },
            }, Ct);
            await WaitUntilAsync(async () => (await serving.GetAsync(ns, "serve-child", Ct))?.Status?.StableRevision == 1, "the ModelDeployment to serve the child run", TimeSpan.FromSeconds(180));
            var stableName = Syllabus.Operator.ModelDeployments.ModelDeploymentNames.Deployment("serve-child", AnalysisArms.Stable);
            var edit = new V1Patch("{\"metadata\":{\"labels\":{\"" + TrainingRunNames.AppNameLabel + "\":\"edited\"}}}", V1Patch.PatchType.MergePatch);
            await cluster.Client.AppsV1.PatchNamespacedDeploymentAsync(edit, stableName, ns, cancellationToken: Ct);
            await cluster.Client.CoreV1.PatchNamespacedServiceAsync(edit, "serve-child", ns, cancellationToken: Ct);
            await WaitUntilAsync(
                async () => (await cluster.Client.AppsV1.ReadNamespacedDeploymentAsync(stableName, ns, cancellationToken: Ct)).Metadata.Labels[TrainingRunNames.AppNameLabel] != "edited"
                    && (await cluster.Client.CoreV1.ReadNamespacedServiceAsync("serve-child", ns, cancellationToken: Ct)).Metadata.Labels[TrainingRunNames.AppNameLabel] != "edited",
                "the hand edits of the serving Deployment and Service to be applied back");
            await serving.PatchAsync(ns, "serve-child", new V1Patch("{\"metadata\":{\"annotations\":{\"syllabus.dev/action\":\"promote\"}}}", V1Patch.PatchType.MergePatch), Ct);
            await WaitUntilAsync(
                async () => (await serving.GetAsync(ns, "serve-child", Ct))?.Metadata.Annotations?.ContainsKey(ModelDeploymentActions.Annotation) != true,
                "the action annotation to be handled and removed");

            // A DriftPolicy on it: one prediction fills the window, every pixel counts as drifted (PSI at a threshold of 0),
            // so the first evaluation acts: its status written, a retraining run created (blockOwnerDeletion on the
            // policy); that run trains on a file that does not exist, fails, and is never a candidate.
            await using (var endpoints = await ServiceEndpoints.StartAsync(cluster.Client, ns, "serve-child", Syllabus.Operator.ModelDeployments.ModelDeploymentNames.PortName, Ct))
            {
                var endpoint = (await endpoints.WaitUntilAsync(e => e.Count == 1, Long, Ct))[0];
                using var http = new HttpClient();
                var infer = new System.Text.Json.Nodes.JsonObject
                {
                    ["inputs"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
                    {
                        ["name"] = "features", ["shape"] = new System.Text.Json.Nodes.JsonArray(1, 784), ["datatype"] = "FP32",
                        ["data"] = new System.Text.Json.Nodes.JsonArray([.. Enumerable.Range(0, 784).Select(i => (System.Text.Json.Nodes.JsonNode)(i % 7 == 0 ? 200f : 0f))]),
                    }),
                };
                using var answer = await http.PostAsync(new Uri($"http://{endpoint}/v2/models/serve-child/infer"), new StringContent(infer.ToJsonString(), System.Text.Encoding.UTF8, "application/json"), Ct);
                Assert.Equal(System.Net.HttpStatusCode.OK, answer.StatusCode);
            }

            var drift = (DriftPolicy)Syllabus.Api.Manifests.LoadAll("""
                apiVersion: syllabus.dev/v1alpha1
                kind: DriftPolicy
                metadata: {name: rbac-drift}
                spec:
                  deploymentRef: {name: serve-child}
                  interval: 1s
                  minWindowSize: 1
                  consecutiveBreaches: 1
                  detectors:
                  - {name: pixels, type: FeatureDrift, stattest: psi, threshold: 0}
                  actions:
                  - type: Retrain
                    retrain:
                      replayFraction: 0
                      template:
                        spec:
                          model: {architecture: MLP, hiddenLayers: [8]}
                          data:
                            train: {uri: pvc://datasets/no-such-file.csv}
                            normalization: Scale
                            scale: 255
                          epochs: 1
                          backoffLimit: 0
                          artifacts: {uri: pvc://artifacts/runs/rbac-drift}
                """, "test").Single();
            drift.Metadata.NamespaceProperty = ns;
            var driftPolicies = cluster.Resources<DriftPolicy>();
            await driftPolicies.CreateAsync(drift, Ct);
            await WaitUntilAsync(async () => (await driftPolicies.GetAsync(ns, "rbac-drift", Ct))?.Status?.RetrainCount == 1, "the drift policy to create its retraining run", TimeSpan.FromSeconds(120));
            await driftPolicies.DeleteAsync(ns, "rbac-drift", Ct);

            // A LabelingQueue scoring with the child run: its token Secret created (never read), the first batch scored, the
            // labelling service served; one label (with the Secret's token) reaches afterLabels: an export Job and a
            // retrained TrainingRun created, the queue's status written throughout.
            var datasets = cluster.Kubelet.ClaimDirectory(ns, "datasets");
            await File.WriteAllLinesAsync(Path.Combine(datasets, "mnist", "pool.csv"), File.ReadLines(Path.Combine(datasets, "mnist", "test.csv")).Take(21), Ct);
            var queues = cluster.Resources<LabelingQueue>();
            await queues.CreateAsync(Queue(ns), Ct);
            await WaitUntilAsync(async () => (await queues.GetAsync(ns, "rbac-queue", Ct))?.Status?.Pending == 2, "the queue's first batch to be served", TimeSpan.FromSeconds(180));
            await using (var labeller = await Syllabus.Operator.Tests.LabelingQueues.LabelingClient.StartAsync(cluster.Client, ns, "rbac-queue", Ct))
            {
                Assert.Equal(1, await labeller.LabelAsync(1, Ct));
            }

            await WaitUntilAsync(async () => (await queues.GetAsync(ns, "rbac-queue", Ct))?.Status?.RetrainRounds == 1, "the queue's retraining round", TimeSpan.FromSeconds(180));
            await queues.DeleteAsync(ns, "rbac-queue", Ct);

            foreach (var name in new[] { "child", "taken", "invalid", Syllabus.Operator.LabelingQueues.LabelingQueueNames.RetrainRun("rbac-queue", 1), Syllabus.Operator.DriftPolicies.DriftPolicyNames.RetrainRun("rbac-drift", 1) })
            {
                await runs.DeleteAsync(ns, name, Ct); // the policy's run may already be gone with its owner
            }

            await WaitUntilAsync(async () => (await runs.ListAsync(ns, ct: Ct)).Count == 0, "the deleted runs to lose their finalizers");
            await WaitUntilAsync(async () => (await cluster.Client.CoreV1.ListNamespacedConfigMapAsync(ns, cancellationToken: Ct)).Items.All(c => !c.Metadata.Name.EndsWith("-config", StringComparison.Ordinal)), "the runs' ConfigMaps to go");
        }

        var problems = RbacCoverage.Problems(cluster.ApiCalls, cluster.Identity);
        Assert.True(problems.Count == 0, $"The operator made calls config/default does not allow:\n  {string.Join("\n  ", problems)}");
        var unused = RbacCoverage.Unused(cluster.ApiCalls, cluster.Identity);
        Assert.True(
            unused.Count == 0,
            $"config/default grants rules no controller path used; remove them (and their [RbacRule]):\n  {string.Join("\n  ", unused)}\n"
            + $"Calls made:\n  {string.Join("\n  ", cluster.ApiCalls.Calls.Keys.Select(c => c.ToString()).Order(StringComparer.Ordinal))}");
    }

    private static LabelingQueue Queue(string ns)
    {
        var queue = (LabelingQueue)Syllabus.Api.Manifests.LoadAll($$$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: LabelingQueue
            metadata: {name: rbac-queue}
            spec:
              model: {trainingRun: {name: child}}
              pool:
                dataset: {uri: pvc://datasets/mnist/pool.csv}
              batchSize: 2
              labels: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
              budget: 2
              storeUri: pvc://datasets/labelling/rbac-queue
              exportUri: pvc://datasets/labelled
              retrain:
                afterLabels: 1
                template:
                  spec:
                    model: {architecture: MLP, hiddenLayers: [8]}
                    data:
                      train: {uri: pvc://datasets/replaced-by-the-export.csv}
                      test: {uri: pvc://datasets/mnist/test.csv}
                      classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
                      normalization: Scale
                      scale: 255
                    epochs: 1
                    artifacts: {uri: pvc://artifacts/runs/rbac-retrained}
            """, "test").Single();
        queue.Metadata.NamespaceProperty = ns;
        return queue;
    }

    private static TrainingRun Run(string ns, string name, string extra = "", string gates = "  - {metric: accuracy, atLeast: 0.1}")
    {
        var run = (TrainingRun)Syllabus.Api.Manifests.LoadAll($$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata: {name: {{name}}}
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
              artifacts: {uri: pvc://artifacts/runs/{{name}}}
              resources: {gpus: 1}
              gates:
            {{gates}}
            {{extra}}
            """, "test").Single();
        run.Metadata.NamespaceProperty = ns;
        return run;
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        Eventually.TrueAsync(condition, what, timeout ?? Long);
}
