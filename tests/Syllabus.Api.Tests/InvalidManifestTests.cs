namespace Syllabus.Api.Tests;

public sealed class InvalidManifestTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("syllabus-invalid-").FullName;

    private const string ValidRun = ProbeManifests.ValidRun;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private IReadOnlyList<(string Path, string Message)> Errors(string yaml)
    {
        if (SchemaValidator.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var file = Path.Combine(folder, $"{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, yaml);
        return SchemaValidator.Validate(file).Single().Errors;
    }

    [Fact]
    public void The_baseline_is_valid() => Assert.Empty(Errors(ValidRun));

    [Fact]
    public void A_wrong_enum_is_rejected_naming_the_field()
    {
        var errors = Errors(ValidRun.Replace("architecture: MLP", "architecture: RNN", StringComparison.Ordinal));
        var error = Assert.Single(errors);
        Assert.Equal("spec.model.architecture", error.Path);
        Assert.Contains("\"RNN\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("\"MLP\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_required_field_is_rejected_naming_the_field()
    {
        var errors = Errors(ValidRun.Replace("    train: {uri: data/train.csv}\n", "", StringComparison.Ordinal));
        var error = Assert.Single(errors);
        Assert.Equal("spec.data.train", error.Path);
        Assert.Contains("Required", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gate_with_both_bounds_is_rejected_by_its_cel_rule()
    {
        var errors = Errors(ValidRun.Replace("atLeast: 0.9", "atLeast: 0.9\n      atMost: 0.99", StringComparison.Ordinal));
        var error = Assert.Single(errors);
        Assert.Equal("spec.gates[0]", error.Path);
        Assert.Contains("exactly one of atLeast or atMost", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: accuracy\n      atMost: 0.9")]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: loss\n      atLeast: 0.1")]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: ece\n      atLeast: 0.1")]
    [InlineData("metric: accuracy\n      atLeast: 0.9", "metric: forgetting\n      atLeast: 0.02")]
    public void A_gate_bounding_the_wrong_side_of_its_metric_is_rejected(string from, string to)
    {
        var error = Assert.Single(Errors(ValidRun.Replace(from, to, StringComparison.Ordinal)));
        Assert.Equal("spec.gates[0]", error.Path);
        Assert.Contains(MetricDirection.GateCelMessage, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("metric: loss\n      atMost: 0.3")]
    [InlineData("metric: support/cat\n      atLeast: 10")]
    [InlineData("metric: support/cat\n      atMost: 10")]
    [InlineData("metric: precision/loss\n      atLeast: 0.5")]
    [InlineData("metric: forgetting\n      atMost: 0.02")]
    [InlineData("metric: backwardTransfer\n      atLeast: -0.02")]
    public void A_gate_on_the_side_where_its_metric_gets_worse_is_valid(string gate) =>
        Assert.Empty(Errors(ValidRun.Replace("metric: accuracy\n      atLeast: 0.9", gate, StringComparison.Ordinal)));

    [Fact]
    public void Momentum_bounds_on_a_schedule_that_does_not_cycle_are_rejected()
    {
        var error = Assert.Single(Errors(ValidRun + "\n  lrSchedule: {type: Cosine, baseMomentum: 0.8}\n"));
        Assert.Equal("spec.lrSchedule", error.Path);
        Assert.Contains("lrSchedule.baseMomentum and maxMomentum apply to Cyclic and OneCycle only", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gate_with_neither_bound_is_rejected()
    {
        var errors = Errors(ValidRun.Replace("\n      atLeast: 0.9", "", StringComparison.Ordinal));
        Assert.Equal("spec.gates[0]", Assert.Single(errors).Path);
    }

    [Fact]
    public void An_unknown_field_is_rejected()
    {
        var errors = Errors(ValidRun.Replace("hiddenLayers: [64]", "hiddenLayers: [64]\n    hiddenLayer: [64]", StringComparison.Ordinal));
        Assert.Equal("spec.model.hiddenLayer", Assert.Single(errors).Path);
    }

    [Fact]
    public void A_value_out_of_range_is_rejected()
    {
        var errors = Errors(ValidRun.Replace("  artifacts:", "  epochs: 0\n  artifacts:", StringComparison.Ordinal));
        Assert.Equal("spec.epochs", Assert.Single(errors).Path);
    }

    [Fact]
    public void A_base_model_with_two_sources_is_rejected()
    {
        var errors = Errors(ValidRun + "\n  baseModel:\n    uri: models/base\n    trainingRun: {name: pretrain}\n");
        var error = Assert.Single(errors);
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
        var errors = Errors(ValidRun + $"\n  lrSchedule: {schedule}\n");
        var error = Assert.Single(errors);
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
    [InlineData("{type: QueryByCommittee}", "QueryByCommittee needs a committee")]
    [InlineData("{type: Margin, committee: [{name: other}]}", "committee is only for QueryByCommittee")]
    [InlineData("{type: QueryByCommittee, committee: [{name: other}]}", null)]
    public void A_committee_is_required_by_QueryByCommittee_and_only_by_it(string strategy, string? message)
    {
        var errors = Errors($$$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: LabelingQueue
            metadata: {name: committee}
            spec:
              model: {trainingRun: {name: base}}
              pool: {deploymentRef: {name: live}}
              strategy: {{{strategy}}}
              labels: ["a", "b"]
              budget: 10
              storeUri: pvc://data/labelling
            """);
        if (message is null)
        {
            Assert.Empty(errors);
            return;
        }

        var error = Assert.Single(errors);
        Assert.Equal("spec.strategy", error.Path);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_csharp_loader_rejects_an_unknown_kind_with_a_clear_message()
    {
        var error = Assert.Throws<InvalidDataException>(() => Manifests.LoadAll("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "cm.yaml"));
        Assert.Contains("cm.yaml", error.Message, StringComparison.Ordinal);
    }
}
