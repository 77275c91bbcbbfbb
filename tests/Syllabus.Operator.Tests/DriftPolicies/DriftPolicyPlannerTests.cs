using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.DriftPolicies;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.DriftPolicies;

public sealed class DriftPolicyPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly ServingPod Pod = new("mnist-stable-a", "10.0.0.1:8080");

    private static DriftPolicy Policy(Action<DriftPolicySpec>? configure = null)
    {
        var policy = new DriftPolicy
        {
            Metadata = new V1ObjectMeta { Name = "mnist-drift", NamespaceProperty = "ml", Uid = "p-uid", Generation = 1 },
            Spec = new DriftPolicySpec
            {
                DeploymentRef = new LocalObjectReference { Name = "mnist" },
                Interval = "1m",
                MinWindowSize = 100,
                ConsecutiveBreaches = 2,
                Cooldown = "1h",
                MaxRetrainsPerDay = 1,
                HistoryLimit = 5,
                Detectors = [new DriftDetector { Name = "pixels", Type = DetectorTypes.FeatureDrift, DriftShare = 0.5 }],
                Actions =
                [
                    new DriftAction { Type = DriftActionTypes.Alert },
                    new DriftAction
                    {
                        Type = DriftActionTypes.Retrain,
                        Retrain = new RetrainSpec
                        {
                            ReplayFraction = 0.3,
                            Template = new TrainingRunTemplate
                            {
                                Metadata = new TemplateMetadata { Labels = new Dictionary<string, string> { ["team"] = "vision" } },
                                Spec = new TrainingRunSpec { Data = new DataSpec { Train = new DatasetSource { Uri = "pvc://data/new.csv" } }, Artifacts = new ArtifactsSpec { Uri = "pvc://artifacts/retrain/" } },
                            },
                        },
                    },
                ],
            },
        };
        configure?.Invoke(policy.Spec);
        return policy;
    }

    private static ModelDeployment Deployment(int stable = 1, bool bySelector = true) => new()
    {
        Metadata = new V1ObjectMeta { Name = "mnist", NamespaceProperty = "ml", Generation = 1 },
        Spec = new ModelDeploymentSpec
        {
            Source = bySelector
                ? new ModelSourceSpec { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["syllabus.dev/model"] = "mnist" } } }
                : new ModelSourceSpec { TrainingRun = new LocalObjectReference { Name = "mnist-1" } },
        },
        Status = new ModelDeploymentStatus
        {
            StableRevision = stable,
            Revisions = [.. Enumerable.Range(1, stable).Select(r => new ModelRevision { Revision = r, TrainingRun = $"mnist-{r}", ModelUri = $"pvc://artifacts/mnist-{r}/model", Outcome = r == stable ? RevisionOutcomes.Stable : RevisionOutcomes.Superseded })],
        },
    };

    private static TrainingRun ServedRun(int revision = 1) => new()
    {
        Metadata = new V1ObjectMeta { Name = $"mnist-{revision}", NamespaceProperty = "ml" },
        Spec = new TrainingRunSpec { Data = new DataSpec { Train = new DatasetSource { Uri = "pvc://data/original.csv" } } },
    };

    private static DriftLook Look(double distance, long rows = 500) => new()
    {
        Replicas = 1,
        WindowSize = rows,
        Inputs = new DriftInputs
        {
            Readings = new Dictionary<string, IReadOnlyList<DriftReading>>
            {
                [DriftDetectorNames.Auto] =
                [
                    DriftReading.Of(Pod, new DriftReport
                    {
                        CurrentRows = rows,
                        Performance = new PerformanceEstimate { BaselineAccuracy = 0.96, BaselineExpectedAccuracy = 0.95, ExpectedAccuracy = 0.94 },
                        Features = [.. new[] { "p1", "p2" }.Select(f => new DriftTest { Feature = f, Kind = "Numeric", Detector = DriftDetectorNames.Wasserstein, Statistic = distance, Score = distance, Threshold = 0.1 })],
                    }),
                ],
            },
        },
    };

    private static DriftLook Failing() => new()
    {
        Replicas = 1,
        Inputs = new DriftInputs { Readings = new Dictionary<string, IReadOnlyList<DriftReading>> { [DriftDetectorNames.Auto] = [DriftReading.Failed(Pod, "pod mnist-stable-a answered 409: this server has no training profile")] } },
    };

    private static DriftPolicyPlan Plan(DriftPolicy policy, DateTimeOffset now, DriftLook? look, ModelDeployment? deployment = null, TrainingRun? servedRun = null, TrainingRun? lastRetrain = null, TrainingRun? nextRetrain = null)
    {
        var plan = DriftPolicyPlanner.Plan(new DriftPolicyObservation
        {
            Policy = policy,
            Deployment = deployment ?? Deployment(),
            ServedRun = servedRun ?? ServedRun(),
            LastRetrainRun = lastRetrain,
            NextRetrainRun = nextRetrain,
            Look = look,
            Now = now,
        });
        policy.Status = plan.Status; // as written by the reconciler, read back on the next reconcile
        return plan;
    }

    private static (string? Status, string? Reason) Condition(DriftPolicyStatus status, string type) =>
        Conditions.Find(status.Conditions, type) is { } c ? (c.Status, c.Reason) : (null, null);

    [Fact]
    public void Breaches_are_counted_and_the_configured_number_in_a_row_retrains_once_with_warm_start_replay_and_the_deployments_labels()
    {
        var policy = Policy();
        var first = Plan(policy, T0, Look(0.5));
        Assert.Null(first.CreateRun);
        Assert.Equal((Conditions.False, "Breaching"), Condition(first.Status, ConditionTypes.Drifted));
        Assert.Equal(1, first.Status.ConsecutiveBreaches);
        Assert.Equal(TimeSpan.FromMinutes(1), first.RequeueAfter);

        var second = Plan(policy, T0.AddMinutes(1), Look(0.5));
        Assert.Equal((Conditions.True, "DriftDetected"), Condition(second.Status, ConditionTypes.Drifted));
        var run = second.CreateRun!;
        Assert.Equal("mnist-drift-retrain-1", run.Metadata.Name);
        Assert.Equal("pvc://artifacts/mnist-1/model", run.Spec.BaseModel!.Uri);
        Assert.Equal(("pvc://data/original.csv", 0.3), (run.Spec.Data.Replay!.Data.Uri, run.Spec.Data.Replay.Fraction));
        Assert.Equal("pvc://data/new.csv", run.Spec.Data.Train!.Uri);
        Assert.Equal("pvc://artifacts/retrain/mnist-drift-retrain-1", run.Spec.Artifacts.Uri);
        Assert.Equal(("mnist", "vision", "mnist-drift"), (run.Metadata.Labels["syllabus.dev/model"], run.Metadata.Labels["team"], run.Metadata.Labels[DriftPolicyNames.PolicyLabel]));
        Assert.Equal("1", run.Metadata.Annotations[DriftPolicyNames.DriftedRevisionAnnotation]);
        Assert.Equal(("DriftPolicy", "mnist-drift", true), (run.Metadata.OwnerReferences.Single().Kind, run.Metadata.OwnerReferences.Single().Name, run.Metadata.OwnerReferences.Single().Controller == true));
        Assert.Equal((1, 1, "mnist-drift-retrain-1"), (second.Status.RetrainCount, second.Status.RetrainsToday, second.Status.LastRetrainRun));
        Assert.Equal(T0.AddMinutes(1).UtcDateTime, second.Status.LastActionTime);
        Assert.Contains(second.Events, e => e.Reason == "DriftDetected" && e.Message.Contains("2 of 2 features drifted (p1, p2)", StringComparison.Ordinal));
        Assert.Contains(second.Events, e => e.Reason == "Retraining");
        Assert.Equal(["alerted", "retrained: TrainingRun mnist-drift-retrain-1 from revision 1's model"], second.Status.History![0].Actions);
        Assert.Equal(2, second.Status.History.Count);
    }

    [Fact]
    public void The_cooldown_and_the_daily_cap_hold_from_status_and_a_running_retrain_is_not_doubled()
    {
        var policy = Policy(s => s.MaxRetrainsPerDay = 1);
        Plan(policy, T0, Look(0.5));
        Plan(policy, T0.AddMinutes(1), Look(0.5));

        // Inside the cooldown (1h): counted, Drifted, no action.
        var held = Plan(policy, T0.AddMinutes(30), Look(0.5));
        Assert.Null(held.CreateRun);
        Assert.Empty(held.Events);
        Assert.StartsWith("none: in cooldown until 2026-11-30 13:01:00Z", held.Status.History![0].Actions!.Single(), StringComparison.Ordinal);
        Assert.Equal(3, held.Status.ConsecutiveBreaches);

        // After the cooldown the cap (1 a day) holds; the alert still goes out.
        var finished = new TrainingRun { Metadata = new V1ObjectMeta { Name = "mnist-drift-retrain-1" }, Status = new TrainingRunStatus { Phase = TrainingRunPhases.Succeeded } };
        var capped = Plan(policy, T0.AddHours(2), Look(0.5), lastRetrain: finished);
        Assert.Null(capped.CreateRun);
        Assert.Contains(capped.Events, e => e.Reason == "RetrainSkipped" && e.Message.Contains("maxRetrainsPerDay 1 reached (next allowed 2026-12-01 12:01:00Z)", StringComparison.Ordinal));

        // A day later the cap allows one more, unless the previous run is still training.
        var running = new TrainingRun { Metadata = new V1ObjectMeta { Name = "mnist-drift-retrain-1" }, Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running } };
        var busy = Plan(policy, T0.AddHours(26), Look(0.5), lastRetrain: running);
        Assert.Null(busy.CreateRun);
        Assert.Contains("still Running", busy.Status.History![0].Actions![1], StringComparison.Ordinal);
        var again = Plan(policy, T0.AddHours(28), Look(0.5), lastRetrain: finished);
        Assert.Equal("mnist-drift-retrain-2", again.CreateRun!.Metadata.Name);
        Assert.Equal(1, again.Status.RetrainsToday);
        Assert.Equal(5, again.Status.History!.Count); // historyLimit
    }

    [Fact]
    public void A_clean_evaluation_resets_the_count_an_error_leaves_it_and_a_new_stable_model_starts_again()
    {
        var policy = Policy(s => s.ConsecutiveBreaches = 3);
        Plan(policy, T0, Look(0.5));
        var error = Plan(policy, T0.AddMinutes(1), Failing());
        Assert.Equal(1, error.Status.ConsecutiveBreaches);
        Assert.Equal((Conditions.False, "EvaluationFailed"), Condition(error.Status, ConditionTypes.Ready));
        Assert.Contains("no training profile", Conditions.Find(error.Status.Conditions, ConditionTypes.Ready)!.Message, StringComparison.Ordinal);
        Assert.Equal(DriftOutcomes.Error, error.Status.History![0].Outcome);
        Assert.Null(error.CreateRun);

        Assert.Equal(2, Plan(policy, T0.AddMinutes(2), Look(0.5)).Status.ConsecutiveBreaches);
        var clean = Plan(policy, T0.AddMinutes(3), Look(0.01));
        Assert.Equal(0, clean.Status.ConsecutiveBreaches);
        Assert.Equal(DriftOutcomes.Clean, clean.Status.History![0].Outcome);
        Assert.Equal((Conditions.False, "NoDrift"), Condition(clean.Status, ConditionTypes.Drifted));

        Plan(policy, T0.AddMinutes(4), Look(0.5));
        var promoted = Plan(policy, T0.AddMinutes(5), Look(0.5), deployment: Deployment(stable: 2));
        Assert.Equal((2, 1), (promoted.Status.StableRevision, promoted.Status.ConsecutiveBreaches));
    }

    [Fact]
    public void A_counted_evaluation_moves_the_window_marks_a_failed_one_leaves_them_and_a_new_stable_model_drops_them()
    {
        static DriftWindowMark Mark(long rows) => new() { Pod = Pod.Name, Instance = "i1", RowsSeen = rows };
        var policy = Policy();
        var first = Plan(policy, T0, Look(0.01) with { Marks = [Mark(500)] });
        Assert.Equal(500, Assert.Single(first.Status.WindowMarks!).RowsSeen);

        // Failed: the rows it read are tested again next time.
        var failed = Plan(policy, T0.AddMinutes(1), Failing() with { Marks = [Mark(900)] });
        Assert.Equal(500, Assert.Single(failed.Status.WindowMarks!).RowsSeen);
        var waiting = Plan(policy, T0.AddMinutes(2), new DriftLook { WindowSize = 40, Marks = [Mark(940)], NotEvaluated = ("WaitingForWindow", "fewer than minWindowSize 100 rows served since the last evaluation (mnist-stable-a 40)") });
        Assert.Equal(500, Assert.Single(waiting.Status.WindowMarks!).RowsSeen);

        var next = Plan(policy, T0.AddMinutes(3), Look(0.5) with { Marks = [Mark(1000)] });
        Assert.Equal(1000, Assert.Single(next.Status.WindowMarks!).RowsSeen);
        var promoted = Plan(policy, T0.AddMinutes(4), look: null, deployment: Deployment(stable: 2));
        Assert.Null(promoted.Status.WindowMarks);

        // A minimum the serving window can never hold is a condition, not a wait.
        var unreachable = Plan(Policy(), T0, new DriftLook { WindowSize = 0, NotEvaluated = ("WindowTooSmall", "minWindowSize 5000 can never be reached: the serving window of mnist-stable-a holds at most 1000 rows; lower minWindowSize") });
        Assert.Equal((Conditions.False, "WindowTooSmall"), Condition(unreachable.Status, ConditionTypes.Ready));
    }

    [Fact]
    public void Nothing_is_evaluated_before_the_interval_nor_before_the_window_is_large_enough_nor_without_a_deployment()
    {
        var policy = Policy();
        Plan(policy, T0, Look(0.01));
        Assert.Equal(T0.AddMinutes(1), DriftPolicyPlanner.NextEvaluationAt(policy));
        var early = Plan(policy, T0.AddSeconds(20), look: null);
        Assert.Equal(TimeSpan.FromSeconds(40), early.RequeueAfter);
        Assert.Single(early.Status.History!);

        var small = Plan(Policy(), T0, new DriftLook { WindowSize = 40, NotEvaluated = ("WaitingForWindow", "fewer than minWindowSize 100 rows (mnist-stable-a 40)") });
        Assert.Equal((Conditions.True, "WaitingForWindow"), Condition(small.Status, ConditionTypes.Ready));
        Assert.Equal((Conditions.Unknown, "NotEvaluated"), Condition(small.Status, ConditionTypes.Drifted));
        Assert.Null(small.Status.History);
        Assert.Equal(40, small.Status.WindowSize);

        var orphan = DriftPolicyPlanner.Plan(new DriftPolicyObservation { Policy = Policy(), Deployment = null, Now = T0 });
        Assert.Equal((Conditions.False, "DeploymentNotFound"), Condition(orphan.Status, ConditionTypes.Ready));
    }

    [Fact]
    public void A_retrain_that_cannot_be_built_is_skipped_with_the_reason_and_a_lost_status_write_is_recovered_by_name()
    {
        var byName = Policy();
        Plan(byName, T0, Look(0.5), deployment: Deployment(bySelector: false));
        var skipped = Plan(byName, T0.AddMinutes(1), Look(0.5), deployment: Deployment(bySelector: false));
        Assert.Null(skipped.CreateRun);
        Assert.Contains(skipped.Events, e => e.Reason == "RetrainSkipped" && e.Message.Contains("serves TrainingRun mnist-1 by name", StringComparison.Ordinal));
        Assert.Null(skipped.Status.RetrainCount);

        var gone = Policy();
        Plan(gone, T0, Look(0.5));
        var noReplay = DriftPolicyPlanner.Plan(new DriftPolicyObservation { Policy = gone, Deployment = Deployment(), ServedRun = null, Look = Look(0.5), Now = T0.AddMinutes(1) });
        Assert.Null(noReplay.CreateRun);
        Assert.Contains(noReplay.Events, e => e.Message.Contains("its TrainingRun mnist-1 is gone; set retrain.template.spec.data.replay", StringComparison.Ordinal));

        // The run was created but the status recording it was lost: found under its name, recorded, not created again.
        var lost = Policy();
        Plan(lost, T0, Look(0.5));
        var existing = new TrainingRun { Metadata = new V1ObjectMeta { Name = "mnist-drift-retrain-1", OwnerReferences = [new V1OwnerReference { Uid = "p-uid", Kind = "DriftPolicy", Name = "mnist-drift" }] } };
        var recovered = Plan(lost, T0.AddMinutes(1), Look(0.5), nextRetrain: existing);
        Assert.Null(recovered.CreateRun);
        Assert.Equal((1, "mnist-drift-retrain-1"), (recovered.Status.RetrainCount, recovered.Status.LastRetrainRun));
    }

    [Fact]
    public void Rollback_asks_the_deployment_in_status_naming_the_drifted_revision()
    {
        var policy = Policy(s => s.Actions = [new DriftAction { Type = DriftActionTypes.Rollback }]);
        Plan(policy, T0, Look(0.5), deployment: Deployment(stable: 2));
        var plan = Plan(policy, T0.AddMinutes(1), Look(0.5), deployment: Deployment(stable: 2));
        Assert.Equal(2, plan.Status.Rollback!.Revision);
        Assert.StartsWith("DriftPolicy mnist-drift: pixels: 2 of 2 features drifted", plan.Status.Rollback.Reason, StringComparison.Ordinal);
        Assert.Contains(plan.Events, e => e.Reason == "RollbackRequested");
        Assert.Null(plan.CreateRun);
    }

    [Fact]
    public void Detectors_without_data_neither_clean_nor_breach_and_a_clean_evaluation_withdraws_the_rollback()
    {
        var policy = Policy(s =>
        {
            s.Detectors = [new DriftDetector { Name = "acc", Type = DetectorTypes.PerformanceDrop, Threshold = 0.05, MinSamples = 100 }, s.Detectors[0]];
            s.Actions = [new DriftAction { Type = DriftActionTypes.Rollback }];
        });
        DriftLook WithFeedback(double distance, MeasuredValue accuracy)
        {
            var look = Look(distance);
            return look with { Inputs = look.Inputs! with { OnlineAccuracy = new Dictionary<int, MeasuredValue> { [100] = accuracy } } };
        }

        Plan(policy, T0, WithFeedback(0.5, MeasuredValue.NoData("3 feedback labels")));
        var acted = Plan(policy, T0.AddMinutes(1), WithFeedback(0.5, MeasuredValue.NoData("3 feedback labels")));
        Assert.NotNull(acted.Status.Rollback);

        // Only the feedback detector, with too few labels: NoData, the count and Drifted stay.
        var onlyFeedback = Policy(s => s.Detectors = [new DriftDetector { Name = "acc", Type = DetectorTypes.PerformanceDrop, Threshold = 0.05, MinSamples = 100 }]);
        var noData = Plan(onlyFeedback, T0, new DriftLook { Replicas = 1, WindowSize = 500, Inputs = new DriftInputs { Readings = Look(0.01).Inputs!.Readings, OnlineAccuracy = new Dictionary<int, MeasuredValue> { [100] = MeasuredValue.NoData("3 feedback labels, fewer than minSamples 100") } } });
        Assert.Equal(DriftOutcomes.NoData, noData.Status.History![0].Outcome);
        Assert.Equal((Conditions.Unknown, "NoData"), Condition(noData.Status, ConditionTypes.Drifted));

        // The drift is over (pixels clean, feedback measured and fine): the rollback request is withdrawn.
        var over = Plan(policy, T0.AddMinutes(2), WithFeedback(0.01, MeasuredValue.Of(0.97)));
        Assert.Equal(DriftOutcomes.Clean, over.Status.History![0].Outcome);
        Assert.Null(over.Status.Rollback);
    }

    [Fact]
    public void Label_asks_the_queue_in_status_for_a_batch_of_the_drifted_revisions_uncertain_rows()
    {
        var policy = Policy(s => s.Actions = [new DriftAction { Type = DriftActionTypes.Label, LabelingQueueRef = new LocalObjectReference { Name = "mnist-active" }, Samples = 40 }]);
        Plan(policy, T0, Look(0.5));
        var plan = Plan(policy, T0.AddMinutes(1), Look(0.5));
        var request = plan.Status.LabelRequest!;
        Assert.Equal(("mnist-active", 40, 1, T0.AddMinutes(1).UtcDateTime), (request.LabelingQueue, request.Samples, request.Revision, request.RequestedAt));
        Assert.StartsWith("DriftPolicy mnist-drift: pixels:", request.Reason, StringComparison.Ordinal);
        Assert.Contains(plan.Events, e => e.Reason == "LabelingRequested");
        Assert.Equal(T0.AddMinutes(1).UtcDateTime, plan.Status.LastActionTime);
    }
}
