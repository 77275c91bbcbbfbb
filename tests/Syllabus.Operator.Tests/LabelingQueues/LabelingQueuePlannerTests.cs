using k8s.Models;
using Syllabus.Api;
using Syllabus.Api.Validation;
using Syllabus.Operator.LabelingQueues;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.LabelingQueues;

public sealed class LabelingQueuePlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private const string Model = "pvc://models/base/model";

    private static LabelingQueue Queue(LabelingQueueStatus? status = null, int afterLabels = 8) => new()
    {
        Metadata = new V1ObjectMeta { Name = "digits", NamespaceProperty = "ml", Generation = 1, Uid = "uid-1" },
        Spec = new LabelingQueueSpec
        {
            Model = new ModelReference { TrainingRun = new LocalObjectReference { Name = "base" } },
            Pool = new PoolSpec { Dataset = new DatasetSource { Uri = "pvc://data/pool.csv" } },
            Strategy = new StrategySpec { Type = SelectionStrategies.Margin, ClassBalance = true },
            BatchSize = 5,
            Labels = ["0", "1", "2"],
            Budget = 12,
            StoreUri = "pvc://data/labelling/digits",
            ExportUri = "pvc://data/labelled",
            Retrain = new LabelRetrainSpec
            {
                AfterLabels = afterLabels,
                Template = new TrainingRunTemplate
                {
                    Metadata = new TemplateMetadata { Labels = new() { ["syllabus.dev/model"] = "digits" } },
                    Spec = new TrainingRunSpec { Data = new DataSpec { Train = new DatasetSource { Uri = "pvc://data/base.csv" } }, Artifacts = new ArtifactsSpec { Uri = "pvc://models/retrained" } },
                },
            },
        },
        Status = status,
    };

    private static LabelStats Stats(long total, long pending, long labelled, long skipped = 0, long budget = 12) =>
        new(total, pending, labelled, skipped, budget, budget - labelled, labelled >= budget, labelled + skipped);

    private static LabelingQueueObservation Observe(
        LabelingQueue queue, LabelStats? stats = null, IEnumerable<V1Job>? jobs = null, Dictionary<string, string>? messages = null,
        string? model = Model, TrainingRun? nextRun = null, DateTimeOffset? now = null, IReadOnlyList<string>? uncertain = null) => new()
    {
        Queue = queue,
        Uncertain = uncertain ?? [],
        UncertainProblem = queue.Spec.Pool.DeploymentRef is { } md && uncertain is not { Count: > 0 } ? $"ModelDeployment {md.Name} has no ready stable serve pod" : null,
        ModelUri = model,
        ModelProblem = model is null ? "TrainingRun base is Running; scoring waits for its model" : null,
        Stats = stats,
        StatsProblem = stats is null ? "the labelling service has no ready pod yet" : null,
        Jobs = (jobs ?? []).ToDictionary(j => j.Metadata.Name),
        JobMessages = messages ?? [],
        NextRetrainRun = nextRun,
        Now = now ?? T0,
    };

    private static V1Job Job(string name, string? outcome = null, DateTimeOffset? at = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ml" },
        Status = new V1JobStatus
        {
            Conditions = outcome is null ? null : [new V1JobCondition { Type = outcome, Status = "True", LastTransitionTime = (at ?? T0).UtcDateTime }],
        },
    };

    private static V1Condition Condition(LabelingQueuePlan plan, string type) => Conditions.Find(plan.Status.Conditions, type)!;

    [Fact]
    public void A_new_queue_creates_its_token_secret_and_scores_the_first_batch_before_serving()
    {
        var plan = LabelingQueuePlanner.Plan(Observe(Queue()) with { CreatedTokenHash = "0123456789abcdef" });

        Assert.Equal("0123456789abcdef", plan.Status.TokenHash);
        Assert.DoesNotContain(plan.Events, e => e.Reason == "TokenSecretRecreated");
        Assert.False(plan.ServeLabels);
        Assert.Equal(new ScoringRound(1, 1, 5, Model), plan.StartScoring);
        Assert.Equal("digits-token", plan.Status.TokenSecret);
        Assert.Equal("True", Condition(plan, ConditionTypes.Valid).Status);
        Assert.Equal(LabelingQueuePhases.Pending, plan.Status.Phase);
        Assert.Equal(("False", "FirstBatchPending"), (Condition(plan, ConditionTypes.Ready).Status, Condition(plan, ConditionTypes.Ready).Reason));
        Assert.Equal(("True", "Started"), (Condition(plan, LabelingQueueConditions.Scoring).Status, Condition(plan, LabelingQueueConditions.Scoring).Reason));
    }

    [Fact]
    public void A_token_secret_created_again_is_reported_and_its_hash_restarts_the_labelling_pod()
    {
        var first = LabelingQueuePlanner.Plan(Observe(Queue()) with { CreatedTokenHash = "0123456789abcdef" });
        var steady = LabelingQueuePlanner.Plan(Observe(Queue(first.Status)));
        Assert.Equal("0123456789abcdef", steady.Status.TokenHash);

        var recreated = LabelingQueuePlanner.Plan(Observe(Queue(steady.Status)) with { CreatedTokenHash = "fedcba9876543210" });
        Assert.Equal("fedcba9876543210", recreated.Status.TokenHash);
        var warning = Assert.Single(recreated.Events, e => e.Reason == "TokenSecretRecreated");
        Assert.Equal(EventTypes.Warning, warning.Type);
        // Offered again (its status write was lost, or is being retried): recorded once, reported once.
        var again = LabelingQueuePlanner.Plan(Observe(Queue(recreated.Status)) with { CreatedTokenHash = "fedcba9876543210" });
        Assert.Equal("fedcba9876543210", again.Status.TokenHash);
        Assert.DoesNotContain(again.Events, e => e.Reason == "TokenSecretRecreated");

        var image = new TrainerImageOptions { Image = "trainer:dev" };
        string? Annotation(string? hash) => LabelingWorkloadBuilder.BuildLabelDeployment(Queue(), image, hash).Spec.Template.Metadata.Annotations is { } a ? a[LabelingQueueNames.TokenHashAnnotation] : null;
        Assert.Equal(("0123456789abcdef", "fedcba9876543210", null), (Annotation(steady.Status.TokenHash), Annotation(recreated.Status.TokenHash), Annotation(null)));

        var secret = LabelingWorkloadBuilder.BuildTokenSecret(Queue());
        var hash = LabelingWorkloadBuilder.TokenHash(secret);
        Assert.Matches("^[0-9a-f]{16}$", hash);
        Assert.DoesNotContain(hash, secret.StringData[LabelingQueueNames.TokenKey], StringComparison.Ordinal);
        Assert.NotEqual(hash, LabelingWorkloadBuilder.TokenHash(LabelingWorkloadBuilder.BuildTokenSecret(Queue())));
    }

    [Fact]
    public void Without_a_model_nothing_is_scored_and_the_condition_says_why()
    {
        var plan = LabelingQueuePlanner.Plan(Observe(Queue(), model: null));

        Assert.Null(plan.StartScoring);
        Assert.Equal(("False", "ModelNotReady"), (Condition(plan, LabelingQueueConditions.Scoring).Status, Condition(plan, LabelingQueueConditions.Scoring).Reason));
        Assert.Contains("TrainingRun base is Running", Condition(plan, LabelingQueueConditions.Scoring).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_first_batch_succeeded_starts_the_service_and_its_import_ends_the_round()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Scoring = new LabelingScoringStatus { Batch = 1, Attempt = 1 } });
        var done = Job("digits-score-1-1", "Complete");

        var waiting = LabelingQueuePlanner.Plan(Observe(queue, jobs: [done]));
        Assert.True(waiting.ServeLabels);
        Assert.Null(waiting.StartScoring);
        Assert.Equal("Importing", Condition(waiting, LabelingQueueConditions.Scoring).Reason);

        var imported = LabelingQueuePlanner.Plan(Observe(Queue(waiting.Status), Stats(total: 5, pending: 5, labelled: 0), jobs: [done]));
        Assert.Null(imported.Status.Scoring);
        Assert.Equal(1, imported.Status.Batches);
        Assert.Equal((5, 0, 12), (imported.Status.Pending, imported.Status.Labelled, imported.Status.BudgetRemaining));
        Assert.Equal(LabelingQueuePhases.Labelling, imported.Status.Phase);
        Assert.Equal(("True", "Serving"), (Condition(imported, ConditionTypes.Ready).Status, Condition(imported, ConditionTypes.Ready).Reason));
        Assert.Equal("EnoughPending", Condition(imported, LabelingQueueConditions.Scoring).Reason);
        Assert.Null(imported.StartScoring);
    }

    [Fact]
    public void Fewer_than_a_batch_pending_scores_the_next_batch_sized_to_the_budget_left()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 2 });

        var plan = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 10, pending: 2, labelled: 8)));

        // 12 - 8 = 4 labels left, 2 of them covered by the pending items: only 2 more are selected.
        Assert.Equal(new ScoringRound(3, 1, 2, Model), plan.StartScoring);
        Assert.Equal(10, plan.Status.Scoring!.ItemsBefore);
        Assert.Equal(LabelingQueuePhases.Scoring, plan.Status.Phase);
    }

    [Fact]
    public void Pending_items_that_cover_the_budget_stop_scoring_and_a_spent_budget_is_BudgetExhausted()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 3 });

        var covered = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 12, pending: 2, labelled: 10)));
        Assert.Null(covered.StartScoring);
        Assert.Equal("BudgetCovered", Condition(covered, LabelingQueueConditions.Scoring).Reason);
        Assert.Equal("False", Condition(covered, ConditionTypes.BudgetExhausted).Status);

        var spent = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 12, pending: 0, labelled: 12)));
        Assert.Null(spent.StartScoring);
        Assert.Equal(("True", "BudgetSpent"), (Condition(spent, ConditionTypes.BudgetExhausted).Status, Condition(spent, ConditionTypes.BudgetExhausted).Reason));
        Assert.Equal("BudgetExhausted", Condition(spent, LabelingQueueConditions.Scoring).Reason);
        Assert.Equal(LabelingQueuePhases.Exhausted, spent.Status.Phase);
        Assert.Equal(0, spent.Status.BudgetRemaining);
    }

    [Fact]
    public void A_failed_scoring_job_is_reported_and_retried_under_a_new_name_after_a_doubling_backoff()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 1, Scoring = new LabelingScoringStatus { Batch = 2, Attempt = 1, ItemsBefore = 5 } });
        var failed = Job("digits-score-2-1", "Failed", T0);
        var stats = Stats(total: 5, pending: 0, labelled: 5);

        var reported = LabelingQueuePlanner.Plan(Observe(queue, stats, [failed], new() { ["digits-score-2-1"] = "error: --pool /x/pool.csv: no such file\n" }));
        Assert.Null(reported.StartScoring);
        var scoring = Condition(reported, LabelingQueueConditions.Scoring);
        Assert.Equal(("False", "ScoringFailed"), (scoring.Status, scoring.Reason));
        Assert.Contains("error: --pool /x/pool.csv: no such file; retrying in 10s", scoring.Message, StringComparison.Ordinal);
        Assert.Contains(reported.Events, e => e.Reason == "ScoringFailed");
        Assert.Equal(TimeSpan.FromSeconds(5), reported.RequeueAfter); // the stats poll comes first

        var early = LabelingQueuePlanner.Plan(Observe(Queue(reported.Status), stats, [failed], now: T0.AddSeconds(9)));
        Assert.Null(early.StartScoring);

        var retried = LabelingQueuePlanner.Plan(Observe(Queue(reported.Status), stats, [failed], now: T0.AddSeconds(10)));
        Assert.Equal(new ScoringRound(2, 2, 5, Model), retried.StartScoring);
        Assert.Equal(2, retried.Status.Scoring!.Attempt);
        Assert.Equal("digits-score-2-2", LabelingQueueNames.ScoreJob("digits", 2, 2));

        Assert.Equal(TimeSpan.FromSeconds(20), LabelingQueuePlanner.Backoff(2));
        Assert.Equal(TimeSpan.FromMinutes(10), LabelingQueuePlanner.Backoff(30));
    }

    [Fact]
    public void A_batch_that_adds_nothing_within_the_grace_is_PoolExhausted_and_scoring_stops_until_the_spec_changes()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 4, Scoring = new LabelingScoringStatus { Batch = 5, Attempt = 1, ItemsBefore = 20 } });
        var done = Job("digits-score-5-1", "Complete", T0);
        var stats = Stats(total: 20, pending: 0, labelled: 10, skipped: 10, budget: 100);

        var waiting = LabelingQueuePlanner.Plan(Observe(queue, stats, [done], now: T0.AddSeconds(5)));
        Assert.Equal("Importing", Condition(waiting, LabelingQueueConditions.Scoring).Reason);

        var exhausted = LabelingQueuePlanner.Plan(Observe(Queue(waiting.Status), stats, [done], now: T0 + LabelingQueuePlanner.ImportGrace));
        Assert.Equal(("False", "PoolExhausted"), (Condition(exhausted, LabelingQueueConditions.Scoring).Status, Condition(exhausted, LabelingQueueConditions.Scoring).Reason));
        Assert.Equal(5, exhausted.Status.Batches);
        Assert.Null(exhausted.StartScoring);

        var later = LabelingQueuePlanner.Plan(Observe(Queue(exhausted.Status), stats, [done], now: T0.AddMinutes(5)));
        Assert.Null(later.StartScoring);

        var edited = Queue(exhausted.Status);
        edited.Metadata.Generation = 2;
        Assert.Equal(6, LabelingQueuePlanner.Plan(Observe(edited, stats, [done], now: T0.AddMinutes(5))).StartScoring?.Batch);
    }

    [Theory]
    [InlineData(CommitteeDisagreements.VoteEntropy, "vote-entropy")]
    [InlineData(CommitteeDisagreements.ConsensusEntropy, "consensus-entropy")]
    [InlineData(CommitteeDisagreements.MaxDisagreement, "max-disagreement")]
    public void A_committee_scores_with_every_members_model_and_its_disagreement_measure(string disagreement, string argument)
    {
        var queue = Queue();
        queue.Spec.Strategy = new StrategySpec { Type = SelectionStrategies.QueryByCommittee, Disagreement = disagreement, Committee = [new() { Name = "m2" }, new() { Name = "m3" }] };
        Assert.Empty(SpecValidation.Validate(queue.Spec));
        const string Member2 = "pvc://models/m2/model";
        const string Member3 = "pvc://committee/m3/model";

        var plan = LabelingQueuePlanner.Plan(Observe(queue) with { Committee = [Member2, Member3] });
        Assert.Equal([Member2, Member3], plan.StartScoring!.Committee);
        Assert.Equal($"Scoring batch 1 (5 items) with {Model} and the committee's {Member2}, {Member3}", Assert.Single(plan.Events, e => e.Reason == "Scoring").Message);
        var job = LabelingWorkloadBuilder.BuildScoringJob(queue, plan.StartScoring, new TrainerImageOptions { Image = "trainer:dev" });
        Assert.Equal(["score", "--model", Model, "--model", Member2, "--model", Member3, "--pool", "/var/run/syllabus/pvc/data/pool.csv", "--strategy", argument],
            job.Spec.Template.Spec.Containers.Single().Args.Take(11));
        // Each member's claim is mounted.
        Assert.Equal(["committee", "data", "models"], job.Spec.Template.Spec.Volumes.Where(v => v.PersistentVolumeClaim is not null).Select(v => v.PersistentVolumeClaim.ClaimName).Order());
    }

    [Fact]
    public void A_queue_wakes_when_its_model_or_a_committee_member_changes()
    {
        var queue = Queue();
        queue.Spec.Strategy = new StrategySpec { Type = SelectionStrategies.QueryByCommittee, Committee = [new() { Name = "m2" }] };
        var cache = new ResourceCache<LabelingQueue>();
        cache.Upsert(queue);
        var caches = new QueueReaders(cache);
        TrainingRun Run(string name) => new() { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ml" } };

        Assert.Equal([ObjectKey.From(queue)], LabelingQueueServiceCollectionExtensions.QueuesUsing(Run("m2"), caches));
        Assert.Equal([ObjectKey.From(queue)], LabelingQueueServiceCollectionExtensions.QueuesUsing(Run("base"), caches));
        Assert.Empty(LabelingQueueServiceCollectionExtensions.QueuesUsing(Run("m3"), caches));
    }

    [Fact]
    public void Finished_jobs_beyond_the_newest_three_of_each_kind_are_deleted_never_one_still_in_use()
    {
        V1Job Finished(string name, string role, int minute, string outcome = "Complete", bool deleting = false)
        {
            var job = Job(name, outcome);
            job.Metadata.CreationTimestamp = T0.AddMinutes(minute).UtcDateTime;
            job.Metadata.Labels = new Dictionary<string, string> { [LabelingQueueNames.RoleLabel] = role };
            job.Metadata.DeletionTimestamp = deleting ? T0.UtcDateTime : null;
            return job;
        }

        var running = Job("digits-score-7-1");
        running.Metadata.CreationTimestamp = T0.AddMinutes(9).UtcDateTime;
        running.Metadata.Labels = new Dictionary<string, string> { [LabelingQueueNames.RoleLabel] = LabelingQueueNames.ScoreRole };
        var jobs = new[]
        {
            Finished("digits-score-1-1", LabelingQueueNames.ScoreRole, 0, "Failed"),
            Finished("digits-score-1-2", LabelingQueueNames.ScoreRole, 1),
            Finished("digits-score-2-1", LabelingQueueNames.ScoreRole, 2, deleting: true),
            Finished("digits-score-3-1", LabelingQueueNames.ScoreRole, 3),
            Finished("digits-score-4-1", LabelingQueueNames.ScoreRole, 4),
            Finished("digits-score-5-1", LabelingQueueNames.ScoreRole, 5, "Failed"),
            Finished("digits-score-6-1", LabelingQueueNames.ScoreRole, 6),
            running,
            Finished("digits-export-1", LabelingQueueNames.ExportRole, 1),
            Finished("digits-export-2", LabelingQueueNames.ExportRole, 3),
            Finished("digits-export-3", LabelingQueueNames.ExportRole, 5),
            Finished("digits-export-4", LabelingQueueNames.ExportRole, 7),
            // Round 5's export finished but its TrainingRun is not created yet: in use.
            Finished("digits-export-5", LabelingQueueNames.ExportRole, 8),
        };
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 6, RetrainRounds = 4, Scoring = new LabelingScoringStatus { Batch = 7, Attempt = 1, ItemsBefore = 30 } });

        var plan = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 30, pending: 2, labelled: 20, budget: 100), jobs));

        // Scoring: 6-1, 5-1, 4-1 kept (7-1 runs; 2-1 is already going); export: 4, 3, 2 kept (5 in use).
        Assert.Equal(["digits-export-1", "digits-score-1-1", "digits-score-1-2", "digits-score-3-1"], plan.DeleteJobs.Select(j => j.Metadata.Name));
        var job = LabelingWorkloadBuilder.BuildScoringJob(queue, new ScoringRound(7, 1, 5, Model), new TrainerImageOptions { Image = "trainer:dev" });
        Assert.Equal(LabelingWorkloadBuilder.FinishedJobTtlSeconds, job.Spec.TtlSecondsAfterFinished);
        Assert.Equal(3600, LabelingWorkloadBuilder.BuildExportJob(queue, 5, new TrainerImageOptions { Image = "trainer:dev" }).Spec.TtlSecondsAfterFinished);
    }

    private const string PodA = "http://10.0.0.7:8080/v2/models/live/uncertain";
    private const string PodB = "http://10.0.0.9:8080/v2/models/live/uncertain";

    private static LabelingQueue LiveQueue(LabelingQueueStatus? status = null, bool withDataset = false)
    {
        var queue = Queue(status);
        queue.Spec.Pool = new PoolSpec { Dataset = withDataset ? queue.Spec.Pool.Dataset : null, DeploymentRef = new LocalObjectReference { Name = "live" } };
        return queue;
    }

    [Fact]
    public void A_deploymentRef_pool_scores_its_ready_serve_pods_rows_and_waits_while_it_has_none()
    {
        Assert.Empty(SpecValidation.Validate(LiveQueue().Spec));

        // No dataset and no ready serve pod: nothing to score, and the condition says why.
        var waiting = LabelingQueuePlanner.Plan(Observe(LiveQueue()));
        Assert.Null(waiting.StartScoring);
        Assert.Equal(("False", "NoServePods"), (Condition(waiting, LabelingQueueConditions.Scoring).Status, Condition(waiting, LabelingQueueConditions.Scoring).Reason));
        Assert.Contains("ModelDeployment live has no ready stable serve pod", Condition(waiting, LabelingQueueConditions.Scoring).Message, StringComparison.Ordinal);

        // Two ready pods: the round fetches from both.
        var plan = LabelingQueuePlanner.Plan(Observe(LiveQueue(waiting.Status), uncertain: [PodA, PodB]));
        Assert.Equal([PodA, PodB], plan.StartScoring!.Uncertain);
        var args = LabelingWorkloadBuilder.BuildScoringJob(LiveQueue(), plan.StartScoring, new TrainerImageOptions { Image = "trainer:dev" }).Spec.Template.Spec.Containers.Single().Args;
        Assert.Equal(["score", "--model", Model, "--uncertain", PodA, "--uncertain", PodB, "--strategy", "margin"], args.Take(9));
        Assert.DoesNotContain("--pool", args);

        // With a dataset as well, the dataset is scored while the serve pods are not ready.
        var both = LabelingQueuePlanner.Plan(Observe(LiveQueue(withDataset: true)));
        Assert.Empty(both.StartScoring!.Uncertain);
        var datasetOnly = LabelingWorkloadBuilder.BuildScoringJob(LiveQueue(withDataset: true), both.StartScoring, new TrainerImageOptions { Image = "trainer:dev" }).Spec.Template.Spec.Containers.Single().Args;
        Assert.Contains("--pool", datasetOnly);
    }

    [Fact]
    public void A_round_records_the_serve_pods_rows_it_queued_and_reports_the_rejected_ones()
    {
        var done = Job("digits-score-2-1", "Complete", T0);
        var queue = LiveQueue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 1, UncertainImported = 3, Scoring = new LabelingScoringStatus { Batch = 2, Attempt = 1, ItemsBefore = 5 } });
        var summary = """{"poolRows":9,"excludedRows":2,"scoredRows":5,"selectedRows":5,"rejectedRows":2,"uncertainRows":9,"uncertainExcluded":2,"uncertainRejected":2,"uncertainSelected":5,"firstUncertainReject":"http://10.0.0.9:8080/v2/models/live/uncertain r-1#0: the serving model's inputs are not the scoring model's: missing 'p0'"}""";

        var plan = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 10, pending: 5, labelled: 5), [done], new() { ["digits-score-2-1"] = summary }, uncertain: [PodA, PodB]));

        Assert.Equal((8, 2), (plan.Status.UncertainImported, plan.Status.UncertainRejected));
        Assert.Equal("Batch 2: 5 items queued for labelling (5 of them uncertain rows of the serve pods)", Assert.Single(plan.Events, e => e.Reason == "BatchImported").Message);
        var warning = Assert.Single(plan.Events, e => e.Reason == "UncertainRowsRejected");
        Assert.Equal(EventTypes.Warning, warning.Type);
        Assert.Contains("2 of the 9 uncertain rows of ModelDeployment live were not scored (first: http://10.0.0.9:8080/v2/models/live/uncertain r-1#0: the serving model's inputs are not the scoring model's: missing 'p0')", warning.Message, StringComparison.Ordinal);

        // A termination message that is not a summary (an older trainer) counts nothing and reports nothing.
        var plain = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 10, pending: 5, labelled: 5), [done], new() { ["digits-score-2-1"] = "scored" }, uncertain: [PodA]));
        Assert.Equal((3, null), (plain.Status.UncertainImported, plain.Status.UncertainRejected));
        Assert.DoesNotContain(plain.Events, e => e.Reason == "UncertainRowsRejected");
    }

    [Fact]
    public void An_empty_round_of_a_deploymentRef_pool_scores_again_after_a_while_not_only_on_a_spec_edit()
    {
        var done = Job("digits-score-5-1", "Complete", T0);
        var stats = Stats(total: 20, pending: 0, labelled: 10, skipped: 10, budget: 100);
        var queue = LiveQueue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 4, Scoring = new LabelingScoringStatus { Batch = 5, Attempt = 1, ItemsBefore = 20 } });
        var exhausted = LabelingQueuePlanner.Plan(Observe(queue, stats, [done], now: T0 + LabelingQueuePlanner.ImportGrace, uncertain: [PodA]));
        Assert.Equal("PoolExhausted", Condition(exhausted, LabelingQueueConditions.Scoring).Reason);
        Assert.Contains("the serve pods' rows are scored again in 60s", Condition(exhausted, LabelingQueueConditions.Scoring).Message, StringComparison.Ordinal);

        var soon = LabelingQueuePlanner.Plan(Observe(LiveQueue(exhausted.Status), stats, [done], now: T0 + LabelingQueuePlanner.ImportGrace + TimeSpan.FromSeconds(30), uncertain: [PodA]));
        Assert.Null(soon.StartScoring);
        Assert.True(soon.RequeueAfter <= TimeSpan.FromSeconds(30));
        var later = LabelingQueuePlanner.Plan(Observe(LiveQueue(exhausted.Status), stats, [done], now: T0 + LabelingQueuePlanner.ImportGrace + LabelingQueuePlanner.UncertainRescore, uncertain: [PodA]));
        Assert.Equal(6, later.StartScoring?.Batch);
        Assert.Equal([PodA], later.StartScoring!.Uncertain);
    }

    [Fact]
    public void A_batch_the_labelling_service_could_not_import_is_named_in_status_and_its_round_is_scored_again()
    {
        var stats = Stats(total: 10, pending: 0, labelled: 10) with { BatchesNotImported = [new("batch-0003.csv", "line 4: has 8 fields, the header 7")], BatchesNotImportedCount = 1 };
        var done = Job("digits-score-3-1", "Complete", T0);
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 2, Scoring = new LabelingScoringStatus { Batch = 3, Attempt = 1, ItemsBefore = 10 } });

        // Which file and why, in a condition, whatever round is running.
        var importing = LabelingQueuePlanner.Plan(Observe(queue, stats, [done], now: T0 + TimeSpan.FromSeconds(5)));
        Assert.Equal((Conditions.False, "BatchNotImported"), (Condition(importing, LabelingQueueConditions.BatchesImported).Status, Condition(importing, LabelingQueueConditions.BatchesImported).Reason));
        Assert.Contains("batch-0003.csv: line 4: has 8 fields, the header 7", Condition(importing, LabelingQueueConditions.BatchesImported).Message, StringComparison.Ordinal);
        Assert.Equal("Importing", Condition(importing, LabelingQueueConditions.Scoring).Reason);

        // After the import grace the round is not "exhausted": it failed, and is scored again after the backoff.
        var failed = LabelingQueuePlanner.Plan(Observe(Queue(importing.Status), stats, [done], now: T0 + LabelingQueuePlanner.ImportGrace));
        Assert.Equal("BatchNotImported", Condition(failed, LabelingQueueConditions.Scoring).Reason);
        Assert.Contains("line 4: has 8 fields", Condition(failed, LabelingQueueConditions.Scoring).Message, StringComparison.Ordinal);
        Assert.Contains(failed.Events, e => e.Reason == "BatchNotImported");
        Assert.Null(failed.StartScoring);
        Assert.Equal(2, failed.Status.Batches);
        var retry = LabelingQueuePlanner.Plan(Observe(Queue(failed.Status), stats, [done], now: T0 + LabelingQueuePlanner.ImportGrace + LabelingQueuePlanner.Backoff(1)));
        Assert.Equal((3, 2), (retry.StartScoring?.Batch, retry.StartScoring?.Attempt));
        Assert.Null(retry.Status.Scoring!.SucceededAt); // the new attempt's success is the one that counts

        // Imported at last: the condition turns True.
        var fine = LabelingQueuePlanner.Plan(Observe(Queue(retry.Status), Stats(total: 12, pending: 2, labelled: 10), [done, Job("digits-score-3-2", "Complete", T0 + TimeSpan.FromMinutes(1))], now: T0 + TimeSpan.FromMinutes(1)));
        Assert.Equal((Conditions.True, "AllImported"), (Condition(fine, LabelingQueueConditions.BatchesImported).Status, Condition(fine, LabelingQueueConditions.BatchesImported).Reason));
        Assert.Equal(3, fine.Status.Batches);
    }

    [Fact]
    public void An_idle_deploymentRef_queue_waits_longer_after_each_empty_round_and_a_round_with_items_resets_the_wait()
    {
        var stats = Stats(total: 20, pending: 0, labelled: 10, skipped: 10, budget: 100);
        var now = T0;
        var status = new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 4, Scoring = new LabelingScoringStatus { Batch = 5, Attempt = 1, ItemsBefore = 20 }, ObservedGeneration = 1 };
        var waits = new List<TimeSpan>();
        for (var batch = 5; batch <= 12; batch++)
        {
            // Round `batch` succeeds and adds nothing within the import grace.
            var done = Job($"digits-score-{batch}-1", "Complete", now);
            now += LabelingQueuePlanner.ImportGrace;
            var exhausted = LabelingQueuePlanner.Plan(Observe(LiveQueue(status), stats, [done], now: now, uncertain: [PodA]));
            Assert.Equal("PoolExhausted", Condition(exhausted, LabelingQueueConditions.Scoring).Reason);
            Assert.Equal(batch - 4, exhausted.Status.EmptyRounds);

            // No round until the wait is over; then the next one.
            var wait = LabelingQueuePlanner.UncertainRescoreAfter(batch - 4);
            Assert.Contains($"scored again in {wait.TotalSeconds:0}s", Condition(exhausted, LabelingQueueConditions.Scoring).Message, StringComparison.Ordinal);
            var early = LabelingQueuePlanner.Plan(Observe(LiveQueue(exhausted.Status), stats, [done], now: now + wait - TimeSpan.FromSeconds(1), uncertain: [PodA]));
            Assert.Null(early.StartScoring);
            Assert.Equal(TimeSpan.FromSeconds(1), early.RequeueAfter);
            now += wait;
            var next = LabelingQueuePlanner.Plan(Observe(LiveQueue(exhausted.Status), stats, [done], now: now, uncertain: [PodA]));
            Assert.Equal(batch + 1, next.StartScoring?.Batch);
            waits.Add(wait);
            status = next.Status;
        }

        // 1, 2, 4, 8, 16 minutes, then 30 at most.
        Assert.Equal([1, 2, 4, 8, 16, 30, 30, 30], waits.Select(w => w.TotalMinutes));

        // Round 13 adds items: the count resets, so the next empty round waits a minute again.
        var imported = LabelingQueuePlanner.Plan(Observe(LiveQueue(status), Stats(total: 23, pending: 3, labelled: 10, skipped: 10, budget: 100), [Job("digits-score-13-1", "Complete", now)], now: now + TimeSpan.FromSeconds(5), uncertain: [PodA]));
        Assert.Contains(imported.Events, e => e.Reason == "BatchImported");
        Assert.Equal(13, imported.Status.Batches);
        Assert.Null(imported.Status.EmptyRounds);

        // A spec edit scores at once and restarts the backoff.
        var edited = LiveQueue(status);
        edited.Metadata.Generation = 2;
        Assert.Null(LabelingQueuePlanner.Plan(Observe(edited, stats, [Job("digits-score-13-1")], now: now, uncertain: [PodA])).Status.EmptyRounds);
    }

    [Fact]
    public void A_labelling_pod_that_is_not_ready_is_described_by_what_its_container_or_the_scheduler_says()
    {
        static V1Pod Pod(string name, int minute, V1ContainerStatus? container = null, V1PodCondition? scheduled = null) => new()
        {
            Metadata = new V1ObjectMeta { Name = name, CreationTimestamp = T0.UtcDateTime.AddMinutes(minute) },
            Status = new V1PodStatus { Phase = "Pending", ContainerStatuses = container is null ? null : [container], Conditions = scheduled is null ? null : [scheduled] },
        };

        // The store could not be created from the only batch: the service exits 2, its error is the termination message.
        var crashing = Pod("digits-label-b", 2, new V1ContainerStatus
        {
            Name = "label",
            State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "CrashLoopBackOff", Message = "back-off 40s restarting failed container" } },
            LastState = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 2, Reason = "Error", Message = "error: --pool-dir /pvc/s/batches: no batch could create the store (batch-0001.csv: line 3: has 8 fields, the header 7)\n" } },
        });
        var message = LabelingQueuePlanner.LabelPodNotReady([Pod("digits-label-a", 1), crashing]);
        Assert.Equal("the labelling service has no ready pod yet: pod digits-label-b: CrashLoopBackOff: back-off 40s restarting failed container; last exited with code 2: error: --pool-dir /pvc/s/batches: no batch could create the store (batch-0001.csv: line 3: has 8 fields, the header 7)", message);

        var unscheduled = Pod("digits-label-c", 3, scheduled: new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/2 nodes are available: 2 Insufficient memory." });
        Assert.Equal("the labelling service has no ready pod yet: pod digits-label-c is not scheduled: Unschedulable: 0/2 nodes are available: 2 Insufficient memory.", LabelingQueuePlanner.LabelPodNotReady([unscheduled]));
        Assert.Equal("the labelling service has no ready pod yet (pod digits-label-a is Pending)", LabelingQueuePlanner.LabelPodNotReady([Pod("digits-label-a", 1)]));
        Assert.Equal("the labelling service has no ready pod yet", LabelingQueuePlanner.LabelPodNotReady([]));

        // Its error reaches the termination message even when it only wrote it to the log.
        var container = Assert.Single(LabelingWorkloadBuilder.BuildLabelDeployment(Queue(), new TrainerImageOptions { Image = "syllabus-trainer:test" }).Spec.Template.Spec.Containers);
        Assert.Equal("FallbackToLogsOnError", container.TerminationMessagePolicy);
    }

    [Fact]
    public void A_job_whose_pod_waits_for_the_labelling_pods_node_says_so_in_the_status()
    {
        // Scoring and export Jobs need the labelling pod's node (required pod affinity): while the scheduler cannot place
        // their pods, the conditions carry its message instead of a plain Running or Exporting.
        const string unschedulable = "Unschedulable: 0/3 nodes are available: 3 node(s) didn't match pod affinity rules.";
        var scoreJob = LabelingQueueNames.ScoreJob("digits", 2, 1);
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 1, Scoring = new LabelingScoringStatus { Batch = 2, Attempt = 1, ItemsBefore = 5 } });
        var waiting = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 5, pending: 0, labelled: 5), [Job(scoreJob), Job("digits-export-1")]) with
        {
            JobsUnscheduled = new Dictionary<string, string> { [scoreJob] = unschedulable, ["digits-export-1"] = unschedulable },
        });

        var scoring = Condition(waiting, LabelingQueueConditions.Scoring);
        Assert.Equal(("True", "PodUnschedulable"), (scoring.Status, scoring.Reason));
        Assert.Contains($"Job {scoreJob}): its pod is not scheduled yet: {unschedulable}", scoring.Message, StringComparison.Ordinal);
        var retraining = Condition(waiting, LabelingQueueConditions.Retraining);
        Assert.Equal(("True", "PodUnschedulable"), (retraining.Status, retraining.Reason));
        Assert.Contains(unschedulable, retraining.Message, StringComparison.Ordinal);

        // Scheduled, they are plainly running again.
        var running = LabelingQueuePlanner.Plan(Observe(Queue(waiting.Status), Stats(total: 5, pending: 0, labelled: 5), [Job(scoreJob), Job("digits-export-1")]));
        Assert.Equal("Running", Condition(running, LabelingQueueConditions.Scoring).Reason);
        Assert.Equal("Exporting", Condition(running, LabelingQueueConditions.Retraining).Reason);
    }

    [Fact]
    public void After_afterLabels_new_labels_one_export_then_one_training_run_with_the_count_it_used()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 2 });
        var stats = Stats(total: 10, pending: 5, labelled: 8);

        var export = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 10, pending: 5, labelled: 7)));
        Assert.Null(export.StartExport);
        Assert.Equal("WaitingForLabels", Condition(export, LabelingQueueConditions.Retraining).Reason);

        var starting = LabelingQueuePlanner.Plan(Observe(queue, stats));
        Assert.Equal(1, starting.StartExport);
        Assert.Null(starting.CreateRetrainRun);

        var running = LabelingQueuePlanner.Plan(Observe(Queue(starting.Status), stats, [Job("digits-export-1")]));
        Assert.Null(running.StartExport);
        Assert.Equal(("True", "Exporting"), (Condition(running, LabelingQueueConditions.Retraining).Status, Condition(running, LabelingQueueConditions.Retraining).Reason));

        // 9 labels by the time the export ran: the run records what the export holds, not what triggered it.
        var exported = LabelingQueuePlanner.Plan(Observe(Queue(running.Status), Stats(total: 10, pending: 4, labelled: 9), [Job("digits-export-1", "Complete")],
            new() { ["digits-export-1"] = """{"file":"/x/labels.csv","format":"csv","labels":9,"lastEventSeq":9}""" }));
        Assert.Equal(new RetrainRound(1, "pvc://data/labelled/round-0001/labels.csv", 9), exported.CreateRetrainRun);
        Assert.Equal((1, 9, 0, "digits-retrain-1"), (exported.Status.RetrainRounds, exported.Status.RetrainedLabels, exported.Status.LabelsSinceRetrain, exported.Status.LastRetrainRun));

        // The next round waits for afterLabels labels beyond those 9.
        var after = LabelingQueuePlanner.Plan(Observe(Queue(exported.Status), Stats(total: 12, pending: 1, labelled: 11), [Job("digits-export-1", "Complete")]));
        Assert.Null(after.StartExport);
        Assert.Null(after.CreateRetrainRun);
        Assert.Equal(2, after.Status.LabelsSinceRetrain);
    }

    [Fact]
    public void A_committee_member_not_ready_holds_back_scoring_only_the_counts_and_retraining_go_on()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 2 });
        var problem = ("CommitteeNotReady", "strategy.committee: TrainingRun member-b is Running; scoring waits for its model");
        var plan = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 10, pending: 0, labelled: 8), model: null) with
        {
            ModelProblem = problem.Item2,
            CommitteeProblem = problem,
        });

        Assert.Equal(("False", "CommitteeNotReady"), (Condition(plan, ConditionTypes.Valid).Status, Condition(plan, ConditionTypes.Valid).Reason));
        Assert.Contains("member-b", Condition(plan, ConditionTypes.Valid).Message, StringComparison.Ordinal);
        Assert.Null(plan.StartScoring);
        Assert.Equal((8, 4), (plan.Status.Labelled, plan.Status.BudgetRemaining));
        Assert.Equal(1, plan.StartExport);
        Assert.True(plan.ServeLabels);
    }

    [Fact]
    public void A_run_created_by_a_reconcile_whose_status_was_lost_is_recorded_not_created_again()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 2 });
        var run = new TrainingRun
        {
            Metadata = new V1ObjectMeta
            {
                Name = "digits-retrain-1",
                Annotations = new Dictionary<string, string>
                {
                    [LabelingQueueNames.ExportAnnotation] = "pvc://data/labelled/round-0001/labels.csv",
                    [LabelingQueueNames.LabelCountAnnotation] = "8",
                },
            },
        };

        var plan = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 10, pending: 2, labelled: 10), [Job("digits-export-1", "Complete")], nextRun: run));

        Assert.Null(plan.StartExport);
        Assert.Null(plan.CreateRetrainRun);
        Assert.Equal((1, 8, 2), (plan.Status.RetrainRounds, plan.Status.RetrainedLabels, plan.Status.LabelsSinceRetrain));
    }

    [Fact]
    public void A_failed_or_unreadable_export_is_reported_and_creates_no_run()
    {
        var queue = Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 2 });
        var stats = Stats(total: 10, pending: 2, labelled: 8);

        var failed = LabelingQueuePlanner.Plan(Observe(queue, stats, [Job("digits-export-1", "Failed")], new() { ["digits-export-1"] = "error: disk full" }));
        Assert.Null(failed.CreateRetrainRun);
        Assert.Null(failed.StartExport);
        Assert.Equal("ExportFailed", Condition(failed, LabelingQueueConditions.Retraining).Reason);
        Assert.Contains("error: disk full; delete the Job to retry", Condition(failed, LabelingQueueConditions.Retraining).Message, StringComparison.Ordinal);

        var unreadable = LabelingQueuePlanner.Plan(Observe(queue, stats, [Job("digits-export-1", "Complete")], new() { ["digits-export-1"] = "exported" }));
        Assert.Null(unreadable.CreateRetrainRun);
        Assert.Equal("ExportUnreadable", Condition(unreadable, LabelingQueueConditions.Retraining).Reason);
    }

    [Fact]
    public void The_retrained_run_is_the_template_with_the_export_added_owned_labelled_and_annotated()
    {
        var run = LabelingWorkloadBuilder.BuildRetrainRun(Queue(), new RetrainRound(2, "pvc://data/labelled/round-0002/labels.csv", 17));

        Assert.Equal("digits-retrain-2", run.Metadata.Name);
        // The template's training data stays; the export is trained on with it.
        Assert.Equal("pvc://data/base.csv", run.Spec.Data.Train.Uri);
        var added = Assert.Single(run.Spec.Data.AdditionalTrain!);
        Assert.Equal(("pvc://data/labelled/round-0002/labels.csv", DataFormats.Csv), (added.Uri, added.Format));
        // Both claims are mounted into the run's Job.
        Assert.Equal(["data", "models"], ResolvedConfigBuilder.ClaimsOf(run.Spec));
        Assert.Equal("pvc://models/retrained/digits-retrain-2", run.Spec.Artifacts.Uri); // its own folder: no round overwrites another's model
        Assert.Equal(("17", "2"), (run.Metadata.Annotations[LabelingQueueNames.LabelCountAnnotation], run.Metadata.Annotations[LabelingQueueNames.RoundAnnotation]));
        Assert.Equal(("digits", "digits", "syllabus"), (run.Metadata.Labels[LabelingQueueNames.QueueLabel], run.Metadata.Labels["syllabus.dev/model"], run.Metadata.Labels[TrainingRunNames.ManagedByLabel]));
        Assert.Equal(("LabelingQueue", "digits", true), (run.Metadata.OwnerReferences.Single().Kind, run.Metadata.OwnerReferences.Single().Name, run.Metadata.OwnerReferences.Single().Controller));
        Assert.Equal("pvc://data/base.csv", Queue().Spec.Retrain!.Template.Spec.Data.Train.Uri); // the template is untouched
        Assert.Null(Queue().Spec.Retrain!.Template.Spec.Data.AdditionalTrain);

        // A template's own additional sources stay, the export after them.
        var queue = Queue();
        queue.Spec.Retrain!.Template.Spec.Data.AdditionalTrain = [new DatasetSource { Uri = "pvc://older/labels.parquet", Format = DataFormats.Parquet }];
        var withOwn = LabelingWorkloadBuilder.BuildRetrainRun(queue, new RetrainRound(3, "pvc://data/labelled/round-0003/labels.csv", 20));
        Assert.Equal(["pvc://older/labels.parquet", "pvc://data/labelled/round-0003/labels.csv"], withOwn.Spec.Data.AdditionalTrain!.Select(s => s.Uri));
        Assert.Equal(["data", "models", "older"], ResolvedConfigBuilder.ClaimsOf(withOwn.Spec));
        Assert.Single(queue.Spec.Retrain!.Template.Spec.Data.AdditionalTrain!);
    }

    [Fact]
    public void Workloads_run_the_trainer_modes_on_the_store_with_the_token_from_the_secret()
    {
        var image = new TrainerImageOptions { Image = "trainer:dev" };
        var queue = Queue();
        var deployment = LabelingWorkloadBuilder.BuildLabelDeployment(queue, image);
        var label = deployment.Spec.Template.Spec.Containers.Single();
        Assert.Equal(
            ["label", "--store", "/var/run/syllabus/pvc/data/labelling/digits/labels.db", "--labels", "0,1,2", "--budget", "12", "--port", "8080",
             "--token-file", "/var/run/secrets/syllabus.dev/labeling/token", "--pool-dir", "/var/run/syllabus/pvc/data/labelling/digits/batches", "--pool-poll-seconds", "5"],
            label.Args);
        Assert.Equal("/healthz", label.ReadinessProbe.HttpGet.Path);
        Assert.Equal("Recreate", deployment.Spec.Strategy.Type);
        Assert.Equal("digits-token", deployment.Spec.Template.Spec.Volumes.Single(v => v.Secret is not null).Secret.SecretName);

        var first = LabelingWorkloadBuilder.BuildScoringJob(queue, new ScoringRound(1, 1, 5, Model), image).Spec.Template.Spec.Containers.Single().Args;
        Assert.DoesNotContain("--exclude-store", first); // the store is created from the first batch
        var next = LabelingWorkloadBuilder.BuildScoringJob(queue, new ScoringRound(3, 2, 4, Model), image);
        Assert.Equal("digits-score-3-2", next.Metadata.Name);
        Assert.Equal(0, next.Spec.BackoffLimit);
        Assert.Equal(
            ["score", "--model", Model, "--pool", "/var/run/syllabus/pvc/data/pool.csv", "--strategy", "margin", "--batch", "4", "--seed", "3",
             "--out", "/var/run/syllabus/pvc/data/labelling/digits/batches/batch-0003.csv", "--termination-message-path", "/dev/termination-log",
             "--exclude-store", "/var/run/syllabus/pvc/data/labelling/digits/labels.db", "--balance-classes"],
            next.Spec.Template.Spec.Containers.Single().Args);
        Assert.Equal(["data", "models"], next.Spec.Template.Spec.Volumes.Where(v => v.PersistentVolumeClaim is not null).Select(v => v.PersistentVolumeClaim.ClaimName).Order());

        var export = LabelingWorkloadBuilder.BuildExportJob(queue, 1, image).Spec.Template.Spec.Containers.Single();
        Assert.Equal(
            ["label", "--store", "/var/run/syllabus/pvc/data/labelling/digits/labels.db", "--export", "/var/run/syllabus/pvc/data/labelled/round-0001/labels.csv",
             "--export-format", "csv", "--termination-message-path", "/dev/termination-log"],
            export.Args);

        var secret = LabelingWorkloadBuilder.BuildTokenSecret(queue);
        Assert.Equal(64, secret.StringData[LabelingQueueNames.TokenKey].Length);
        Assert.NotEqual(secret.StringData[LabelingQueueNames.TokenKey], LabelingWorkloadBuilder.BuildTokenSecret(queue).StringData[LabelingQueueNames.TokenKey]);
    }

    [Fact]
    public void Jobs_mounting_the_store_once_the_labelling_pod_runs_are_scheduled_on_its_node()
    {
        var image = new TrainerImageOptions { Image = "trainer:dev" };
        var queue = Queue();
        var labelPod = LabelingWorkloadBuilder.BuildLabelDeployment(queue, image).Spec.Template.Metadata.Labels;

        // Batch 1 creates the store, before the labelling Deployment exists: no affinity (it would never schedule).
        Assert.Null(LabelingWorkloadBuilder.BuildScoringJob(queue, new ScoringRound(1, 2, 5, Model), image, labelPodRuns: false).Spec.Template.Spec.Affinity);
        // The planner serves labels once the first batch is in, so a later round is always built with the labelling pod running.
        var second = LabelingQueuePlanner.Plan(Observe(Queue(new LabelingQueueStatus { TokenSecret = "digits-token", Batches = 1 }), Stats(total: 5, pending: 0, labelled: 5)));
        Assert.True(second.ServeLabels);
        Assert.Equal(2, second.StartScoring!.Batch);

        // Once it runs, every round (a retried first batch over a store that existed before the queue too) and every export
        // mounts the store (a ReadWriteOnce claim attaches to one node): the labelling pod's node.
        foreach (var job in new[]
        {
            LabelingWorkloadBuilder.BuildScoringJob(queue, new ScoringRound(2, 1, 5, Model), image, labelPodRuns: true),
            LabelingWorkloadBuilder.BuildScoringJob(queue, new ScoringRound(1, 3, 5, Model), image, labelPodRuns: true),
            LabelingWorkloadBuilder.BuildExportJob(queue, 1, image),
        })
        {
            var affinity = job.Spec.Template.Spec.Affinity;
            Assert.Null(affinity.PodAntiAffinity);
            Assert.Null(affinity.NodeAffinity);
            Assert.Null(affinity.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution);
            var term = Assert.Single(affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution);
            Assert.Equal("kubernetes.io/hostname", term.TopologyKey);
            Assert.Null(term.Namespaces); // the queue's own namespace
            Assert.Equal(labelPod, term.LabelSelector.MatchLabels);
            Assert.Equal(LabelingQueueNames.LabelRole, term.LabelSelector.MatchLabels[LabelingQueueNames.RoleLabel]);
            // The Job's own pods do not match it (another role), so only the labelling pod places them.
            Assert.NotEqual(job.Spec.Template.Metadata.Labels[LabelingQueueNames.RoleLabel], term.LabelSelector.MatchLabels[LabelingQueueNames.RoleLabel]);
        }
    }

    [Theory]
    [InlineData("QueryByCommittee", "", null, "pvc://data/labelled", "spec.strategy.committee: QueryByCommittee needs a committee: at least one TrainingRun besides spec.model")]
    [InlineData("Margin", "other", null, "pvc://data/labelled", "spec.strategy.committee: committee is only for QueryByCommittee")]
    [InlineData("QueryByCommittee", "other,other", null, "pvc://data/labelled", "committee members must be distinct TrainingRuns other than spec.model's")]
    [InlineData("QueryByCommittee", "base", null, "pvc://data/labelled", "committee members must be distinct TrainingRuns other than spec.model's")]
    [InlineData("Margin", null, null, null, "retrain needs exportUri")]
    public void Specs_the_operator_cannot_run_are_invalid_with_a_message_naming_the_field(string strategy, string? committee, string? deploymentRef, string? exportUri, string message)
    {
        var queue = Queue();
        queue.Spec.Strategy.Type = strategy;
        queue.Spec.Strategy.Committee = committee is null ? null : [.. committee.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(n => new LocalObjectReference { Name = n })];
        queue.Spec.Pool.DeploymentRef = deploymentRef is null ? null : new LocalObjectReference { Name = deploymentRef };
        queue.Spec.ExportUri = exportUri;

        var errors = SpecValidation.Describe(SpecValidation.Validate(queue.Spec));

        Assert.Contains(message, errors, StringComparison.Ordinal);
        Assert.Empty(SpecValidation.Validate(Queue().Spec));
    }

    [Fact]
    public void Export_summaries_are_read_strictly()
    {
        Assert.Equal(12, LabelingQueuePlanner.ExportedLabels("""{"labels":12,"lastEventSeq":40}"""));
        Assert.Null(LabelingQueuePlanner.ExportedLabels("exported 12 labels"));
        Assert.Null(LabelingQueuePlanner.ExportedLabels("""{"labels":-1}"""));
        Assert.Null(LabelingQueuePlanner.ExportedLabels(""));
    }

    [Fact]
    public void Stats_answers_are_parsed_and_malformed_ones_are_errors()
    {
        var stats = HttpLabelStatsReader.Parse("""{"total":10,"pending":2,"labelled":7,"skipped":1,"budget":12,"budgetLeft":5,"budgetExhausted":false,"perLabel":{},"lastEventSeq":9}"""u8, "pod");
        Assert.Equal(new LabelStats(10, 2, 7, 1, 12, 5, false, 9), stats);
        var withBad = HttpLabelStatsReader.Parse("""{"total":10,"pending":2,"labelled":7,"skipped":1,"lastEventSeq":9,"batchesNotImported":[{"file":"batch-0003.csv","reason":"line 4: has 8 fields, the header 7","at":"2026-01-01T00:00:00Z"}],"batchesNotImportedCount":2}"""u8, "pod");
        Assert.Equal([new BatchNotImported("batch-0003.csv", "line 4: has 8 fields, the header 7")], withBad.BatchesNotImported);
        Assert.Equal(2, withBad.BatchesNotImportedCount);
        Assert.Throws<LabelStatsException>(() => HttpLabelStatsReader.Parse("""{"total":10,"pending":2,"labelled":7,"skipped":1,"batchesNotImported":[{"reason":"x"}]}"""u8, "pod"));
        Assert.Throws<LabelStatsException>(() => HttpLabelStatsReader.Parse("""{"total":10}"""u8, "pod"));
        Assert.Throws<LabelStatsException>(() => HttpLabelStatsReader.Parse("<html>"u8, "pod"));
    }

    private sealed class QueueReaders(ResourceCache<LabelingQueue> queues) : ICacheReaders
    {
        public ICacheReader<T> For<T>()
            where T : class, k8s.IKubernetesObject<V1ObjectMeta> =>
            typeof(T) == typeof(LabelingQueue) ? (ICacheReader<T>)(object)CacheReader<LabelingQueue>.Over(queues)
            : throw new InvalidOperationException($"no cache of {typeof(T).Name}");
    }

    [Fact]
    public void A_drift_policys_label_request_scores_the_drifted_deployments_uncertain_rows_once_ahead_of_the_pending_items()
    {
        var asked = new DriftLabelRequest { LabelingQueue = "digits", Samples = 3, Revision = 2, RequestedAt = T0.UtcDateTime, Reason = "DriftPolicy drift: pixels drifted" };
        var drift = new DriftLabelWork("drift", asked, "mnist", ["http://10.0.0.1:8080/v2/models/mnist/uncertain"]);
        var queue = Queue(new LabelingQueueStatus { Batches = 1 });
        var stats = Stats(total: 5, pending: 5, labelled: 0);

        // Five pending items are a whole batch: without the request nothing would be scored.
        var plan = LabelingQueuePlanner.Plan(Observe(queue, stats) with { DriftRequest = drift });
        var round = plan.StartScoring!;
        Assert.Equal((2, 1, 3), (round.Batch, round.Attempt, round.Count));
        Assert.Equal(drift.Uncertain, round.Uncertain);
        Assert.Equal(T0.UtcDateTime, plan.Status.Scoring!.DriftRequestedAt);
        Assert.Null(plan.Status.DriftRequestHandledAt); // handled when the round ends
        Assert.Equal("DriftRequested", Condition(plan, LabelingQueueConditions.Scoring).Reason);
        var job = LabelingWorkloadBuilder.BuildScoringJob(queue, round, new TrainerImageOptions());
        var args = job.Spec.Template.Spec.Containers[0].Args;
        Assert.Contains("--pool", args); // with the queue's own pool: every batch has the store's columns
        Assert.Contains("http://10.0.0.1:8080/v2/models/mnist/uncertain", args);

        // The round's Job succeeds and its rows are imported: the request is handled, once.
        queue.Status = plan.Status;
        var done = LabelingQueuePlanner.Plan(Observe(queue, Stats(total: 8, pending: 8, labelled: 0), jobs: [Job(LabelingQueueNames.ScoreJob("digits", 2, 1), "Complete")]) with { DriftRequest = drift });
        Assert.Null(done.Status.Scoring);
        Assert.Equal(T0.UtcDateTime, done.Status.DriftRequestHandledAt);

        // With the budget spent, a request is passed over (handled) with a Warning, nothing scored.
        var spent = LabelingQueuePlanner.Plan(Observe(Queue(new LabelingQueueStatus { Batches = 3 }), Stats(total: 12, pending: 0, labelled: 12)) with { DriftRequest = drift });
        Assert.Null(spent.StartScoring);
        Assert.Equal(T0.UtcDateTime, spent.Status.DriftRequestHandledAt);
        Assert.Contains(spent.Events, e => e.Reason == "DriftRequestPassedOver");
    }

    [Fact]
    public void A_drift_request_that_cannot_be_served_yet_does_not_hold_back_the_usual_rounds()
    {
        var asked = new DriftLabelRequest { LabelingQueue = "digits", Samples = 3, Revision = 2, RequestedAt = T0.UtcDateTime, Reason = "r" };
        var noPods = new DriftLabelWork("drift", asked, "gone", []);
        var plan = LabelingQueuePlanner.Plan(Observe(Queue(new LabelingQueueStatus { Batches = 1 }), Stats(total: 5, pending: 1, labelled: 4)) with { DriftRequest = noPods });
        Assert.Equal((2, 5), (plan.StartScoring!.Batch, plan.StartScoring.Count)); // the usual round, a whole batch
        Assert.Null(plan.Status.Scoring!.DriftRequestedAt);
        Assert.Null(plan.Status.DriftRequestHandledAt); // still waiting for the deployment's pods
    }
}
