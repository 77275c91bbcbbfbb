using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

internal static partial class RuntimeLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "Watching {Kind} in {Scope} from resourceVersion {ResourceVersion}")]
    public static partial void WatchStarting(this ILogger logger, string kind, string scope, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Information, Message = "Listed {Count} {Kind} in {Scope} at resourceVersion {ResourceVersion}")]
    public static partial void Listed(this ILogger logger, string kind, string scope, int count, string resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Kind} watch in {Scope} lost resourceVersion {ResourceVersion} (410 Gone); listing again")]
    public static partial void ResourceVersionGone(this ILogger logger, string kind, string scope, string? resourceVersion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Kind} list/watch in {Scope} failed at resourceVersion {ResourceVersion}; retrying in {Delay}")]
    public static partial void WatchFailed(this ILogger logger, Exception exception, string kind, string scope, string? resourceVersion, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored an unexpected {Type} watch event for {Kind}")]
    public static partial void UnexpectedWatchEvent(this ILogger logger, string kind, string type);

    [LoggerMessage(Level = LogLevel.Error, Message = "An event handler for {Kind} threw")]
    public static partial void HandlerFailed(this ILogger logger, Exception exception, string kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "Controller {Controller} started with {Workers} workers")]
    public static partial void ControllerStarted(this ILogger logger, string controller, int workers);

    [LoggerMessage(Level = LogLevel.Information, Message = "Controller {Controller} stopped")]
    public static partial void ControllerStopped(this ILogger logger, string controller);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Reconciled {Kind} {Key} in {Elapsed}")]
    public static partial void Reconciled(this ILogger logger, string kind, ObjectKey key, TimeSpan elapsed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciling {Kind} {Key} failed (attempt {Attempt}); retrying with backoff")]
    public static partial void ReconcileFailed(this ILogger logger, Exception exception, string kind, ObjectKey key, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reconciling {Kind} {Key} failed terminally; not retrying: {Reason}")]
    public static partial void ReconcileTerminal(this ILogger logger, string kind, ObjectKey key, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Kind} {Key} changed while it was reconciled (409 Conflict); requeued to recompute from the fresh object")]
    public static partial void ReconcileConflict(this ILogger logger, string kind, ObjectKey key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not record event {Reason} on {Kind} {Key}")]
    public static partial void EventFailed(this ILogger logger, Exception exception, string reason, string kind, ObjectKey key);
}
