using System.Collections.Concurrent;
using System.Text.Json;

namespace Syllabus.Testing;

/// <summary>
/// One Kubernetes API request as RBAC sees it: the verb, API group, resource (with its subresource, as RBAC names it:
/// "trainingruns/status") and namespace (null for a cluster-wide request), plus the response status.
/// </summary>
public sealed record ApiCall(string Verb, string Group, string Resource, string? Namespace, int Status)
{
    public override string ToString() =>
        $"{Verb} {(Group.Length == 0 ? "core" : Group)}/{Resource}{(Namespace is null ? " (all namespaces)" : $" in {Namespace}")} -> {Status}";
}

/// <summary>
/// Records every request a KubernetesClient sends, mapped from HTTP method and URL to the RBAC verb and resource the
/// API server authorises it as (GET with watch=true: watch; GET on a collection: list; GET on an object: get; POST:
/// create; PUT: update; PATCH: patch; DELETE on an object: delete, on a collection: deletecollection). A create,
/// update or patch whose body sets an owner reference with blockOwnerDeletion is also recorded as "update" on the
/// owner's "finalizers" subresource, which the OwnerReferencesPermissionEnforcement admission plugin checks. A
/// server-side apply (PATCH with application/apply-patch+yaml) that created its object (201) is also recorded as
/// "create", which the API server authorises it as besides "patch".
/// Add it innermost so it sees what goes on the wire.
/// </summary>
public sealed class ApiCallRecorder(ApiCallLog log, Func<string, string, string?> ownerResource) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var target = ApiRequest.Parse(request.Method, request.RequestUri ?? throw new InvalidOperationException("a request without a URI"));
        var owners = target is { Verb: "create" or "update" or "patch" } && request.Content is not null
            ? OwnersBlockingDeletion(await request.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false))
            : [];

        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (target is not null)
        {
            var status = (int)response.StatusCode;
            log.Add(new ApiCall(target.Verb, target.Group, target.Resource, target.Namespace, status));
            if (target.Verb == "patch" && status == 201
                && request.Content?.Headers.ContentType?.MediaType == "application/apply-patch+yaml")
            {
                log.Add(new ApiCall("create", target.Group, target.Resource, target.Namespace, status));
            }

            foreach (var (apiVersion, kind) in owners)
            {
                var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
                var group = slash < 0 ? "" : apiVersion[..slash];
                var resource = ownerResource(apiVersion, kind)
                    ?? throw new InvalidOperationException($"The recorder cannot name the resource of owner kind {kind} ({apiVersion}); teach its resolver.");
                log.Add(new ApiCall("update", group, resource + "/finalizers", target.Namespace, status));
            }
        }
        else
        {
            log.AddUnmapped($"{request.Method} {request.RequestUri}");
        }

        return response;
    }

    private static List<(string ApiVersion, string Kind)> OwnersBlockingDeletion(string body)
    {
        var owners = new List<(string, string)>();
        if (string.IsNullOrWhiteSpace(body) || body.TrimStart()[0] != '{')
        {
            return owners; // JSON patches (arrays) and empty bodies carry no object metadata
        }

        using var json = JsonDocument.Parse(body);
        if (json.RootElement.TryGetProperty("metadata", out var metadata)
            && metadata.ValueKind == JsonValueKind.Object
            && metadata.TryGetProperty("ownerReferences", out var references)
            && references.ValueKind == JsonValueKind.Array)
        {
            foreach (var reference in references.EnumerateArray())
            {
                if (reference.TryGetProperty("blockOwnerDeletion", out var block) && block.ValueKind == JsonValueKind.True)
                {
                    owners.Add((reference.GetProperty("apiVersion").GetString()!, reference.GetProperty("kind").GetString()!));
                }
            }
        }

        return owners;
    }
}

/// <summary>The calls recorded by one or more <see cref="ApiCallRecorder"/>s (thread-safe).</summary>
public sealed class ApiCallLog
{
    private readonly ConcurrentDictionary<ApiCall, int> calls = new();
    private readonly ConcurrentQueue<string> unmapped = new();

    /// <summary>Each distinct call with how often it was made.</summary>
    public IReadOnlyDictionary<ApiCall, int> Calls => calls;

    /// <summary>Requests that are not resource requests (e.g. /version): RBAC grants them through nonResourceURLs.</summary>
    public IReadOnlyCollection<string> Unmapped => unmapped;

    public void Add(ApiCall call) => calls.AddOrUpdate(call, 1, (_, n) => n + 1);

    public void AddUnmapped(string request) => unmapped.Enqueue(request);
}

/// <summary>An API request's RBAC attributes, parsed from its method and URL.</summary>
public sealed record ApiRequest(string Verb, string Group, string Resource, string? Namespace, string? Name)
{
    /// <summary>The attributes of a resource request, or null for anything else (/version, /healthz, /openapi).</summary>
    public static ApiRequest? Parse(HttpMethod method, Uri uri)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(uri);
        var segments = uri.AbsolutePath.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToList();
        string group;
        List<string> rest;
        if (segments is ["api", _, ..])
        {
            group = "";
            rest = segments[2..];
        }
        else if (segments is ["apis", _, _, ..])
        {
            group = segments[1];
            rest = segments[3..];
        }
        else
        {
            return null;
        }

        // The deprecated /watch/ prefix is a watch whatever the method.
        var legacyWatch = rest is ["watch", ..];
        if (legacyWatch)
        {
            rest = rest[1..];
        }

        string? ns = null;
        if (rest is ["namespaces", _, _, ..])
        {
            ns = rest[1];
            rest = rest[2..];
        }
        else if (rest is ["namespaces", _])
        {
            rest = ["namespaces", rest[1]]; // the Namespace object itself
        }

        if (rest.Count is 0 or > 3)
        {
            return null;
        }

        var resource = rest.Count == 3 ? $"{rest[0]}/{rest[2]}" : rest[0];
        var name = rest.Count >= 2 ? rest[1] : null;
        var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
        var watch = legacyWatch || query["watch"] is "true" or "1";
        var verb = method.Method switch
        {
            "GET" or "HEAD" when watch => "watch",
            "GET" or "HEAD" => name is null ? "list" : "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => name is null ? "deletecollection" : "delete",
            _ => throw new InvalidOperationException($"HTTP method {method} has no RBAC verb"),
        };
        return new ApiRequest(verb, group, resource, ns, name);
    }
}
