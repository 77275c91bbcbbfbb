using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Syllabus.Testing;

/// <summary>
/// A plain-HTTP reverse proxy in front of the apiserver (HTTPS, certificate not verified) that streams
/// responses and can break watch streams on demand, to test informers' reconnect and re-list paths.
/// Hand-written on Kestrel rather than YARP: YARP is not on the package mirror, and the forwarding needed
/// here (method, path, headers, streamed bodies) is small.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHopHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host",
    };

    private readonly WebApplication app;
    private readonly HttpClient upstreamClient;
    private readonly Uri upstream;
    private readonly ConcurrentDictionary<long, OpenWatch> watches = new();
    private readonly ConcurrentQueue<ProxiedRequest> requests = new();
    private long nextRequest;
    private long nextWatchId;

    private FaultProxy(WebApplication app, HttpClient upstreamClient, Uri upstream)
    {
        this.app = app;
        this.upstreamClient = upstreamClient;
        this.upstream = upstream;
    }

    /// <summary>The proxy's address (http://127.0.0.1:port); give it to <see cref="ControlPlane.CreateClient"/>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Every request that reached the proxy, in arrival order (method and path with query).</summary>
    public IReadOnlyList<ProxiedRequest> Requests => [.. requests.OrderBy(r => r.Sequence)];

    /// <summary>Watch responses streaming through the proxy right now.</summary>
    public int ActiveWatchCount => watches.Count;

    /// <summary>Watch requests seen since start (open or finished).</summary>
    public int TotalWatchCount => (int)Interlocked.Read(ref nextWatchId);

    public static async Task<FaultProxy> StartAsync(Uri upstream, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();

        // Tests trust the apiserver's per-run self-signed certificate.
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
            AllowAutoRedirect = false,
            UseCookies = false,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        };
        var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        var proxy = new FaultProxy(app, client, upstream);
        app.Run(proxy.ForwardAsync);
        await app.StartAsync(ct);
        proxy.Address = new Uri(app.Urls.First());
        return proxy;
    }

    /// <summary>Aborts every open watch stream now, as a broken connection would (the client reads an error or EOF).</summary>
    public void CutWatches() => Break(graceful: false);

    /// <summary>Ends every open watch stream cleanly, as the apiserver does when a watch times out.</summary>
    public void EndWatches() => Break(graceful: true);

    /// <summary>Waits until at least <paramref name="atLeast"/> watches are open; returns the count, or throws <see cref="TimeoutException"/>.</summary>
    public async Task<int> WaitForWatchesAsync(int atLeast, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var count = ActiveWatchCount;
            if (count >= atLeast)
            {
                return count;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected at least {atLeast} open watches through the proxy within {timeout}, have {count}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20));
        }
    }

    private void Break(bool graceful)
    {
        foreach (var watch in watches.Values)
        {
            watch.Graceful = graceful;
            watch.Cancellation.Cancel();
            if (!graceful)
            {
                try
                {
                    watch.Context.Abort();
                }
                catch (ObjectDisposedException)
                {
                    // The watch finished on its own between being listed and being cut.
                }
            }
        }
    }

    private static bool IsWatch(HttpRequest request)
    {
        var watch = request.Query["watch"].ToString();
        return watch is "true" or "1" || request.Path.Value?.Contains("/watch/", StringComparison.Ordinal) == true;
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var incoming = context.Request;
        requests.Enqueue(new ProxiedRequest(Interlocked.Increment(ref nextRequest), DateTime.UtcNow, incoming.Method, $"{incoming.Path}{incoming.QueryString}"));
        using var request = new HttpRequestMessage(new HttpMethod(incoming.Method), new Uri(upstream, $"{incoming.PathBase}{incoming.Path}{incoming.QueryString}"));
        if (incoming.ContentLength > 0 || incoming.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new StreamContent(incoming.Body);
        }

        foreach (var (name, values) in incoming.Headers)
        {
            if (HopByHopHeaders.Contains(name))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        OpenWatch? watch = null;
        long id = 0;
        try
        {
            using var response = await upstreamClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation.Token);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!HopByHopHeaders.Contains(name))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            // A watch counts as open once its response has started, so cutting it always breaks a live stream.
            if (IsWatch(incoming) && response.IsSuccessStatusCode)
            {
                await context.Response.StartAsync(cancellation.Token);
                id = Interlocked.Increment(ref nextWatchId);
                watch = new OpenWatch(context, cancellation);
                watches[id] = watch;
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellation.Token);
            var buffer = new byte[16 * 1024];
            int read;
            while ((read = await body.ReadAsync(buffer, cancellation.Token)) > 0)
            {
                // Flush each piece: watch events must reach the client as they happen.
                // Only the upstream read is cancelled by Cut/EndWatches: a cancelled Kestrel write would
                // break the connection even when the stream should end cleanly.
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
            }
        }
        catch (OperationCanceledException) when (watch is not null && cancellation.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
        {
            if (!watch.Graceful)
            {
                context.Abort();
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (HttpRequestException e) when (!context.Response.HasStarted)
        {
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            await context.Response.WriteAsync($"fault proxy: upstream {upstream} failed: {e.Message}");
        }
        finally
        {
            if (watch is not null)
            {
                watches.TryRemove(id, out _);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        CutWatches();
        await app.StopAsync();
        await app.DisposeAsync();
        upstreamClient.Dispose();
    }

    private sealed class OpenWatch(HttpContext context, CancellationTokenSource cancellation)
    {
        public HttpContext Context { get; } = context;

        public CancellationTokenSource Cancellation { get; } = cancellation;

        public volatile bool Graceful;
    }
}

/// <summary>A request as it reached the <see cref="FaultProxy"/>.</summary>
public sealed record ProxiedRequest(long Sequence, DateTime At, string Method, string PathAndQuery)
{
    /// <summary>POST, PUT, PATCH or DELETE: a request that may change something.</summary>
    public bool IsWrite => Method is "POST" or "PUT" or "PATCH" or "DELETE";

    public override string ToString() => $"{Method} {PathAndQuery}";
}
