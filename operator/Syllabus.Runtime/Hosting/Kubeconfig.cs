using System.Text.Json;
using System.Text.Json.Serialization;
using k8s;
using k8s.KubeConfigModels;
using Syllabus.Runtime.Json;

namespace Syllabus.Runtime.Hosting;

/// <summary>
/// Reads a kubeconfig file without KubernetesYaml, which cannot run under Native AOT (its start-up orders every model
/// property by metadata token): YAML to JSON nodes (<see cref="YamlJson"/>), then KubernetesClient's own kubeconfig types
/// through source-generated metadata whose names are the kubeconfig keys those types declare ([YamlMember] aliases).
/// KubernetesClient builds the client configuration from the result, as it does from the file.
/// </summary>
public static class Kubeconfig
{
    /// <summary>
    /// The client configuration of <paramref name="path"/> (or else $KUBECONFIG's first file, or else ~/.kube/config)
    /// at <paramref name="context"/> (else its current context); in a pod with none of them, the in-cluster configuration.
    /// </summary>
    /// <exception cref="KubeConfigException">No kubeconfig and not in a cluster, or the kubeconfig is invalid.</exception>
    public static KubernetesClientConfiguration BuildConfiguration(string? path, string? context)
    {
        path ??= DefaultPath();
        if (path is null)
        {
            return KubernetesClientConfiguration.IsInCluster()
                ? KubernetesClientConfiguration.InClusterConfig()
                : throw new k8s.Exceptions.KubeConfigException("No kubeconfig: set Operator:Kubeconfig or $KUBECONFIG, create ~/.kube/config, or run in a cluster.");
        }

        return KubernetesClientConfiguration.BuildConfigFromConfigObject(Load(path), context);
    }

    /// <exception cref="k8s.Exceptions.KubeConfigException">The file is missing, not YAML, or not a kubeconfig.</exception>
    public static K8SConfiguration Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            var json = YamlJson.Parse(File.ReadAllText(path), path, numbers: false)
                ?? throw new InvalidDataException($"{path}: the document is empty.");
            var file = json.Deserialize(KubeconfigJsonContext.Default.KubeconfigFile)
                ?? throw new InvalidDataException($"{path}: the document is null.");
            return file.ToConfiguration(Path.GetFullPath(path));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or UnauthorizedAccessException)
        {
            throw new k8s.Exceptions.KubeConfigException($"Cannot read the kubeconfig {path}: {e.Message}", e);
        }
    }

    private static string? DefaultPath()
    {
        if (Environment.GetEnvironmentVariable("KUBECONFIG") is { Length: > 0 } variable)
        {
            return variable.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)[0];
        }

        var home = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
        return File.Exists(home) ? home : null;
    }
}

/// <summary>
/// The kubeconfig keys KubernetesClient's client configuration reads (its own types hold an untyped, dynamic
/// extensions field that no source generator can describe, and extensions configure nothing it uses).
/// </summary>
internal sealed record KubeconfigFile(
    [property: JsonPropertyName("current-context")] string? CurrentContext,
    [property: JsonPropertyName("clusters")] List<KubeconfigFile.NamedCluster>? Clusters,
    [property: JsonPropertyName("contexts")] List<KubeconfigFile.NamedContext>? Contexts,
    [property: JsonPropertyName("users")] List<KubeconfigFile.NamedUser>? Users)
{
    public K8SConfiguration ToConfiguration(string fileName) => new()
    {
        ApiVersion = "v1",
        Kind = "Config",
        CurrentContext = CurrentContext,
        FileName = fileName, // relative certificate paths are resolved against it
        Clusters = [.. (Clusters ?? []).Select(c => new Cluster
        {
            Name = c.Name,
            ClusterEndpoint = c.Cluster is not { } e ? null : new ClusterEndpoint
            {
                Server = e.Server, CertificateAuthority = e.CertificateAuthority, CertificateAuthorityData = e.CertificateAuthorityData,
                TlsServerName = e.TlsServerName, SkipTlsVerify = e.SkipTlsVerify ?? false,
            },
        })],
        Contexts = [.. (Contexts ?? []).Select(c => new Context
        {
            Name = c.Name,
            ContextDetails = c.Context is not { } d ? null : new ContextDetails { Cluster = d.Cluster, User = d.User, Namespace = d.Namespace },
        })],
        Users = [.. (Users ?? []).Select(u => new User
        {
            Name = u.Name,
            UserCredentials = u.User is not { } c ? null : new UserCredentials
            {
                ClientCertificate = c.ClientCertificate, ClientCertificateData = c.ClientCertificateData,
                ClientKey = c.ClientKey, ClientKeyData = c.ClientKeyData, Token = c.Token,
                Impersonate = c.Impersonate, ImpersonateGroups = c.ImpersonateGroups, ImpersonateUserExtra = c.ImpersonateUserExtra,
                UserName = c.UserName, Password = c.Password,
                AuthProvider = c.AuthProvider is not { } a ? null : new AuthProvider { Name = a.Name, Config = a.Config },
                ExternalExecution = c.Exec is not { } x ? null : new ExternalExecution
                {
                    ApiVersion = x.ApiVersion, Command = x.Command, Arguments = x.Args, InstallHint = x.InstallHint,
                    ProvideClusterInfo = x.ProvideClusterInfo ?? false,
                    EnvironmentVariables = x.Env?.Select(v => new Dictionary<string, string> { ["name"] = v.Name ?? "", ["value"] = v.Value ?? "" }).ToList(),
                },
            },
        })],
    };

    internal sealed record NamedCluster([property: JsonPropertyName("name")] string? Name, [property: JsonPropertyName("cluster")] ClusterFields? Cluster);

    internal sealed record ClusterFields(
        [property: JsonPropertyName("server")] string? Server,
        [property: JsonPropertyName("certificate-authority")] string? CertificateAuthority,
        [property: JsonPropertyName("certificate-authority-data")] string? CertificateAuthorityData,
        [property: JsonPropertyName("tls-server-name")] string? TlsServerName,
        [property: JsonPropertyName("insecure-skip-tls-verify")] bool? SkipTlsVerify);

    internal sealed record NamedContext([property: JsonPropertyName("name")] string? Name, [property: JsonPropertyName("context")] ContextFields? Context);

    internal sealed record ContextFields(
        [property: JsonPropertyName("cluster")] string? Cluster,
        [property: JsonPropertyName("user")] string? User,
        [property: JsonPropertyName("namespace")] string? Namespace);

    internal sealed record NamedUser([property: JsonPropertyName("name")] string? Name, [property: JsonPropertyName("user")] UserFields? User);

    internal sealed record UserFields(
        [property: JsonPropertyName("client-certificate")] string? ClientCertificate,
        [property: JsonPropertyName("client-certificate-data")] string? ClientCertificateData,
        [property: JsonPropertyName("client-key")] string? ClientKey,
        [property: JsonPropertyName("client-key-data")] string? ClientKeyData,
        [property: JsonPropertyName("token")] string? Token,
        [property: JsonPropertyName("as")] string? Impersonate,
        [property: JsonPropertyName("as-groups")] List<string>? ImpersonateGroups,
        [property: JsonPropertyName("as-user-extra")] Dictionary<string, string>? ImpersonateUserExtra,
        [property: JsonPropertyName("username")] string? UserName,
        [property: JsonPropertyName("password")] string? Password,
        [property: JsonPropertyName("auth-provider")] AuthProviderFields? AuthProvider,
        [property: JsonPropertyName("exec")] ExecFields? Exec);

    internal sealed record AuthProviderFields([property: JsonPropertyName("name")] string? Name, [property: JsonPropertyName("config")] Dictionary<string, string>? Config);

    internal sealed record ExecFields(
        [property: JsonPropertyName("apiVersion")] string? ApiVersion,
        [property: JsonPropertyName("command")] string? Command,
        [property: JsonPropertyName("args")] List<string>? Args,
        [property: JsonPropertyName("env")] List<ExecEnvVar>? Env,
        [property: JsonPropertyName("installHint")] string? InstallHint,
        [property: JsonPropertyName("provideClusterInfo")] bool? ProvideClusterInfo);

    internal sealed record ExecEnvVar([property: JsonPropertyName("name")] string? Name, [property: JsonPropertyName("value")] string? Value);
}

[JsonSerializable(typeof(KubeconfigFile))]
internal sealed partial class KubeconfigJsonContext : JsonSerializerContext;
