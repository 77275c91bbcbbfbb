using System.CommandLine;
using k8s;
using Syllabus.Api;
using Syllabus.Testing;

namespace Syllabus.Kubectl.Tests;

/// <summary>The plugin run in-process as <c>kubectl syllabus ARGS</c> would run it, its output captured.</summary>
internal static class PluginRunner
{
    /// <summary>The time every test's "now" is, so that ages in the output are fixed.</summary>
    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public sealed record Result(int ExitCode, string Out, string Error);

    public static async Task<Result> RunAsync(string[] args, Func<KubeOptions, KubeConnection>? connect = null, DateTimeOffset? now = null)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var root = PluginCommands.CreateRoot(new PluginConsole(output, error, Color: false), connect ?? KubeConnection.Connect, new FixedTime(now ?? Now));
        var code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, TestContext.Current.CancellationToken);
        return new Result(code, output.ToString(), error.ToString());
    }

    public static string FixturePath(string name) => Path.Combine(RepositoryPaths.Root, "tests", "Syllabus.Kubectl.Tests", "Fixtures", name);

    public static ModelDeployment LoadFixture(string name) =>
        KubernetesJson.Deserialize<ModelDeployment>(File.ReadAllText(FixturePath(name)));

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
