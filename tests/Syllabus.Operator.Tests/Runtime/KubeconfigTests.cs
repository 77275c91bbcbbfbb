using k8s;
using Syllabus.Runtime.Hosting;

namespace Syllabus.Operator.Tests.Runtime;

/// <summary>The reflection-free kubeconfig reader gives the client configuration KubernetesClient's own reader gives.</summary>
public sealed class KubeconfigTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("kubeconfig-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private const string Config = """
        apiVersion: v1
        kind: Config
        preferences: {}
        current-context: dev
        clusters:
        - name: local
          cluster:
            server: https://127.0.0.1:6443
            insecure-skip-tls-verify: true
            tls-server-name: kubernetes
        - name: remote
          cluster:
            server: https://10.0.0.1:443
            certificate-authority: ca.crt
            extensions:
            - name: client.authentication.k8s.io/exec
              extension: {audience: x}
        contexts:
        - name: dev
          context: {cluster: local, user: token-user, namespace: ml}
        - name: prod
          context: {cluster: remote, user: basic-user}
        users:
        - name: token-user
          user:
            token: "12345"
            as: system:serviceaccount:syllabus-system:syllabus-operator
            as-groups: [system:serviceaccounts]
        - name: basic-user
          user: {username: admin, password: "true"}
        """;

    [Theory]
    [InlineData(null)]
    [InlineData("prod")]
    public void Reads_what_KubernetesClient_reads(string? context)
    {
        var path = Path.Combine(directory, "config");
        File.WriteAllText(path, Config);
        File.WriteAllText(Path.Combine(directory, "ca.crt"), "");

        var expected = KubernetesClientConfiguration.BuildConfigFromConfigFile(path, context);
        var actual = Kubeconfig.BuildConfiguration(path, context);

        Assert.Equal(expected.Host, actual.Host);
        Assert.Equal(expected.Namespace, actual.Namespace);
        Assert.Equal(expected.AccessToken, actual.AccessToken);
        Assert.Equal(expected.Username, actual.Username);
        Assert.Equal(expected.Password, actual.Password);
        Assert.Equal(expected.SkipTlsVerify, actual.SkipTlsVerify);
        Assert.Equal(expected.TlsServerName, actual.TlsServerName);
        Assert.Equal(expected.CurrentContext, actual.CurrentContext);
        Assert.Equal(context is null ? "12345" : null, actual.AccessToken); // a quoted number stays a string
        Assert.Equal(context is null ? null : "true", actual.Password); // so does a quoted boolean
    }

    [Fact]
    public void A_file_that_is_not_a_kubeconfig_is_an_error_naming_it()
    {
        var path = Path.Combine(directory, "broken");
        File.WriteAllText(path, "clusters: [unclosed");
        var error = Assert.Throws<k8s.Exceptions.KubeConfigException>(() => Kubeconfig.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
