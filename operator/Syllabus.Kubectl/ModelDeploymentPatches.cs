using System.Globalization;
using System.Text.Json.Nodes;
using Syllabus.Api;

namespace Syllabus.Kubectl;

/// <summary>
/// The JSON merge patches (RFC 7386) the commands send, and the kubectl command that sends the same patch: every
/// command is one plain API call a user could make without the plugin.
/// </summary>
internal static class ModelDeploymentPatches
{
    /// <summary>Sets metadata.annotations["syllabus.dev/action"]; the operator removes it once handled.</summary>
    public static string Action(string action) =>
        new JsonObject { ["metadata"] = new JsonObject { ["annotations"] = new JsonObject { [ModelDeploymentActions.Annotation] = action } } }.ToJsonString();

    public static string Pin(int revision) =>
        new JsonObject { ["spec"] = new JsonObject { ["pinnedRevision"] = revision } }.ToJsonString();

    /// <summary>A null in a merge patch deletes the field.</summary>
    public static string Unpin() =>
        new JsonObject { ["spec"] = new JsonObject { ["pinnedRevision"] = null } }.ToJsonString();

    public static string KubectlAction(string name, string action, string? ns = null) =>
        $"kubectl annotate{NamespaceFlag(ns)} modeldeployment/{name} {ModelDeploymentActions.Annotation}={action} --overwrite";

    public static string KubectlPin(string name, int revision, string? ns = null) =>
        $"kubectl patch{NamespaceFlag(ns)} modeldeployment/{name} --type=merge -p '{Pin(revision)}'";

    public static string KubectlUnpin(string name, string? ns = null) =>
        $"kubectl patch{NamespaceFlag(ns)} modeldeployment/{name} --type=merge -p '{Unpin()}'";

    private static string NamespaceFlag(string? ns) => ns is null ? "" : string.Create(CultureInfo.InvariantCulture, $" -n {ns}");
}
