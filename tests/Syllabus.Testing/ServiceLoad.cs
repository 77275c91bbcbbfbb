using System.Diagnostics;
using System.Net;

namespace Syllabus.Testing;

/// <summary>What <see cref="ServiceLoad"/> sends and how often.</summary>
public sealed record ServiceLoadOptions
{
    /// <summary>Builds each request with a relative URI (e.g. <c>/v2/health/ready</c>, or a POST with content); the load points it at the endpoint. GET / by default.</summary>
    public Func<HttpRequestMessage> CreateRequest { get; init; } = () => new HttpRequestMessage(HttpMethod.Get, "/");

    /// <summary>Whether a response counts as served; any 2xx by default.</summary>
    public Func<HttpResponseMessage, bool> IsSuccess { get; init; } = response => response.IsSuccessStatusCode;

    /// <summary>Requests in flight at once, each loop sending one after the other.</summary>
    public int Concurrency { get; init; } = 2;

    /// <summary>Pause of each loop between its requests.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>A request not answered within this counts as failed.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>One request that was not served: when it was sent, where it went (null: no endpoint to go to), what came back.</summary>
public sealed record ServiceLoadFailure(DateTimeOffset At, IPEndPoint? Endpoint, HttpStatusCode? StatusCode, string Error)
{
    public override string ToString() =>
        $"{At:HH:mm:ss.fff} {(Endpoint?.ToString() ?? "(no endpoint)")}: {(StatusCode is { } code ? $"HTTP {(int)code} " : string.Empty)}{Error}";
}

/// <summary>
/// Client traffic through a Service as kube-proxy would route it: each request opens a new connection to the
/// next endpoint of <see cref="ServiceEndpoints"/> (kube-proxy decides per connection, so one connection per
/// request makes every request a routing decision), and every request that is not served is recorded with
/// its time, endpoint, status code or exception. A request with no ready endpoint to go to fails, as
/// kube-proxy rejects connections to a Service without endpoints. Nothing is retried: tests assert
/// <see cref="Failures"/> is empty.
/// </summary>
public sealed class ServiceLoad : IAsyncDisposable
{
    private readonly ServiceEndpoints endpoints;
    private readonly ServiceLoadOptions options;
    private readonly HttpClient http;
    private readonly CancellationTokenSource stop = new();
    private readonly Lock gate = new();
    private readonly List<ServiceLoadFailure> failures = [];
    private readonly Dictionary<IPEndPoint, long> servedBy = [];
    private readonly Task[] loops;
    private long served;

    private ServiceLoad(ServiceEndpoints endpoints, ServiceLoadOptions options)
    {
        this.endpoints = endpoints;
        this.options = options;
        http = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.Zero })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        loops = [.. Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(() => LoopAsync(stop.Token)))];
    }

    /// <summary>Starts sending requests through <paramref name="endpoints"/> until <see cref="StopAsync"/>.</summary>
    public static ServiceLoad Start(ServiceEndpoints endpoints, ServiceLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        options ??= new ServiceLoadOptions();
        if (options.Concurrency < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Concurrency, "ServiceLoadOptions.Concurrency must be at least 1");
        }

        using (var sample = options.CreateRequest())
        {
            if (sample.RequestUri is { IsAbsoluteUri: true } absolute)
            {
                throw new ArgumentException($"ServiceLoadOptions.CreateRequest must give a relative URI (the load picks the endpoint); got {absolute}", nameof(options));
            }
        }

        return new ServiceLoad(endpoints, options);
    }

    /// <summary>Requests served so far.</summary>
    public long Served => Interlocked.Read(ref served);

    /// <summary>Every request not served so far, oldest first.</summary>
    public IReadOnlyList<ServiceLoadFailure> Failures
    {
        get
        {
            lock (gate)
            {
                return [.. failures];
            }
        }
    }

    /// <summary>Requests served by each endpoint so far.</summary>
    public IReadOnlyDictionary<IPEndPoint, long> ServedBy
    {
        get
        {
            lock (gate)
            {
                return new Dictionary<IPEndPoint, long>(servedBy);
            }
        }
    }

    /// <summary>Counts, failures (the first 20) and the endpoints' history, for assertion messages.</summary>
    public string Describe()
    {
        var failed = Failures;
        var byEndpoint = string.Join(", ", ServedBy.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Value}"));
        return $"{Served} served ({byEndpoint}), {failed.Count} failed{(failed.Count == 0 ? string.Empty : ":\n  " + string.Join("\n  ", failed.Take(20)))}\n{endpoints.Describe()}";
    }

    /// <summary>Stops sending and waits for the requests in flight to finish (they are counted).</summary>
    public async Task StopAsync()
    {
        await stop.CancelAsync();
        await Task.WhenAll(loops);
    }

    private async Task LoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            await SendOneAsync();
            try
            {
                await Task.Delay(options.Interval, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task SendOneAsync()
    {
        var at = DateTimeOffset.UtcNow;
        var endpoint = endpoints.Next();
        if (endpoint is null)
        {
            Fail(new ServiceLoadFailure(at, null, null, "no ready endpoint (kube-proxy would reject the connection)"));
            return;
        }

        using var request = options.CreateRequest();
        var target = new UriBuilder("http", endpoint.Address.ToString(), endpoint.Port).Uri;
        request.RequestUri = new Uri(target, request.RequestUri is { IsAbsoluteUri: false } relative ? relative : new Uri("/", UriKind.Relative));
        request.Headers.ConnectionClose = true;
        // Not the test's token: a request in flight when the load stops is waited for and counted.
        using var timeout = new CancellationTokenSource(options.RequestTimeout);
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            if (options.IsSuccess(response))
            {
                Interlocked.Increment(ref served);
                lock (gate)
                {
                    servedBy[endpoint] = servedBy.GetValueOrDefault(endpoint) + 1;
                }
            }
            else
            {
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                Fail(new ServiceLoadFailure(at, endpoint, response.StatusCode, body.Length > 200 ? body[..200] : body));
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Fail(new ServiceLoadFailure(at, endpoint, null, $"no response within {options.RequestTimeout.TotalSeconds:0.#} s"));
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            Fail(new ServiceLoadFailure(at, endpoint, null, $"{e.GetType().Name}: {e.Message} ({e.InnerException?.Message}) after {clock.ElapsedMilliseconds} ms"));
        }
    }

    private void Fail(ServiceLoadFailure failure)
    {
        lock (gate)
        {
            failures.Add(failure);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        http.Dispose();
        stop.Dispose();
    }
}
