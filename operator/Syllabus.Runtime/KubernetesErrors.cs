using System.Net;
using k8s;
using k8s.Autorest;

namespace Syllabus.Runtime;

/// <summary>Classifies API errors, whether they arrive as an HTTP status or as a Status object inside a watch stream.</summary>
public static class KubernetesErrors
{
    public static HttpStatusCode? StatusOf(Exception? exception) => exception switch
    {
        HttpOperationException http when http.Response is not null => http.Response.StatusCode,
        KubernetesException { Status.Code: { } code } => (HttpStatusCode)code,
        _ => null,
    };

    public static bool IsNotFound(Exception? exception) => StatusOf(exception) == HttpStatusCode.NotFound;

    public static bool IsConflict(Exception? exception) => StatusOf(exception) == HttpStatusCode.Conflict;

    /// <summary>410 Gone: the resourceVersion we asked for has been compacted away; only a fresh list helps.</summary>
    public static bool IsGone(Exception? exception) => StatusOf(exception) == HttpStatusCode.Gone;

    /// <summary>
    /// 409 from a failed precondition (a delete's UID): the API server's message names it ("Precondition failed: UID
    /// in precondition ..." from storage, "the UID in the precondition ... does not match ..." before it).
    /// </summary>
    public static bool IsPreconditionFailed(Exception? exception) => ConflictSays(exception, "precondition", StringComparison.OrdinalIgnoreCase);

    public static bool IsAlreadyExists(Exception? exception) => ConflictSays(exception, "AlreadyExists", StringComparison.Ordinal);

    /// <summary>A 409 whose response body holds <paramref name="text"/> (the Status reason or message that tells 409s apart).</summary>
    private static bool ConflictSays(Exception? exception, string text, StringComparison comparison) =>
        IsConflict(exception) && exception is HttpOperationException http && (http.Response?.Content?.Contains(text, comparison) ?? false);
}
