using System.Reflection;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.Tests.Install;

/// <summary>The Argo CD health scripts give the documented health for every phase and condition of every kind.</summary>
public sealed class HealthCheckTests
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> Scripts = new(HealthChecks.Load);

    private static readonly DateTime Then = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>A sample resource of <paramref name="Kind"/> and the health Argo CD must show for it.</summary>
    /// <param name="Status">null: the resource has no status yet.</param>
    /// <param name="Replicas">For a ModelDeployment: spec.replicas.</param>
    public sealed record Case(string Kind, ResourceStatus? Status, string ExpectedHealth, string ExpectedMessage, long Generation = 2, int? Replicas = null);

    private static V1Condition C(string type, string status, string reason, string message = "") =>
        new() { Type = type, Status = status, Reason = reason, Message = message, LastTransitionTime = Then, ObservedGeneration = 2 };

    private static List<V1Condition> Cs(params V1Condition[] conditions) => [.. conditions];

    private static TrainingRunStatus Run(string? phase, params V1Condition[] conditions) =>
        new() { Phase = phase, ObservedGeneration = 2, Conditions = Cs(conditions) };

    private static ModelDeploymentStatus Md(string? phase, params V1Condition[] conditions) =>
        new() { Phase = phase, ObservedGeneration = 2, Conditions = Cs(conditions) };

    private static LabelingQueueStatus Lq(string? phase, params V1Condition[] conditions) =>
        new() { Phase = phase, ObservedGeneration = 2, Conditions = Cs(conditions) };

    public static IReadOnlyDictionary<string, Case> Cases { get; } = BuildCases();

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    private static Dictionary<string, Case> BuildCases()
    {
        const string Tr = TrainingRun.KindName, Md_ = ModelDeployment.KindName, Dp = DriftPolicy.KindName, Cur = Curriculum.KindName, Lq_ = LabelingQueue.KindName;
        var cases = new Dictionary<string, Case>(StringComparer.Ordinal)
        {
            ["TrainingRun Pending, scheduled condition"] = new(Tr, Run(TrainingRunPhases.Pending, C(ConditionTypes.Scheduled, "False", "Unschedulable", "0/3 nodes have nvidia.com/gpu")), "Progressing", "0/3 nodes have nvidia.com/gpu"),
            ["TrainingRun Pending, no conditions"] = new(Tr, Run(TrainingRunPhases.Pending), "Progressing", "Waiting for the trainer to start"),
            ["TrainingRun status without a phase"] = new(Tr, Run(null), "Progressing", "Waiting for the trainer to start"),
            ["TrainingRun Running"] = new(Tr, Run(TrainingRunPhases.Running, C(ConditionTypes.Running, "True", "Training", "epoch 3/10, stage warm-up")), "Progressing", "epoch 3/10, stage warm-up"),
            ["TrainingRun Succeeded, gates passed"] = new(Tr, Run(TrainingRunPhases.Succeeded, C(ConditionTypes.Completed, "True", "Succeeded", "model written to pvc://models/run-1"), C(ConditionTypes.GatesPassed, "True", "AllGatesPassed", "2/2 gates passed")), "Healthy", "model written to pvc://models/run-1"),
            ["TrainingRun Succeeded, no gates"] = new(Tr, Run(TrainingRunPhases.Succeeded), "Healthy", "Training succeeded"),
            ["TrainingRun Succeeded, gates failed"] = new(Tr, Run(TrainingRunPhases.Succeeded, C(ConditionTypes.Completed, "True", "Succeeded", "done"), C(ConditionTypes.GatesPassed, "False", "GateFailed", "accuracy 0.82 is below 0.9")), "Degraded", "accuracy 0.82 is below 0.9"),
            ["TrainingRun Failed"] = new(Tr, Run(TrainingRunPhases.Failed, C(ConditionTypes.Failed, "True", "BackoffLimitExceeded", "the trainer failed 3 times: CUDA out of memory")), "Degraded", "the trainer failed 3 times: CUDA out of memory"),
            ["TrainingRun Failed, reason only"] = new(Tr, Run(TrainingRunPhases.Failed, C(ConditionTypes.Failed, "True", "DeadlineExceeded")), "Degraded", "DeadlineExceeded"),
            ["TrainingRun Suspended"] = new(Tr, Run(TrainingRunPhases.Suspended, C(ConditionTypes.Suspended, "True", "Suspended", "spec.suspend is true")), "Suspended", "spec.suspend is true"),
            ["TrainingRun unknown phase"] = new(Tr, Run("Exploded"), "Unknown", "Unrecognised phase Exploded"),

            // The conditions and messages as ModelDeploymentPlanner writes them.
            ["ModelDeployment Pending"] = new(Md_, Md(ModelDeploymentPhases.Pending, C(ConditionTypes.Available, "False", "NoCandidate", "Nothing to serve yet: no succeeded TrainingRun matches the selector"), C(ConditionTypes.Progressing, "False", "NoCandidate", "no succeeded TrainingRun matches the selector")), "Progressing", "no succeeded TrainingRun matches the selector"),
            ["ModelDeployment Pending, Progressing without message"] = new(Md_, Md(ModelDeploymentPhases.Pending, C(ConditionTypes.Available, "False", "NoCandidate", "Nothing to serve yet: TrainingRun fraud-run-9 has not succeeded"), C(ConditionTypes.Progressing, "False", "NoCandidate")), "Progressing", "Nothing to serve yet: TrainingRun fraud-run-9 has not succeeded"),
            ["ModelDeployment Pending, no conditions"] = new(Md_, Md(ModelDeploymentPhases.Pending), "Progressing", "Waiting for a model to serve"),
            ["ModelDeployment status without a phase"] = new(Md_, Md(null), "Progressing", "Waiting for a model to serve"),
            ["ModelDeployment Progressing, canary under analysis"] = new(Md_, Md(ModelDeploymentPhases.Progressing, C(ConditionTypes.Available, "True", "MinimumReplicasAvailable", "3 stable replicas available, serving revision 3"), C(ConditionTypes.Progressing, "True", "CanaryAnalysis", "Revision 4 serves 20% of the replicas under analysis")), "Progressing", "Revision 4 serves 20% of the replicas under analysis"),
            ["ModelDeployment Progressing, inconclusive analysis"] = new(Md_, Md(ModelDeploymentPhases.Progressing, C(ConditionTypes.Progressing, "True", "InconclusiveAnalysis", "Revision 4's analysis was inconclusive (live-accuracy: 3 inconclusive measurements); promote or abort it (kubectl syllabus promote|abort)")), "Progressing", "Revision 4's analysis was inconclusive (live-accuracy: 3 inconclusive measurements); promote or abort it (kubectl syllabus promote|abort)"),
            ["ModelDeployment Progressing, rolling out"] = new(Md_, Md(ModelDeploymentPhases.Progressing, C(ConditionTypes.Available, "False", "NoReplicasAvailable", "0 of 2 stable replicas available, serving revision 1"), C(ConditionTypes.Progressing, "True", "RollingOut", "Rolling out revision 1")), "Progressing", "Rolling out revision 1"),
            ["ModelDeployment Progressing, a new canary after an earlier rollback"] = new(Md_, Md(ModelDeploymentPhases.Progressing, C(ConditionTypes.Progressing, "True", "CanaryAnalysis", "Revision 5 serves 25% of the replicas under analysis"), C(ConditionTypes.RolledBack, "True", "AnalysisFailed", "Revision 4 rolled back to 3: live-accuracy 0.81 < 0.93 in 3 of 4 measurements"), C(ConditionTypes.Degraded, "True", "AnalysisFailed", "Revision 4: live-accuracy 0.81 < 0.93 in 3 of 4 measurements")), "Progressing", "Revision 5 serves 25% of the replicas under analysis"),
            ["ModelDeployment Progressing, no conditions"] = new(Md_, Md(ModelDeploymentPhases.Progressing), "Progressing", "Rolling out"),
            ["ModelDeployment Healthy"] = new(Md_, Md(ModelDeploymentPhases.Healthy, C(ConditionTypes.Available, "True", "MinimumReplicasAvailable", "2 of 2 stable replicas available, serving revision 3"), C(ConditionTypes.Progressing, "False", "RolloutComplete", "Revision 3 is rolled out"), C(ConditionTypes.RolledBack, "False", "Promoted", "Revision 3 was promoted")), "Healthy", "2 of 2 stable replicas available, serving revision 3"),
            ["ModelDeployment Healthy, pinned"] = new(Md_, Md(ModelDeploymentPhases.Healthy, C(ConditionTypes.Available, "True", "MinimumReplicasAvailable", "2 of 2 stable replicas available, serving revision 2"), C(ConditionTypes.Progressing, "False", "Pinned", "Serving revision 2 pinned by spec.pinnedRevision; automatic promotion resumes when the pin is removed")), "Healthy", "2 of 2 stable replicas available, serving revision 2"),
            ["ModelDeployment Healthy but Available=False"] = new(Md_, Md(ModelDeploymentPhases.Healthy, C(ConditionTypes.Available, "False", "NoReplicasAvailable", "0 of 2 stable replicas available, serving revision 3")), "Degraded", "0 of 2 stable replicas available, serving revision 3", Replicas: 2),
            ["ModelDeployment Healthy, scaled to zero"] = new(Md_, Md(ModelDeploymentPhases.Healthy, C(ConditionTypes.Available, "False", "NoReplicasAvailable", "0 of 0 stable replicas available, serving revision 3")), "Healthy", "Scaled to zero replicas", Replicas: 0),
            ["ModelDeployment Healthy without an Available condition"] = new(Md_, Md(ModelDeploymentPhases.Healthy), "Progressing", "Waiting for the Available condition"),
            ["ModelDeployment Degraded, canary rolled back"] = new(Md_, Md(ModelDeploymentPhases.Degraded, C(ConditionTypes.Available, "True", "MinimumReplicasAvailable", "2 of 2 stable replicas available, serving revision 3"), C(ConditionTypes.RolledBack, "True", "AnalysisFailed", "Revision 4 rolled back to 3: live-accuracy 0.81 < 0.93 in 3 of 4 measurements"), C(ConditionTypes.Degraded, "True", "AnalysisFailed", "Revision 4: live-accuracy 0.81 < 0.93 in 3 of 4 measurements")), "Degraded", "Revision 4 rolled back to 3: live-accuracy 0.81 < 0.93 in 3 of 4 measurements"),
            ["ModelDeployment Degraded, aborted by the user"] = new(Md_, Md(ModelDeploymentPhases.Degraded, C(ConditionTypes.RolledBack, "True", "Aborted", "Revision 4 rolled back to 3: aborted by the user (syllabus.dev/action=abort)"), C(ConditionTypes.Degraded, "True", "Aborted", "Revision 4: aborted by the user (syllabus.dev/action=abort)")), "Degraded", "Revision 4 rolled back to 3: aborted by the user (syllabus.dev/action=abort)"),
            ["ModelDeployment Degraded, stable failing with nothing to return to"] = new(Md_, Md(ModelDeploymentPhases.Degraded, C(ConditionTypes.Degraded, "True", "StableAnalysisFailed", "Revision 1 fails its analysis (errorRate 0.2 > 0.05 in 1 of 1 measurements) and there is no earlier good revision to return to")), "Degraded", "Revision 1 fails its analysis (errorRate 0.2 > 0.05 in 1 of 1 measurements) and there is no earlier good revision to return to"),
            ["ModelDeployment Degraded, pinned revision gone after a rollback"] = new(Md_, Md(ModelDeploymentPhases.Degraded, C(ConditionTypes.RolledBack, "True", "AnalysisFailed", "Revision 4 rolled back to 3: live-accuracy 0.81 < 0.93"), C(ConditionTypes.Degraded, "True", "PinnedRevisionNotFound", "spec.pinnedRevision 9 is not in the revision history (kept: 4, 3); still serving revision 3")), "Degraded", "spec.pinnedRevision 9 is not in the revision history (kept: 4, 3); still serving revision 3"),
            ["ModelDeployment Degraded, no conditions"] = new(Md_, Md(ModelDeploymentPhases.Degraded), "Degraded", "The ModelDeployment is degraded"),
            ["ModelDeployment unknown phase"] = new(Md_, Md("Exploded"), "Unknown", "Unrecognised phase Exploded"),

            ["DriftPolicy drifted"] = new(Dp, new DriftPolicyStatus { ObservedGeneration = 2, Conditions = Cs(C(ConditionTypes.Drifted, "True", "PsiAboveThreshold", "PSI of feature age is 0.31 (threshold 0.2) for 3 evaluations")) }, "Degraded", "PSI of feature age is 0.31 (threshold 0.2) for 3 evaluations"),
            ["DriftPolicy not drifted"] = new(Dp, new DriftPolicyStatus { ObservedGeneration = 2, Conditions = Cs(C(ConditionTypes.Drifted, "False", "WithinThresholds", "all 4 detectors within thresholds")) }, "Healthy", "all 4 detectors within thresholds"),
            ["DriftPolicy not yet evaluated"] = new(Dp, new DriftPolicyStatus { ObservedGeneration = 2 }, "Healthy", "No drift detected"),
            ["DriftPolicy invalid"] = new(Dp, new DriftPolicyStatus { ObservedGeneration = 2, Conditions = Cs(C(ConditionTypes.Valid, "False", "DeploymentNotFound", "ModelDeployment fraud-model does not exist")) }, "Degraded", "ModelDeployment fraud-model does not exist"),

            ["Curriculum valid"] = new(Cur, new CurriculumStatus { ObservedGeneration = 2, UsedByCount = 2, Conditions = Cs(C(ConditionTypes.Valid, "True", "Valid", "used by 2 TrainingRuns")) }, "Healthy", "used by 2 TrainingRuns"),
            ["Curriculum invalid"] = new(Cur, new CurriculumStatus { ObservedGeneration = 2, Conditions = Cs(C(ConditionTypes.Valid, "False", "StagesNotIncreasing", "stage hard uses less data (0.5) than stage medium (0.7)")) }, "Degraded", "stage hard uses less data (0.5) than stage medium (0.7)"),

            ["LabelingQueue Pending"] = new(Lq_, Lq("Pending"), "Progressing", "Waiting for the first scoring round"),
            ["LabelingQueue Scoring"] = new(Lq_, Lq("Scoring", C(ConditionTypes.Ready, "True", "Scoring", "scoring 10000 pool examples")), "Healthy", "scoring 10000 pool examples"),
            ["LabelingQueue Labelling"] = new(Lq_, Lq("Labelling"), "Healthy", "Waiting for labels"),
            ["LabelingQueue batch not imported"] = new(Lq_, Lq("Labelling", C(LabelingQueueConditions.BatchesImported, "False", "BatchNotImported", "batch-0003.csv: line 4: has 8 fields, the header 7")), "Degraded", "batch-0003.csv: line 4: has 8 fields, the header 7"),
            ["LabelingQueue every batch imported"] = new(Lq_, Lq("Labelling", C(LabelingQueueConditions.BatchesImported, "True", "AllImported", "The labelling service imported every scored batch")), "Healthy", "Waiting for labels"),
            ["LabelingQueue budget exhausted"] = new(Lq_, Lq("Exhausted", C(ConditionTypes.BudgetExhausted, "True", "BudgetSpent", "500 of 500 labels collected")), "Healthy", "500 of 500 labels collected"),
            ["LabelingQueue Exhausted without condition"] = new(Lq_, Lq("Exhausted"), "Healthy", "Labelling budget exhausted"),
            ["LabelingQueue committee training"] = new(Lq_, Lq("Pending", C(ConditionTypes.Valid, "False", "CommitteeTraining", "spec.strategy.committee: TrainingRun m2 is Running, not Succeeded")), "Progressing", "spec.strategy.committee: TrainingRun m2 is Running, not Succeeded"),
            ["LabelingQueue committee member missing"] = new(Lq_, Lq("Pending", C(ConditionTypes.Valid, "False", "CommitteeNotReady", "spec.strategy.committee: TrainingRun m3 does not exist")), "Degraded", "spec.strategy.committee: TrainingRun m3 does not exist"),
        };

        foreach (var (kind, _, _) in SyllabusKinds.All)
        {
            cases[$"{kind} without status"] = new(kind, null, "Progressing", "Waiting for the operator to report status");
            cases[$"{kind} with a stale status"] = new(kind, HealthyLooking(kind, observed: 1), "Progressing", "Waiting for the operator to observe the latest spec (generation 2, observed 1)");
            var unobserved = HealthyLooking(kind, observed: null);
            unobserved.Conditions = [C(ConditionTypes.Ready, "Unknown", "Reconciling")];
            cases[$"{kind} with a status missing observedGeneration"] = new(kind, unobserved, "Progressing", "Waiting for the operator to observe the latest spec (generation 2, observed none)");
            cases[$"{kind} observed, healthy-looking"] = new(kind, HealthyLooking(kind, observed: 2), "Healthy", HealthyMessage(kind));
            var invalid = HealthyLooking(kind, observed: 2);
            invalid.Conditions = [C(ConditionTypes.Valid, "False", "InvalidSpec", $"{kind} spec is invalid: spec.x must be positive")];
            cases[$"{kind} Valid=False"] = new(kind, invalid, "Degraded", $"{kind} spec is invalid: spec.x must be positive");
        }

        return cases;
    }

    /// <summary>A status that would be Healthy if it were current.</summary>
    private static ResourceStatus HealthyLooking(string kind, long? observed) => kind switch
    {
        TrainingRun.KindName => new TrainingRunStatus { Phase = TrainingRunPhases.Succeeded, ObservedGeneration = observed },
        ModelDeployment.KindName => new ModelDeploymentStatus { Phase = ModelDeploymentPhases.Healthy, ObservedGeneration = observed, Conditions = [C(ConditionTypes.Available, "True", "MinimumReplicasAvailable", "1 of 1 stable replicas available, serving revision 1")] },
        LabelingQueue.KindName => new LabelingQueueStatus { Phase = "Labelling", ObservedGeneration = observed },
        DriftPolicy.KindName => new DriftPolicyStatus { ObservedGeneration = observed },
        Curriculum.KindName => new CurriculumStatus { ObservedGeneration = observed },
        _ => throw new ArgumentException($"no sample status for kind {kind}; add one to HealthCheckTests", nameof(kind)),
    };

    private static string HealthyMessage(string kind) => kind switch
    {
        TrainingRun.KindName => "Training succeeded",
        ModelDeployment.KindName => "1 of 1 stable replicas available, serving revision 1",
        LabelingQueue.KindName => "Waiting for labels",
        DriftPolicy.KindName => "No drift detected",
        _ => "Valid",
    };

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void HealthScriptReportsTheDocumentedHealth(string name)
    {
        var c = Cases[name];
        var script = Assert.Contains(c.Kind, Scripts.Value);
        var health = HealthChecks.Run(script, Resource(c));
        Assert.Equal(new Health(c.ExpectedHealth, c.ExpectedMessage), health);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void HealthScriptGivesTheSameHealthOnLua51(string name)
    {
        var c = Cases[name];
        var health = HealthChecks.RunLua51(Scripts.Value[c.Kind], Resource(c));
        if (health is null)
        {
            Assert.Skip("lua5.1 is not on PATH (Debian: apt-get install lua5.1); Argo CD runs health checks on Lua 5.1 (gopher-lua)");
        }

        Assert.Equal(new Health(c.ExpectedHealth, c.ExpectedMessage), health);
    }

    /// <summary>
    /// The statuses the operator's own planner writes, through a whole story (nothing to serve, first rollout, serving,
    /// a canary, an abort, a pin of a revision no longer kept, a pin of a kept one), give the health the README promises.
    /// The Deployments are "rolled out" one step after the plan asks for them, as the Deployment controller would.
    /// </summary>
    [Fact]
    public void ModelDeploymentHealthFollowsThePlannersStatus()
    {
        var script = Scripts.Value[ModelDeployment.KindName];
        var image = new TrainerImageOptions();
        var now = new DateTimeOffset(Then);
        var md = new ModelDeployment
        {
            Metadata = new() { Name = "digits", NamespaceProperty = "team-a", Generation = 1, Uid = "00000000-0000-0000-0000-000000000002" },
            Spec = new()
            {
                Source = new() { Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["model"] = "digits" } } },
                Replicas = 2,
                Promotion = new() { Canary = new() { Weight = 50, AnalysisDuration = "10m" } },
            },
        };
        var runs = new List<TrainingRun>();
        V1Deployment? stable = null, canary = null;
        string? action = null;

        static V1Deployment? RolledOut(V1Deployment? d)
        {
            if (d is null)
            {
                return null;
            }

            d.Metadata.Generation = 1;
            var replicas = d.Spec.Replicas ?? 1;
            d.Status = new V1DeploymentStatus { ObservedGeneration = 1, Replicas = replicas, UpdatedReplicas = replicas, AvailableReplicas = replicas, ReadyReplicas = replicas };
            return d;
        }

        void AddRun(string name)
        {
            now += TimeSpan.FromMinutes(1);
            runs.Add(new TrainingRun
            {
                Metadata = new() { Name = name, NamespaceProperty = "team-a", Labels = new Dictionary<string, string> { ["model"] = "digits" }, CreationTimestamp = now.UtcDateTime },
                Status = new TrainingRunStatus { Phase = TrainingRunPhases.Succeeded, CompletionTime = now.UtcDateTime, Result = new TrainingResult { ModelUri = $"pvc://models/{name}/model", Metrics = new() { ["accuracy"] = 0.95 } } },
            });
        }

        (Health Health, ModelDeploymentStatus Status) Reconcile()
        {
            now += TimeSpan.FromMinutes(1);
            var plan = ModelDeploymentPlanner.Plan(new ModelDeploymentObservation
            {
                Deployment = md, Runs = runs, StableDeployment = stable, CanaryDeployment = canary, DefaultImage = image.Image, Action = action, Now = now,
            });
            plan.Status.ObservedGeneration = md.Metadata.Generation;
            md.Status = plan.Status;
            stable = RolledOut(plan.Stable is { } s ? ServingWorkloadBuilder.BuildDeployment(md, AnalysisArms.Stable, s, image) : null);
            canary = RolledOut(plan.Canary is { } c ? ServingWorkloadBuilder.BuildDeployment(md, AnalysisArms.Canary, c, image) : null);
            action = null;
            return (HealthChecks.Run(script, JsonNode.Parse(KubernetesJson.Serialize(md))!), plan.Status);
        }

        string Message(ModelDeploymentStatus status, string type) => status.Conditions!.Single(c => c.Type == type).Message;

        var (health, status) = Reconcile();
        Assert.Equal(ModelDeploymentPhases.Pending, status.Phase);
        Assert.Equal(new Health("Progressing", Message(status, ConditionTypes.Progressing)), health);
        Assert.Contains("no TrainingRuns matching", health.Message, StringComparison.Ordinal);

        AddRun("digits-1");
        (health, status) = Reconcile();
        Assert.Equal(new Health("Progressing", "Rolling out revision 1"), health);

        (health, status) = Reconcile();
        Assert.Equal(ModelDeploymentPhases.Healthy, status.Phase);
        Assert.Equal(new Health("Healthy", "2 of 2 stable replicas available, serving revision 1"), health);

        AddRun("digits-2");
        (health, status) = Reconcile();
        Assert.Equal((ModelDeploymentPhases.Progressing, 2), (status.Phase, status.CanaryRevision));
        Assert.Equal(new Health("Progressing", "Revision 2 serves 50% of the replicas under analysis"), health);

        action = ModelDeploymentActions.Abort;
        (health, status) = Reconcile();
        Assert.Equal(ModelDeploymentPhases.Degraded, status.Phase);
        Assert.Equal(new Health("Degraded", "Revision 2 rolled back to 1: aborted by the user (syllabus.dev/action=abort)"), health);
        (health, _) = Reconcile();
        Assert.Equal("Degraded", health.Status);

        md.Spec.PinnedRevision = 9;
        md.Metadata.Generation = 2;
        (health, status) = Reconcile();
        Assert.Equal(ModelDeploymentPhases.Degraded, status.Phase);
        Assert.Equal(new Health("Degraded", "spec.pinnedRevision 9 is not in the revision history (kept: 2, 1); still serving revision 1"), health);

        md.Spec.PinnedRevision = 1;
        md.Metadata.Generation = 3;
        (health, status) = Reconcile();
        Assert.Equal(ModelDeploymentPhases.Healthy, status.Phase);
        Assert.Equal(new Health("Healthy", Message(status, ConditionTypes.Available)), health);
    }

    [Fact]
    public void EveryKindHasAHealthScript() =>
        Assert.Equal(SyllabusKinds.All.Select(k => k.Kind).Order(StringComparer.Ordinal), Scripts.Value.Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void EveryDeclaredPhaseHasACaseAndAKnownHealth()
    {
        // TrainingRunPhases, ModelDeploymentPhases, ...: every constant must be exercised and must not fall through to Unknown.
        // (Phases of a kind's parts, e.g. AnalysisPhases, are not health phases.)
        var kinds = SyllabusKinds.All.Select(k => k.Kind).ToHashSet(StringComparer.Ordinal);
        var phaseClasses = typeof(SyllabusGroup).Assembly.GetTypes()
            .Where(t => t.IsAbstract && t.IsSealed && t.Name.EndsWith("Phases", StringComparison.Ordinal) && kinds.Contains(t.Name[..^"Phases".Length]))
            .ToList();
        Assert.NotEmpty(phaseClasses);
        foreach (var type in phaseClasses)
        {
            var kind = type.Name[..^"Phases".Length];
            foreach (var phase in type.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!))
            {
                var covering = Cases.Values.Where(c => c.Kind == kind && PhaseOf(c.Status) == phase).ToList();
                Assert.True(covering.Count > 0, $"no health case for {kind} phase {phase}");
                Assert.All(covering, c => Assert.NotEqual("Unknown", c.ExpectedHealth));
            }
        }
    }

    [Fact]
    public void ScriptsInTheRenderedConfigMapAreTheFilesTheKustomizationNames()
    {
        Kubectl.RequirePath();
        Assert.Equal(HealthChecks.FromKustomization(), HealthChecks.FromRenderedConfigMap());
    }

    [Fact]
    public void ScriptRejectsAKindItDoesNotKnow()
    {
        var script = Scripts.Value[TrainingRun.KindName];
        var health = HealthChecks.Run(script, new JsonObject { ["apiVersion"] = SyllabusGroup.ApiVersion, ["kind"] = "Syllabus", ["metadata"] = new JsonObject { ["name"] = "x" } });
        Assert.Equal(new Health("Unknown", "No health check for kind Syllabus"), health);
    }

    [Fact]
    public void ToLuaEscapesStringsSoAnyMessageSurvives()
    {
        var message = "quote \" backslash \\ newline \n tab \t ünïcode ✓ ]] --";
        using var lua = HealthChecks.NewSandbox();
        lua.DoString("x = " + HealthChecks.ToLua(new JsonObject { ["m"] = message, ["n"] = 3, ["f"] = 0.25, ["b"] = true, ["a"] = new JsonArray(1, 2) }));
        Assert.Equal(message, lua["x.m"]);
        // Generations must arrive as integers, as in gopher-lua's string.format("%d", ...).
        Assert.Equal("integer 3", lua.DoString("return math.type(x.n) .. ' ' .. x.n")[0]);
        Assert.Equal("float 0.25", lua.DoString("return math.type(x.f) .. ' ' .. x.f")[0]);
        Assert.Equal(true, lua["x.b"]);
        Assert.Equal("2 1 2", lua.DoString("return #x.a .. ' ' .. x.a[1] .. ' ' .. x.a[2]")[0]);
    }

    private static string? PhaseOf(ResourceStatus? status) => status switch
    {
        TrainingRunStatus s => s.Phase,
        ModelDeploymentStatus s => s.Phase,
        LabelingQueueStatus s => s.Phase,
        _ => null,
    };

    /// <summary>The sample as the API server would hold it, serialised by the same code the operator uses.</summary>
    private static JsonNode Resource(Case c)
    {
        var type = SyllabusKinds.All.Single(k => k.Kind == c.Kind).Type;
        var resource = Activator.CreateInstance(type)!;
        var metadata = new V1ObjectMeta { Name = "sample", NamespaceProperty = "team-a", Generation = c.Generation, Uid = "00000000-0000-0000-0000-000000000001" };
        type.GetProperty("Metadata")!.SetValue(resource, metadata);
        type.GetProperty("Status")!.SetValue(resource, c.Status);
        if (resource is ModelDeployment md && c.Replicas is { } replicas)
        {
            md.Spec.Replicas = replicas;
        }

        return JsonNode.Parse(KubernetesJson.Serialize(resource))!;
    }
}
