using System.Text.Json.Nodes;

namespace Syllabus.Kubectl.Tests;

/// <summary>Arguments, patch bodies and kubeconfig handling: everything short of the API server.</summary>
public sealed class CommandLineTests
{
    private static KubeConnection MustNotConnect(KubeOptions options) =>
        throw new InvalidOperationException($"the command connected ({options}) although its arguments are wrong");

    [Theory]
    [InlineData("md/fraud-model", "fraud-model")]
    [InlineData("modeldeployment/fraud-model", "fraud-model")]
    [InlineData("modeldeployments/fraud-model", "fraud-model")]
    [InlineData("ModelDeployment/fraud-model", "fraud-model")]
    [InlineData("modeldeployment.syllabus.dev/a.b", "a.b")]
    [InlineData("modeldeployments.v1alpha1.syllabus.dev/x1", "x1")]
    [InlineData("fraud-model", "fraud-model")]
    public void TargetsAreNamedAsKubectlNamesThem(string argument, string name) =>
        Assert.Equal(name, ModelDeploymentReference.Parse(argument).Name);

    [Theory]
    [InlineData("tr/fraud-run", "kind 'tr' is not a ModelDeployment")]
    [InlineData("deployment/fraud-model", "kind 'deployment' is not a ModelDeployment")]
    [InlineData("md/", "no ModelDeployment name")]
    [InlineData("md/Fraud", "'Fraud' is not a valid object name")]
    [InlineData("md/a/b", "'a/b' is not a valid object name")]
    [InlineData("", "no ModelDeployment name")]
    public void AWrongTargetIsRefusedNamingTheProblem(string argument, string message) =>
        Assert.Contains(message, Assert.Throws<PluginException>(() => ModelDeploymentReference.Parse(argument)).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData(new[] { "status", "tr/fraud-run" }, "error: 'tr/fraud-run': kind 'tr' is not a ModelDeployment")]
    [InlineData(new[] { "promote", "svc/fraud-model" }, "error: 'svc/fraud-model': kind 'svc' is not a ModelDeployment")]
    [InlineData(new[] { "pin", "md/fraud-model", "abc" }, "REV must be a revision number (1 or more), not 'abc'")]
    [InlineData(new[] { "pin", "md/fraud-model", "0" }, "REV must be a revision number (1 or more), not '0'")]
    [InlineData(new[] { "pin", "md/fraud-model", "-3" }, "REV must be a revision number (1 or more)")]
    [InlineData(new[] { "pin", "md/fraud-model" }, "Required argument 'REV' missing for command: 'pin'")]
    [InlineData(new[] { "status" }, "Required argument 'md/NAME' missing for command: 'status'")]
    [InlineData(new[] { "rollback", "md/fraud-model" }, "Unrecognized command or argument 'rollback'")]
    [InlineData(new[] { "status", "md/a", "md/b" }, "Unrecognized command or argument 'md/b'")]
    public async Task BadArgumentsFailBeforeAnyApiCall(string[] args, string message)
    {
        var result = await PluginRunner.RunAsync(args, MustNotConnect);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GlobalFlagsReachTheConnection()
    {
        KubeOptions? seen = null;
        var result = await PluginRunner.RunAsync(["--context", "prod", "status", "md/x", "-n", "team-b", "--kubeconfig", "/tmp/k"], o =>
        {
            seen = o;
            throw new PluginException("stop here");
        });
        Assert.Equal(new KubeOptions("/tmp/k", "prod", "team-b"), seen);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: stop here\n", result.Error.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task HelpShowsTheEquivalentKubectlCalls()
    {
        var help = await PluginRunner.RunAsync(["--help"], MustNotConnect);
        Assert.Equal(0, help.ExitCode);
        foreach (var action in new[] { "promote", "abort", "retry" })
        {
            Assert.Contains($"kubectl annotate modeldeployment/NAME syllabus.dev/action={action} --overwrite", help.Out, StringComparison.Ordinal);
        }

        Assert.Contains("kubectl patch modeldeployment/NAME --type=merge -p '{\"spec\":{\"pinnedRevision\":3}}'", help.Out, StringComparison.Ordinal);
        Assert.Contains("kubectl patch modeldeployment/NAME --type=merge -p '{\"spec\":{\"pinnedRevision\":null}}'", help.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("promote")]
    [InlineData("abort")]
    [InlineData("retry")]
    public void AnActionIsAMergePatchOfOneAnnotation(string action) =>
        Assert.Equal("{\"metadata\":{\"annotations\":{\"syllabus.dev/action\":\"" + action + "\"}}}", ModelDeploymentPatches.Action(action));

    [Fact]
    public void PinAndUnpinAreMergePatchesOfSpecPinnedRevision()
    {
        Assert.Equal("""{"spec":{"pinnedRevision":3}}""", ModelDeploymentPatches.Pin(3));
        Assert.Equal("""{"spec":{"pinnedRevision":null}}""", ModelDeploymentPatches.Unpin());

        // A JSON null in a merge patch deletes the field (RFC 7386), so it must be written out, not left off.
        Assert.True(JsonNode.Parse(ModelDeploymentPatches.Unpin())!["spec"]!.AsObject().ContainsKey("pinnedRevision"));
        Assert.Equal("kubectl patch -n team-a modeldeployment/m --type=merge -p '{\"spec\":{\"pinnedRevision\":3}}'", ModelDeploymentPatches.KubectlPin("m", 3, "team-a"));
        Assert.Equal("kubectl annotate modeldeployment/m syllabus.dev/action=abort --overwrite", ModelDeploymentPatches.KubectlAction("m", "abort"));
    }

    [Fact]
    public void TheReadmeDocumentsTheSameKubectlCallsAndTheInstall()
    {
        var readme = File.ReadAllText(Path.Combine(Syllabus.Testing.RepositoryPaths.Root, "README.md"));
        foreach (var action in new[] { "promote", "abort", "retry" })
        {
            Assert.Contains($"| `kubectl syllabus {action} md/NAME` |", readme, StringComparison.Ordinal);
            Assert.Contains($"`{ModelDeploymentPatches.KubectlAction("NAME", action)}`", readme, StringComparison.Ordinal);
        }

        Assert.Contains($"`{ModelDeploymentPatches.KubectlPin("NAME", 3).Replace(":3}", ":REV}", StringComparison.Ordinal)}`", readme, StringComparison.Ordinal);
        Assert.Contains($"`{ModelDeploymentPatches.KubectlUnpin("NAME")}`", readme, StringComparison.Ordinal);

        // kubectl finds the plugin by its file name: the install command must publish this project under that name.
        Assert.Contains("dotnet publish operator/Syllabus.Kubectl ", readme, StringComparison.Ordinal);
        Assert.Equal("kubectl-syllabus", typeof(PluginCommands).Assembly.GetName().Name);
    }
}
