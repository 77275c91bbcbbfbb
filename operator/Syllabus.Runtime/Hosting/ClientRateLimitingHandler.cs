using System.Threading.RateLimiting;

namespace Syllabus.Runtime.Hosting;

/// <summary>
/// Client-side QPS/burst for every API request, like client-go's rest.Config QPS and Burst (KubernetesClient has none):
/// requests wait for a token instead of overwhelming the API server.
/// </summary>
internal sealed class ClientRateLimitingHandler(double qps, int burst) : DelegatingHandler
{
    private readonly TokenBucketRateLimiter limiter = new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = burst,
        TokensPerPeriod = Math.Max(1, (int)Math.Round(qps / 10)),
        ReplenishmentPeriod = TimeSpan.FromSeconds(Math.Max(1, (int)Math.Round(qps / 10)) / qps),
        QueueLimit = int.MaxValue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        AutoReplenishment = true,
    });

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var lease = await limiter.AcquireAsync(1, cancellationToken).ConfigureAwait(false);
        if (!lease.IsAcquired)
        {
            throw new InvalidOperationException("The client-side API rate limiter refused a request (its queue is full).");
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            limiter.Dispose();
        }

        base.Dispose(disposing);
    }
}
