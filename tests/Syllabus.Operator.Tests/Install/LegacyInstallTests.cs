using k8s;
using Syllabus.Operator.Tests.ControlPlaneTests;

namespace Syllabus.Operator.Tests.Install;

/// <summary>
/// The README's install command for clusters before 1.25, run against the test control plane (Kubernetes 1.20):
/// config/legacy installs; config/default does not, because a 1.20 server rejects CEL rules.
/// </summary>
public sealed class LegacyInstallTests(ApiServerFixture fixture) : IClassFixture<ApiServerFixture>
{
    [Fact]
    public async Task Server_side_apply_of_config_legacy_installs_on_Kubernetes_1_20_where_config_default_is_rejected()
    {
        var plane = fixture.Require();
        var ct = TestContext.Current.CancellationToken;
        using var client = plane.CreateClient();
        var version = await client.Version.GetCodeAsync(ct);
        Assert.Equal("1", version.Major);
        Assert.True(int.Parse(version.Minor.TrimEnd('+'), System.Globalization.CultureInfo.InvariantCulture) < 25, $"this test needs a server without CEL; the control plane is {version.GitVersion}");

        var rejected = Kubectl.Invoke("--kubeconfig", plane.KubeconfigPath, "apply", "--server-side", "-k", InstallPaths.Config("default"));
        Assert.True(rejected.Exit != 0, $"config/default applied on {version.GitVersion}; CEL rules should have been rejected:\n{rejected.Stdout}");
        Assert.Contains("x-kubernetes-validations", rejected.Stderr, StringComparison.Ordinal);

        var applied = Kubectl.Invoke("--kubeconfig", plane.KubeconfigPath, "apply", "--server-side", "-k", InstallPaths.Config("legacy"));
        Assert.True(applied.Exit == 0, $"kubectl apply --server-side -k config/legacy failed on {version.GitVersion}:\n{applied.Stderr}");

        var crds = await client.ApiextensionsV1.ListCustomResourceDefinitionAsync(cancellationToken: ct);
        var syllabus = crds.Items.Where(c => c.Spec.Group == Syllabus.Api.SyllabusGroup.Name).ToList();
        Assert.Equal(SyllabusKinds.All.Select(k => k.Plural).Order(StringComparer.Ordinal), syllabus.Select(c => c.Spec.Names.Plural).Order(StringComparer.Ordinal));
        await Eventually.TrueAsync(async () =>
        {
            var list = await client.ApiextensionsV1.ListCustomResourceDefinitionAsync(cancellationToken: ct);
            return list.Items.Where(c => c.Spec.Group == Syllabus.Api.SyllabusGroup.Name)
                .All(c => c.Status?.Conditions?.Any(x => x.Type == "Established" && x.Status == "True") == true);
        }, "the legacy CRDs to become Established");
        Assert.NotNull(await client.AppsV1.ReadNamespacedDeploymentAsync("syllabus-controller-manager", "syllabus-system", cancellationToken: ct));
        Assert.NotNull(await client.RbacAuthorizationV1.ReadClusterRoleAsync("syllabus-manager-role", cancellationToken: ct));
    }
}
