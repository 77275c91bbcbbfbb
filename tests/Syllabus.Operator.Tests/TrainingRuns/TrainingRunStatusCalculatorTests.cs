using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Api.Validation;
using static Syllabus.Operator.Tests.TrainingRuns.TestRuns;

namespace Syllabus.Operator.Tests.TrainingRuns;

public sealed class TrainingRunStatusCalculatorTests
{
    private static TrainingRunDecision Compute(TrainingRun run, DateTimeOffset now, IReadOnlyList<V1Job>? jobs = null, IReadOnlyList<V1Pod>? pods = null,
        TrainingProgress? progress = null, DependencyState? dependencies = null, IReadOnlyList<ValidationError>? errors = null) =>
        TrainingRunStatusCalculator.Compute(new TrainingRunObservation
        {
            Run = run,
            Jobs = jobs ?? [],
            Pods = pods ?? [],
            ScrapedProgress = progress,
            Dependencies = dependencies ?? DependencyState.Ready,
            ValidationErrors = errors ?? [],
            Now = now,
            Options = Options(),
        });

    /// <summary>Applies a decision's status to the run, as the reconciler's single status write does.</summary>
    private static TrainingRun With(TrainingRun run, TrainingRunDecision decision)
    {
        var copy = KubernetesObjects.DeepClone(run);
        copy.Status = KubernetesObjects.DeepClone(decision.Status);
        return copy;
    }

    private static V1Condition Condition(TrainingRunDecision d, string type) =>
        Conditions.Find(d.Status.Conditions, type) ?? throw new Xunit.Sdk.XunitException($"no {type} condition");

    [Fact]
    public void A_new_run_creates_attempt_one_and_is_Pending()
    {
        var d = Compute(Run(), T0);

        var create = Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(d.Actions));
        Assert.Equal(1, create.Attempt);
        Assert.Equal(TrainingRunPhases.Pending, d.Status.Phase);
        Assert.Equal(1, d.Status.Attempts);
        Assert.Equal("mnist-mlp-1", d.Status.JobName);
        Assert.Equal(T0.UtcDateTime, d.Status.StartTime);
        Assert.Equal(Conditions.True, Condition(d, ConditionTypes.Valid).Status);
        Assert.Equal(Conditions.Unknown, Condition(d, ConditionTypes.Scheduled).Status);
        Assert.Equal(Conditions.Unknown, Condition(d, ConditionTypes.GatesPassed).Status);
        Assert.Equal(Conditions.False, Condition(d, ConditionTypes.Failed).Status);
        Assert.Contains(d.Events, e => e.Reason == "AttemptCreated");
        Assert.All(d.Status.Conditions!, c => Assert.Equal(1, c.ObservedGeneration));
    }

    [Fact]
    public void Once_the_job_exists_no_second_job_is_created_even_if_status_was_never_written()
    {
        // The operator died after creating the Job and before writing status: the Job list alone says attempt 1 exists.
        var run = Run();
        var d = Compute(run, T0.AddSeconds(5), jobs: [Job(run, 1)]);
        Assert.Empty(d.Actions);
        Assert.Equal(1, d.Status.Attempts);
        Assert.Equal(Conditions.Unknown, Condition(d, ConditionTypes.Scheduled).Status);
    }

    [Fact]
    public void An_unschedulable_pod_is_reported_with_the_schedulers_message()
    {
        var run = Run();
        var pod = Pod(run, 1, "Pending", null, new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu." });
        var d = Compute(run, T0, [Job(run, 1)], [pod]);

        var scheduled = Condition(d, ConditionTypes.Scheduled);
        Assert.Equal(Conditions.False, scheduled.Status);
        Assert.Equal("Unschedulable", scheduled.Reason);
        Assert.Contains("Insufficient nvidia.com/gpu", scheduled.Message, StringComparison.Ordinal);
        Assert.Equal(TrainingRunPhases.Pending, d.Status.Phase);
        Assert.Contains(d.Events, e => e.Type == EventTypes.Warning && e.Reason == "Unschedulable");
        Assert.NotNull(d.RequeueAfter);

        // Reported once: the same observation again raises no second event.
        Assert.DoesNotContain(Compute(With(run, d), T0.AddSeconds(15), [Job(run, 1)], [pod]).Events, e => e.Reason == "Unschedulable");
    }

    [Fact]
    public void An_image_that_cannot_be_pulled_is_ImagePullBackOff()
    {
        var run = Run();
        var pod = Pod(run, 1, "Pending", new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ImagePullBackOff", Message = "Back-off pulling image" } });
        var d = Compute(run, T0, [Job(run, 1)], [pod]);
        Assert.Equal("ImagePullBackOff", Condition(d, ConditionTypes.Running).Reason);
        Assert.Equal(Conditions.True, Condition(d, ConditionTypes.Scheduled).Status);
    }

    [Fact]
    public void A_running_pod_makes_the_run_Running_with_the_scraped_progress()
    {
        var run = Run();
        var progress = new TrainingProgress { Epoch = 2, TotalEpochs = 5, Stage = "easy", Accuracy = 0.91, UpdatedAt = T0.UtcDateTime };
        var d = Compute(run, T0, [Job(run, 1)], [Pod(run, 1, "Running", Running(T0))], progress);

        Assert.Equal(TrainingRunPhases.Running, d.Status.Phase);
        Assert.Equal(Conditions.True, Condition(d, ConditionTypes.Running).Status);
        Assert.Equal(Conditions.True, Condition(d, ConditionTypes.Scheduled).Status);
        Assert.Equal(2, d.Status.Progress!.Epoch);
        Assert.Equal(TimeSpan.FromSeconds(15), d.RequeueAfter);
        Assert.Contains(d.Events, e => e.Reason == "Running");

        // Without a new scrape the last progress is kept.
        var later = Compute(With(run, d), T0.AddSeconds(5), [Job(run, 1)], [Pod(run, 1, "Running", Running(T0))]);
        Assert.Equal(2, later.Status.Progress!.Epoch);
        Assert.Equal(TimeSpan.FromSeconds(10), later.RequeueAfter);
    }

    [Fact]
    public void Scraping_is_due_at_most_once_per_interval()
    {
        var run = Run();
        var pod = Pod(run, 1, "Running", Running(T0));
        var interval = TimeSpan.FromSeconds(15);
        Assert.True(TrainingRunStatusCalculator.ShouldScrape(run, pod, T0, interval));

        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Progress = new TrainingProgress { Epoch = 1, UpdatedAt = T0.UtcDateTime } };
        Assert.False(TrainingRunStatusCalculator.ShouldScrape(run, pod, T0.AddSeconds(14), interval));
        Assert.True(TrainingRunStatusCalculator.ShouldScrape(run, pod, T0.AddSeconds(15), interval));
        Assert.False(TrainingRunStatusCalculator.ShouldScrape(run, Pod(run, 1, "Pending"), T0.AddSeconds(60), interval));
        Assert.False(TrainingRunStatusCalculator.ShouldScrape(run, null, T0.AddSeconds(60), interval));
    }

    [Fact]
    public void A_successful_attempt_with_passing_gates_Succeeds_with_the_result()
    {
        var run = Run();
        var pod = Pod(run, 1, "Succeeded", Terminated(0, T0.AddMinutes(3), PassingSummary));
        var d = Compute(run, T0.AddMinutes(3), [Job(run, 1, new V1JobCondition { Type = "Complete", Status = "True" })], [pod]);

        Assert.Equal(TrainingRunPhases.Succeeded, d.Status.Phase);
        Assert.Equal("pvc://artifacts/runs/mnist-mlp/model", d.Status.Result!.ModelUri);
        Assert.Equal(0.9612, d.Status.Result.Metrics!["accuracy"]);
        Assert.All(d.Status.Result.Gates!, g => Assert.True(g.Passed));
        Assert.Equal(0.021, d.Status.Result.Gates!.Single(g => g.Metric == "ece").Value);
        Assert.Equal(Conditions.True, Condition(d, ConditionTypes.GatesPassed).Status);
        Assert.Equal(Conditions.True, Condition(d, ConditionTypes.Completed).Status);
        Assert.Equal(Conditions.False, Condition(d, ConditionTypes.Failed).Status);
        Assert.Equal(T0.AddMinutes(3).UtcDateTime, d.Status.CompletionTime);
        Assert.Contains(d.Events, e => e.Reason == "Completed" && e.Type == EventTypes.Normal);
    }

    [Fact]
    public void A_trainer_that_exited_0_while_its_pod_still_reports_Running_stays_Running_until_the_pod_Succeeds()
    {
        var run = Run();
        var running = Compute(run, T0, [Job(run, 1)], [Pod(run, 1, "Running", Running(T0))]);
        Assert.Equal(TrainingRunPhases.Running, running.Status.Phase);

        var exited = Compute(With(run, running), T0.AddMinutes(3), [Job(run, 1)], [Pod(run, 1, "Running", Terminated(0, T0.AddMinutes(3), PassingSummary))]);
        Assert.Equal(TrainingRunPhases.Running, exited.Status.Phase);

        var done = Compute(With(run, exited), T0.AddMinutes(3), [Job(run, 1)], [Pod(run, 1, "Succeeded", Terminated(0, T0.AddMinutes(3), PassingSummary))]);
        Assert.Equal(TrainingRunPhases.Succeeded, done.Status.Phase);
    }

    [Fact]
    public void Failing_gates_fail_the_run_with_GatesFailed()
    {
        var run = Run();
        var pod = Pod(run, 1, "Succeeded", Terminated(0, T0, FailingSummary));
        var d = Compute(run, T0, [Job(run, 1)], [pod]);

        Assert.Equal(TrainingRunPhases.Failed, d.Status.Phase);
        Assert.Equal(TrainingRunReasons.GatesFailed, Condition(d, ConditionTypes.Failed).Reason);
        Assert.Equal(Conditions.False, Condition(d, ConditionTypes.GatesPassed).Status);
        Assert.Equal(Conditions.True, Condition(d, ConditionTypes.Completed).Status);
        var accuracy = d.Status.Result!.Gates!.Single(g => g.Metric == "accuracy");
        Assert.False(accuracy.Passed);
        Assert.Equal(0.71, accuracy.Value);
        Assert.Contains("below 0.9", accuracy.Message, StringComparison.Ordinal);
        Assert.True(d.Status.Result.Gates!.Single(g => g.Metric == "ece").Passed);
    }

    [Fact]
    public void A_failed_attempt_waits_out_the_backoff_then_starts_the_next_attempt()
    {
        var run = Run();
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 1, StartTime = T0.UtcDateTime };
        var failedAt = T0.AddMinutes(1);
        var jobs = new[] { Job(run, 1) };
        var pods = new[] { Pod(run, 1, "Failed", Terminated(1, failedAt, """{"phase":"Failed","message":"IOException: disk full"}""")) };

        var waiting = Compute(run, failedAt.AddSeconds(4), jobs, pods);
        Assert.Empty(waiting.Actions);
        Assert.Equal(TimeSpan.FromSeconds(6), waiting.RequeueAfter);
        Assert.Equal(TrainingRunReasons.RetryBackoff, Condition(waiting, ConditionTypes.Running).Reason);
        Assert.Contains("disk full", Condition(waiting, ConditionTypes.Running).Message, StringComparison.Ordinal);
        Assert.Contains(waiting.Events, e => e.Type == EventTypes.Warning && e.Reason == TrainingRunReasons.TrainerError);

        var retry = Compute(With(run, waiting), failedAt.AddSeconds(10), jobs, pods);
        Assert.Equal(2, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(retry.Actions)).Attempt);
        Assert.Equal(2, retry.Status.Attempts);
        Assert.Equal("mnist-mlp-2", retry.Status.JobName);
        Assert.Equal(T0.UtcDateTime, retry.Status.StartTime);
    }

    [Fact]
    public void The_backoff_doubles_up_to_the_cap()
    {
        var b = TimeSpan.FromSeconds(10);
        var cap = TimeSpan.FromSeconds(60);
        Assert.Equal(TimeSpan.Zero, TrainingRunStatusCalculator.Backoff(0, b, cap));
        Assert.Equal(TimeSpan.FromSeconds(10), TrainingRunStatusCalculator.Backoff(1, b, cap));
        Assert.Equal(TimeSpan.FromSeconds(20), TrainingRunStatusCalculator.Backoff(2, b, cap));
        Assert.Equal(TimeSpan.FromSeconds(40), TrainingRunStatusCalculator.Backoff(3, b, cap));
        Assert.Equal(cap, TrainingRunStatusCalculator.Backoff(4, b, cap));
        Assert.Equal(cap, TrainingRunStatusCalculator.Backoff(500, b, cap));
    }

    [Fact]
    public void More_failures_than_backoffLimit_fail_the_run_with_the_last_reason()
    {
        var run = Run(configure: s => s.BackoffLimit = 1);
        run.Status = new TrainingRunStatus
        {
            Phase = TrainingRunPhases.Pending, Attempts = 2, StartTime = T0.UtcDateTime,
            FailedAttempts = 1, LastFailure = new AttemptFailure { Attempt = 1, Reason = TrainingRunReasons.TrainerError, FinishedAt = T0.UtcDateTime },
        };
        var jobs = new[] { Job(run, 1), Job(run, 2) };
        var pods = new[] { Pod(run, 1, "Failed", Terminated(1, T0)), Pod(run, 2, "Failed", Terminated(137, T0.AddMinutes(1), reason: "OOMKilled")) };
        var d = Compute(run, T0.AddMinutes(2), jobs, pods);

        Assert.Equal(TrainingRunPhases.Failed, d.Status.Phase);
        var failed = Condition(d, ConditionTypes.Failed);
        Assert.Equal(TrainingRunReasons.OomKilled, failed.Reason);
        Assert.Contains("exceed backoffLimit 1", failed.Message, StringComparison.Ordinal);
        Assert.Empty(d.Actions);
        Assert.Equal(T0.AddMinutes(2).UtcDateTime, d.Status.CompletionTime);
    }

    [Fact]
    public void Bad_input_is_not_retried()
    {
        var run = Run();
        var pods = new[] { Pod(run, 1, "Failed", Terminated(2, T0, """{"phase":"Failed","message":"data.train: file not found"}""")) };
        var d = Compute(run, T0, [Job(run, 1)], pods);
        Assert.Equal(TrainingRunPhases.Failed, d.Status.Phase);
        Assert.Equal(TrainingRunReasons.InvalidInput, Condition(d, ConditionTypes.Failed).Reason);
        Assert.Contains("file not found", Condition(d, ConditionTypes.Failed).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Past_the_deadline_the_run_fails_and_its_running_job_is_deleted()
    {
        var run = Run(configure: s => s.ActiveDeadlineSeconds = 600);
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 1, StartTime = T0.UtcDateTime };
        var jobs = new[] { Job(run, 1) };
        var pods = new[] { Pod(run, 1, "Running", Running(T0)) };

        Assert.Equal(TrainingRunPhases.Running, Compute(run, T0.AddSeconds(599), jobs, pods).Status.Phase);
        var d = Compute(run, T0.AddSeconds(600), jobs, pods);
        Assert.Equal(TrainingRunPhases.Failed, d.Status.Phase);
        Assert.Equal(TrainingRunReasons.DeadlineExceeded, Condition(d, ConditionTypes.Failed).Reason);
        Assert.Equal("mnist-mlp-1", Assert.IsType<TrainingRunAction.DeleteJob>(Assert.Single(d.Actions)).Name);
    }

    [Fact]
    public void The_remaining_deadline_is_passed_to_the_next_attempt()
    {
        var run = Run(configure: s => s.ActiveDeadlineSeconds = 600);
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 1, StartTime = T0.UtcDateTime };
        var jobs = new[] { Job(run, 1) };
        var pods = new[] { Pod(run, 1, "Failed", Terminated(1, T0.AddSeconds(50))) };
        var recorded = Compute(run, T0.AddSeconds(100), jobs, pods);
        Assert.Empty(recorded.Actions); // the failure is written to status first
        var d = Compute(With(run, recorded), T0.AddSeconds(100), jobs, pods);
        Assert.Equal(500, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(d.Actions)).ActiveDeadlineSeconds);
    }

    [Fact]
    public void Suspending_deletes_the_running_job_and_resuming_starts_the_next_attempt()
    {
        var run = Run(configure: s => s.Suspend = true);
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 1, StartTime = T0.UtcDateTime, JobName = "mnist-mlp-1" };
        var suspended = Compute(run, T0.AddMinutes(1), [Job(run, 1)], [Pod(run, 1, "Running", Running(T0))]);

        Assert.Equal(TrainingRunPhases.Suspended, suspended.Status.Phase);
        Assert.Equal("mnist-mlp-1", Assert.IsType<TrainingRunAction.DeleteJob>(Assert.Single(suspended.Actions)).Name);
        Assert.Equal(Conditions.True, Condition(suspended, ConditionTypes.Suspended).Status);
        Assert.Contains(suspended.Events, e => e.Reason == "Suspended");

        // The Job is gone; still suspended: nothing to do.
        var run2 = With(run, suspended);
        Assert.Empty(Compute(run2, T0.AddMinutes(2)).Actions);

        run2.Spec.Suspend = false;
        var resumed = Compute(run2, T0.AddMinutes(3));
        Assert.Equal(2, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(resumed.Actions)).Attempt);
        Assert.Equal(Conditions.False, Condition(resumed, ConditionTypes.Suspended).Status);
        Assert.Contains(resumed.Events, e => e.Reason == "Resumed");
        Assert.Equal(TrainingRunPhases.Pending, resumed.Status.Phase);
    }

    [Fact]
    public void A_finished_run_is_deleted_when_its_TTL_passes()
    {
        var run = Run(configure: s => s.TtlSecondsAfterFinished = 30);
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Succeeded, Attempts = 1, CompletionTime = T0.UtcDateTime };
        var complete = new V1JobCondition { Type = "Complete", Status = "True" };

        var early = Compute(run, T0.AddSeconds(10), [Job(run, 1, complete)]);
        Assert.Empty(early.Actions);
        Assert.Equal(TimeSpan.FromSeconds(20), early.RequeueAfter);
        Assert.Equal(TrainingRunPhases.Succeeded, early.Status.Phase);

        Assert.IsType<TrainingRunAction.DeleteRun>(Assert.Single(Compute(run, T0.AddSeconds(30), [Job(run, 1, complete)]).Actions));
        // Without a TTL a finished run just stays.
        run.Spec.TtlSecondsAfterFinished = null;
        var kept = Compute(run, T0.AddDays(30), [Job(run, 1, complete)]);
        Assert.Empty(kept.Actions);
        Assert.Null(kept.RequeueAfter);
    }

    [Fact]
    public void An_invalid_spec_fails_an_unstarted_run_without_creating_anything()
    {
        var errors = new[] { new ValidationError("spec.gates[0]", "a gate needs exactly one of atLeast or atMost") };
        var d = Compute(Run(), T0, errors: errors);
        Assert.Empty(d.Actions);
        Assert.Equal(TrainingRunPhases.Failed, d.Status.Phase);
        Assert.Equal(Conditions.False, Condition(d, ConditionTypes.Valid).Status);
        Assert.Equal("spec.gates[0]: a gate needs exactly one of atLeast or atMost", Condition(d, ConditionTypes.Valid).Message);
        Assert.Equal(TrainingRunReasons.InvalidSpec, Condition(d, ConditionTypes.Failed).Reason);
        Assert.Null(d.Status.CompletionTime);

        // Fixed (new generation): it starts.
        var fixedRun = With(Run(), d);
        fixedRun.Metadata.Generation = 2;
        var started = Compute(fixedRun, T0.AddMinutes(1));
        Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(started.Actions));
        Assert.Equal(Conditions.True, Condition(started, ConditionTypes.Valid).Status);
        Assert.Equal(Conditions.False, Condition(started, ConditionTypes.Failed).Status);
    }

    [Fact]
    public void Waiting_for_a_base_model_does_not_poll_and_a_failed_base_model_fails_the_run()
    {
        var waiting = Compute(Run(), T0, dependencies: DependencyState.Waiting("WaitingForBaseModel", "Waiting for base TrainingRun pretrain"));
        Assert.Empty(waiting.Actions);
        Assert.Equal(TrainingRunPhases.Pending, waiting.Status.Phase);
        Assert.Null(waiting.RequeueAfter); // the base run is watched: its change enqueues this run
        Assert.Equal("WaitingForBaseModel", Condition(waiting, ConditionTypes.Scheduled).Reason);

        var failed = Compute(Run(), T0, dependencies: DependencyState.Failed("BaseModelGatesFailed", "Base TrainingRun pretrain failed its gates"));
        Assert.Equal(TrainingRunPhases.Failed, failed.Status.Phase);
        Assert.Equal("BaseModelGatesFailed", Condition(failed, ConditionTypes.Failed).Reason);
    }

    [Fact]
    public void Recomputing_the_same_observation_changes_nothing()
    {
        var run = Run();
        var jobs = new[] { Job(run, 1) };
        var pods = new[] { Pod(run, 1, "Running", Running(T0)) };
        var first = Compute(run, T0, jobs, pods, new TrainingProgress { Epoch = 1, UpdatedAt = T0.UtcDateTime });
        var second = Compute(With(run, first), T0.AddSeconds(3), jobs, pods);

        Assert.Equal(Syllabus.Api.Manifests.ToJson(first.Status), Syllabus.Api.Manifests.ToJson(second.Status));
        Assert.Empty(second.Events);
        Assert.Empty(second.Actions);
    }

    [Fact]
    public void A_teacher_dependency_is_reported_as_the_teacher()
    {
        var waiting = BaseModelPolicy.Evaluate("teacher", null, BaseModelPolicy.TeacherModel);
        Assert.Equal("TeacherModelNotFound", waiting.Reason);
        Assert.Contains("Teacher TrainingRun teacher", waiting.Message, StringComparison.Ordinal);
        var teacher = Run("teacher");
        teacher.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Pending };
        Assert.Equal("WaitingForTeacherModel", BaseModelPolicy.Evaluate("teacher", teacher, BaseModelPolicy.TeacherModel).Reason);
    }

    [Fact]
    public void Base_model_policy_waits_fails_or_allows()
    {
        Assert.Equal(DependencyStatus.Waiting, BaseModelPolicy.Evaluate("pretrain", null).Status);
        var baseRun = Run("pretrain");
        baseRun.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running };
        Assert.Equal("WaitingForBaseModel", BaseModelPolicy.Evaluate("pretrain", baseRun).Reason);

        baseRun.Status = new TrainingRunStatus
        {
            Phase = TrainingRunPhases.Failed,
            Conditions = [new V1Condition { Type = ConditionTypes.Failed, Status = Conditions.True, Reason = TrainingRunReasons.GatesFailed, Message = "accuracy" }],
        };
        Assert.Equal(("BaseModelGatesFailed", DependencyStatus.Failed), (BaseModelPolicy.Evaluate("pretrain", baseRun).Reason, BaseModelPolicy.Evaluate("pretrain", baseRun).Status));

        baseRun.Status.Conditions[0].Reason = TrainingRunReasons.OomKilled;
        Assert.Equal("BaseModelFailed", BaseModelPolicy.Evaluate("pretrain", baseRun).Reason);

        baseRun.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Succeeded, Result = new TrainingResult { ModelUri = "pvc://a/m" } };
        Assert.Equal(DependencyStatus.Ready, BaseModelPolicy.Evaluate("pretrain", baseRun).Status);
    }

    [Fact]
    public void A_failure_is_counted_once_in_status_and_recorded_before_the_next_attempt_exists()
    {
        var run = Run();
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 1, StartTime = T0.UtcDateTime };
        var failedAt = T0.AddMinutes(1);
        var jobs = new[] { Job(run, 1) };
        var pods = new[] { Pod(run, 1, "Failed", Terminated(1, failedAt)) };

        // Seen an hour late: the backoff is long over, yet the failure goes to status before attempt 2 is created.
        var first = Compute(run, failedAt.AddHours(1), jobs, pods);
        Assert.Empty(first.Actions);
        Assert.Equal(1, first.Status.FailedAttempts);
        Assert.Equal(1, first.Status.LastFailure!.Attempt);
        Assert.Equal(TrainingRunReasons.TrainerError, first.Status.LastFailure.Reason);
        Assert.Equal(failedAt.UtcDateTime, first.Status.LastFailure.FinishedAt);
        Assert.Equal(TrainingRunStatusCalculator.MinimumRequeue, first.RequeueAfter);
        Assert.Single(first.Events, e => e.Type == EventTypes.Warning);

        // Recomputed from the written status: counted once, and now attempt 2 starts.
        var second = Compute(With(run, first), failedAt.AddHours(1), jobs, pods);
        Assert.Equal(1, second.Status.FailedAttempts);
        Assert.Equal(2, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(second.Actions)).Attempt);
        Assert.DoesNotContain(second.Events, e => e.Type == EventTypes.Warning);
    }

    [Fact]
    public void Deleting_a_failed_Job_by_hand_neither_grants_a_retry_nor_skips_the_backoff()
    {
        var run = Run(configure: s => s.BackoffLimit = 1);
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 1, StartTime = T0.UtcDateTime };
        var failedAt = T0.AddMinutes(1);
        var recorded = With(run, Compute(run, failedAt, [Job(run, 1)], [Pod(run, 1, "Failed", Terminated(1, failedAt))]));

        // Job mnist-mlp-1 (and its pod) deleted by hand during the 10 s backoff.
        var waiting = Compute(recorded, failedAt.AddSeconds(4));
        Assert.Empty(waiting.Actions);
        Assert.Equal(TrainingRunReasons.RetryBackoff, Condition(waiting, ConditionTypes.Running).Reason);
        Assert.Equal(TimeSpan.FromSeconds(6), waiting.RequeueAfter);
        Assert.Equal(1, waiting.Status.FailedAttempts);

        var retry = Compute(With(recorded, waiting), failedAt.AddSeconds(10));
        Assert.Equal(2, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(retry.Actions)).Attempt);

        // Attempt 2 fails too and both Jobs are deleted: 2 failures exceed backoffLimit 1, whatever Jobs remain.
        var secondFailedAt = failedAt.AddSeconds(30);
        var run2 = With(recorded, retry);
        var failed = Compute(run2, secondFailedAt, [Job(run2, 2)], [Pod(run2, 2, "Failed", Terminated(1, secondFailedAt))]);
        Assert.Equal(TrainingRunPhases.Failed, failed.Status.Phase);
        Assert.Equal(2, failed.Status.FailedAttempts);
        Assert.Contains("2 failed attempt(s) exceed backoffLimit 1", Condition(failed, ConditionTypes.Failed).Message, StringComparison.Ordinal);
        var gone = Compute(With(run2, failed), secondFailedAt.AddMinutes(5));
        Assert.Equal(TrainingRunPhases.Failed, gone.Status.Phase);
        Assert.Empty(gone.Actions);
    }

    [Fact]
    public void A_lost_startTime_is_recovered_from_the_earliest_Job()
    {
        var run = Run();
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 2, FailedAttempts = 1, LastFailure = new AttemptFailure { Attempt = 1, FinishedAt = T0.UtcDateTime } };
        var first = Job(run, 1);
        first.Status.StartTime = T0.AddSeconds(2).UtcDateTime;
        var second = Job(run, 2);
        second.Metadata.CreationTimestamp = T0.AddMinutes(3).UtcDateTime;

        var d = Compute(run, T0.AddMinutes(5), [second, first], [Pod(run, 2, "Running", Running(T0.AddMinutes(3)))]);
        Assert.Equal(T0.AddSeconds(2).UtcDateTime, d.Status.StartTime);
        Assert.Equal(2, d.Status.Attempts);
    }

    [Fact]
    public void Status_never_goes_backwards_when_the_Jobs_say_less_than_status()
    {
        var run = Run();
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Pending, Attempts = 3, FailedAttempts = 2, StartTime = T0.UtcDateTime, LastFailure = new AttemptFailure { Attempt = 2, FinishedAt = T0.UtcDateTime } };
        var d = Compute(run, T0.AddMinutes(1), [Job(run, 1)], [Pod(run, 1, "Failed", Terminated(1, T0))]);
        Assert.Equal(3, d.Status.Attempts);
        Assert.Equal(2, d.Status.FailedAttempts);
        Assert.Equal(T0.UtcDateTime, d.Status.StartTime);
    }

    [Fact]
    public void A_pod_still_Terminating_delays_the_next_attempt_until_it_is_gone()
    {
        var run = Run();
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Suspended, Attempts = 1, StartTime = T0.UtcDateTime, JobName = "mnist-mlp-1" };
        var terminating = Pod(run, 1, "Running", Running(T0));
        terminating.Metadata.DeletionTimestamp = T0.AddMinutes(1).UtcDateTime;

        var blocked = Compute(run, T0.AddMinutes(2), pods: [terminating]);
        Assert.Empty(blocked.Actions);
        var running = Condition(blocked, ConditionTypes.Running);
        Assert.Equal(TrainingRunReasons.WaitingForPreviousAttempt, running.Reason);
        Assert.Contains(terminating.Metadata.Name, running.Message, StringComparison.Ordinal);
        Assert.Equal(Options().ProgressInterval, blocked.RequeueAfter);
        Assert.Equal(1, blocked.Status.Attempts);
        Assert.Equal(TrainingRunPhases.Suspended, blocked.Status.Phase); // still a resume on the next look

        // Even a finished pod is waited for while it is being deleted; once gone, attempt 2 starts.
        var finishing = Pod(run, 1, "Failed", Terminated(137, T0.AddMinutes(1)));
        finishing.Metadata.DeletionTimestamp = T0.AddMinutes(1).UtcDateTime;
        Assert.Empty(Compute(With(run, blocked), T0.AddMinutes(3), pods: [finishing]).Actions);
        var started = Compute(With(run, blocked), T0.AddMinutes(4));
        Assert.Equal(2, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(started.Actions)).Attempt);
    }

    [Fact]
    public void A_retry_waits_for_the_failed_attempts_pod_only_while_it_is_not_finished()
    {
        var run = Run();
        run.Status = new TrainingRunStatus
        {
            Phase = TrainingRunPhases.Pending, Attempts = 1, StartTime = T0.UtcDateTime,
            FailedAttempts = 1, LastFailure = new AttemptFailure { Attempt = 1, Reason = TrainingRunReasons.PodFailed, FinishedAt = T0.UtcDateTime },
        };
        var failedJob = Job(run, 1, new V1JobCondition { Type = "Failed", Status = "True", Reason = "BackoffLimitExceeded" });
        var stillRunning = Pod(run, 1, "Running", Running(T0));
        Assert.Equal(TrainingRunReasons.WaitingForPreviousAttempt,
            Condition(Compute(run, T0.AddMinutes(1), [failedJob], [stillRunning]), ConditionTypes.Running).Reason);

        var finished = Pod(run, 1, "Failed", Terminated(1, T0));
        Assert.Equal(2, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(Compute(run, T0.AddMinutes(1), [failedJob], [finished]).Actions)).Attempt);
    }

    [Fact]
    public void A_running_attempts_Job_deleted_by_hand_is_created_again_without_counting_a_failure()
    {
        var run = Run();
        run.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Attempts = 1, StartTime = T0.UtcDateTime, JobName = "mnist-mlp-1" };
        var terminating = Pod(run, 1, "Running", Running(T0));
        terminating.Metadata.DeletionTimestamp = T0.AddMinutes(1).UtcDateTime;
        Assert.Empty(Compute(run, T0.AddMinutes(1), pods: [terminating]).Actions);

        var again = Compute(run, T0.AddMinutes(2));
        Assert.Equal(1, Assert.IsType<TrainingRunAction.CreateAttempt>(Assert.Single(again.Actions)).Attempt);
        Assert.Equal(1, again.Status.Attempts);
        Assert.Null(again.Status.FailedAttempts);
        Assert.Equal(T0.UtcDateTime, again.Status.StartTime);
    }

    [Fact]
    public void A_deleted_run_keeps_its_finalizer_until_its_Jobs_pods_and_ConfigMap_are_gone()
    {
        var run = Run();
        var job = Job(run, 1);
        var pod = Pod(run, 1, "Running", Running(T0));
        pod.Metadata.DeletionTimestamp = T0.UtcDateTime;
        var config = ResolvedConfigBuilder.Build(run, null, null);
        var configMap = TrainerJobBuilder.BuildConfigMap(run, config);
        var other = Run("someone-else");
        other.Metadata.Uid = "0b6a3c1e-0000-4000-8000-000000000002";
        var foreign = TrainerJobBuilder.BuildConfigMap(other, config);
        foreign.Metadata.Name = configMap.Metadata.Name;

        Assert.Equal(["Job mnist-mlp-1", $"Pod {pod.Metadata.Name}", "ConfigMap mnist-mlp-config"], TrainingRunStatusCalculator.RemainingChildren(run, [job], [pod], configMap));
        Assert.Equal([$"Pod {pod.Metadata.Name}"], TrainingRunStatusCalculator.RemainingChildren(run, [], [pod], null));
        Assert.Empty(TrainingRunStatusCalculator.RemainingChildren(run, [], [], foreign));
    }
}
