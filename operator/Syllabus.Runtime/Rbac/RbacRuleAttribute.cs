using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace Syllabus.Runtime.Rbac;

/// <summary>Where a declared permission is granted.</summary>
public enum RbacScope
{
    /// <summary>In every namespace: the operator's ClusterRole (config/rbac/role.yaml).</summary>
    Cluster,

    /// <summary>Only in the operator's own namespace: a Role (config/rbac/leader_election_role.yaml).</summary>
    OperatorNamespace,
}

/// <summary>
/// Declares Kubernetes API access the operator needs, next to the code that uses it, in the spirit of
/// kubebuilder's <c>+kubebuilder:rbac</c> markers. The manifests in config/rbac must grant exactly the union
/// of these declarations (the operator's and the runtime's); Syllabus.Operator.Tests checks that both ways, and
/// its end-to-end tests check that the calls the operator makes are exactly what the rendered role grants.
/// </summary>
/// <example><c>[assembly: RbacRule(Groups = ["batch"], Resources = ["jobs"], Verbs = ["get", "list", "watch", "create", "delete"])]</c></example>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class RbacRuleAttribute : Attribute
{
    /// <summary>API groups; "" is the core group.</summary>
    public string[] Groups { get; set; } = [""];

    /// <summary>Resources (plural, lower case), with a subresource as "trainingruns/status".</summary>
    public string[] Resources { get; set; } = [];

    /// <summary>Verbs: get, list, watch, create, update, patch, delete, deletecollection.</summary>
    public string[] Verbs { get; set; } = [];

    public RbacScope Scope { get; set; } = RbacScope.Cluster;
}

/// <summary>One (scope, group, resource, verb) the operator may use.</summary>
public sealed record RbacPermission(RbacScope Scope, string Group, string Resource, string Verb)
{
    public override string ToString() =>
        $"{(Scope == RbacScope.Cluster ? "cluster" : "operator namespace")}: {(Group.Length == 0 ? "core" : Group)}/{Resource} {Verb}";
}

/// <summary>Reads <see cref="RbacRuleAttribute"/> declarations.</summary>
public static class RbacRules
{
    /// <summary>The verbs Kubernetes authorises on resources; wildcards are not allowed in declarations.</summary>
    public static readonly IReadOnlySet<string> KnownVerbs = new HashSet<string>(StringComparer.Ordinal)
    {
        "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
    };

    /// <summary>The attributes on <paramref name="assembly"/> and on its types.</summary>
    [RequiresUnreferencedCode("Reads the attributes of every type in the assembly: for tests and tools that render the RBAC, not for the operator.")]
    public static IReadOnlyList<RbacRuleAttribute> Declared(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        return
        [
            .. assembly.GetCustomAttributes<RbacRuleAttribute>(),
            .. assembly.GetTypes().SelectMany(t => t.GetCustomAttributes<RbacRuleAttribute>(inherit: false)),
        ];
    }

    /// <summary>Every (scope, group, resource, verb) the declarations grant, de-duplicated and sorted.</summary>
    /// <exception cref="ArgumentException">A declaration is empty, uses a wildcard or names an unknown verb.</exception>
    public static IReadOnlyList<RbacPermission> Expand(IEnumerable<RbacRuleAttribute> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var permissions = new SortedSet<RbacPermission>(Comparer<RbacPermission>.Create(Compare));
        foreach (var rule in rules)
        {
            Validate(rule);
            foreach (var group in rule.Groups)
            {
                foreach (var resource in rule.Resources)
                {
                    foreach (var verb in rule.Verbs)
                    {
                        permissions.Add(new RbacPermission(rule.Scope, group, resource, verb));
                    }
                }
            }
        }

        return [.. permissions];
    }

    /// <summary>Shorthand for <c>Expand(Declared(assembly))</c>.</summary>
    [RequiresUnreferencedCode("Reads the attributes of every type in the assembly: for tests and tools that render the RBAC, not for the operator.")]
    public static IReadOnlyList<RbacPermission> Permissions(Assembly assembly) => Expand(Declared(assembly));

    private static void Validate(RbacRuleAttribute rule)
    {
        var what = $"RbacRule(Groups=[{string.Join(", ", rule.Groups)}], Resources=[{string.Join(", ", rule.Resources)}], Verbs=[{string.Join(", ", rule.Verbs)}])";
        if (rule.Groups.Length == 0 || rule.Resources.Length == 0 || rule.Verbs.Length == 0)
        {
            throw new ArgumentException($"{what} must name at least one group, resource and verb.", nameof(rule));
        }

        if (rule.Groups.Concat(rule.Resources).Concat(rule.Verbs).Any(s => s.Contains('*', StringComparison.Ordinal)))
        {
            throw new ArgumentException($"{what} uses a wildcard; declare exactly what the operator uses.", nameof(rule));
        }

        if (rule.Resources.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException($"{what} has an empty resource name.", nameof(rule));
        }

        if (rule.Verbs.FirstOrDefault(v => !KnownVerbs.Contains(v)) is { } unknown)
        {
            throw new ArgumentException($"{what} names the unknown verb '{unknown}'; use one of {string.Join(", ", KnownVerbs)}.", nameof(rule));
        }
    }

    private static int Compare(RbacPermission? a, RbacPermission? b)
    {
        if (a is null || b is null)
        {
            return a is null ? (b is null ? 0 : -1) : 1;
        }

        var c = a.Scope.CompareTo(b.Scope);
        if (c == 0)
        {
            c = string.CompareOrdinal(a.Group, b.Group);
        }

        if (c == 0)
        {
            c = string.CompareOrdinal(a.Resource, b.Resource);
        }

        return c == 0 ? string.CompareOrdinal(a.Verb, b.Verb) : c;
    }
}
