namespace Syllabus.Runtime;

/// <summary>How long to wait before a key is retried (client-go's workqueue.RateLimiter).</summary>
public interface IRateLimiter<in TKey>
{
    /// <summary>The delay before <paramref name="key"/> may be processed again; counts one more failure.</summary>
    TimeSpan When(TKey key);

    /// <summary>The key succeeded: reset its failure count.</summary>
    void Forget(TKey key);

    int NumRequeues(TKey key);
}

/// <summary>
/// Per-key exponential backoff: base * 2^failures, capped at max, plus up to <c>jitter</c> of itself (still capped)
/// so that keys failing together do not retry together.
/// </summary>
public sealed class ItemExponentialFailureRateLimiter<TKey> : IRateLimiter<TKey>
    where TKey : notnull
{
    private readonly Lock gate = new();
    private readonly Dictionary<TKey, int> failures = [];
    private readonly TimeSpan baseDelay;
    private readonly TimeSpan maxDelay;
    private readonly double jitter;
    private readonly Func<double> random;

    /// <param name="random">A source of uniform values in [0, 1); tests pass a fixed one.</param>
    public ItemExponentialFailureRateLimiter(TimeSpan baseDelay, TimeSpan maxDelay, double jitter = 0, Func<double>? random = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(baseDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDelay, baseDelay);
        ArgumentOutOfRangeException.ThrowIfNegative(jitter);
        this.baseDelay = baseDelay;
        this.maxDelay = maxDelay;
        this.jitter = jitter;
        this.random = random ?? Random.Shared.NextDouble;
    }

    public TimeSpan When(TKey key)
    {
        int exponent;
        lock (gate)
        {
            failures.TryGetValue(key, out exponent);
            failures[key] = exponent + 1;
        }

        // Doubles overflow gracefully (to infinity), so a long-failing key stays at the cap instead of wrapping.
        var seconds = baseDelay.TotalSeconds * Math.Pow(2, exponent);
        var max = maxDelay.TotalSeconds;
        if (seconds >= max)
        {
            return maxDelay;
        }

        seconds *= 1 + (jitter * random());
        return TimeSpan.FromSeconds(Math.Min(seconds, max));
    }

    public void Forget(TKey key)
    {
        lock (gate)
        {
            failures.Remove(key);
        }
    }

    public int NumRequeues(TKey key)
    {
        lock (gate)
        {
            return failures.GetValueOrDefault(key);
        }
    }
}

/// <summary>
/// A global token bucket (qps, burst) over all keys, reservation style like golang.org/x/time/rate's Reserve().Delay():
/// the bucket may go negative and the delay is the deficit divided by the rate.
/// Hand-written because System.Threading.RateLimiting's limiters cannot take an injected TimeProvider.
/// </summary>
public sealed class BucketRateLimiter<TKey> : IRateLimiter<TKey>
{
    private readonly Lock gate = new();
    private readonly double qps;
    private readonly int burst;
    private readonly TimeProvider time;
    private double tokens;
    private long lastTimestamp;

    public BucketRateLimiter(double qps, int burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(qps, 0);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        ArgumentNullException.ThrowIfNull(time);
        this.qps = qps;
        this.burst = burst;
        this.time = time;
        tokens = burst;
        lastTimestamp = time.GetTimestamp();
    }

    public TimeSpan When(TKey key)
    {
        lock (gate)
        {
            var now = time.GetTimestamp();
            tokens = Math.Min(burst, tokens + (time.GetElapsedTime(lastTimestamp, now).TotalSeconds * qps));
            lastTimestamp = now;
            tokens -= 1;
            return tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-tokens / qps);
        }
    }

    public void Forget(TKey key)
    {
    }

    public int NumRequeues(TKey key) => 0;
}

/// <summary>The longest delay any of its limiters asks for.</summary>
public sealed class MaxOfRateLimiter<TKey>(params IRateLimiter<TKey>[] limiters) : IRateLimiter<TKey>
{
    public TimeSpan When(TKey key)
    {
        var delay = TimeSpan.Zero;
        foreach (var limiter in limiters)
        {
            var d = limiter.When(key);
            if (d > delay)
            {
                delay = d;
            }
        }

        return delay;
    }

    public void Forget(TKey key)
    {
        foreach (var limiter in limiters)
        {
            limiter.Forget(key);
        }
    }

    public int NumRequeues(TKey key) => limiters.Length == 0 ? 0 : limiters.Max(l => l.NumRequeues(key));
}

public static class DefaultControllerRateLimiter
{
    public static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(5);
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(1000);
    public const double Qps = 10;
    public const int Burst = 100;
    public const double Jitter = 0.1;

    /// <summary>client-go's DefaultControllerRateLimiter: max(per-key 5 ms doubling to 1000 s, global bucket 10/s burst 100), with 10% jitter.</summary>
    public static IRateLimiter<TKey> Create<TKey>(TimeProvider time, Func<double>? random = null)
        where TKey : notnull =>
        new MaxOfRateLimiter<TKey>(
            new ItemExponentialFailureRateLimiter<TKey>(BaseDelay, MaxDelay, Jitter, random),
            new BucketRateLimiter<TKey>(Qps, Burst, time));
}
