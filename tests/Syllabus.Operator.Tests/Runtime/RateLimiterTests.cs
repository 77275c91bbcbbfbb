using Microsoft.Extensions.Time.Testing;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class RateLimiterTests
{
    [Fact]
    public void Per_key_backoff_doubles_from_5ms_and_caps_at_1000s()
    {
        var limiter = new ItemExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000));
        var delays = Enumerable.Range(0, 5).Select(_ => limiter.When("a")).ToArray();
        Assert.Equal(new[] { 5.0, 10, 20, 40, 80 }, delays.Select(d => Math.Round(d.TotalMilliseconds, 6)));

        for (var i = 0; i < 30; i++)
        {
            limiter.When("a");
        }

        Assert.Equal(TimeSpan.FromSeconds(1000), limiter.When("a"));
        Assert.Equal(TimeSpan.FromMilliseconds(5), limiter.When("other"));

        limiter.Forget("a");
        Assert.Equal(TimeSpan.FromMilliseconds(5), limiter.When("a"));
    }

    [Fact]
    public void Failure_count_that_would_overflow_stays_at_the_cap()
    {
        var limiter = new ItemExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000));
        for (var i = 0; i < 2000; i++)
        {
            Assert.InRange(limiter.When("a"), TimeSpan.Zero, TimeSpan.FromSeconds(1000));
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(0.999999)]
    public void Jitter_adds_at_most_its_fraction_and_never_passes_the_cap(double random)
    {
        var limiter = new ItemExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(100), jitter: 0.1, random: () => random);
        double[] expectedBase = [5, 10, 20, 40, 80, 100, 100];
        foreach (var b in expectedBase)
        {
            var d = limiter.When("a").TotalMilliseconds;
            Assert.InRange(d, b, Math.Min(b * 1.1, 100) + 1e-9);
            if (b < 100)
            {
                Assert.Equal(Math.Min(b * (1 + (0.1 * random)), 100), d, 3); // TimeSpan keeps whole 100 ns ticks
            }
        }
    }

    [Fact]
    public void Random_jitter_stays_within_bounds()
    {
        var limiter = new ItemExponentialFailureRateLimiter<int>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000), jitter: 0.1);
        for (var key = 0; key < 1000; key++)
        {
            Assert.InRange(limiter.When(key).TotalMilliseconds, 5, 5.5);
        }
    }

    [Fact]
    public void Bucket_allows_a_burst_then_spaces_requests_at_its_rate()
    {
        var time = new FakeTimeProvider();
        var bucket = new BucketRateLimiter<string>(10, 100, time);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(TimeSpan.Zero, bucket.When($"k{i}"));
        }

        Assert.Equal(TimeSpan.FromMilliseconds(100), bucket.When("x"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), bucket.When("y"));

        time.Advance(TimeSpan.FromSeconds(1.2)); // repays the two reserved tokens and adds ten
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(TimeSpan.Zero, bucket.When($"z{i}"));
        }

        Assert.Equal(TimeSpan.FromMilliseconds(100), bucket.When("again"));
    }

    [Fact]
    public void Default_limiter_is_the_max_of_per_key_backoff_and_the_global_bucket()
    {
        var time = new FakeTimeProvider();
        var limiter = DefaultControllerRateLimiter.Create<string>(time, () => 0);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(TimeSpan.FromMilliseconds(5), limiter.When($"k{i}"));
        }

        // The bucket is empty now: a fresh key waits 100 ms, not its own 5 ms.
        Assert.Equal(TimeSpan.FromMilliseconds(100), limiter.When("fresh"));

        // A key that has failed a lot waits for its own, longer backoff.
        time.Advance(TimeSpan.FromMinutes(1));
        TimeSpan last = default;
        for (var i = 0; i < 12; i++)
        {
            last = limiter.When("bad");
        }

        Assert.Equal(TimeSpan.FromMilliseconds(5 * 2048), last);
        Assert.Equal(12, limiter.NumRequeues("bad"));
        limiter.Forget("bad");
        Assert.Equal(0, limiter.NumRequeues("bad"));
    }
}
