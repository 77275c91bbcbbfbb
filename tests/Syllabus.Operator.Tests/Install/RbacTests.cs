using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime.Rbac;

namespace Syllabus.Operator.Tests.Install;

/// <summary>The RBAC that config/default grants the operator is exactly what its code declares with [RbacRule].</summary>
public sealed class RbacTests
{
    private static readonly string[] EditVerbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
    private static readonly string[] ViewVerbs = ["get", "list", "watch"];

    [Fact]
    public void RenderedOperatorRbacEqualsTheDeclaredPermissions()
    {
        var declared = DeclaredPermissions().ToHashSet();
        var granted = OperatorGrants(Manifests.Render(InstallPaths.Config("default"))).ToHashSet();

        var missing = declared.Except(granted).Select(p => p.ToString()).Order(StringComparer.Ordinal).ToList();
        var extra = granted.Except(declared).Select(p => p.ToString()).Order(StringComparer.Ordinal).ToList();
        Assert.True(
            missing.Count == 0 && extra.Count == 0,
            "config/rbac and the [RbacRule] declarations in Syllabus.Operator and Syllabus.Runtime differ.\n"
            + $"Declared but not granted ({missing.Count}):\n  {string.Join("\n  ", missing)}\n"
            + $"Granted but not declared ({extra.Count}):\n  {string.Join("\n  ", extra)}");
    }

    [Theory]
    [InlineData("syllabus-edit", new[] { "rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin" }, true)]
    [InlineData("syllabus-view", new[] { "rbac.authorization.k8s.io/aggregate-to-view" }, false)]
    public void AggregatedRolesGiveNamespaceUsersTheSyllabusKinds(string name, string[] aggregateLabels, bool edit)
    {
        var manifests = Manifests.Render(InstallPaths.Config("default"));
        var role = manifests.Single("ClusterRole", name).As<V1ClusterRole>();
        Assert.All(aggregateLabels, l => Assert.Equal("true", role.Metadata.Labels[l]));
        Assert.DoesNotContain(role.Metadata.Labels.Keys, l => l.StartsWith("rbac.authorization.k8s.io/aggregate-to-", StringComparison.Ordinal) && !aggregateLabels.Contains(l));

        var grants = Expand(role.Rules, RbacScope.Cluster).ToHashSet();
        var plurals = CrdPlurals(manifests);
        var expected = plurals.SelectMany(p => (edit ? EditVerbs : ViewVerbs).Select(v => new RbacPermission(RbacScope.Cluster, SyllabusGroup.Name, p, v)))
            .Concat(plurals.Select(p => new RbacPermission(RbacScope.Cluster, SyllabusGroup.Name, p + "/status", "get")))
            .ToHashSet();
        Assert.Equal(expected.Select(p => p.ToString()).Order(StringComparer.Ordinal), grants.Select(p => p.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ExpandRejectsWildcardsAndUnknownVerbs()
    {
        var wildcard = Assert.Throws<ArgumentException>(() => RbacRules.Expand([new RbacRuleAttribute { Groups = ["apps"], Resources = ["*"], Verbs = ["get"] }]));
        Assert.Contains("wildcard", wildcard.Message, StringComparison.Ordinal);
        var verb = Assert.Throws<ArgumentException>(() => RbacRules.Expand([new RbacRuleAttribute { Groups = ["apps"], Resources = ["deployments"], Verbs = ["read"] }]));
        Assert.Contains("unknown verb 'read'", verb.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => RbacRules.Expand([new RbacRuleAttribute { Resources = ["pods"] }]));
    }

    /// <summary>Everything the operator's code declares: its reconcilers' rules and the runtime's own (leases, events).</summary>
    internal static IReadOnlyList<RbacPermission> DeclaredPermissions() => RbacRules.Expand(
    [
        .. RbacRules.Declared(typeof(Syllabus.Operator.TrainingRuns.TrainingRunReconciler).Assembly),
        .. RbacRules.Declared(typeof(Syllabus.Runtime.Hosting.OperatorHost).Assembly),
    ]);

    /// <summary>
    /// What the rendered manifests grant the operator: the rules of every role bound to the ServiceAccount its
    /// Deployment runs as, ClusterRoleBindings at cluster scope, RoleBindings in the operator's namespace.
    /// </summary>
    internal static IEnumerable<RbacPermission> OperatorGrants(IReadOnlyList<Manifest> manifests)
    {
        var deployment = manifests.Where(m => m.Kind == "Deployment").Select(m => m.As<V1Deployment>())
            .Single(d => d.Metadata.Labels is { } labels && labels.TryGetValue("app.kubernetes.io/component", out var c) && c == "controller-manager");
        var ns = deployment.Metadata.NamespaceProperty;
        var sa = deployment.Spec.Template.Spec.ServiceAccountName;
        bool IsOperator(Rbacv1Subject s) => s.Kind == "ServiceAccount" && s.Name == sa && s.NamespaceProperty == ns;

        V1ClusterRole ClusterRole(string name) => manifests.Single("ClusterRole", name).As<V1ClusterRole>();

        foreach (var binding in manifests.Where(m => m.Kind == "ClusterRoleBinding").Select(m => m.As<V1ClusterRoleBinding>()).Where(b => b.Subjects?.Any(IsOperator) == true))
        {
            foreach (var p in Expand(ClusterRole(binding.RoleRef.Name).Rules, RbacScope.Cluster))
            {
                yield return p;
            }
        }

        foreach (var binding in manifests.Where(m => m.Kind == "RoleBinding").Select(m => m.As<V1RoleBinding>()).Where(b => b.Subjects?.Any(IsOperator) == true))
        {
            // A RoleBinding elsewhere would grant in a namespace that RbacScope cannot name.
            Assert.True(binding.Metadata.NamespaceProperty == ns, $"RoleBinding {binding.Metadata.Name} binds the operator in namespace {binding.Metadata.NamespaceProperty}, not its own ({ns})");
            var rules = binding.RoleRef.Kind == "ClusterRole"
                ? ClusterRole(binding.RoleRef.Name).Rules
                : manifests.Single(m => m.Kind == "Role" && m.Name == binding.RoleRef.Name && m.Namespace == ns).As<V1Role>().Rules;
            foreach (var p in Expand(rules, RbacScope.OperatorNamespace))
            {
                yield return p;
            }
        }
    }

    private static IEnumerable<RbacPermission> Expand(IEnumerable<V1PolicyRule>? rules, RbacScope scope)
    {
        foreach (var rule in rules ?? [])
        {
            Assert.True(rule.NonResourceURLs is null or { Count: 0 }, "nonResourceURLs cannot be declared with RbacRule");
            Assert.True(rule.ResourceNames is null or { Count: 0 }, "resourceNames cannot be declared with RbacRule");
            foreach (var group in rule.ApiGroups ?? [])
            {
                foreach (var resource in rule.Resources ?? [])
                {
                    foreach (var verb in rule.Verbs ?? [])
                    {
                        yield return new RbacPermission(scope, group, resource, verb);
                    }
                }
            }
        }
    }

    private static List<string> CrdPlurals(IReadOnlyList<Manifest> manifests) =>
        [.. manifests.Where(m => m.Kind == "CustomResourceDefinition").Select(m => m.As<V1CustomResourceDefinition>())
            .Where(c => c.Spec.Group == SyllabusGroup.Name).Select(c => c.Spec.Names.Plural)];
}
