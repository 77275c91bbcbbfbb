using Syllabus.Api;

namespace Syllabus.Kubectl;

/// <summary>A command's target as kubectl spells it: <c>md/NAME</c>, <c>modeldeployment/NAME</c> (any of kubectl's names for the kind), or a bare NAME.</summary>
internal sealed record ModelDeploymentReference(string Name)
{
    /// <summary>The kind's names kubectl accepts: short, singular, plural, each optionally qualified by the group.</summary>
    public static IReadOnlyList<string> KindNames { get; } =
    [
        "md", "modeldeployment", "modeldeployments",
        $"md.{SyllabusGroup.Name}", $"modeldeployment.{SyllabusGroup.Name}", $"modeldeployments.{SyllabusGroup.Name}",
        $"modeldeployment.{SyllabusGroup.Version}.{SyllabusGroup.Name}", $"modeldeployments.{SyllabusGroup.Version}.{SyllabusGroup.Name}",
    ];

    /// <summary>How the object is shown to the user, as kubectl names it in its own output.</summary>
    public string Display => $"modeldeployment/{Name}";

    /// <summary>Parses the argument; throws <see cref="PluginException"/> naming what is wrong with it.</summary>
    public static ModelDeploymentReference Parse(string argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        var text = argument.Trim();
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var name = text;
        if (slash >= 0)
        {
            var kind = text[..slash];
            name = text[(slash + 1)..];
            if (!KindNames.Contains(kind.ToLowerInvariant()))
            {
                throw new PluginException($"'{argument}': kind '{kind}' is not a ModelDeployment; name it md/NAME or modeldeployment/NAME");
            }
        }

        if (name.Length == 0)
        {
            throw new PluginException($"'{argument}': no ModelDeployment name; name it md/NAME");
        }

        // metadata.name of a custom resource is a DNS subdomain (RFC 1123): lower case, digits, '-' and '.'.
        if (name.Length > 253 || !System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))
        {
            throw new PluginException($"'{argument}': '{name}' is not a valid object name (lower-case letters, digits, '-' and '.')");
        }

        return new ModelDeploymentReference(name);
    }
}

/// <summary>A failure to report to the user as <c>error: MESSAGE</c> with a non-zero exit code.</summary>
internal sealed class PluginException(string message, Exception? inner = null) : Exception(message, inner);
