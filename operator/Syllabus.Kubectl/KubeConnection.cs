using k8s;
using k8s.Exceptions;
using k8s.KubeConfigModels;

namespace Syllabus.Kubectl;

/// <summary>kubectl's global flags this plugin honours (kubectl passes them through to plugins unparsed).</summary>
internal sealed record KubeOptions(string? Kubeconfig, string? Context, string? Namespace);

/// <summary>A client for the cluster kubectl would talk to, and the namespace it would use.</summary>
internal sealed record KubeConnection(IKubernetes Client, string Namespace, string Server) : IDisposable
{
    public void Dispose() => Client.Dispose();

    /// <summary>
    /// Reads the kubeconfig as kubectl does: --kubeconfig, else the files in $KUBECONFIG (merged, the first file
    /// winning; missing ones skipped), else ~/.kube/config; --context, else current-context; -n, else the
    /// context's namespace, else default.
    /// </summary>
    public static KubeConnection Connect(KubeOptions options) =>
        Connect(options, Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    public static KubeConnection Connect(KubeOptions options, Func<string, string?> environment, string home)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(environment);
        var files = KubeconfigFiles(options.Kubeconfig, environment("KUBECONFIG"), home);
        KubernetesClientConfiguration configuration;
        try
        {
            var merged = Merge(files.Select(f => KubernetesClientConfiguration.LoadKubeConfig(new FileInfo(f))).ToList());
            configuration = KubernetesClientConfiguration.BuildConfigFromConfigObject(merged, options.Context);
        }
        catch (KubeConfigException e)
        {
            throw new PluginException($"kubeconfig {string.Join(Path.PathSeparator, files)}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or YamlDotNet.Core.YamlException or ArgumentException)
        {
            throw new PluginException($"cannot read kubeconfig {string.Join(Path.PathSeparator, files)}: {e.Message}", e);
        }

        var ns = options.Namespace is { Length: > 0 } n ? n : configuration.Namespace is { Length: > 0 } c ? c : "default";
        return new KubeConnection(new Kubernetes(configuration), ns, configuration.Host);
    }

    /// <summary>
    /// kubectl's merge of several kubeconfig files: the first file to name a cluster, user or context wins, and so does
    /// the first current-context. (The client's own merge is not public.)
    /// </summary>
    internal static K8SConfiguration Merge(IReadOnlyList<K8SConfiguration> configurations)
    {
        if (configurations.Count == 1)
        {
            return configurations[0];
        }

        static List<T> FirstWins<T>(IEnumerable<IEnumerable<T>?> lists, Func<T, string> name) =>
            lists.SelectMany(l => l ?? []).DistinctBy(name, StringComparer.Ordinal).ToList();

        return new K8SConfiguration
        {
            CurrentContext = configurations.Select(c => c.CurrentContext).FirstOrDefault(c => !string.IsNullOrEmpty(c)),
            Clusters = FirstWins(configurations.Select(c => c.Clusters), c => c.Name),
            Users = FirstWins(configurations.Select(c => c.Users), u => u.Name),
            Contexts = FirstWins(configurations.Select(c => c.Contexts), c => c.Name),
            FileName = configurations[0].FileName,
        };
    }

    /// <summary>The kubeconfig files in the order kubectl reads them; an error when none exists.</summary>
    public static IReadOnlyList<string> KubeconfigFiles(string? flag, string? variable, string home)
    {
        if (!string.IsNullOrEmpty(flag))
        {
            // kubectl fails on a missing --kubeconfig rather than falling back.
            return File.Exists(flag) ? [flag] : throw new PluginException($"--kubeconfig {flag}: no such file");
        }

        if (!string.IsNullOrEmpty(variable))
        {
            var listed = variable.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
            var existing = listed.Where(File.Exists).Distinct(StringComparer.Ordinal).ToList();
            return existing.Count > 0
                ? existing
                : throw new PluginException($"none of the files in KUBECONFIG={variable} exists");
        }

        var fallback = Path.Combine(home, ".kube", "config");
        return File.Exists(fallback)
            ? [fallback]
            : throw new PluginException($"no kubeconfig: {fallback} does not exist; set KUBECONFIG or pass --kubeconfig");
    }
}
