using System.Net;
using System.Text;

namespace Syllabus.Trainer.Reporting;

/// <summary>
/// Serves <see cref="ProgressGauges"/> at http://*:PORT/metrics for the operator to scrape. HttpListener keeps the
/// trainer free of the ASP.NET Core stack; it is one GET endpoint.
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ProgressGauges _gauges;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <param name="gauges">What to serve.</param>
    /// <param name="port">TCP port on every interface (the operator scrapes the pod IP).</param>
    /// <param name="host">Listen host: "*" (all interfaces) or e.g. "localhost" in tests.</param>
    public MetricsEndpoint(ProgressGauges gauges, int port, string host = "*")
    {
        _gauges = gauges;
        _listener.Prefixes.Add($"http://{host}:{port}/");
        _listener.Start();
        _loop = Task.Run(ServeAsync);
    }

    private async Task ServeAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().WaitAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            try
            {
                var response = context.Response;
                if (context.Request.Url?.AbsolutePath is "/metrics" && context.Request.HttpMethod is "GET" or "HEAD")
                {
                    var body = Encoding.UTF8.GetBytes(_gauges.Render());
                    response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                    response.ContentLength64 = body.Length;
                    if (context.Request.HttpMethod == "GET")
                    {
                        await response.OutputStream.WriteAsync(body, _stop.Token);
                    }
                }
                else
                {
                    response.StatusCode = 404;
                }

                response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or OperationCanceledException)
            {
                // The scraper went away mid-response; serve the next one.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _listener.Close();
        _stop.Dispose();
    }
}
