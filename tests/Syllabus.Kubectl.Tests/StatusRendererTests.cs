using Syllabus.Api;

namespace Syllabus.Kubectl.Tests;

public sealed class StatusRendererTests
{
    /// <summary>Compares with Fixtures/NAME.txt; SYLLABUS_UPDATE_GOLDEN=1 rewrites it (review the diff).</summary>
    [Theory]
    [InlineData("canary")]
    [InlineData("rolled-back")]
    public void StatusOfAFixtureMatchesTheGoldenText(string fixture)
    {
        var md = PluginRunner.LoadFixture(fixture + ".json");
        var actual = StatusRenderer.Render(md, PluginRunner.Now, color: false);
        var path = PluginRunner.FixturePath(fixture + ".txt");
        if (Environment.GetEnvironmentVariable("SYLLABUS_UPDATE_GOLDEN") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.True(File.Exists(path), $"golden file {path} is missing; run with SYLLABUS_UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(path).ReplaceLineEndings("\n"), actual);
    }

    [Fact]
    public void PlainOutputHasNoEscapesAndColouredOutputPaintsThePhases()
    {
        var md = PluginRunner.LoadFixture("rolled-back.json");
        Assert.DoesNotContain('\u001b', StatusRenderer.Render(md, PluginRunner.Now, color: false));
        var coloured = StatusRenderer.Render(md, PluginRunner.Now, color: true);
        Assert.Contains("\u001b[31m✖ Degraded\u001b[0m", coloured, StringComparison.Ordinal);
        Assert.Contains("\u001b[32m✔ Stable\u001b[0m", coloured, StringComparison.Ordinal);
    }

    [Fact]
    public void AModelDeploymentWithoutStatusSaysTheOperatorHasNotReported()
    {
        var md = new ModelDeployment { Metadata = new() { Name = "new-model", NamespaceProperty = "team-a" } };
        Assert.Equal(
            "Name:           new-model\nNamespace:      team-a\nStatus:         ◌ Pending (the operator has not reported a status yet)\nPinned:         -\n",
            StatusRenderer.Render(md, PluginRunner.Now, color: false));
    }

    [Fact]
    public void ARevisionHistoryWithoutTheAnalysedRevisionStillShowsTheAnalysis()
    {
        var md = PluginRunner.LoadFixture("rolled-back.json");
        md.Status!.Revisions!.RemoveAll(r => r.Revision == 2);
        var text = StatusRenderer.Render(md, PluginRunner.Now, color: false);
        Assert.Contains("\n└──Analysis (canary): ✖ Failed, started 6m ago\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void MessagesWithLineBreaksStayOnTheirTreeLine()
    {
        var md = PluginRunner.LoadFixture("rolled-back.json");
        md.Status!.Revisions![0].Reason = "first line\nsecond line";
        var text = StatusRenderer.Render(md, PluginRunner.Now, color: false);
        Assert.Contains("│  ├──Reason: first line second line\n", text, StringComparison.Ordinal);
    }

    // apimachinery's duration.HumanDuration, which kubectl's AGE column uses.
    [Theory]
    [InlineData(0, "0s")]
    [InlineData(119, "119s")]
    [InlineData(150, "2m30s")]
    [InlineData(300, "5m")]
    [InlineData(600, "10m")]
    [InlineData(179 * 60, "179m")]
    [InlineData(3 * 3600, "3h")]
    [InlineData(7 * 3600 + 30 * 60, "7h30m")]
    [InlineData(47 * 3600, "47h")]
    [InlineData(3 * 86400 + 5 * 3600, "3d5h")]
    [InlineData(30 * 86400, "30d")]
    [InlineData(3 * 365 * 86400 + 10 * 86400, "3y10d")]
    [InlineData(9 * 365 * 86400, "9y")]
    public void AgesReadAsKubectlPrintsThem(long seconds, string expected) =>
        Assert.Equal(expected, StatusRenderer.Age(PluginRunner.Now, PluginRunner.Now.UtcDateTime.AddSeconds(-seconds)));

    [Fact]
    public void ATimestampFromTheFutureIsInvalidAsInKubectl() =>
        Assert.Equal("<invalid>", StatusRenderer.Age(PluginRunner.Now, PluginRunner.Now.UtcDateTime.AddMinutes(5)));
}
