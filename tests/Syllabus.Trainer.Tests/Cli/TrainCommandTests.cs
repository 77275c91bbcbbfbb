using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Tests.Training;

namespace Syllabus.Trainer.Tests.Cli;

public sealed class TrainCommandTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 60, testRows: 30);

    public void Dispose() => _fixture.Dispose();

    internal static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var root = TrainCommand.CreateRoot(output, error, Environment.GetEnvironmentVariable, TimeProvider.System);
        var exitCode = await root.Parse(args).InvokeAsync(cancellationToken: TestContext.Current.CancellationToken);
        return (exitCode, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task A_field_out_of_range_exits_2_naming_the_field()
    {
        var manifest = _fixture.Manifest("bad", epochs: 0);
        var termination = Path.Combine(_fixture.Folder, "termination-log");

        var (exitCode, _, error) = await RunAsync("train", "-f", manifest, "--metrics-port", "0", "--termination-message-path", termination);

        Assert.Equal(2, exitCode);
        Assert.Contains("spec.epochs", error, StringComparison.Ordinal);
        Assert.Contains("\"phase\":\"Failed\"", File.ReadAllText(termination), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broken_cross_field_rule_exits_2_as_a_cluster_would_reject_it()
    {
        var manifest = _fixture.Manifest("bounds", "  gates: [{metric: accuracy, atLeast: 0.5, atMost: 0.9}]");

        var (exitCode, _, error) = await RunAsync("train", "-f", manifest, "--metrics-port", "0");

        Assert.Equal(2, exitCode);
        Assert.Contains("spec.gates[0]: a gate needs exactly one of atLeast or atMost", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_curriculum_exits_2_naming_the_reference()
    {
        var manifest = _fixture.Manifest("nocur", "  curriculumRef: {name: absent}");

        var (exitCode, _, error) = await RunAsync("train", "-f", manifest, "--metrics-port", "0");

        Assert.Equal(2, exitCode);
        Assert.Contains("spec.curriculumRef.name", error, StringComparison.Ordinal);
        Assert.Contains("absent", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Not_yaml_and_missing_files_exit_2()
    {
        var broken = Path.Combine(_fixture.Folder, "broken.yaml");
        File.WriteAllText(broken, "apiVersion: syllabus.dev/v1alpha1\nkind: TrainingRun\nspec: [unclosed\n");

        Assert.Equal(2, (await RunAsync("train", "-f", broken, "--metrics-port", "0")).ExitCode);
        var (exitCode, _, error) = await RunAsync("train", "-f", Path.Combine(_fixture.Folder, "nope.yaml"), "--metrics-port", "0");
        Assert.Equal(2, exitCode);
        Assert.Contains("nope.yaml: file not found", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_data_exits_2_naming_the_column()
    {
        var manifest = _fixture.Manifest("badlabel");
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("labelColumn: label", "labelColumn: species", StringComparison.Ordinal));

        var (exitCode, _, error) = await RunAsync("train", "-f", manifest, "--metrics-port", "0");

        Assert.Equal(2, exitCode);
        Assert.Contains("species", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Several_runs_need_run_to_pick_one()
    {
        var manifest = _fixture.Manifest("one");
        File.AppendAllText(manifest, "---\n" + File.ReadAllText(_fixture.Manifest("two", file: "two.yaml")));

        var (exitCode, _, error) = await RunAsync("train", "-f", manifest, "--metrics-port", "0");
        Assert.Equal(2, exitCode);
        Assert.Contains("--run", error, StringComparison.Ordinal);

        var (unknown, _, unknownError) = await RunAsync("train", "-f", manifest, "--run", "three", "--metrics-port", "0");
        Assert.Equal(2, unknown);
        Assert.Contains("one, two", unknownError, StringComparison.Ordinal);
    }

    [Fact]
    public void Environment_variables_expand_and_SYLLABUS_CACHE_defaults_to_the_home_cache()
    {
        var environment = new Dictionary<string, string> { ["HOME"] = "/home/u", ["DATA"] = "/data" };

        Assert.Equal("/data/x.csv", ManifestResolver.Expand("${DATA}/x.csv", "f", environment.GetValueOrDefault));
        Assert.Equal("/home/u/.cache/syllabus/mnist/train.csv", ManifestResolver.Expand("${SYLLABUS_CACHE}/mnist/train.csv", "f", environment.GetValueOrDefault));
        var error = Assert.Throws<InputException>(() => ManifestResolver.Expand("${NOPE}/x", "spec.data.train.uri", environment.GetValueOrDefault));
        Assert.Contains("spec.data.train.uri", error.Message, StringComparison.Ordinal);
        Assert.Contains("NOPE", error.Message, StringComparison.Ordinal);
    }
}

[Collection(TorchCollection.Name)]
public sealed class TrainCommandTrainingTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 90, testRows: 30);

    public void Dispose() => _fixture.Dispose();

    [Fact]
    public async Task A_good_manifest_trains_and_prints_where_the_report_is()
    {
        var manifest = _fixture.Manifest("good", "  gates: [{metric: accuracy, atLeast: 0.0}]", epochs: 2);
        var termination = Path.Combine(_fixture.Folder, "termination-log");

        var (exitCode, output, error) = await TrainCommandTests.RunAsync("train", "-f", manifest, "--metrics-port", "0", "--no-progress", "--termination-message-path", termination);

        Assert.True(exitCode == 0, error);
        Assert.Contains("epoch 2/2", output, StringComparison.Ordinal);
        Assert.Contains($"report: {Path.Combine(_fixture.Artifacts("good"), "report.json")}", output, StringComparison.Ordinal);
        Assert.Contains("gate accuracy >= 0: passed", output, StringComparison.Ordinal);
        Assert.Contains("\"gatesPassed\":1", File.ReadAllText(termination), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_early_stopping_metric_exits_2_naming_it()
    {
        var manifest = _fixture.Manifest("monitor", "  earlyStopping: {monitor: acuracy}", epochs: 2);

        var (exitCode, _, error) = await TrainCommandTests.RunAsync("train", "-f", manifest, "--metrics-port", "0", "--no-progress");

        Assert.Equal(2, exitCode);
        Assert.Contains("earlyStopping.monitor: 'acuracy' is not a validation metric", error, StringComparison.Ordinal);
    }
}
