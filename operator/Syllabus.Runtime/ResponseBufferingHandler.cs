namespace Syllabus.Runtime;

/// <summary>
/// Reads every response body except a watch's into memory asynchronously before KubernetesClient sees it.
/// KubernetesClient deserialises a response synchronously from the content stream; over HTTP/2 each read of a body that
/// has not fully arrived then blocks a thread-pool thread (spinning first), which in the README's benchmark was the
/// largest single use of the operator's threads during a burst of reconciles. Buffered, the synchronous read is a
/// copy from memory. A watch (watch=true) is a stream of events that never ends, so it is passed through as it is.
/// </summary>
public sealed class ResponseBufferingHandler : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!IsWatch(request.RequestUri))
        {
            try
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }

        return response;
    }

    internal static bool IsWatch(Uri? uri) =>
        uri?.Query is { Length: > 1 } query
        && query[1..].Split('&').Any(p => p.Equals("watch=true", StringComparison.OrdinalIgnoreCase) || p.Equals("watch=1", StringComparison.Ordinal));
}
