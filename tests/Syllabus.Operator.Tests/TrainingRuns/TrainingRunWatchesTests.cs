using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.TrainingRuns;

/// <summary>How changes of related objects map to the TrainingRuns that depend on them, through the caches' indexes.</summary>
public sealed class TrainingRunWatchesTests
{
    private readonly ResourceCache<TrainingRun> runs = new();
    private readonly ResourceCache<Curriculum> curricula = new();

    public TrainingRunWatchesTests()
    {
        runs.AddIndex(TrainingRunIndexes.Curriculum, r => [TrainingRunIndexes.CurriculumOf(r)]);
        runs.AddIndex(TrainingRunIndexes.BaseRun, r => [TrainingRunIndexes.BaseRunOf(r)]);
        runs.AddIndex(TrainingRunIndexes.TeacherRun, r => [TrainingRunIndexes.TeacherRunOf(r)]);
        runs.AddIndex(TrainingRunIndexes.RunLabel, r => [TrainingRunIndexes.RunLabelOf(r)]);
        curricula.AddIndex(TrainingRunIndexes.CurriculumTeacherRun, c => [TrainingRunIndexes.TeacherRunOf(c)]);
    }

    [Fact]
    public void A_teacher_run_maps_to_the_runs_of_every_curriculum_that_names_it_in_its_namespace()
    {
        curricula.Upsert(Curriculum("ml", "taught", teacher: "teacher"));
        curricula.Upsert(Curriculum("ml", "plain", teacher: null));
        curricula.Upsert(Curriculum("other", "taught", teacher: "teacher"));
        runs.Upsert(Run("ml", "a", r => r.CurriculumRef = new LocalObjectReference { Name = "taught" }));
        runs.Upsert(Run("ml", "b", r => r.CurriculumRef = new LocalObjectReference { Name = "plain" }));
        runs.Upsert(Run("other", "c", r => r.CurriculumRef = new LocalObjectReference { Name = "taught" }));

        var keys = TrainingRunServiceCollectionExtensions.RunsTaughtThroughCurricula(Run("ml", "teacher"), new Readers(runs, curricula));
        Assert.Equal([new ObjectKey("ml", "a")], keys);
    }

    [Fact]
    public void Base_and_inline_teacher_runs_and_pods_are_found_through_the_run_indexes()
    {
        var longName = new string('x', 70);
        runs.Upsert(Run("ml", "finetune", r => r.BaseModel = new BaseModelSpec { TrainingRun = new LocalObjectReference { Name = "pretrain" } }));
        runs.Upsert(Run("ml", "student", r => r.Curriculum = new CurriculumSpec { Difficulty = new DifficultySpec { Source = DifficultySources.TeacherLoss, Teacher = new ModelReference { TrainingRun = new LocalObjectReference { Name = "pretrain" } } } }));
        runs.Upsert(Run("ml", longName));

        Assert.Equal(["finetune"], runs.ByIndex(TrainingRunIndexes.BaseRun, "pretrain", "ml").Select(r => r.Metadata.Name));
        Assert.Equal(["student"], runs.ByIndex(TrainingRunIndexes.TeacherRun, "pretrain", "ml").Select(r => r.Metadata.Name));

        // A pod's run label is the run's name, hashed when over 63 characters; the index holds the same value.
        var pod = new V1Pod { Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { [TrainingRunNames.RunLabel] = TrainingRunNames.LabelValue(longName) } } };
        Assert.Equal([longName], runs.ByIndex(TrainingRunIndexes.RunLabel, TrainingRunIndexes.RunLabelOf(pod)!, "ml").Select(r => r.Metadata.Name));
    }

    [Fact]
    public void Dependants_wake_when_the_outcome_changes_not_on_every_progress_write()
    {
        var running = Run("ml", "pretrain");
        running.Status = new TrainingRunStatus { Phase = TrainingRunPhases.Running, Progress = new TrainingProgress { Epoch = 1 } };
        var progressed = KubernetesObjects.DeepClone(running);
        progressed.Status!.Progress!.Epoch = 2;
        var succeeded = KubernetesObjects.DeepClone(progressed);
        succeeded.Status!.Phase = TrainingRunPhases.Succeeded;

        Assert.False(TrainingRunServiceCollectionExtensions.DependencyOutcomeChanged(running, progressed));
        Assert.True(TrainingRunServiceCollectionExtensions.DependencyOutcomeChanged(progressed, succeeded));
    }

    private static TrainingRun Run(string ns, string name, Action<TrainingRunSpec>? configure = null)
    {
        var run = TestRuns.Run(name);
        run.Metadata.NamespaceProperty = ns;
        run.Metadata.Uid = $"{ns}-{name}";
        run.Metadata.ResourceVersion = "1";
        configure?.Invoke(run.Spec);
        return run;
    }

    private static Curriculum Curriculum(string ns, string name, string? teacher) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, ResourceVersion = "1" },
        Spec = new CurriculumSpec
        {
            Difficulty = teacher is null
                ? new DifficultySpec { Source = DifficultySources.Column, Column = "difficulty" }
                : new DifficultySpec { Source = DifficultySources.TeacherLoss, Teacher = new ModelReference { TrainingRun = new LocalObjectReference { Name = teacher } } },
        },
    };

    private sealed class Readers(ResourceCache<TrainingRun> runs, ResourceCache<Curriculum> curricula) : ICacheReaders
    {
        public ICacheReader<T> For<T>()
            where T : class, IKubernetesObject<V1ObjectMeta> =>
            typeof(T) == typeof(TrainingRun) ? (ICacheReader<T>)(object)CacheReader<TrainingRun>.Over(runs)
            : typeof(T) == typeof(Curriculum) ? (ICacheReader<T>)(object)CacheReader<Curriculum>.Over(curricula)
            : throw new InvalidOperationException($"no cache of {typeof(T).Name}");
    }
}
