namespace Syllabus.Runtime;

/// <summary>Receives the queue's measurements (see <see cref="OperatorMetrics"/> for the Prometheus side).</summary>
public interface IWorkQueueMetrics
{
    void Added();

    void Retried();

    /// <summary>Time a key waited in the queue before a worker took it.</summary>
    void Latency(TimeSpan waited);

    /// <summary>Time a worker spent on a key.</summary>
    void WorkDuration(TimeSpan worked);
}

/// <summary>
/// client-go's rate-limited work queue: a key added many times while waiting is handed out once; a key is never
/// handed to two workers at once; a key added while it is being processed is handed out again after Done.
/// </summary>
public sealed class RateLimitingQueue<TKey> : IDisposable
    where TKey : notnull
{
    private readonly Lock gate = new();
    private readonly Queue<TKey> ready = new();
    private readonly HashSet<TKey> dirty = [];
    private readonly HashSet<TKey> processing = [];
    private readonly Dictionary<TKey, long> enqueuedAt = [];
    private readonly Dictionary<TKey, long> startedAt = [];
    private readonly Dictionary<TKey, (DateTimeOffset Due, ITimer Timer)> delayed = [];
    private readonly Queue<TaskCompletionSource<(bool, TKey)>> waiters = new();
    private readonly TaskCompletionSource drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IRateLimiter<TKey> rateLimiter;
    private readonly TimeProvider time;
    private readonly IWorkQueueMetrics? metrics;
    private bool shuttingDown;

    public RateLimitingQueue(IRateLimiter<TKey> rateLimiter, TimeProvider time, IWorkQueueMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(rateLimiter);
        ArgumentNullException.ThrowIfNull(time);
        this.rateLimiter = rateLimiter;
        this.time = time;
        this.metrics = metrics;
    }

    /// <summary>Keys waiting to be handed out (not counting delayed or in-flight ones).</summary>
    public int Count
    {
        get
        {
            lock (gate)
            {
                return ready.Count;
            }
        }
    }

    /// <summary>Keys waiting for their delay (AddAfter, AddRateLimited) to pass.</summary>
    public int DelayedCount
    {
        get
        {
            lock (gate)
            {
                return delayed.Count;
            }
        }
    }

    public int ProcessingCount
    {
        get
        {
            lock (gate)
            {
                return processing.Count;
            }
        }
    }

    public bool IsShuttingDown
    {
        get
        {
            lock (gate)
            {
                return shuttingDown;
            }
        }
    }

    public void Add(TKey key)
    {
        lock (gate)
        {
            AddLocked(key);
        }
    }

    /// <summary>Adds the key once <paramref name="delay"/> has passed; of several pending delays for a key the earliest wins.</summary>
    public void AddAfter(TKey key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (gate)
        {
            if (shuttingDown)
            {
                return;
            }

            var due = time.GetUtcNow() + delay;
            if (delayed.TryGetValue(key, out var existing))
            {
                if (existing.Due <= due)
                {
                    return;
                }

                existing.Timer.Dispose();
            }

            var timer = time.CreateTimer(_ => FireDelayed(key, due), null, delay, Timeout.InfiniteTimeSpan);
            delayed[key] = (due, timer);
        }
    }

    /// <summary>Adds the key after the rate limiter's delay for it: the path for a failed reconcile.</summary>
    public void AddRateLimited(TKey key)
    {
        metrics?.Retried();
        AddAfter(key, rateLimiter.When(key));
    }

    /// <summary>The key succeeded: reset its backoff.</summary>
    public void Forget(TKey key) => rateLimiter.Forget(key);

    public int NumRequeues(TKey key) => rateLimiter.NumRequeues(key);

    /// <summary>Waits for a key. Returns (false, default) once the queue shuts down; keys still waiting are not handed out then.</summary>
    public Task<(bool Ok, TKey Key)> GetAsync(CancellationToken ct = default)
    {
        TaskCompletionSource<(bool, TKey)> waiter;
        lock (gate)
        {
            if (shuttingDown)
            {
                return Task.FromResult<(bool, TKey)>((false, default!));
            }

            if (ready.TryDequeue(out var key))
            {
                StartLocked(key);
                return Task.FromResult((true, key));
            }

            waiter = new TaskCompletionSource<(bool, TKey)>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiters.Enqueue(waiter);
        }

        if (ct.CanBeCanceled)
        {
            // A cancelled waiter stays in the queue but TrySetResult on it fails, so hand-off skips it.
            var registration = ct.Register(() => waiter.TrySetCanceled(ct));
            _ = waiter.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return waiter.Task;
    }

    /// <summary>The worker is finished with the key; if it was added meanwhile it becomes ready again.</summary>
    public void Done(TKey key)
    {
        lock (gate)
        {
            if (!processing.Remove(key))
            {
                return;
            }

            if (startedAt.Remove(key, out var started))
            {
                metrics?.WorkDuration(time.GetElapsedTime(started));
            }

            if (dirty.Contains(key) && !shuttingDown)
            {
                EnqueueLocked(key);
            }

            if (shuttingDown && processing.Count == 0)
            {
                drained.TrySetResult();
            }
        }
    }

    /// <summary>Stops handing out keys and accepting new ones; wakes every waiting worker.</summary>
    public void ShutDown()
    {
        List<TaskCompletionSource<(bool, TKey)>> toRelease;
        lock (gate)
        {
            if (shuttingDown)
            {
                return;
            }

            shuttingDown = true;
            foreach (var (_, timer) in delayed.Values)
            {
                timer.Dispose();
            }

            delayed.Clear();
            toRelease = [.. waiters];
            waiters.Clear();
            if (processing.Count == 0)
            {
                drained.TrySetResult();
            }
        }

        foreach (var waiter in toRelease)
        {
            waiter.TrySetResult((false, default!));
        }
    }

    /// <summary>Shuts down, then waits until every key handed out so far is Done (in-flight work finishes; nothing new starts).</summary>
    public Task ShutDownWithDrainAsync(CancellationToken ct = default)
    {
        ShutDown();
        return drained.Task.WaitAsync(ct);
    }

    public void Dispose() => ShutDown();

    private void FireDelayed(TKey key, DateTimeOffset due)
    {
        lock (gate)
        {
            if (!delayed.TryGetValue(key, out var entry) || entry.Due != due)
            {
                return;
            }

            delayed.Remove(key);
            entry.Timer.Dispose();
            AddLocked(key);
        }
    }

    private void AddLocked(TKey key)
    {
        if (shuttingDown)
        {
            return;
        }

        metrics?.Added();
        if (!dirty.Add(key))
        {
            return;
        }

        enqueuedAt[key] = time.GetTimestamp();
        if (processing.Contains(key))
        {
            return;
        }

        EnqueueLocked(key);
    }

    private void EnqueueLocked(TKey key)
    {
        while (waiters.TryDequeue(out var waiter))
        {
            // Mark the key as in flight before completing the waiter, so Done can never race ahead of Start.
            StartLocked(key);
            if (waiter.TrySetResult((true, key)))
            {
                return;
            }

            UndoStartLocked(key);
        }

        ready.Enqueue(key);
    }

    private void StartLocked(TKey key)
    {
        processing.Add(key);
        dirty.Remove(key);
        var now = time.GetTimestamp();
        if (enqueuedAt.Remove(key, out var enqueued))
        {
            metrics?.Latency(time.GetElapsedTime(enqueued, now));
        }

        startedAt[key] = now;
    }

    private void UndoStartLocked(TKey key)
    {
        processing.Remove(key);
        startedAt.Remove(key);
        dirty.Add(key);
        enqueuedAt[key] = time.GetTimestamp();
    }
}
