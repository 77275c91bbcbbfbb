namespace Syllabus.Kubectl.Tests;

/// <summary>The kubeconfig read as kubectl reads it: flag, $KUBECONFIG (merged, first wins), ~/.kube/config; context and namespace.</summary>
public sealed class KubeconfigTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("kubectl-syllabus-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string Write(string name, string server, string context, string? ns, string? current = null)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: {context}-cluster
              cluster:
                server: {server}
            users:
            - name: {context}-user
              user:
                token: t
            contexts:
            - name: {context}
              context:
                cluster: {context}-cluster
                user: {context}-user
            {(ns is null ? "" : $"    namespace: {ns}")}
            current-context: {current ?? context}
            """);
        return path;
    }

    [Fact]
    public void TheContextsNamespaceIsTheDefaultAndDashNOverridesIt()
    {
        var path = Write("a", "https://a.example:6443", "a", "team-a");
        using (var c = KubeConnection.Connect(new KubeOptions(path, null, null), _ => null, directory))
        {
            Assert.Equal("team-a", c.Namespace);
            Assert.Equal("https://a.example:6443", c.Server);
        }

        using (var c = KubeConnection.Connect(new KubeOptions(path, null, "other"), _ => null, directory))
        {
            Assert.Equal("other", c.Namespace);
        }
    }

    [Fact]
    public void WithoutANamespaceInTheContextItIsDefault()
    {
        var path = Write("a", "https://a.example:6443", "a", null);
        using var c = KubeConnection.Connect(new KubeOptions(path, null, null), _ => null, directory);
        Assert.Equal("default", c.Namespace);
    }

    [Fact]
    public void KubeconfigVariableFilesAreMergedFirstWinsAndContextSelects()
    {
        var a = Write("a", "https://a.example:6443", "a", "team-a");
        var b = Write("b", "https://b.example:6443", "b", "team-b", current: "a");
        var variable = string.Join(Path.PathSeparator, a, Path.Combine(directory, "missing"), b);
        using (var c = KubeConnection.Connect(new KubeOptions(null, null, null), n => n == "KUBECONFIG" ? variable : null, directory))
        {
            Assert.Equal("https://a.example:6443", c.Server);
        }

        using (var c = KubeConnection.Connect(new KubeOptions(null, "b", null), n => n == "KUBECONFIG" ? variable : null, directory))
        {
            Assert.Equal("https://b.example:6443", c.Server);
            Assert.Equal("team-b", c.Namespace);
        }
    }

    [Fact]
    public void HomeKubeconfigIsTheFallback()
    {
        Directory.CreateDirectory(Path.Combine(directory, ".kube"));
        File.Move(Write("a", "https://home.example:6443", "home", null), Path.Combine(directory, ".kube", "config"));
        using var c = KubeConnection.Connect(new KubeOptions(null, null, null), _ => null, directory);
        Assert.Equal("https://home.example:6443", c.Server);
    }

    [Fact]
    public void MissingKubeconfigsAndContextsAreNamed()
    {
        Assert.Contains("--kubeconfig /nope: no such file",
            Assert.Throws<PluginException>(() => KubeConnection.Connect(new KubeOptions("/nope", null, null), _ => null, directory)).Message, StringComparison.Ordinal);
        Assert.Contains("none of the files in KUBECONFIG=/x:/y exists",
            Assert.Throws<PluginException>(() => KubeConnection.Connect(new KubeOptions(null, null, null), n => n == "KUBECONFIG" ? "/x:/y" : null, directory)).Message, StringComparison.Ordinal);
        Assert.Contains($"{Path.Combine(directory, ".kube", "config")} does not exist",
            Assert.Throws<PluginException>(() => KubeConnection.Connect(new KubeOptions(null, null, null), _ => null, directory)).Message, StringComparison.Ordinal);
        var path = Write("a", "https://a.example:6443", "a", null);
        var wrongContext = Assert.Throws<PluginException>(() => KubeConnection.Connect(new KubeOptions(path, "prod", null), _ => null, directory));
        Assert.Contains("prod", wrongContext.Message, StringComparison.Ordinal);
    }
}
