using Microsoft.Extensions.Time.Testing;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class WorkQueueTests
{
    private readonly FakeTimeProvider time = new();

    [Fact]
    public async Task A_key_added_many_times_while_waiting_is_handed_out_once()
    {
        using var queue = NewQueue();
        queue.Add("a");
        queue.Add("a");
        queue.Add("b");
        queue.Add("a");

        Assert.Equal(2, queue.Count);
        Assert.Equal((true, "a"), await queue.GetAsync(TestContext.Current.CancellationToken));
        Assert.Equal((true, "b"), await queue.GetAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task A_key_being_processed_is_not_handed_to_a_second_worker_and_is_requeued_after_Done()
    {
        using var queue = NewQueue();
        queue.Add("a");
        var (_, first) = await queue.GetAsync(TestContext.Current.CancellationToken);

        queue.Add("a");
        queue.Add("a");
        var second = queue.GetAsync(TestContext.Current.CancellationToken);

        Assert.Equal(0, queue.Count);
        Assert.False(second.IsCompleted);

        queue.Done(first);
        var (ok, key) = await second.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.True(ok);
        Assert.Equal("a", key);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public async Task Many_workers_never_hold_the_same_key_at_once()
    {
        using var queue = new RateLimitingQueue<string>(new ItemExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1)), TimeProvider.System);
        var inFlight = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var violations = 0;
        var processed = 0;
        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (true)
            {
                var (ok, key) = await queue.GetAsync();
                if (!ok)
                {
                    return;
                }

                if (inFlight.AddOrUpdate(key, 1, (_, n) => n + 1) > 1)
                {
                    Interlocked.Increment(ref violations);
                }

                await Task.Yield();
                inFlight.AddOrUpdate(key, 0, (_, n) => n - 1);
                Interlocked.Increment(ref processed);
                queue.Done(key);
            }
        })).ToArray();

        for (var i = 0; i < 5000; i++)
        {
            queue.Add($"k{i % 7}");
        }

        while (queue.Count > 0 || queue.ProcessingCount > 0)
        {
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }

        await queue.ShutDownWithDrainAsync(TestContext.Current.CancellationToken);
        await Task.WhenAll(workers);
        Assert.Equal(0, violations);
        Assert.InRange(processed, 7, 5000);
    }

    [Fact]
    public void AddAfter_adds_when_the_delay_has_passed_and_the_earliest_pending_delay_wins()
    {
        using var queue = NewQueue();
        queue.AddAfter("a", TimeSpan.FromSeconds(5));
        queue.AddAfter("a", TimeSpan.FromSeconds(1));
        queue.AddAfter("a", TimeSpan.FromSeconds(3));

        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void AddRateLimited_waits_for_the_limiter_and_Forget_resets_the_backoff()
    {
        var limiter = new ItemExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000));
        using var queue = new RateLimitingQueue<string>(limiter, time);

        queue.AddRateLimited("a"); // 5 ms
        time.Advance(TimeSpan.FromMilliseconds(4));
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, queue.Count);

        queue.AddRateLimited("b"); // 5 ms
        queue.AddRateLimited("b"); // 10 ms (the 5 ms timer still wins)
        Assert.Equal(2, queue.NumRequeues("b"));
        queue.Forget("b");
        Assert.Equal(0, queue.NumRequeues("b"));
    }

    [Fact]
    public async Task Shutdown_stops_handing_out_keys_and_drains_in_flight_work()
    {
        using var queue = NewQueue();
        queue.Add("a");
        queue.Add("b");
        var (_, a) = await queue.GetAsync(TestContext.Current.CancellationToken);

        var drain = queue.ShutDownWithDrainAsync(TestContext.Current.CancellationToken);
        Assert.False(drain.IsCompleted);
        Assert.Equal((false, null), await queue.GetAsync(TestContext.Current.CancellationToken));

        queue.Add("c");
        Assert.Equal(1, queue.Count); // b still queued, c refused

        queue.Done(a);
        await drain.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_waiting_worker_is_released_by_shutdown()
    {
        using var queue = NewQueue();
        var waiting = queue.GetAsync(TestContext.Current.CancellationToken);
        queue.ShutDown();
        Assert.False((await waiting.WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken)).Ok);
    }

    [Fact]
    public async Task A_cancelled_waiter_does_not_swallow_a_key()
    {
        using var queue = NewQueue();
        using var cts = new CancellationTokenSource();
        var cancelled = queue.GetAsync(cts.Token);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        queue.Add("a");
        Assert.Equal((true, "a"), await queue.GetAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Metrics_see_adds_retries_latency_and_work_duration()
    {
        var metrics = new RecordingMetrics();
        using var queue = new RateLimitingQueue<string>(new ItemExponentialFailureRateLimiter<string>(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1)), time, metrics);
        queue.Add("a");
        time.Advance(TimeSpan.FromSeconds(2));
        var (_, key) = await queue.GetAsync(TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(3));
        queue.Done(key);
        queue.AddRateLimited("a");

        Assert.Equal(1, metrics.Adds);
        Assert.Equal(1, metrics.Retries);
        Assert.Equal([TimeSpan.FromSeconds(2)], metrics.Latencies);
        Assert.Equal([TimeSpan.FromSeconds(3)], metrics.Durations);
    }

    private RateLimitingQueue<string> NewQueue() => new(DefaultControllerRateLimiter.Create<string>(time, () => 0), time);

    private sealed class RecordingMetrics : IWorkQueueMetrics
    {
        public int Adds { get; private set; }

        public int Retries { get; private set; }

        public List<TimeSpan> Latencies { get; } = [];

        public List<TimeSpan> Durations { get; } = [];

        public void Added() => Adds++;

        public void Retried() => Retries++;

        public void Latency(TimeSpan waited) => Latencies.Add(waited);

        public void WorkDuration(TimeSpan worked) => Durations.Add(worked);
    }
}
