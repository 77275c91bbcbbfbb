using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Syllabus.Api;

namespace Syllabus.Kubectl;

/// <summary>The two API calls the plugin makes on a ModelDeployment: GET and a JSON merge patch, with errors a user can act on.</summary>
internal sealed class ModelDeploymentApi(KubeConnection connection)
{
    private string Namespace => connection.Namespace;

    public async Task<ModelDeployment> GetAsync(ModelDeploymentReference target, CancellationToken ct)
    {
        try
        {
            return await connection.Client.CustomObjects.GetNamespacedCustomObjectAsync<ModelDeployment>(
                SyllabusGroup.Name, SyllabusGroup.Version, Namespace, ModelDeployment.Plural, target.Name, ct);
        }
        catch (Exception e) when (Translate(e, target) is { } error)
        {
            throw error;
        }
    }

    /// <summary>Sends <paramref name="body"/> as a JSON merge patch (RFC 7386) of the ModelDeployment.</summary>
    public async Task<ModelDeployment> MergePatchAsync(ModelDeploymentReference target, string body, CancellationToken ct)
    {
        try
        {
            return await connection.Client.CustomObjects.PatchNamespacedCustomObjectAsync<ModelDeployment>(
                new V1Patch(body, V1Patch.PatchType.MergePatch), SyllabusGroup.Name, SyllabusGroup.Version, Namespace, ModelDeployment.Plural, target.Name,
                fieldManager: "kubectl-syllabus", cancellationToken: ct);
        }
        catch (Exception e) when (Translate(e, target) is { } error)
        {
            throw error;
        }
    }

    private PluginException? Translate(Exception e, ModelDeploymentReference target) => e switch
    {
        HttpOperationException { Response.StatusCode: HttpStatusCode.NotFound } http when IsMissingKind(http) =>
            new PluginException($"the server at {connection.Server} does not know ModelDeployments ({ModelDeployment.Plural}.{SyllabusGroup.Name}/{SyllabusGroup.Version}): install the Syllabus CRDs (kubectl apply -k config/crd)", e),
        HttpOperationException { Response.StatusCode: HttpStatusCode.NotFound } =>
            new PluginException($"{target.Display} not found in namespace {Namespace}", e),
        HttpOperationException http =>
            new PluginException($"{target.Display} in namespace {Namespace}: the API server answered {(int)http.Response.StatusCode} {http.Response.StatusCode}: {StatusMessage(http.Response.Content)}", e),
        HttpRequestException or TaskCanceledException { InnerException: TimeoutException } =>
            new PluginException($"cannot reach the API server at {connection.Server}: {e.Message}", e),
        JsonException =>
            new PluginException($"{target.Display} in namespace {Namespace}: the stored object does not read as this plugin's ModelDeployment ({e.Message}); is the plugin older than the installed CRD?", e),
        _ => null,
    };

    // A 404 for the whole resource type (no CRD) names no object ("404 page not found", or a Status without
    // details.name); one for a missing object names it.
    private static bool IsMissingKind(HttpOperationException http) => ParseStatus(http.Response.Content)?.Details?.Name is null;

    /// <summary>The message of the metav1.Status the API server sends with an error, else the raw body.</summary>
    private static string StatusMessage(string? content) =>
        ParseStatus(content)?.Message is { Length: > 0 } message ? message : string.IsNullOrWhiteSpace(content) ? "(no body)" : content.Trim();

    private static V1Status? ParseStatus(string? content)
    {
        if (string.IsNullOrWhiteSpace(content))
        {
            return null;
        }

        try
        {
            return KubernetesJson.Deserialize<V1Status>(content);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
