using System.Reflection;
using Syllabus.Api.Schema;
using Syllabus.Api.Validation;

namespace Syllabus.Api.Tests;

/// <summary>
/// The C# rules (used by the operator and the trainer) over the CEL cases of tests/Syllabus.Api.Tests/InvalidManifestTests.cs (same manifests,
/// same paths and messages as the CEL schema validator reports), so a 1.20 server without CEL and a CEL-capable one agree.
/// </summary>
public sealed class SpecValidationTests
{
    private const string ValidRun = ProbeManifests.ValidRun;

    private static IReadOnlyList<ValidationError> Errors(string yaml) => Manifests.LoadAll(yaml, "test.yaml").Single() switch
    {
        TrainingRun run => SpecValidation.Validate(run.Spec),
        Curriculum curriculum => SpecValidation.Validate(curriculum.Spec),
        var other => throw new InvalidOperationException(other.Kind),
    };

    [Fact]
    public void The_baseline_is_valid() => Assert.Empty(Errors(ValidRun));

    [Fact]
    public void A_gate_with_both_bounds_is_rejected_by_its_cel_rule()
    {
        var error = Assert.Single(Errors(ValidRun.Replace("atLeast: 0.9", "atLeast: 0.9\n      atMost: 0.99", StringComparison.Ordinal)));
        Assert.Equal("spec.gates[0]", error.Path);
        Assert.Contains("exactly one of atLeast or atMost", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: accuracy\n      atMost: 0.9")]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: loss\n      atLeast: 0.1")]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: ece\n      atLeast: 0.1")]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: forgetting\n      atLeast: 0.02")]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: backwardTransfer\n      atMost: 0.0")]
    public void A_gate_bounding_the_wrong_side_of_its_metric_is_rejected(string from, string to)
    {
        var error = Assert.Single(Errors(ValidRun.Replace(from, to, StringComparison.Ordinal)));
        Assert.Equal("spec.gates[0]", error.Path);
        Assert.Equal(MetricDirection.GateCelMessage, error.Message);
    }

    [Theory]
    [InlineData("metric: loss\n      atMost: 0.3")]
    [InlineData("metric: forgetting\n      atMost: 0.02")]
    [InlineData("metric: backwardTransfer\n      atLeast: -0.02")]
    [InlineData("metric: support/cat\n      atLeast: 10")]
    [InlineData("metric: support/cat\n      atMost: 10")]
    [InlineData("metric: precision/loss\n      atLeast: 0.5")]
    public void A_gate_on_the_side_where_its_metric_gets_worse_is_valid(string gate) =>
        Assert.Empty(Errors(ValidRun.Replace("metric: accuracy\n      atLeast: 0.9", gate, StringComparison.Ordinal)));

    [Fact]
    public void Momentum_bounds_on_a_schedule_that_does_not_cycle_are_rejected()
    {
        var error = Assert.Single(Errors(ValidRun + "\n  lrSchedule: {type: Cosine, baseMomentum: 0.8}\n"));
        Assert.Equal("spec.lrSchedule", error.Path);
        Assert.Equal("lrSchedule.baseMomentum and maxMomentum apply to Cyclic and OneCycle only", error.Message);
    }

    [Fact]
    public void A_gate_with_neither_bound_is_rejected() =>
        Assert.Equal("spec.gates[0]", Assert.Single(Errors(ValidRun.Replace("\n      atLeast: 0.9", "", StringComparison.Ordinal))).Path);

    [Fact]
    public void A_base_model_with_two_sources_is_rejected()
    {
        var error = Assert.Single(Errors(ValidRun + "\n  baseModel:\n    uri: models/base\n    trainingRun: {name: pretrain}\n"));
        Assert.Equal("spec.baseModel", error.Path);
        Assert.Contains("exactly one source", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{type: Step}", "stepSize is required for Step")]
    [InlineData("{type: MultiStep, milestones: [3], stepSize: 2}", "stepSize applies to Step only")]
    [InlineData("{type: Cyclic}", "maxLearningRate is required")]
    [InlineData("{type: OneCycle, maxLearningRate: 0.1, warmup: {steps: 2}}", "OneCycle has its own warm-up")]
    public void A_schedule_whose_fields_do_not_match_its_type_is_rejected(string schedule, string message)
    {
        var error = Assert.Single(Errors(ValidRun + $"\n  lrSchedule: {schedule}\n"));
        Assert.Equal("spec.lrSchedule", error.Path);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_curriculum_with_both_pacing_and_stages_is_rejected()
    {
        var errors = Errors("""
            apiVersion: syllabus.dev/v1alpha1
            kind: Curriculum
            metadata: {name: both}
            spec:
              difficulty: {source: Column, column: difficulty}
              pacing: {function: Linear}
              stages: [{name: easy, dataFraction: 0.3}]
            """);
        Assert.Equal("spec", Assert.Single(errors).Path);
    }

    [Theory]
    [InlineData("  curriculumRef: {name: c}\n  curriculum: {difficulty: {source: Column, column: d}, pacing: {function: Linear}}\n", "spec", "set at most one of curriculumRef or curriculum")]
    [InlineData("  optimizer: {type: Adam, nesterov: true}\n", "spec.optimizer", "nesterov needs type SGD and momentum > 0")]
    [InlineData("  curriculum: {difficulty: {source: TeacherLoss}, pacing: {function: Step}}\n", "spec.curriculum.difficulty", "difficulty.teacher is required when source is TeacherLoss or TeacherConfidence")]
    [InlineData("  curriculum: {difficulty: {source: Column, column: d}, stages: [{name: a, dataFraction: 0.5, minEpochs: 3, maxEpochs: 2}]}\n", "spec.curriculum.stages[0]", "maxEpochs must be at least minEpochs")]
    public void Other_cel_rules_are_enforced_at_their_paths(string extra, string path, string message)
    {
        var errors = Errors(ValidRun + "\n" + extra);
        Assert.Contains(new ValidationError(path, message), errors);
    }

    [Fact]
    public void Model_and_data_rules_are_enforced()
    {
        var cnn = Errors(ValidRun.Replace("architecture: MLP", "architecture: CNN", StringComparison.Ordinal));
        Assert.Equal(new ValidationError("spec.model", "model.inputShape is required for a CNN"), Assert.Single(cnn));
        var scale = Errors(ValidRun.Replace("    labelColumn: label\n", "    labelColumn: label\n    normalization: Scale\n    validation: {uri: v.csv}\n    validationFraction: 0.1\n", StringComparison.Ordinal));
        Assert.Equal(["data.scale is required when normalization is Scale", "set at most one of validation or validationFraction"], scale.Select(e => e.Message).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_message_the_operator_reports_is_a_CEL_rule_message_of_the_CRDs()
    {
        var celMessages = typeof(TrainingRun).Assembly.GetTypes()
            .SelectMany(t => t.GetCustomAttributes<CelRuleAttribute>())
            .Select(a => a.Message)
            .ToHashSet(StringComparer.Ordinal);
        var cases = new[]
        {
            ValidRun.Replace("atLeast: 0.9", "atLeast: 0.9\n      atMost: 0.99", StringComparison.Ordinal),
            ValidRun + "\n  baseModel:\n    uri: models/base\n    trainingRun: {name: pretrain}\n",
            ValidRun + "\n  lrSchedule: {type: OneCycle, patience: 2, mode: Triangular, stepSize: 1, t0: 1, milestones: [1], warmup: {steps: 1}}\n",
            ValidRun + "\n  lrSchedule: {type: CosineWarmRestarts}\n",
            ValidRun + "\n  lrSchedule: {type: Exponential}\n",
            ValidRun + "\n  lrSchedule: {type: MultiStep}\n",
            ValidRun + "\n  curriculum: {difficulty: {source: Column}, pacing: {function: Linear, steps: 3}}\n",
            ValidRun + "\n  curriculum: {difficulty: {source: TeacherLoss, teacher: {uri: m, trainingRun: {name: t}}}, pacing: {function: Step}}\n",
            ValidRun.Replace("architecture: MLP", "architecture: Custom", StringComparison.Ordinal),
            ValidRun.Replace("    labelColumn: label\n", "    labelColumn: label\n    missingValues: {policy: Impute}\n", StringComparison.Ordinal),
        };
        var reported = cases.SelectMany(Errors).ToList();
        Assert.True(reported.Select(e => e.Message).Distinct().Count() >= 15, $"expected at least 15 distinct rules to fire, got {reported.Count} errors");
        Assert.All(reported, e => Assert.Contains(e.Message, celMessages));
    }
}
