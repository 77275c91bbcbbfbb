using System.Globalization;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.ModelDeployments;

public sealed class ModelDeploymentPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private const string Image = "ghcr.io/syllabus-dev/syllabus-trainer:v0.1.0-cpu";

    private static ModelDeployment Md(Action<ModelDeploymentSpec>? configure = null)
    {
        var md = new ModelDeployment
        {
            Metadata = new V1ObjectMeta { Name = "mnist", NamespaceProperty = "ml", Generation = 1, ResourceVersion = "1" },
            Spec = new ModelDeploymentSpec
            {
                Source = new ModelSourceSpec { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["syllabus.dev/model"] = "mnist" } } },
                Replicas = 4,
                Promotion = new PromotionSpec { Canary = new CanarySpec { Weight = 25, AnalysisDuration = "10m" } },
                Analysis = new AnalysisSpec
                {
                    Interval = "1m",
                    Count = 3,
                    Metrics = [new AnalysisMetric { Name = "live-accuracy", Source = AnalysisSources.Server, Metric = ServerMetrics.Accuracy, AtLeast = 0.9 }],
                },
            },
        };
        configure?.Invoke(md.Spec);
        return md;
    }

    private static TrainingRun Run(string name, int minute, double accuracy = 0.95, string? testData = null, bool gatesPassed = true) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ml", Labels = new Dictionary<string, string> { ["syllabus.dev/model"] = "mnist" }, CreationTimestamp = T0.AddMinutes(minute - 30).UtcDateTime },
        Spec = new TrainingRunSpec(),
        Status = new TrainingRunStatus
        {
            Phase = TrainingRunPhases.Succeeded,
            CompletionTime = T0.AddMinutes(minute).UtcDateTime,
            Conditions = [new V1Condition { Type = ConditionTypes.GatesPassed, Status = gatesPassed ? "True" : "False", Reason = "x", Message = "" }],
            Result = new TrainingResult { ModelUri = $"pvc://models/{name}/model", Metrics = new Dictionary<string, double> { ["accuracy"] = accuracy }, TestData = testData },
        },
    };

    /// <summary>A Deployment of <paramref name="arm"/> serving <paramref name="revision"/>, fully rolled out.</summary>
    private static V1Deployment Deployment(string arm, int revision, int replicas) => new()
    {
        Metadata = new V1ObjectMeta { Name = $"mnist-{arm}", NamespaceProperty = "ml", Generation = 2 },
        Spec = new V1DeploymentSpec
        {
            Replicas = replicas,
            Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { [ModelDeploymentNames.RevisionLabel] = revision.ToString(CultureInfo.InvariantCulture) } } },
        },
        Status = new V1DeploymentStatus { ObservedGeneration = 2, Replicas = replicas, UpdatedReplicas = replicas, AvailableReplicas = replicas, ReadyReplicas = replicas },
    };

    private static ModelDeploymentPlan Plan(
        ModelDeployment md, IReadOnlyList<TrainingRun> runs, DateTimeOffset now, V1Deployment? stable = null, V1Deployment? canary = null,
        string? arm = null, double? accuracy = null, string? action = null, IReadOnlyDictionary<string, MeasuredValue>? armAccuracy = null,
        IReadOnlyList<(string Policy, DriftRollbackRequest Request)>? driftRollbacks = null)
    {
        Dictionary<string, Measurement>? round = null;
        if (arm is not null)
        {
            var measured = accuracy is { } a ? MeasuredValue.Of(a) : MeasuredValue.NoData("no feedback");
            round = new Dictionary<string, Measurement> { ["live-accuracy"] = AnalysisEvaluator.Judge(md.Spec.Analysis!.Metrics[0], measured, now) };
        }

        var plan = ModelDeploymentPlanner.Plan(new ModelDeploymentObservation
        {
            Deployment = md,
            Runs = runs,
            StableDeployment = stable,
            CanaryDeployment = canary,
            DefaultImage = Image,
            Action = action,
            Round = round,
            MeasuredArm = arm,
            ArmAccuracy = armAccuracy,
            DriftRollbacks = driftRollbacks ?? [],
            Now = now,
        });
        md.Status = plan.Status; // as written by the reconciler, read back on the next reconcile
        return plan;
    }

    private static string? Condition(ModelDeploymentStatus status, string type) => Conditions.Find(status.Conditions, type)?.Status;

    [Fact]
    public void Nothing_to_serve_is_Pending_with_the_reason()
    {
        var md = Md();
        var plan = Plan(md, [Run("r1", 0, gatesPassed: false)], T0);
        Assert.Null(plan.Stable);
        Assert.Equal(ModelDeploymentPhases.Pending, plan.Status.Phase);
        Assert.Contains("passed its gates", Conditions.Find(plan.Status.Conditions, ConditionTypes.Available)!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_first_model_is_served_at_once_then_Healthy_once_rolled_out()
    {
        var md = Md();
        var plan = Plan(md, [Run("r1", 0)], T0);
        Assert.Equal(new ArmPlan(1, "pvc://models/r1/model", Image, 4), plan.Stable);
        Assert.Null(plan.Canary);
        Assert.Equal(ModelDeploymentPhases.Progressing, plan.Status.Phase);
        Assert.Equal(1, plan.Status.StableRevision);
        Assert.Contains(plan.Events, e => e.Reason == "Promoted");

        plan = Plan(md, [Run("r1", 0)], T0.AddSeconds(30), stable: Deployment("stable", 1, 4));
        Assert.Equal(ModelDeploymentPhases.Healthy, plan.Status.Phase);
        Assert.Equal(Conditions.True, Condition(plan.Status, ConditionTypes.Available));
        Assert.Equal(RevisionOutcomes.Stable, Assert.Single(plan.Status.Revisions!).Outcome);
    }

    [Fact]
    public void A_bad_canary_is_aborted_traffic_returns_to_stable_and_the_candidate_is_not_retried_until_asked()
    {
        var md = Md();
        var runs = new List<TrainingRun> { Run("r1", 0) };
        Plan(md, runs, T0);
        var stable = Deployment("stable", 1, 4);
        Plan(md, runs, T0.AddMinutes(1), stable);

        runs.Add(Run("r2", 5));
        var plan = Plan(md, runs, T0.AddMinutes(6), stable);
        Assert.Equal(2, plan.Status.CanaryRevision);
        Assert.Equal(25, plan.Status.CanaryWeight);
        Assert.Equal(3, plan.Stable!.Replicas);
        Assert.Equal(new ArmPlan(2, "pvc://models/r2/model", Image, 1), plan.Canary);
        Assert.Contains(plan.Events, e => e.Reason == "CanaryStarted");

        // The canary's pods are up: its analysis starts, and measures one interval later; 0.95, then 0.81 (failureLimit 0).
        var canary = Deployment("canary", 2, 1);
        stable = Deployment("stable", 1, 3);
        Assert.Null(ModelDeploymentPlanner.MeasurementDue(md, stable, canary, T0.AddMinutes(7)));
        plan = Plan(md, runs, T0.AddMinutes(7), stable, canary);
        Assert.Equal((AnalysisArms.Canary, 2, AnalysisPhases.Running), (plan.Status.Analysis!.Arm, plan.Status.Analysis.Revision, plan.Status.Analysis.Phase));
        Assert.Null(ModelDeploymentPlanner.MeasurementDue(md, stable, canary, T0.AddMinutes(7.5)));
        Assert.Equal((AnalysisArms.Canary, 2), ModelDeploymentPlanner.MeasurementDue(md, stable, canary, T0.AddMinutes(8)));
        plan = Plan(md, runs, T0.AddMinutes(8), stable, canary, AnalysisArms.Canary, 0.95);
        Assert.Equal(AnalysisPhases.Running, plan.Status.Analysis!.Phase);
        plan = Plan(md, runs, T0.AddMinutes(9), stable, canary, AnalysisArms.Canary, 0.81);

        Assert.Equal(new ArmPlan(1, "pvc://models/r1/model", Image, 4), plan.Stable);
        Assert.Equal(0, plan.Canary!.Replicas);
        Assert.Equal(ModelDeploymentPhases.Degraded, plan.Status.Phase);
        Assert.Null(plan.Status.CanaryRevision);
        Assert.Equal(Conditions.True, Condition(plan.Status, ConditionTypes.RolledBack));
        var rolledBack = Conditions.Find(plan.Status.Conditions, ConditionTypes.RolledBack)!;
        Assert.Equal("AnalysisFailed", rolledBack.Reason);
        Assert.Equal("Revision 2 rolled back to 1: live-accuracy 0.81 < 0.9 in 1 of 2 measurements", rolledBack.Message);
        Assert.Equal(["AnalysisFailed"], plan.Rollbacks);
        Assert.Contains(plan.Events, e => e.Type == EventTypes.Warning && e.Reason == "RolledBack");
        var rejected = plan.Status.Revisions!.Single(r => r.Revision == 2);
        Assert.Equal((RevisionOutcomes.Rejected, T0.AddMinutes(9).UtcDateTime), (rejected.Outcome, rejected.RejectedAt));
        Assert.Equal("r2", Assert.Single(plan.Status.Refused!).TrainingRun);

        // The same candidate is not tried again...
        plan = Plan(md, runs, T0.AddMinutes(9.5), Deployment("stable", 1, 4), Deployment("canary", 2, 0));
        Assert.Null(plan.Status.CanaryRevision);
        Assert.Equal(2, plan.Status.Revisions!.Count);

        // ...until the user asks: a new revision of the same run.
        plan = Plan(md, runs, T0.AddMinutes(10), Deployment("stable", 1, 4), Deployment("canary", 2, 0), action: ModelDeploymentActions.Retry);
        Assert.True(plan.ActionHandled);
        Assert.Equal(3, plan.Status.CanaryRevision);
        Assert.Equal("r2", plan.Status.Revisions!.Single(r => r.Revision == 3).TrainingRun);
        Assert.Empty(plan.Status.Refused!);
    }

    [Fact]
    public void A_good_canary_is_promoted_after_count_successful_measurements()
    {
        var md = Md();
        var runs = new List<TrainingRun> { Run("r1", 0) };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5));
        Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        var stable = Deployment("stable", 1, 3);
        var canary = Deployment("canary", 2, 1);
        Plan(md, runs, T0.AddMinutes(7), stable, canary);
        Plan(md, runs, T0.AddMinutes(8), stable, canary, AnalysisArms.Canary, 0.95);
        Plan(md, runs, T0.AddMinutes(9), stable, canary, AnalysisArms.Canary, 0.96);
        var plan = Plan(md, runs, T0.AddMinutes(10), stable, canary, AnalysisArms.Canary, 0.97);

        Assert.Equal(2, plan.Status.StableRevision);
        Assert.Equal(new ArmPlan(2, "pvc://models/r2/model", Image, 4), plan.Stable);
        Assert.Equal(1, plan.Canary!.Replicas); // the promoted canary serves until the stable Deployment has rolled
        Assert.Equal(ModelDeploymentPhases.Progressing, plan.Status.Phase); // the stable Deployment still rolls to revision 2
        Assert.Equal(RevisionOutcomes.Superseded, plan.Status.Revisions!.Single(r => r.Revision == 1).Outcome);
        var promoted = plan.Status.Revisions!.Single(r => r.Revision == 2);
        Assert.Equal(RevisionOutcomes.Stable, promoted.Outcome);
        Assert.StartsWith("analysis Successful: live-accuracy 0.97 (3 of 3 measurements passed)", promoted.Reason, StringComparison.Ordinal);
        Assert.Contains(plan.Events, e => e.Reason == "Promoted");

        plan = Plan(md, runs, T0.AddMinutes(10.5), Deployment("stable", 2, 4), canary);
        Assert.Equal(ModelDeploymentPhases.Healthy, plan.Status.Phase);
        Assert.Equal(0, plan.Canary!.Replicas);
    }

    [Fact]
    public void MustBeat_on_the_same_test_data_rejects_a_candidate_offline_without_a_canary()
    {
        var md = Md(s => s.Promotion.MustBeat = new MustBeatSpec { Metric = "accuracy", Margin = 0.01 });
        var runs = new List<TrainingRun> { Run("r1", 0, 0.95, "sha256:aa") };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5, 0.955, "sha256:aa"));
        var plan = Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        Assert.Null(plan.Status.CanaryRevision);
        var rejected = plan.Status.Revisions!.Single(r => r.TrainingRun == "r2");
        Assert.Equal(RevisionOutcomes.Rejected, rejected.Outcome);
        Assert.Equal("accuracy 0.955 does not beat the stable revision 1's 0.95 by 0.01 on the same test data", rejected.Reason);

        // Better by more than the margin: canaried.
        runs.Add(Run("r3", 10, 0.97, "sha256:aa"));
        plan = Plan(md, runs, T0.AddMinutes(11), Deployment("stable", 1, 4));
        Assert.Equal("r3", plan.Status.Revisions!.Single(r => r.Revision == plan.Status.CanaryRevision).TrainingRun);
    }

    [Fact]
    public void MustBeat_without_shared_test_data_is_judged_online_from_both_arms_live_accuracy()
    {
        var md = Md(s => s.Promotion.MustBeat = new MustBeatSpec { Metric = "accuracy", Margin = 0.02 });
        var runs = new List<TrainingRun> { Run("r1", 0, 0.95, "sha256:aa"), };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5, 0.99, "sha256:bb"));
        Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        var stable = Deployment("stable", 1, 3);
        var canary = Deployment("canary", 2, 1);
        var live = new Dictionary<string, MeasuredValue> { [AnalysisArms.Canary] = MeasuredValue.Of(0.94), [AnalysisArms.Stable] = MeasuredValue.Of(0.93) };
        Plan(md, runs, T0.AddMinutes(7), stable, canary);
        Plan(md, runs, T0.AddMinutes(8), stable, canary, AnalysisArms.Canary, 0.94, armAccuracy: live);
        Plan(md, runs, T0.AddMinutes(9), stable, canary, AnalysisArms.Canary, 0.94, armAccuracy: live);

        // The analysis passes but the stable arm has no feedback yet: held, saying why, until it has.
        var held = Plan(md, runs, T0.AddMinutes(10), stable, canary, AnalysisArms.Canary, 0.94,
            armAccuracy: new Dictionary<string, MeasuredValue> { [AnalysisArms.Canary] = MeasuredValue.Of(0.94), [AnalysisArms.Stable] = MeasuredValue.NoData("0 feedback labels on 3 pods") });
        Assert.Equal(2, held.Status.CanaryRevision);
        Assert.Contains("stable: 0 feedback labels", Conditions.Find(held.Status.Conditions, ConditionTypes.Progressing)!.Message, StringComparison.Ordinal);
        var plan = Plan(md, runs, T0.AddMinutes(10.1), stable, canary, armAccuracy: live);
        Assert.Equal(1, plan.Status.StableRevision);
        Assert.Equal(["MustBeatFailed"], plan.Rollbacks);
        Assert.Equal("live accuracy 0.94 does not beat the stable revision 1's 0.93 by 0.02", plan.Status.Revisions!.Single(r => r.Revision == 2).Reason);
    }

    [Fact]
    public void A_stable_model_failing_its_analysis_is_rolled_back_to_the_last_good_revision()
    {
        var md = Md();
        var runs = new List<TrainingRun> { Run("r1", 0) };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5));
        Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        var stable = Deployment("stable", 1, 3);
        var canary = Deployment("canary", 2, 1);
        Plan(md, runs, T0.AddMinutes(7), stable, canary);
        for (var i = 0; i < 3; i++)
        {
            Plan(md, runs, T0.AddMinutes(8 + i), stable, canary, AnalysisArms.Canary, 0.95);
        }

        stable = Deployment("stable", 2, 4);
        canary = Deployment("canary", 2, 0);
        Plan(md, runs, T0.AddMinutes(11), stable, canary);
        Assert.Equal((AnalysisArms.Stable, 2), ModelDeploymentPlanner.MeasurementDue(md, stable, canary, T0.AddMinutes(12)));
        Plan(md, runs, T0.AddMinutes(12), stable, canary, AnalysisArms.Stable, 0.95);
        Assert.Equal(0.95, md.Status!.LiveAccuracy);

        // A stable run between measurements is left as it is: no status write per reconcile.
        var quiet = Plan(md, runs, T0.AddMinutes(12.5), stable, canary);
        Assert.Equal(T0.AddMinutes(11).UtcDateTime, quiet.Status.Analysis!.StartedAt);
        var plan = Plan(md, runs, T0.AddMinutes(13), stable, canary, AnalysisArms.Stable, 0.5);

        Assert.Equal(1, plan.Status.StableRevision);
        Assert.Equal(new ArmPlan(1, "pvc://models/r1/model", Image, 4), plan.Stable);
        Assert.Equal(["StableAnalysisFailed"], plan.Rollbacks);
        Assert.Equal(RevisionOutcomes.RolledBack, plan.Status.Revisions!.Single(r => r.Revision == 2).Outcome);
        Assert.Equal(ModelDeploymentPhases.Degraded, plan.Status.Phase);
        Assert.Contains("Revision 2 rolled back to 1", Conditions.Find(plan.Status.Conditions, ConditionTypes.RolledBack)!.Message, StringComparison.Ordinal);

        // r2 is the newest run but rolled back: it is not canaried again; and revision 1, restored by a rollback,
        // failing in turn is not rolled back further (it stays, Degraded, saying why).
        var restored = Deployment("stable", 1, 4);
        plan = Plan(md, runs, T0.AddMinutes(14), restored, canary);
        Assert.Null(plan.Status.CanaryRevision);
        Plan(md, runs, T0.AddMinutes(15), restored, canary, AnalysisArms.Stable, 0.5);
        Assert.Equal(1, md.Status!.StableRevision);
        Assert.Contains("has no revision to return to", Conditions.Find(md.Status.Conditions, ConditionTypes.Degraded)!.Message, StringComparison.Ordinal);
        Assert.Equal(ModelDeploymentPhases.Degraded, md.Status.Phase);
    }

    [Fact]
    public void A_drift_policy_asking_to_roll_back_the_stable_revision_returns_traffic_to_the_one_it_replaced_once()
    {
        var md = Md(s =>
        {
            s.Analysis = null;
            s.Promotion.Canary = null; // promoted as soon as it is a candidate
        });
        var runs = new List<TrainingRun> { Run("r1", 0) };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5));
        Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        var stable = Deployment("stable", 2, 4);
        Plan(md, runs, T0.AddMinutes(7), stable);
        Assert.Equal(2, md.Status!.StableRevision);

        // A request for another revision (one no longer stable) is ignored.
        var stale = new DriftRollbackRequest { Revision = 1, RequestedAt = T0.AddMinutes(7).UtcDateTime, Reason = "old" };
        Assert.Equal(2, Plan(md, runs, T0.AddMinutes(7.5), stable, driftRollbacks: [("drift", stale)]).Status.StableRevision);

        var request = new DriftRollbackRequest { Revision = 2, RequestedAt = T0.AddMinutes(8).UtcDateTime, Reason = "DriftPolicy drift: pixels: 500 of 784 features drifted" };
        var plan = Plan(md, runs, T0.AddMinutes(8), stable, driftRollbacks: [("drift", request)]);
        Assert.Equal(1, plan.Status.StableRevision);
        Assert.Equal(new ArmPlan(1, "pvc://models/r1/model", Image, 4), plan.Stable);
        Assert.Equal(["DriftDetected"], plan.Rollbacks);
        var rolledBack = plan.Status.Revisions!.Single(r => r.Revision == 2);
        Assert.Equal((RevisionOutcomes.RolledBack, request.Reason), (rolledBack.Outcome, rolledBack.Reason));
        Assert.Equal((Conditions.True, "DriftDetected"), (Condition(plan.Status, ConditionTypes.RolledBack), Conditions.Find(plan.Status.Conditions, ConditionTypes.RolledBack)!.Reason));
        Assert.Contains(plan.Events, e => e.Reason == "RolledBack" && e.Message.Contains("drifted", StringComparison.Ordinal));

        // Revision 2 is refused as a candidate afterwards, and the restored revision 1 is not rolled back further.
        var restored = Deployment("stable", 1, 4);
        var again = new DriftRollbackRequest { Revision = 1, RequestedAt = T0.AddMinutes(9).UtcDateTime, Reason = "DriftPolicy drift: still drifting" };
        plan = Plan(md, runs, T0.AddMinutes(9), restored, driftRollbacks: [("drift", again)]);
        Assert.Equal(1, plan.Status.StableRevision);
        Assert.Null(plan.Status.CanaryRevision);
        Assert.Empty(plan.Rollbacks);
        Assert.Equal("DriftRollbackImpossible", Conditions.Find(plan.Status.Conditions, ConditionTypes.Degraded)!.Reason);
        Assert.Contains("has no revision to return to", Conditions.Find(plan.Status.Conditions, ConditionTypes.Degraded)!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_older_run_never_seen_here_does_not_replace_the_stable_model_when_the_newer_run_is_deleted()
    {
        var md = Md(s => s.Promotion.Canary = null);
        var older = Run("r1", 0, gatesPassed: false); // not a candidate at first (gates failed)...
        Plan(md, [older, Run("r2", 5)], T0);
        Assert.Equal("r2", md.Status!.Revisions!.Single().TrainingRun);

        // ...later its gates pass (relabelled or re-evaluated) and r2 is deleted: r1 completed before the stable's run.
        var plan = Plan(md, [Run("r1", 0)], T0.AddMinutes(6), Deployment("stable", 1, 4));
        Assert.Equal(1, plan.Status.StableRevision);
        Assert.Single(plan.Status.Revisions!);
    }

    [Fact]
    public void Retry_reaches_a_refused_model_whose_revision_left_the_history()
    {
        var md = Md(s => { s.RevisionHistoryLimit = 1; s.Promotion.MustBeat = new MustBeatSpec { Metric = "accuracy", Margin = 0.01 }; s.Promotion.Canary = null; });
        var runs = new List<TrainingRun> { Run("r1", 0, 0.95, "sha256:aa"), Run("r2", 5, 0.95, "sha256:aa") };
        Plan(md, [runs[0]], T0);
        Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        Assert.Equal("r2", Assert.Single(md.Status!.Refused!).TrainingRun);
        Assert.Single(md.Status.Revisions!);

        // Retried: r2 is judged again (offline, and rejected again), as a new revision; the refusal is recorded anew.
        var retried = Plan(md, runs, T0.AddMinutes(10), Deployment("stable", 1, 4), action: ModelDeploymentActions.Retry);
        Assert.True(retried.ActionHandled);
        Assert.Equal(4, md.Status!.NextRevision);
        Assert.Equal("r2", Assert.Single(md.Status.Refused!).TrainingRun);

        // Nothing refused left to retry: the action is removed with a warning.
        var md2 = Md(s => s.Promotion.Canary = null);
        Plan(md2, [runs[0]], T0);
        var nothing = Plan(md2, [runs[0]], T0.AddMinutes(1), Deployment("stable", 1, 4), action: ModelDeploymentActions.Retry);
        Assert.True(nothing.ActionHandled);
        Assert.Contains(nothing.Events, e => e.Reason == "ActionIgnored");
        Assert.Contains(retried.Events, e => e.Reason == "CandidateRejected");
    }

    [Fact]
    public void Pinning_keeps_the_canary_serving_until_the_stable_Deployment_has_rolled()
    {
        var md = Md();
        Plan(md, [Run("r1", 0)], T0);
        Plan(md, [Run("r1", 0), Run("r2", 5)], T0.AddMinutes(6), Deployment("stable", 1, 4));
        md.Spec.PinnedRevision = 2; // the canary's own revision
        var plan = Plan(md, [Run("r1", 0), Run("r2", 5)], T0.AddMinutes(7), Deployment("stable", 1, 3), Deployment("canary", 2, 1));
        Assert.Equal((2, 4), (plan.Stable!.Revision, plan.Stable.Replicas));
        Assert.Equal(1, plan.Canary!.Replicas);
        Assert.Null(plan.Status.CanaryRevision);
        plan = Plan(md, [Run("r1", 0), Run("r2", 5)], T0.AddMinutes(8), Deployment("stable", 2, 4), Deployment("canary", 2, 1));
        Assert.Equal(0, plan.Canary!.Replicas);
    }

    [Fact]
    public void A_stable_analysis_that_cannot_measure_never_rolls_back()
    {
        var md = Md(s => { s.Promotion.Canary = null; s.Analysis!.Count = null; });
        var runs = new List<TrainingRun> { Run("r1", 0) };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5));
        Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        var stable = Deployment("stable", 2, 4);
        Plan(md, runs, T0.AddMinutes(7), stable);
        var metric = md.Spec.Analysis!.Metrics[0];
        for (var i = 1; i <= 5; i++)
        {
            var round = new Dictionary<string, Measurement> { ["live-accuracy"] = AnalysisEvaluator.Judge(metric, MeasuredValue.Failed("pod a: connection refused"), T0.AddMinutes(7 + i)) };
            var p = ModelDeploymentPlanner.Plan(new ModelDeploymentObservation { Deployment = md, Runs = runs, StableDeployment = stable, DefaultImage = Image, Round = round, MeasuredArm = AnalysisArms.Stable, Now = T0.AddMinutes(7 + i) });
            md.Status = p.Status;
            Assert.Empty(p.Rollbacks);
        }

        Assert.Equal(2, md.Status!.StableRevision);
        Assert.Equal("StableAnalysisError", Conditions.Find(md.Status.Conditions, ConditionTypes.Degraded)!.Reason);
    }

    [Fact]
    public void A_model_that_served_and_was_superseded_is_not_served_again_when_the_newer_run_is_deleted()
    {
        var md = Md(s => s.Promotion.Canary = null);
        var r1 = Run("r1", 0);
        Plan(md, [r1], T0);
        Plan(md, [r1, Run("r2", 5)], T0.AddMinutes(6), Deployment("stable", 1, 4));
        Assert.Equal(2, md.Status!.StableRevision);

        // r2 deleted (its TTL): r1 is the newest run left, but it served and was superseded.
        var plan = Plan(md, [r1], T0.AddMinutes(7), Deployment("stable", 2, 4));
        Assert.Equal(2, plan.Status.StableRevision);
        Assert.Equal(2, plan.Status.Revisions!.Count);
    }

    [Fact]
    public void A_rejected_model_stays_refused_after_its_revision_leaves_the_history()
    {
        var md = Md(s => { s.RevisionHistoryLimit = 1; s.Promotion.MustBeat = new MustBeatSpec { Metric = "accuracy", Margin = 0.01 }; });
        var runs = new List<TrainingRun> { Run("r1", 0, 0.95, "sha256:aa"), Run("r2", 5, 0.95, "sha256:aa") };
        Plan(md, [runs[0]], T0);
        var first = Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        Assert.Equal([1], first.Status.Revisions!.Select(r => r.Revision)); // revision 2 (rejected) trimmed at once
        Assert.Single(first.Events, e => e.Reason == "CandidateRejected");
        for (var i = 0; i < 3; i++)
        {
            var again = Plan(md, runs, T0.AddMinutes(7 + i), Deployment("stable", 1, 4));
            Assert.DoesNotContain(again.Events, e => e.Reason == "CandidateRejected");
        }

        Assert.Equal(3, md.Status!.NextRevision);
    }

    [Fact]
    public void An_older_run_never_replaces_a_canary_under_analysis()
    {
        var md = Md();
        Plan(md, [Run("r1", 0)], T0);
        Plan(md, [Run("r1", 0), Run("r3", 5)], T0.AddMinutes(6), Deployment("stable", 1, 4));
        Assert.Equal(2, md.Status!.CanaryRevision);

        // r2 finished before r3 (and before the canary started) but appears now, e.g. relabelled.
        var plan = Plan(md, [Run("r1", 0), Run("r3", 5), Run("r2", 3)], T0.AddMinutes(7), Deployment("stable", 1, 3));
        Assert.Equal(2, plan.Status.CanaryRevision);
        Assert.Equal("r3", plan.Status.Revisions!.Single(r => r.Revision == 2).TrainingRun);
    }

    [Fact]
    public void A_pinned_revision_serves_from_its_recorded_model_even_when_its_run_is_gone_and_unpinning_resumes_promotion()
    {
        var md = Md(s => s.Promotion.Canary = null);
        var runs = new List<TrainingRun> { Run("r1", 0) };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5));
        var plan = Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        Assert.Equal(2, plan.Status.StableRevision); // no canary: promoted at once

        md.Spec.PinnedRevision = 1;
        plan = Plan(md, [], T0.AddMinutes(7), Deployment("stable", 2, 4));
        Assert.Equal(new ArmPlan(1, "pvc://models/r1/model", Image, 4), plan.Stable);
        Assert.Equal(1, plan.Status.StableRevision);
        Assert.Null(plan.Status.Analysis);
        Assert.Equal("Pinned", Conditions.Find(plan.Status.Conditions, ConditionTypes.Progressing)!.Reason);
        plan = Plan(md, [], T0.AddMinutes(8), Deployment("stable", 1, 4));
        Assert.Equal(ModelDeploymentPhases.Healthy, plan.Status.Phase);
        Assert.Null(ModelDeploymentPlanner.MeasurementDue(md, Deployment("stable", 1, 4), null, T0.AddMinutes(9)));

        md.Spec.PinnedRevision = 7;
        plan = Plan(md, [], T0.AddMinutes(9), Deployment("stable", 1, 4));
        Assert.Equal("PinnedRevisionNotFound", Conditions.Find(plan.Status.Conditions, ConditionTypes.Degraded)!.Reason);
        Assert.Equal(1, plan.Stable!.Revision);

        // Unpinned: r2 is the newest good run and not the stable one, so it is promoted again (a new revision).
        md.Spec.PinnedRevision = null;
        plan = Plan(md, runs, T0.AddMinutes(10), Deployment("stable", 1, 4));
        Assert.Equal(3, plan.Status.StableRevision);
        Assert.Equal("r2", plan.Status.Revisions!.Single(r => r.Revision == 3).TrainingRun);
    }

    [Fact]
    public void The_history_keeps_revisionHistoryLimit_entries_and_always_the_stable_one()
    {
        var md = Md(s => { s.Promotion.Canary = null; s.RevisionHistoryLimit = 2; });
        var runs = new List<TrainingRun>();
        for (var i = 1; i <= 5; i++)
        {
            runs.Add(Run($"r{i}", i * 10));
            Plan(md, runs, T0.AddMinutes(i * 10 + 1), Deployment("stable", Math.Max(1, i - 1), 4));
        }

        Assert.Equal([5, 4], md.Status!.Revisions!.Select(r => r.Revision));
        Assert.Equal(6, md.Status.NextRevision);
    }

    [Fact]
    public void Promote_and_abort_actions_end_the_canary_at_once()
    {
        var md = Md();
        var runs = new List<TrainingRun> { Run("r1", 0) };
        Plan(md, runs, T0);
        runs.Add(Run("r2", 5));
        Plan(md, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        var promoted = Plan(md, runs, T0.AddMinutes(7), Deployment("stable", 1, 3), Deployment("canary", 2, 1), action: ModelDeploymentActions.Promote);
        Assert.True(promoted.ActionHandled);
        Assert.Equal(2, promoted.Status.StableRevision);

        var md2 = Md();
        Plan(md2, [Run("r1", 0)], T0);
        Plan(md2, runs, T0.AddMinutes(6), Deployment("stable", 1, 4));
        var aborted = Plan(md2, runs, T0.AddMinutes(7), Deployment("stable", 1, 3), Deployment("canary", 2, 1), action: ModelDeploymentActions.Abort);
        Assert.Equal(1, aborted.Status.StableRevision);
        Assert.Equal(["Aborted"], aborted.Rollbacks);
        Assert.Equal(RevisionOutcomes.Rejected, aborted.Status.Revisions!.Single(r => r.Revision == 2).Outcome);
    }
}
