using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.Tests.TrainingRuns;

public sealed class ResolvedConfigBuilderTests
{
    private static Curriculum Staged() => new()
    {
        Metadata = new V1ObjectMeta { Name = "easy-first", NamespaceProperty = "ml", Generation = 1 },
        Spec = new CurriculumSpec
        {
            Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "difficulty" },
            Stages = [new CurriculumStage { Name = "easy", DataFraction = 0.3 }, new CurriculumStage { Name = "all", DataFraction = 1.0 }],
        },
    };

    [Fact]
    public void The_curriculum_is_inlined_and_the_reference_dropped()
    {
        var run = TestRuns.Run(configure: s => s.CurriculumRef = new LocalObjectReference { Name = "easy-first" });
        var config = ResolvedConfigBuilder.Build(run, Staged(), null);

        var resolved = Assert.IsType<TrainingRun>(Assert.Single(Manifests.LoadAll(config.Yaml, "config")));
        Assert.Null(resolved.Spec.CurriculumRef);
        Assert.Equal(["easy", "all"], resolved.Spec.Curriculum!.Stages!.Select(s => s.Name));
        Assert.Equal("easy-first", config.CurriculumName);
        Assert.Equal("mnist-mlp", resolved.Metadata.Name);
        Assert.Null(resolved.Metadata.Uid);
        Assert.Null(resolved.Status);
        // The run object itself is left alone.
        Assert.NotNull(run.Spec.CurriculumRef);
    }

    [Fact]
    public void A_base_training_run_is_resolved_to_its_model_uri()
    {
        var run = TestRuns.Run(configure: s => s.BaseModel = new BaseModelSpec { TrainingRun = new LocalObjectReference { Name = "pretrain" }, ResetHead = true });
        var config = ResolvedConfigBuilder.Build(run, null, "pvc://artifacts/runs/pretrain/model");
        var resolved = (TrainingRun)Manifests.LoadAll(config.Yaml, "config").Single();
        Assert.Null(resolved.Spec.BaseModel!.TrainingRun);
        Assert.Equal("pvc://artifacts/runs/pretrain/model", resolved.Spec.BaseModel.Uri);
        Assert.True(resolved.Spec.BaseModel.ResetHead);
        Assert.Equal("pvc://artifacts/runs/pretrain/model", config.BaseModelUri);
    }

    [Fact]
    public void A_curriculum_teacher_named_as_a_training_run_is_resolved_to_its_model_uri()
    {
        var curriculum = Staged();
        curriculum.Spec.Difficulty = new DifficultySpec
        {
            Source = DifficultySources.TeacherLoss,
            Teacher = new ModelReference { TrainingRun = new LocalObjectReference { Name = "teacher" } },
        };
        var run = TestRuns.Run(configure: s => s.CurriculumRef = new LocalObjectReference { Name = "easy-first" });

        var config = ResolvedConfigBuilder.Build(run, curriculum, null, "pvc://models/runs/teacher/model");

        var teacher = ((TrainingRun)Manifests.LoadAll(config.Yaml, "config").Single()).Spec.Curriculum!.Difficulty.Teacher!;
        Assert.Null(teacher.TrainingRun);
        Assert.Equal("pvc://models/runs/teacher/model", teacher.Uri);
        Assert.Contains("models", config.Claims);
        // The Curriculum object itself still names the run.
        Assert.Equal("teacher", curriculum.Spec.Difficulty.Teacher!.TrainingRun!.Name);
        var unresolved = Assert.Throws<ArgumentException>(() => ResolvedConfigBuilder.Build(run, curriculum, null));
        Assert.Contains("teacher is TrainingRun 'teacher'", unresolved.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_referents_are_named_in_the_error()
    {
        var withCurriculum = TestRuns.Run(configure: s => s.CurriculumRef = new LocalObjectReference { Name = "easy-first" });
        Assert.Contains("easy-first", Assert.Throws<ArgumentException>(() => ResolvedConfigBuilder.Build(withCurriculum, null, null)).Message, StringComparison.Ordinal);
        var withBase = TestRuns.Run(configure: s => s.BaseModel = new BaseModelSpec { TrainingRun = new LocalObjectReference { Name = "pretrain" } });
        Assert.Contains("pretrain", Assert.Throws<ArgumentException>(() => ResolvedConfigBuilder.Build(withBase, null, null)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_config_is_deterministic_and_round_trips_through_its_config_map()
    {
        var run = TestRuns.Run();
        var a = ResolvedConfigBuilder.Build(run, null, null);
        var b = ResolvedConfigBuilder.Build(TestRuns.Run(), null, null);
        Assert.Equal(a.Hash, b.Hash);
        Assert.Equal(["artifacts", "datasets"], a.Claims);

        var back = ResolvedTrainerConfig.FromConfigMap(TrainerJobBuilder.BuildConfigMap(run, a));
        Assert.Equal(a.Hash, back.Hash);
        Assert.Equal(a.Claims, back.Claims);

        var changed = ResolvedConfigBuilder.Build(TestRuns.Run(configure: s => s.Epochs = 6), null, null);
        Assert.NotEqual(a.Hash, changed.Hash);
    }

    [Fact]
    public void A_config_map_without_the_manifest_is_rejected_by_name()
    {
        var e = Assert.Throws<InvalidDataException>(() => ResolvedTrainerConfig.FromConfigMap(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "x-config" }, Data = new Dictionary<string, string>() }));
        Assert.Contains("x-config", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pvc://datasets/mnist/train.csv", "datasets")]
    [InlineData("pvc://artifacts", "artifacts")]
    [InlineData("file:///data/x.csv", null)]
    [InlineData("data/x.csv", null)]
    [InlineData("pvc:///x", null)]
    public void Claims_come_from_pvc_URIs_only(string uri, string? claim) => Assert.Equal(claim, ResolvedConfigBuilder.ClaimOf(uri));

    [Fact]
    public void Every_data_source_the_trainer_reads_has_its_claim_mounted()
    {
        var spec = new TrainingRunSpec
        {
            Data = new DataSpec
            {
                Train = new DatasetSource { Uri = "pvc://datasets/train.csv" },
                AdditionalTrain = [new DatasetSource { Uri = "pvc://labels/round-0001/labels.csv" }, new DatasetSource { Uri = "file:///local.csv" }],
            },
            Continual = new ContinualSpec { PreviousTasks = [new PreviousTask { Name = "task-1", Test = new DatasetSource { Uri = "pvc://old-tasks/test.csv" } }] },
            Artifacts = new ArtifactsSpec { Uri = "pvc://artifacts/run" },
        };
        Assert.Equal(["artifacts", "datasets", "labels", "old-tasks"], ResolvedConfigBuilder.ClaimsOf(spec));
    }
}
