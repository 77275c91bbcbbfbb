using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.Tests.TrainingRuns;

/// <summary>
/// TrainingRuns against the real control plane: the scheduler binds trainer pods to the test kubelet's GPU node and the
/// kubelet runs the real trainer on a few thousand MNIST digits.
/// </summary>
public sealed class TrainingRunEndToEndTests(TrainingRunCluster cluster) : IClassFixture<TrainingRunCluster>
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(120);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static TrainingRun Parse(string yaml) => (TrainingRun)Manifests.LoadAll(yaml, "test").Single();

    private static string DigitsRun(string name, int epochs = 6, string extra = "", int gpus = 1, double gate = 0.5) => $$"""
        apiVersion: syllabus.dev/v1alpha1
        kind: TrainingRun
        metadata: {name: {{name}}}
        spec:
          model: {architecture: MLP, hiddenLayers: [64]}
          data:
            train: {uri: pvc://datasets/mnist/train.csv}
            test: {uri: pvc://datasets/mnist/test.csv}
            validationFraction: 0.1
            normalization: Scale
            scale: 255
            difficultyColumn: difficulty
          epochs: {{epochs}}
          batchSize: 32
          artifacts: {uri: pvc://artifacts/runs/{{name}}}
          resources: {gpus: {{gpus}}}
          gates:
          - {metric: accuracy, atLeast: {{gate}}}
        {{extra}}
        """;

    private async Task<TrainingRun> WaitForRunAsync(string ns, string name, Func<TrainingRun, bool> condition, string what, TimeSpan? timeout = null)
    {
        var runs = cluster.Resources<TrainingRun>();
        var deadline = DateTime.UtcNow + (timeout ?? Long);
        TrainingRun? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await runs.GetAsync(ns, name, Ct);
            if (last is not null && condition(last))
            {
                return last;
            }

            await Task.Delay(200, Ct);
        }

        Assert.Fail($"timed out waiting for {what}; TrainingRun {ns}/{name} is:\n{(last is null ? "gone" : KubernetesYaml.Serialize(last.Status))}");
        return null!;
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        Eventually.TrueAsync(condition, what, timeout ?? Long, TimeSpan.FromMilliseconds(200));

    private async Task<IList<V1Job>> JobsAsync(string ns) => (await cluster.Client.BatchV1.ListNamespacedJobAsync(ns, cancellationToken: Ct)).Items;

    private static V1Condition? Condition(TrainingRun run, string type) => Conditions.Find(run.Status?.Conditions, type);

    [Fact]
    public async Task A_run_with_a_curriculum_trains_on_a_GPU_node_reports_progress_succeeds_with_its_gates_and_is_removed_by_its_TTL()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("happy");
        await using var op = await cluster.StartOperatorAsync(ns);
        var curricula = cluster.Resources<Curriculum>();
        await curricula.CreateAsync(new Curriculum
        {
            Metadata = new V1ObjectMeta { Name = "easy-first", NamespaceProperty = ns },
            Spec = new CurriculumSpec
            {
                Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "difficulty" },
                Stages = [new CurriculumStage { Name = "easy", DataFraction = 0.5, MinEpochs = 1, MaxEpochs = 3 }, new CurriculumStage { Name = "all", DataFraction = 1.0 }],
            },
        }, Ct);
        var run = Parse(DigitsRun("digits", epochs: 14, extra: "  curriculumRef: {name: easy-first}\n  ttlSecondsAfterFinished: 8"));
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);

        // The Job appears with the expected spec, and the ConfigMap with the curriculum inlined.
        V1Job? job = null;
        await WaitUntilAsync(async () => (job = (await JobsAsync(ns)).FirstOrDefault()) is not null, "the trainer Job");
        Assert.Equal("digits-1", job!.Metadata.Name);
        var container = job.Spec.Template.Spec.Containers.Single();
        Assert.Equal(TrainingRunCluster.TrainerImage, container.Image);
        Assert.Equal("1", container.Resources.Limits["nvidia.com/gpu"].ToString());
        Assert.Equal(0, job.Spec.BackoffLimit);
        Assert.Equal("Never", job.Spec.Template.Spec.RestartPolicy);
        Assert.Equal("digits", job.Metadata.Labels[TrainingRunNames.RunLabel]);
        Assert.Equal("TrainingRun", job.Metadata.OwnerReferences.Single().Kind);
        var configMap = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("digits-config", ns, cancellationToken: Ct);
        var resolved = (TrainingRun)Manifests.LoadAll(configMap.Data[ResolvedTrainerConfig.FileName], "cm").Single();
        Assert.Null(resolved.Spec.CurriculumRef);
        Assert.Equal(["easy", "all"], resolved.Spec.Curriculum!.Stages!.Select(s => s.Name));

        // A change to the Curriculum after the start does not alter the run.
        await curricula.PatchAsync(ns, "easy-first", new V1Patch("""{"spec":{"stages":[{"name":"easy","dataFraction":0.2,"minEpochs":1,"maxEpochs":3},{"name":"all","dataFraction":1.0}]}}""", V1Patch.PatchType.MergePatch), Ct);

        // The scheduler binds the pod to the GPU node.
        await WaitUntilAsync(async () => (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items.Any(p => p.Spec.NodeName == TrainingRunCluster.NodeName), "the pod bound to the GPU node");

        // status.progress advances from the scraped metrics.
        var epochs = new SortedSet<int>();
        var stages = new HashSet<string>();
        var final = await WaitForRunAsync(ns, "digits", r =>
        {
            if (r.Status?.Progress is { Epoch: { } epoch } progress)
            {
                epochs.Add(epoch);
                if (progress.Stage is { } stage)
                {
                    stages.Add(stage);
                }
            }

            return r.Status?.Phase is TrainingRunPhases.Succeeded or TrainingRunPhases.Failed;
        }, "the run to finish");
        Assert.True(final.Status!.Phase == TrainingRunPhases.Succeeded, KubernetesYaml.Serialize(final.Status));
        Assert.True(epochs.Count >= 2, $"progress should advance over several scrapes; saw epochs [{string.Join(", ", epochs)}]");
        Assert.NotEmpty(stages);

        // Metrics and gate outcomes from the termination message.
        var result = final.Status.Result!;
        Assert.Equal("pvc://artifacts/runs/digits/model", result.ModelUri);
        Assert.InRange(result.Metrics!["accuracy"], 0.5, 1.0);
        var gate = Assert.Single(result.Gates!);
        Assert.True(gate.Passed);
        Assert.Equal(result.Metrics["accuracy"], gate.Value);
        Assert.Equal(Conditions.True, Condition(final, ConditionTypes.GatesPassed)?.Status);
        Assert.Equal(Conditions.True, Condition(final, ConditionTypes.Completed)?.Status);
        Assert.Equal(Conditions.True, Condition(final, ConditionTypes.Scheduled)?.Status);
        Assert.Equal(1, final.Status.Attempts);
        Assert.NotNull(final.Status.CompletionTime);
        Assert.Equal(final.Metadata.Generation, final.Status.ObservedGeneration);
        Assert.True(File.Exists(Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "artifacts"), "runs", "digits", "model", "model.safetensors")));

        // kubectl get tr: the printer columns evaluated by the API server on the real status.
        var (columns, rows) = await cluster.GetTableAsync(ns, TrainingRun.Plural);
        Assert.Equal(["Name", "Phase", "Stage", "Epoch", "Accuracy", "Gates", "Model", "Age"], columns);
        var row = Assert.Single(rows);
        Assert.Equal("digits", row[0]);
        Assert.Equal("Succeeded", row[1]);
        Assert.Equal(final.Status.Progress!.Stage, row[2]);
        Assert.Equal(final.Status.Progress.Epoch.ToString(), row[3]);
        Assert.Equal(final.Status.Progress.Accuracy!.Value, double.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture), 6);
        Assert.Equal("True", row[5]);
        Assert.Equal("pvc://artifacts/runs/digits/model", row[6]);

        // The Curriculum lists its user; the run's ConfigMap still holds the curriculum it started with.
        await WaitUntilAsync(async () => (await curricula.GetAsync(ns, "easy-first", Ct))?.Status?.UsedBy?.Contains("digits") == true, "the curriculum's usedBy");
        var kept = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("digits-config", ns, cancellationToken: Ct);
        Assert.Equal(configMap.Data[ResolvedTrainerConfig.FileName], kept.Data[ResolvedTrainerConfig.FileName]);

        // Events for the transitions.
        // (Events follow the status write of their reconcile, so wait for them rather than read once.)
        await WaitUntilAsync(
            async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: "involvedObject.name=digits", cancellationToken: Ct)).Items.Select(e => e.Reason).ToHashSet() is var reasons
                && reasons.Contains("AttemptCreated") && reasons.Contains("Completed"),
            "the AttemptCreated and Completed events");

        // The TTL removes the run, and the finalizer its Job and ConfigMap.
        await WaitUntilAsync(async () => await cluster.Resources<TrainingRun>().GetAsync(ns, "digits", Ct) is null, "the TTL to delete the run", TimeSpan.FromSeconds(60));
        await WaitUntilAsync(async () => (await JobsAsync(ns)).Count == 0 && await cluster.Resources<V1ConfigMap>().GetAsync(ns, "digits-config", Ct) is null, "the Job and ConfigMap to go");
    }

    [Fact]
    public async Task A_run_asking_for_more_GPUs_than_any_node_has_is_Unschedulable_and_deleting_it_removes_its_Job_and_ConfigMap()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("nogpu", trainRows: 100, testRows: 50);
        await using var op = await cluster.StartOperatorAsync(ns);
        var run = Parse(DigitsRun("greedy", gpus: TrainingRunCluster.NodeGpus + 2));
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);

        // (First the claims may still be binding; then the scheduler finds no node with enough GPUs.)
        var pending = await WaitForRunAsync(ns, "greedy", r => Condition(r, ConditionTypes.Scheduled) is { Reason: "Unschedulable" } c && c.Message.Contains("nvidia.com/gpu", StringComparison.Ordinal), "Scheduled=False Unschedulable for lack of GPUs");
        Assert.Equal(TrainingRunPhases.Pending, pending.Status!.Phase);
        Assert.Equal(Conditions.False, Condition(pending, ConditionTypes.Scheduled)!.Status);
        Assert.Contains("nvidia.com/gpu", Condition(pending, ConditionTypes.Scheduled)!.Message, StringComparison.Ordinal);
        Assert.Contains(TrainingRunNames.Finalizer, pending.Metadata.Finalizers);

        await cluster.Resources<TrainingRun>().DeleteAsync(ns, "greedy", Ct);
        await WaitUntilAsync(async () => await cluster.Resources<TrainingRun>().GetAsync(ns, "greedy", Ct) is null, "the run to be deleted");
        Assert.Empty(await JobsAsync(ns));
        Assert.Null(await cluster.Resources<V1ConfigMap>().GetAsync(ns, "greedy-config", Ct));
    }

    [Fact]
    public async Task A_failing_trainer_is_retried_with_backoff_up_to_backoffLimit_then_Fails_with_a_reason()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("failing", trainRows: 10, testRows: 10);
        await using var op = await cluster.StartOperatorAsync(ns);
        // A Custom trainer image that always fails: the operator's retry handling is what is under test.
        var run = Parse("""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata: {name: flaky}
            spec:
              model:
                architecture: Custom
                image: busybox
                command: ["/bin/sh", "-c", "echo 'CUDA error: out of cheese' >&2; exit 3"]
              data: {train: {uri: pvc://datasets/mnist/train.csv}}
              artifacts: {uri: pvc://artifacts/runs/flaky}
              backoffLimit: 2
            """);
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);

        var failed = await WaitForRunAsync(ns, "flaky", r => r.Status?.Phase == TrainingRunPhases.Failed, "the run to fail");
        var condition = Condition(failed, ConditionTypes.Failed)!;
        Assert.Equal(TrainingRunReasons.TrainerError, condition.Reason);
        Assert.Contains("exit code 3", condition.Message, StringComparison.Ordinal);
        Assert.Contains("out of cheese", condition.Message, StringComparison.Ordinal);
        Assert.Contains("exceed backoffLimit 2", condition.Message, StringComparison.Ordinal);
        Assert.Equal(3, failed.Status!.Attempts);

        var jobs = (await JobsAsync(ns)).OrderBy(j => j.Metadata.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(["flaky-1", "flaky-2", "flaky-3"], jobs.Select(j => j.Metadata.Name));
        // Exponential backoff between attempts: 1 s after the first failure, 2 s after the second.
        var pods = (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items;
        DateTime Finished(int attempt) => pods.Single(p => p.Metadata.Labels[TrainingRunNames.AttemptLabel] == attempt.ToString()).Status.ContainerStatuses[0].State.Terminated.FinishedAt!.Value;
        Assert.True(jobs[1].Metadata.CreationTimestamp >= Finished(1).AddSeconds(1) - TimeSpan.FromMilliseconds(1000), "attempt 2 waited for the backoff");
        Assert.True(jobs[2].Metadata.CreationTimestamp >= Finished(2).AddSeconds(2) - TimeSpan.FromMilliseconds(1000), "attempt 3 waited for the doubled backoff");
        static int Created(IList<Corev1Event> events) => events.Where(e => e.Reason == "AttemptCreated").Sum(e => e.Count ?? 1);
        var events = await cluster.WaitForEventsAsync(ns, "flaky", events => Created(events) >= 3, "three AttemptCreated Events");
        Assert.Equal(3, Created(events));
    }

    [Fact]
    public async Task A_suspended_run_stops_and_resumes_from_its_checkpoint()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("suspend", trainRows: 4000);
        await using var op = await cluster.StartOperatorAsync(ns);
        var run = Parse(DigitsRun("pausable", epochs: 30));
        run.Metadata.NamespaceProperty = ns;
        var runs = cluster.Resources<TrainingRun>();
        await runs.CreateAsync(run, Ct);

        var checkpoints = Path.Combine(cluster.Kubelet.ClaimDirectory(ns, "artifacts"), "runs", "pausable", "checkpoints");
        await WaitUntilAsync(() => Task.FromResult(Directory.Exists(checkpoints) && Directory.GetDirectories(checkpoints).Length >= 2), "two checkpoints");
        await runs.PatchAsync(ns, "pausable", new V1Patch("""{"spec":{"suspend":true}}""", V1Patch.PatchType.MergePatch), Ct);

        var suspended = await WaitForRunAsync(ns, "pausable", r => r.Status?.Phase == TrainingRunPhases.Suspended, "Suspended");
        Assert.Equal(Conditions.True, Condition(suspended, ConditionTypes.Suspended)?.Status);
        await WaitUntilAsync(async () => (await JobsAsync(ns)).Count == 0, "the attempt's Job to be deleted");
        await WaitUntilAsync(async () => (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items.Count == 0, "the trainer pod to stop");
        Assert.True(Directory.GetDirectories(checkpoints).Length >= 1, "checkpoints are kept while suspended");

        await runs.PatchAsync(ns, "pausable", new V1Patch("""{"spec":{"suspend":false}}""", V1Patch.PatchType.MergePatch), Ct);
        var done = await WaitForRunAsync(ns, "pausable", r => r.Status?.Phase is TrainingRunPhases.Succeeded or TrainingRunPhases.Failed, "the resumed run to finish");
        Assert.True(done.Status!.Phase == TrainingRunPhases.Succeeded, KubernetesYaml.Serialize(done.Status));
        Assert.Equal(2, done.Status.Attempts);
        Assert.Equal(Conditions.False, Condition(done, ConditionTypes.Suspended)?.Status);
        var pod = (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"{TrainingRunNames.AttemptLabel}=2", cancellationToken: Ct)).Items.Single();
        Assert.Contains("resuming from", cluster.Kubelet.ReadContainerLog(ns, pod.Metadata.Name, TrainingRunNames.ContainerName), StringComparison.Ordinal);
        await cluster.WaitForEventsAsync(ns, "pausable", events => events.Any(e => e.Reason == "Suspended") && events.Any(e => e.Reason == "Resumed"), "the Suspended and Resumed Events");
    }

    [Fact]
    public async Task An_operator_restarted_mid_run_picks_the_run_up_without_a_second_Job()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("restart", trainRows: 4000);
        var op = await cluster.StartOperatorAsync(ns);
        var run = Parse(DigitsRun("steady", epochs: 12));
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);
        await WaitForRunAsync(ns, "steady", r => r.Status?.Phase == TrainingRunPhases.Running, "Running");

        await op.DisposeAsync();
        await using var second = await cluster.StartOperatorAsync(ns);

        var done = await WaitForRunAsync(ns, "steady", r => r.Status?.Phase is TrainingRunPhases.Succeeded or TrainingRunPhases.Failed, "the run to finish");
        Assert.True(done.Status!.Phase == TrainingRunPhases.Succeeded, KubernetesYaml.Serialize(done.Status));
        Assert.Equal(1, done.Status.Attempts);
        Assert.Equal(["steady-1"], (await JobsAsync(ns)).Select(j => j.Metadata.Name));
        Assert.Single((await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items);
    }

    [Fact]
    public async Task A_run_on_a_base_run_waits_for_it_and_fails_clearly_when_the_base_fails_its_gates()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("base", trainRows: 600, testRows: 100);
        await using var op = await cluster.StartOperatorAsync(ns);
        var runs = cluster.Resources<TrainingRun>();
        var child = Parse(DigitsRun("finetune", epochs: 2, extra: "  baseModel: {trainingRun: {name: pretrain}}"));
        child.Metadata.NamespaceProperty = ns;
        await runs.CreateAsync(child, Ct);

        var waiting = await WaitForRunAsync(ns, "finetune", r => Condition(r, ConditionTypes.Scheduled)?.Reason == "BaseModelNotFound", "waiting for a base run that does not exist");
        Assert.Equal(TrainingRunPhases.Pending, waiting.Status!.Phase);

        // A base run whose gate cannot pass.
        var pretrain = Parse(DigitsRun("pretrain", epochs: 2, gate: 0.9999));
        pretrain.Metadata.NamespaceProperty = ns;
        await runs.CreateAsync(pretrain, Ct);
        await WaitForRunAsync(ns, "finetune", r => Condition(r, ConditionTypes.Scheduled)?.Reason == "WaitingForBaseModel", "waiting for the base run to succeed");
        Assert.DoesNotContain(await JobsAsync(ns), j => j.Metadata.Name.StartsWith("finetune", StringComparison.Ordinal));

        var failedBase = await WaitForRunAsync(ns, "pretrain", r => r.Status?.Phase is TrainingRunPhases.Failed or TrainingRunPhases.Succeeded, "the base run to finish");
        Assert.Equal(TrainingRunReasons.GatesFailed, Condition(failedBase, ConditionTypes.Failed)?.Reason);
        var failed = await WaitForRunAsync(ns, "finetune", r => r.Status?.Phase == TrainingRunPhases.Failed, "the dependent run to fail");
        Assert.Equal("BaseModelGatesFailed", Condition(failed, ConditionTypes.Failed)?.Reason);
        Assert.Contains("pretrain", Condition(failed, ConditionTypes.Failed)!.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(await JobsAsync(ns), j => j.Metadata.Name.StartsWith("finetune", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_run_starts_when_its_Curriculum_appears_reads_nothing_in_steady_state_and_hand_edited_children_converge()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("steady", trainRows: 600, testRows: 100);
        var requests = new RequestLog();
        await using var op = await cluster.StartOperatorAsync(ns, requests);
        var run = Parse(DigitsRun("watched", epochs: 2, extra: "  curriculumRef: {name: later}"));
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);
        await WaitForRunAsync(ns, "watched", r => Condition(r, ConditionTypes.Scheduled)?.Reason == "CurriculumNotFound", "waiting for the Curriculum");

        // Nothing polls: the Curriculum's creation itself wakes the run.
        await cluster.Resources<Curriculum>().CreateAsync(new Curriculum
        {
            Metadata = new V1ObjectMeta { Name = "later", NamespaceProperty = ns },
            Spec = new CurriculumSpec { Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "difficulty" }, Pacing = new PacingSpec { Function = PacingFunctions.Linear, StartFraction = 0.5 } },
        }, Ct);
        var done = await WaitForRunAsync(ns, "watched", r => r.Status?.Phase is TrainingRunPhases.Succeeded or TrainingRunPhases.Failed, "the run to finish");
        Assert.True(done.Status!.Phase == TrainingRunPhases.Succeeded, KubernetesYaml.Serialize(done.Status));

        // Children carry the managed-by label (pods through the template), which the operator's informers filter on.
        var job = (await JobsAsync(ns)).Single();
        Assert.Equal(TrainingRunNames.ManagedBy, job.Metadata.Labels[TrainingRunNames.ManagedByLabel]);
        Assert.All((await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items, p => Assert.Equal(TrainingRunNames.ManagedBy, p.Metadata.Labels[TrainingRunNames.ManagedByLabel]));

        // Steady state: edit a label and an annotation of both children by hand. Each edit enqueues the run (an owned
        // child changed); the reconcile reads everything from the cache and applies only what drifted.
        requests.Clear();
        var edit = new V1Patch("""{"metadata":{"labels":{"app.kubernetes.io/name":"edited"},"annotations":{"syllabus.dev/config-hash":"edited"}}}""", V1Patch.PatchType.MergePatch);
        await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(edit, "watched-config", ns, cancellationToken: Ct);
        await cluster.Client.BatchV1.PatchNamespacedJobAsync(edit, job.Metadata.Name, ns, cancellationToken: Ct);
        await WaitUntilAsync(async () =>
        {
            var cm = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("watched-config", ns, cancellationToken: Ct);
            var j = await cluster.Client.BatchV1.ReadNamespacedJobAsync(job.Metadata.Name, ns, cancellationToken: Ct);
            return cm.Metadata.Labels[TrainingRunNames.AppNameLabel] == TrainingRunNames.AppName && cm.Metadata.Annotations[TrainingRunNames.ConfigHashAnnotation] != "edited"
                && j.Metadata.Labels[TrainingRunNames.AppNameLabel] == TrainingRunNames.AppName && j.Metadata.Annotations[TrainingRunNames.ConfigHashAnnotation] != "edited";
        }, "the hand edits to be applied back", TimeSpan.FromSeconds(30));

        var seen = requests.Requests;
        Assert.DoesNotContain(seen, r => r.StartsWith("GET ", StringComparison.Ordinal));
        Assert.Contains($"PATCH /api/v1/namespaces/{ns}/configmaps/watched-config", seen);
        Assert.Contains($"PATCH /apis/batch/v1/namespaces/{ns}/jobs/{job.Metadata.Name}", seen);
        Assert.All(seen, r => Assert.StartsWith("PATCH ", r, StringComparison.Ordinal));

        // The operator's apply owns the Job's metadata only; the spec stays as created (the template is immutable).
        var applied = await cluster.Client.BatchV1.ReadNamespacedJobAsync(job.Metadata.Name, ns, cancellationToken: Ct);
        var apply = Assert.Single(applied.Metadata.ManagedFields, m => m.Manager == "syllabus-operator" && m.Operation == "Apply");
        var owned = System.Text.Json.JsonSerializer.SerializeToElement(apply.FieldsV1).EnumerateObject().Select(p => p.Name);
        Assert.Equal(["f:metadata"], owned);

        // A second steady-state pass (the run itself touched) changes nothing and sends nothing.
        requests.Clear();
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"metadata":{"annotations":{"test/poke":"1"}}}""", V1Patch.PatchType.MergePatch), SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, "watched", cancellationToken: Ct);
        await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(edit, "watched-config", ns, cancellationToken: Ct);
        await WaitUntilAsync(
            async () => (await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("watched-config", ns, cancellationToken: Ct)).Metadata.Labels[TrainingRunNames.AppNameLabel] == TrainingRunNames.AppName,
            "the second edit to be applied back", TimeSpan.FromSeconds(30));
        Assert.Equal([$"PATCH /api/v1/namespaces/{ns}/configmaps/watched-config"], requests.Requests.Distinct());
    }

    [Fact]
    public async Task An_invalid_run_reports_Valid_False_with_the_CEL_rule_the_old_server_did_not_enforce()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("invalid", trainRows: 10, testRows: 10);
        await using var op = await cluster.StartOperatorAsync(ns);
        var run = Parse(DigitsRun("both-bounds"));
        run.Spec.Gates![0].AtMost = 0.99;
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct); // a 1.20 server accepts it: it has no CEL

        var invalid = await WaitForRunAsync(ns, "both-bounds", r => Condition(r, ConditionTypes.Valid)?.Status == Conditions.False, "Valid=False");
        Assert.Equal("spec.gates[0]: a gate needs exactly one of atLeast or atMost", Condition(invalid, ConditionTypes.Valid)!.Message);
        Assert.Equal(TrainingRunPhases.Failed, invalid.Status!.Phase);
        Assert.Empty(await JobsAsync(ns));
    }

    [Fact]
    public async Task An_image_that_cannot_be_pulled_is_reported_as_ImagePullBackOff()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("nopull", trainRows: 10, testRows: 10);
        await using var op = await cluster.StartOperatorAsync(ns);
        var run = Parse(DigitsRun("typo", extra: "  image: registry.example/no-such-trainer:1"));
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);

        var stuck = await WaitForRunAsync(ns, "typo", r => Condition(r, ConditionTypes.Running)?.Reason == TrainingRunReasons.ImagePullBackOff, "Running=False ImagePullBackOff");
        Assert.Equal(TrainingRunPhases.Pending, stuck.Status!.Phase);
        Assert.Equal(Conditions.True, Condition(stuck, ConditionTypes.Scheduled)?.Status);
        // Events are recorded after the status write of the same reconcile, so the Warning may land just after it.
        await WaitUntilAsync(
            async () => (await cluster.Client.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: "involvedObject.name=typo", cancellationToken: Ct)).Items
                .Any(e => e.Reason == TrainingRunReasons.ImagePullBackOff && e.Type == "Warning"),
            "the ImagePullBackOff Warning event");
    }

    [Fact]
    public async Task A_run_past_its_activeDeadlineSeconds_fails_with_DeadlineExceeded_and_its_trainer_is_stopped()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("deadline", trainRows: 10, testRows: 10);
        await using var op = await cluster.StartOperatorAsync(ns);
        var run = Parse("""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata: {name: slow}
            spec:
              model: {architecture: Custom, image: busybox, command: ["/bin/sh", "-c", "sleep 120"]}
              data: {train: {uri: pvc://datasets/mnist/train.csv}}
              artifacts: {uri: pvc://artifacts/runs/slow}
              activeDeadlineSeconds: 4
            """);
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);

        var failed = await WaitForRunAsync(ns, "slow", r => r.Status?.Phase == TrainingRunPhases.Failed, "DeadlineExceeded", TimeSpan.FromSeconds(60));
        Assert.Equal(TrainingRunReasons.DeadlineExceeded, Condition(failed, ConditionTypes.Failed)?.Reason);
        Assert.Equal(1, failed.Status!.Attempts);
        var started = failed.Status.StartTime!.Value;
        Assert.InRange((failed.Status.CompletionTime!.Value - started).TotalSeconds, 3, 30);
        await WaitUntilAsync(async () => (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, cancellationToken: Ct)).Items.All(p => p.Status.Phase is "Failed" or "Succeeded"), "the trainer pod to stop");
    }

    private async Task<JsonNode> GetRawAsync(string ns, string name) =>
        JsonNode.Parse((await cluster.Client.CustomObjects.GetNamespacedCustomObjectAsync<JsonElement>(SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, name, Ct)).GetRawText())!;

    /// <summary>Whether every member of <paramref name="part"/> is in <paramref name="whole"/> with the same value.</summary>
    private static bool Contains(JsonNode? whole, JsonNode? part) => part is JsonObject members
        ? whole is JsonObject target && members.All(m => target.ContainsKey(m.Key) && Contains(target[m.Key], m.Value))
        : JsonNode.DeepEquals(whole, part);

    private async Task AssertNoPutOfSyllabusObjectsAsync() =>
        Assert.Equal(0, await cluster.CountApiRequestsAsync("verb=PUT", $"group={SyllabusGroup.Name}"));

    [Fact]
    public async Task A_minimal_run_succeeds_and_the_operator_writes_only_its_status_and_finalizer()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("minimal", trainRows: 300, testRows: 50);
        await using var op = await cluster.StartOperatorAsync(ns);
        // Only model, data and artifacts, sent as written: not through the C# type, whose initialisers would add more.
        var applied = JsonNode.Parse("""
            {"apiVersion": "syllabus.dev/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "minimal"},
             "spec": {"model": {"architecture": "MLP"},
                      "data": {"train": {"uri": "pvc://datasets/mnist/train.csv"}},
                      "artifacts": {"uri": "pvc://artifacts/runs/minimal"}}}
            """)!;
        var created = JsonNode.Parse((await cluster.Client.CustomObjects.CreateNamespacedCustomObjectAsync<JsonElement>(
            applied, SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, cancellationToken: Ct)).GetRawText())!;

        var done = await WaitForRunAsync(ns, "minimal", r => r.Status?.Phase is TrainingRunPhases.Succeeded or TrainingRunPhases.Failed, "the minimal run to finish");
        Assert.True(done.Status!.Phase == TrainingRunPhases.Succeeded, KubernetesYaml.Serialize(done.Status));

        var stored = await GetRawAsync(ns, "minimal");
        Assert.Equal(1, stored["metadata"]!["generation"]!.GetValue<long>());
        // The spec is the one the API server stored on create (what was applied plus the schema's defaults) ...
        Assert.True(JsonNode.DeepEquals(created["spec"], stored["spec"]), $"the spec changed:\n{created["spec"]}\n{stored["spec"]}");
        Assert.True(Contains(stored["spec"], applied["spec"]), $"the applied spec is not in the stored one:\n{stored["spec"]}");

        // ... and the schema's defaults are the C# type's: read and written back by the C# type it is the same spec.
        var roundTrip = JsonNode.Parse(KubernetesJson.Serialize(KubernetesJson.Deserialize<TrainingRun>(stored.ToJsonString()).Spec))!;
        Assert.True(JsonNode.DeepEquals(stored["spec"], roundTrip), $"the C# type and the CRD defaults disagree:\nstored {stored["spec"]}\nC#     {roundTrip}");

        // managedFields: the operator owns status and its finalizer only; the spec belongs to whoever created the run.
        var managed = stored["metadata"]!["managedFields"]!.AsArray();
        var ours = managed.Where(m => m!["manager"]!.GetValue<string>() == FieldManagers.Operator).ToList();
        Assert.NotEmpty(ours);
        foreach (var entry in ours)
        {
            var fields = entry!["fieldsV1"]!.AsObject();
            Assert.All(fields.Select(f => f.Key), k => Assert.Contains(k, new[] { "f:status", "f:metadata" }));
            if (fields["f:metadata"] is JsonObject metadata)
            {
                Assert.Equal(["f:finalizers"], metadata.Select(f => f.Key));
            }
        }

        Assert.Contains(ours, e => e!["fieldsV1"]!["f:status"] is not null);
        Assert.Contains(ours, e => e!["fieldsV1"]!["f:metadata"]?["f:finalizers"] is not null);
        Assert.All(managed.Where(m => m!["fieldsV1"]!["f:spec"] is not null), m => Assert.NotEqual(FieldManagers.Operator, m!["manager"]!.GetValue<string>()));
        await AssertNoPutOfSyllabusObjectsAsync();

        // What a user sees (kubectl when installed).
        if (await cluster.KubectlAsync("get", "tr", "minimal", "-n", ns, "-o", "yaml", "--show-managed-fields") is { } yaml)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(yaml);
            Assert.Contains($"manager: {FieldManagers.Operator}", yaml, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_failed_attempts_Job_deleted_by_hand_adds_no_retry_and_skips_no_backoff()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("handdel", trainRows: 10, testRows: 10);
        await using var op = await cluster.StartOperatorAsync(ns, "--Trainer:BackoffBase=00:00:03", "--Trainer:BackoffCap=00:00:06");
        var run = Parse("""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata: {name: flaky}
            spec:
              model: {architecture: Custom, image: busybox, command: ["/bin/sh", "-c", "echo 'flaky' >&2; exit 3"]}
              data: {train: {uri: pvc://datasets/mnist/train.csv}}
              artifacts: {uri: pvc://artifacts/runs/flaky}
              backoffLimit: 1
            """);
        run.Metadata.NamespaceProperty = ns;
        await cluster.Resources<TrainingRun>().CreateAsync(run, Ct);

        var firstFailure = await WaitForRunAsync(ns, "flaky", r => r.Status?.FailedAttempts == 1, "the first failure to be counted");
        var failedAt = firstFailure.Status!.LastFailure!.FinishedAt!.Value;
        await cluster.Client.BatchV1.DeleteNamespacedJobAsync("flaky-1", ns, new V1DeleteOptions { PropagationPolicy = "Background" }, cancellationToken: Ct);

        var failed = await WaitForRunAsync(ns, "flaky", r => r.Status?.Phase == TrainingRunPhases.Failed, "the run to fail");
        Assert.Equal(2, failed.Status!.Attempts);
        Assert.Equal(2, failed.Status.FailedAttempts);
        Assert.Contains("2 failed attempt(s) exceed backoffLimit 1", Condition(failed, ConditionTypes.Failed)!.Message, StringComparison.Ordinal);
        var second = await cluster.Client.BatchV1.ReadNamespacedJobAsync("flaky-2", ns, cancellationToken: Ct);
        Assert.True(second.Metadata.CreationTimestamp >= failedAt.AddSeconds(3) - TimeSpan.FromSeconds(1),
            $"attempt 2 was created at {second.Metadata.CreationTimestamp:O}, before the 3 s backoff after {failedAt:O}");
        Assert.DoesNotContain(await JobsAsync(ns), j => j.Metadata.Name == "flaky-3");
        await AssertNoPutOfSyllabusObjectsAsync();
    }

    [Fact]
    public async Task A_second_writer_forcing_conflicts_never_erases_startTime_and_a_lost_one_is_recovered_from_the_Job()
    {
        cluster.Require();
        var ns = await cluster.NewNamespaceAsync("writer", trainRows: 2000);
        await using var op = await cluster.StartOperatorAsync(ns);
        // Long enough (tens of progress reports) that the operator's status patches meet the writer's versions even on a fast machine.
        var run = Parse(DigitsRun("contested", epochs: 40));
        run.Metadata.NamespaceProperty = ns;
        var runs = cluster.Resources<TrainingRun>();
        await runs.CreateAsync(run, Ct);
        var conflictsBefore = await cluster.CountApiRequestsAsync("resource=trainingruns", "subresource=status", "verb=PATCH", "code=409");

        // Every stored version, in order.
        var versions = new System.Collections.Concurrent.ConcurrentQueue<TrainingRun>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var watching = Task.Run(async () =>
        {
            var response = cluster.Client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, watch: true, resourceVersion: "0", cancellationToken: stop.Token);
#pragma warning disable CS0618
            await foreach (var (_, version) in response.WatchAsync<TrainingRun, object>(cancellationToken: stop.Token))
#pragma warning restore CS0618
            {
                versions.Enqueue(version);
            }
        }, CancellationToken.None);

        // The second writer: an annotation every 10 ms, so the operator's status patches keep meeting newer versions.
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await runs.PatchAsync(ns, "contested", new V1Patch("{\"metadata\":{\"annotations\":{\"test.syllabus.dev/tick\":\"" + i + "\"}}}", V1Patch.PatchType.MergePatch), stop.Token);
                await Task.Delay(10, stop.Token);
            }
        }, CancellationToken.None);

        var running = await WaitForRunAsync(ns, "contested", r => r.Status?.Phase == TrainingRunPhases.Running && r.Status.StartTime is not null, "Running");
        var startTime = running.Status!.StartTime!.Value;
        // A writer drops startTime outright: the operator takes it back from the Job.
        var erased = await cluster.Client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<TrainingRun>(
            new V1Patch("""{"status":{"startTime":null}}""", V1Patch.PatchType.MergePatch), SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, "contested", cancellationToken: Ct);
        Assert.Null(erased.Status!.StartTime);
        var recovered = await WaitForRunAsync(ns, "contested", r => r.Status?.StartTime is not null, "startTime to be recovered");
        Assert.InRange((recovered.Status!.StartTime!.Value - startTime).TotalSeconds, -2, 2);

        var done = await WaitForRunAsync(ns, "contested", r => r.Status?.Phase is TrainingRunPhases.Succeeded or TrainingRunPhases.Failed, "the run to finish");
        await stop.CancelAsync();
        await Task.WhenAll(writer, watching).ContinueWith(_ => { }, TaskScheduler.Default);
        Assert.True(done.Status!.Phase == TrainingRunPhases.Succeeded, KubernetesYaml.Serialize(done.Status));
        Assert.True(done.Status.Attempts == 1, KubernetesYaml.Serialize(done.Status));
        Assert.Equal(1, done.Metadata.Generation);

        var seen = versions.ToList();
        var firstWithStart = seen.FindIndex(v => v.Status?.StartTime is not null);
        Assert.True(firstWithStart >= 0);
        string[] order = [TrainingRunPhases.Pending, TrainingRunPhases.Running, TrainingRunPhases.Succeeded];
        for (var i = firstWithStart + 1; i < seen.Count; i++)
        {
            var (before, after) = (seen[i - 1].Status, seen[i].Status);
            var version = seen[i].Metadata.ResourceVersion;
            // Only the test's own erasure removes startTime; versions after it lack it until the operator restores it.
            Assert.True(after?.StartTime is not null || before?.StartTime is null || version == erased.Metadata.ResourceVersion, $"version {version} lost startTime");
            if (after?.StartTime is { } start)
            {
                Assert.InRange((start - startTime).TotalSeconds, -2, 2);
            }

            Assert.True((after?.Attempts ?? 0) >= (before?.Attempts ?? 0), $"attempts went back at {version}");
            Assert.True(Array.IndexOf(order, after?.Phase) >= Array.IndexOf(order, before?.Phase), $"phase went back from {before?.Phase} to {after?.Phase} at {version}");
        }

        Assert.True(await cluster.CountApiRequestsAsync("resource=trainingruns", "subresource=status", "verb=PATCH", "code=409") > conflictsBefore,
            "the second writer forced no conflict; the test proves nothing");
        await AssertNoPutOfSyllabusObjectsAsync();
    }

    [Fact]
    public async Task A_pod_held_Terminating_delays_the_next_attempt_and_the_removal_of_a_deleted_run()
    {
        cluster.Require();
        const string Hold = "test.syllabus.dev/hold";
        var ns = await cluster.NewNamespaceAsync("held", trainRows: 4000);
        await using var op = await cluster.StartOperatorAsync(ns);
        var run = Parse(DigitsRun("held", epochs: 60));
        run.Metadata.NamespaceProperty = ns;
        var runs = cluster.Resources<TrainingRun>();
        await runs.CreateAsync(run, Ct);

        async Task<V1Pod> HoldRunningPodAsync(int attempt)
        {
            await WaitForRunAsync(ns, "held", r => r.Status?.Phase == TrainingRunPhases.Running && r.Status.Attempts == attempt, $"attempt {attempt} Running");
            var pod = (await cluster.Client.CoreV1.ListNamespacedPodAsync(ns, labelSelector: $"{TrainingRunNames.AttemptLabel}={attempt}", cancellationToken: Ct)).Items.Single();
            return await cluster.Client.CoreV1.PatchNamespacedPodAsync(new V1Patch($$$"""{"metadata":{"finalizers":["{{{Hold}}}"]}}""", V1Patch.PatchType.MergePatch), pod.Metadata.Name, ns, cancellationToken: Ct);
        }

        async Task<bool> TerminatingAsync(string pod) =>
            (await cluster.Resources<V1Pod>().GetAsync(ns, pod, Ct))?.Metadata.DeletionTimestamp is not null;

        Task ReleaseAsync(string pod) => cluster.Client.CoreV1.PatchNamespacedPodAsync(
            new V1Patch("""{"metadata":{"finalizers":null}}""", V1Patch.PatchType.MergePatch), pod, ns, cancellationToken: Ct);

        // Suspend, resume: attempt 2 waits while attempt 1's pod is held Terminating.
        var first = await HoldRunningPodAsync(1);
        await runs.PatchAsync(ns, "held", new V1Patch("""{"spec":{"suspend":true}}""", V1Patch.PatchType.MergePatch), Ct);
        await WaitUntilAsync(async () => (await JobsAsync(ns)).Count == 0 && await TerminatingAsync(first.Metadata.Name), "the Job deleted and its pod Terminating");
        await runs.PatchAsync(ns, "held", new V1Patch("""{"spec":{"suspend":false}}""", V1Patch.PatchType.MergePatch), Ct);
        var waiting = await WaitForRunAsync(ns, "held", r => Condition(r, ConditionTypes.Running)?.Reason == TrainingRunReasons.WaitingForPreviousAttempt, "the resume to wait for the held pod");
        Assert.Contains(first.Metadata.Name, Condition(waiting, ConditionTypes.Running)!.Message, StringComparison.Ordinal);
        Assert.Empty(await JobsAsync(ns));
        Assert.True(await TerminatingAsync(first.Metadata.Name));

        var released = DateTime.UtcNow;
        await ReleaseAsync(first.Metadata.Name);
        V1Job? second = null;
        await WaitUntilAsync(async () => (second = (await JobsAsync(ns)).SingleOrDefault(j => j.Metadata.Name == "held-2")) is not null, "attempt 2 once the pod is gone");
        Assert.True(second!.Metadata.CreationTimestamp >= released.AddSeconds(-1), "attempt 2 was created before the held pod was released");

        // Delete the run while attempt 2's pod is held: the run keeps its finalizer until the pod is gone.
        var secondPod = await HoldRunningPodAsync(2);
        await runs.DeleteAsync(ns, "held", Ct);
        await WaitUntilAsync(async () => (await JobsAsync(ns)).Count == 0 && await TerminatingAsync(secondPod.Metadata.Name), "the Job deleted and attempt 2's pod Terminating");
        await WaitUntilAsync(async () => await cluster.Resources<V1ConfigMap>().GetAsync(ns, "held-config", Ct) is null, "the ConfigMap deleted");
        var deleting = await runs.GetAsync(ns, "held", Ct);
        Assert.NotNull(deleting);
        Assert.Contains(TrainingRunNames.Finalizer, deleting!.Metadata.Finalizers);

        await ReleaseAsync(secondPod.Metadata.Name);
        await WaitUntilAsync(async () => await runs.GetAsync(ns, "held", Ct) is null, "the run to go once its pods are gone");
        await AssertNoPutOfSyllabusObjectsAsync();
    }
}
