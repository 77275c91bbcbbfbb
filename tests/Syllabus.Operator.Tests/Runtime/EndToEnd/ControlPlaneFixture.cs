using System.Reflection;
using k8s;
using k8s.Models;
using Syllabus.Runtime.Hosting;
using Syllabus.Runtime.Rbac;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.Runtime.EndToEnd;

/// <summary>
/// One real etcd + kube-apiserver for the runtime's end-to-end tests, with the Widget CRD installed, and a ServiceAccount
/// for the test operator holding exactly what the runtime and <see cref="WidgetReconciler"/> declare with [RbacRule]
/// (cluster rules in a ClusterRole; operator-namespace rules, the Lease, in each namespace the tests create, since each
/// test keeps its Lease in its own namespace). Operators under test run as it, not as system:masters.
/// </summary>
public sealed class ControlPlaneFixture : IAsyncLifetime
{
    public const string OperatorNamespace = "widget-system";
    public const string OperatorAccount = "widget-operator";

    private ControlPlane? plane;
    private string? operatorToken;

    /// <summary>The test operator's permissions: the runtime's declarations and the Widget reconciler's.</summary>
    public static IReadOnlyList<RbacPermission> OperatorPermissions { get; } = RbacRules.Expand(
    [
        .. RbacRules.Declared(typeof(OperatorHost).Assembly),
        .. typeof(WidgetReconciler).GetCustomAttributes<RbacRuleAttribute>(),
    ]);

    public ControlPlane Plane => plane ?? throw new InvalidOperationException(SkipReason ?? "control plane not started");

    public string? SkipReason { get; private set; }

    public async ValueTask InitializeAsync()
    {
        SkipReason = ControlPlane.SkipReason;
        if (SkipReason is not null)
        {
            return;
        }

        plane = await ControlPlane.StartAsync(new ControlPlaneOptions());
        var crdDir = Directory.CreateTempSubdirectory("widget-crd-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(crdDir.FullName, "widgets.yaml"), Widget.CrdYaml);
            await plane.InstallCrdsAsync(crdDir.FullName);
        }
        finally
        {
            crdDir.Delete(recursive: true);
        }

        using var client = plane.CreateClient();
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = OperatorNamespace } });
        await client.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = OperatorAccount } }, OperatorNamespace);
        await client.RbacAuthorizationV1.CreateClusterRoleAsync(Role(OperatorAccount, RbacScope.Cluster));
        await client.RbacAuthorizationV1.CreateClusterRoleAsync(Role($"{OperatorAccount}-namespace", RbacScope.OperatorNamespace));
        await client.RbacAuthorizationV1.CreateClusterRoleBindingAsync(new V1ClusterRoleBinding
        {
            Metadata = new V1ObjectMeta { Name = OperatorAccount },
            RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = OperatorAccount },
            Subjects = [Subject],
        });
        var token = await client.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { ExpirationSeconds = 6 * 3600 } }, OperatorAccount, OperatorNamespace);
        operatorToken = token.Status.Token;
    }

    private static Rbacv1Subject Subject => new() { Kind = "ServiceAccount", Name = OperatorAccount, NamespaceProperty = OperatorNamespace };

    private static V1ClusterRole Role(string name, RbacScope scope) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Rules = [.. OperatorPermissions.Where(p => p.Scope == scope).Select(p => new V1PolicyRule { ApiGroups = [p.Group], Resources = [p.Resource], Verbs = [p.Verb] })],
    };

    /// <summary>The test operator's credentials (its ServiceAccount token); <paramref name="server"/> overrides the address (a proxy).</summary>
    public KubernetesClientConfiguration OperatorClientConfiguration(Uri? server = null) => new()
    {
        Host = (server ?? Plane.ApiServerUri).ToString().TrimEnd('/'),
        AccessToken = operatorToken ?? throw new InvalidOperationException("control plane not started"),
        SkipTlsVerify = true,
        Namespace = OperatorNamespace,
    };

    public async ValueTask DisposeAsync()
    {
        if (plane is not null)
        {
            await plane.DisposeAsync();
        }
    }

    /// <summary>Skips the calling test when the binaries are absent.</summary>
    public void SkipIfUnavailable()
    {
        if (SkipReason is not null)
        {
            Assert.Skip(SkipReason);
        }
    }

    public async Task<string> CreateNamespaceAsync(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 9, 63)];
        using var client = Plane.CreateClient();
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } });

        // The tests keep the Lease in the test's namespace: the operator-namespace rules apply there.
        await client.RbacAuthorizationV1.CreateNamespacedRoleBindingAsync(new V1RoleBinding
        {
            Metadata = new V1ObjectMeta { Name = OperatorAccount },
            RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = $"{OperatorAccount}-namespace" },
            Subjects = [Subject],
        }, name);
        return name;
    }
}

[CollectionDefinition(Name)]
public sealed class ControlPlaneCollection : ICollectionFixture<ControlPlaneFixture>
{
    public const string Name = "runtime control plane";
}
