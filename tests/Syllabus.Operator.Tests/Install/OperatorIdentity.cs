using System.Diagnostics;
using k8s;
using k8s.Models;
using Syllabus.Runtime.Rbac;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.Install;

/// <summary>
/// The operator's identity as config/default installs it: the rendered Namespace, ServiceAccount, roles and bindings
/// applied to a test control plane, and a token for that ServiceAccount (TokenRequest), so an operator under test has
/// exactly the permissions an installed one has, not system:masters.
/// </summary>
public sealed class OperatorIdentity
{
    private static readonly Lazy<IReadOnlyList<Manifest>> Rendered = new(() => Manifests.Render(InstallPaths.Config("default")));

    private static readonly HashSet<string> RbacKinds = ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"];

    private OperatorIdentity(string ns, string serviceAccount, string token, IReadOnlyList<RbacPermission> grants)
    {
        Namespace = ns;
        ServiceAccount = serviceAccount;
        Token = token;
        Grants = grants;
    }

    /// <summary>The operator's namespace (where its Lease and Role live).</summary>
    public string Namespace { get; }

    public string ServiceAccount { get; }

    public string Token { get; }

    /// <summary>What the rendered roles grant this ServiceAccount.</summary>
    public IReadOnlyList<RbacPermission> Grants { get; }

    public string UserName => $"system:serviceaccount:{Namespace}:{ServiceAccount}";

    /// <summary>Applies the rendered RBAC of config/default with <c>kubectl apply --server-side</c> and asks for a token.</summary>
    public static async Task<OperatorIdentity> InstallAsync(ControlPlane plane, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plane);
        var manifests = Rendered.Value;
        var deployment = manifests.Where(m => m.Kind == "Deployment").Select(m => m.As<V1Deployment>())
            .Single(d => d.Metadata.Labels is { } labels && labels.TryGetValue("app.kubernetes.io/component", out var c) && c == "controller-manager");
        var ns = deployment.Metadata.NamespaceProperty;
        var serviceAccount = deployment.Spec.Template.Spec.ServiceAccountName;
        var yaml = string.Join("\n---\n", manifests.Where(m => RbacKinds.Contains(m.Kind)).Select(m => m.Yaml.Trim()));
        await KubectlApplyAsync(plane, yaml, ct);

        using var admin = plane.CreateClient();
        var request = await admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { ExpirationSeconds = 6 * 3600 } },
            serviceAccount, ns, cancellationToken: ct);
        return new OperatorIdentity(ns, serviceAccount, request.Status.Token, [.. RbacTests.OperatorGrants(manifests)]);
    }

    /// <summary>A client configuration authenticating as the operator's ServiceAccount; <paramref name="server"/> overrides the address (a proxy).</summary>
    public KubernetesClientConfiguration ClientConfiguration(ControlPlane plane, Uri? server = null) => new()
    {
        Host = (server ?? plane.ApiServerUri).ToString().TrimEnd('/'),
        AccessToken = Token,
        SkipTlsVerify = true,
        Namespace = Namespace,
    };

    /// <summary>Writes a kubeconfig for a separate operator process.</summary>
    public string WriteKubeconfig(string path, ControlPlane plane, Uri? server = null)
    {
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: test
              cluster:
                server: {(server ?? plane.ApiServerUri).ToString().TrimEnd('/')}
                insecure-skip-tls-verify: true
            users:
            - name: operator
              user:
                token: {Token}
            contexts:
            - name: test
              context:
                cluster: test
                user: operator
                namespace: {Namespace}
            current-context: test
            """);
        return path;
    }

    private static async Task KubectlApplyAsync(ControlPlane plane, string yaml, CancellationToken ct)
    {
        var start = new ProcessStartInfo(Kubectl.RequirePath())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[] { "--kubeconfig", plane.KubeconfigPath, "apply", "--server-side", "-f", "-" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(yaml.AsMemory(), ct);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"kubectl apply of the operator's RBAC failed (exit {process.ExitCode}):\n{await stderr}\n{await stdout}");
        }
    }
}

/// <summary>Compares the calls an operator made with what its rendered role grants.</summary>
internal static class RbacCoverage
{
    /// <summary>Whether <paramref name="grant"/> allows <paramref name="call"/>: a ClusterRole rule anywhere, a Role rule in the operator's namespace.</summary>
    public static bool Allows(RbacPermission grant, ApiCall call, string operatorNamespace) =>
        grant.Group == call.Group && grant.Resource == call.Resource && grant.Verb == call.Verb
        && (grant.Scope == RbacScope.Cluster || call.Namespace == operatorNamespace);

    /// <summary>Calls no rendered rule grants, and calls the API server refused with 403.</summary>
    public static IReadOnlyList<string> Problems(ApiCallLog log, OperatorIdentity identity)
    {
        var problems = new List<string>();
        foreach (var call in log.Calls.Keys.OrderBy(c => c.ToString(), StringComparer.Ordinal))
        {
            if (!identity.Grants.Any(g => Allows(g, call, identity.Namespace)))
            {
                problems.Add($"not granted by config/default: {call}");
            }
            else if (call.Status == 403)
            {
                problems.Add($"forbidden: {call}");
            }
        }

        problems.AddRange(log.Unmapped.Distinct().Select(u => $"not a resource request (RBAC would need nonResourceURLs): {u}"));
        return problems;
    }

    /// <summary>Rendered rules no recorded call used.</summary>
    public static IReadOnlyList<RbacPermission> Unused(ApiCallLog log, OperatorIdentity identity) =>
        [.. identity.Grants.Where(g => !log.Calls.Keys.Any(c => Allows(g, c, identity.Namespace)))];

    /// <summary>The resource of an owner kind, for the recorder's blockOwnerDeletion check.</summary>
    public static string? SyllabusResource(string apiVersion, string kind) =>
        apiVersion.StartsWith(Syllabus.Api.SyllabusGroup.Name + "/", StringComparison.Ordinal)
            ? SyllabusKinds.All.Where(k => k.Kind == kind).Select(k => k.Plural).FirstOrDefault()
            : null;
}
