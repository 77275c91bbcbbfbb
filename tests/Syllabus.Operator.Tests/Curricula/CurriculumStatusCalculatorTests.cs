using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.Curricula;
using Syllabus.Runtime;
using Syllabus.Api.Validation;

namespace Syllabus.Operator.Tests.Curricula;

public sealed class CurriculumStatusCalculatorTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static Curriculum Curriculum() => new()
    {
        Metadata = new V1ObjectMeta { Name = "easy-first", NamespaceProperty = "ml", Generation = 3 },
        Spec = new CurriculumSpec
        {
            Difficulty = new DifficultySpec { Source = DifficultySources.Column, Column = "difficulty" },
            Pacing = new PacingSpec { Function = PacingFunctions.Root },
        },
    };

    [Fact]
    public void A_valid_curriculum_lists_its_users()
    {
        var curriculum = Curriculum();
        var status = CurriculumStatusCalculator.Compute(curriculum, SpecValidation.Validate(curriculum.Spec), ["run-a", "run-b"], T0);
        Assert.Equal(["run-a", "run-b"], status.UsedBy);
        Assert.Equal(2, status.UsedByCount);
        Assert.Equal(3, status.ObservedGeneration);
        var valid = Conditions.Find(status.Conditions, ConditionTypes.Valid)!;
        Assert.Equal(Conditions.True, valid.Status);
        Assert.Equal(3, valid.ObservedGeneration);
    }

    [Fact]
    public void UsedBy_names_at_most_50_runs_and_counts_them_all()
    {
        var curriculum = Curriculum();
        var users = Enumerable.Range(0, 1000).Select(i => $"run-{i:D4}").Reverse().ToList();
        var status = CurriculumStatusCalculator.Compute(curriculum, SpecValidation.Validate(curriculum.Spec), users, T0);
        Assert.Equal(1000, status.UsedByCount);
        Assert.Equal(CurriculumStatus.MaxUsedByNames, status.UsedBy!.Count);
        Assert.Equal("run-0000", status.UsedBy[0]);
        Assert.Equal("run-0049", status.UsedBy[^1]);
    }

    [Fact]
    public void An_invalid_curriculum_says_why_and_keeps_the_transition_time_while_unchanged()
    {
        var curriculum = Curriculum();
        curriculum.Spec.Stages = [new CurriculumStage { Name = "easy", DataFraction = 0.3 }];
        var status = CurriculumStatusCalculator.Compute(curriculum, SpecValidation.Validate(curriculum.Spec), [], T0);
        var valid = Conditions.Find(status.Conditions, ConditionTypes.Valid)!;
        Assert.Equal(Conditions.False, valid.Status);
        Assert.Equal("spec: exactly one of pacing or stages must be set", valid.Message);
        Assert.Null(status.UsedBy);
        Assert.Equal(0, status.UsedByCount);

        curriculum.Status = status;
        var again = CurriculumStatusCalculator.Compute(curriculum, SpecValidation.Validate(curriculum.Spec), [], T0.AddHours(1));
        Assert.Equal(T0.UtcDateTime, Conditions.Find(again.Conditions, ConditionTypes.Valid)!.LastTransitionTime);
        Assert.Equal(Manifests.ToJson(status), Manifests.ToJson(again));
    }
}
