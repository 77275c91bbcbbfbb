using System.Diagnostics;
using System.Threading.Channels;

namespace Syllabus.Trainer.Serving;

/// <summary>
/// Merges concurrent infer requests into one model forward: the first queued request waits up to
/// <c>maxQueueDelay</c> for others to join while the batch holds fewer than <c>maxBatchSize</c> rows (a request that
/// would overflow the batch starts the next one), then one forward runs for all of them and each gets its own rows
/// back. With <c>maxBatchSize</c> 1 every request runs alone. Forwards run one at a time, in arrival order.
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    private readonly Channel<Work> _queue = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<float[], int, float[]> _forward;
    private readonly int _featureCount;
    private readonly int _maxBatchSize;
    private readonly TimeSpan _maxQueueDelay;
    private readonly Task _worker;

    /// <param name="forward">rows x features (row-major) to rows x outputs (row-major).</param>
    public DynamicBatcher(Func<float[], int, float[]> forward, int featureCount, int maxBatchSize, TimeSpan maxQueueDelay)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchSize, 1);
        _forward = forward;
        _featureCount = featureCount;
        _maxBatchSize = maxBatchSize;
        _maxQueueDelay = maxQueueDelay;
        _worker = Task.Run(RunAsync);
    }

    /// <summary>Called after each forward with the requests and rows it merged and how long the forward took.</summary>
    public Action<int, int, TimeSpan>? BatchCompleted { get; init; }

    /// <summary>Queues <paramref name="rows"/> rows of features; completes with their outputs.</summary>
    public Task<float[]> PredictAsync(float[] features, int rows, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Length != (long)rows * _featureCount)
        {
            throw new ArgumentException($"{features.Length} values are not {rows} rows of {_featureCount} features", nameof(features));
        }

        var work = new Work(features, rows, new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously));
        return _queue.Writer.TryWrite(work)
            ? work.Result.Task.WaitAsync(cancellationToken)
            : Task.FromException<float[]>(new ObjectDisposedException(nameof(DynamicBatcher), "the server is shutting down"));
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Work>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (!reader.TryRead(out var first))
            {
                continue;
            }

            batch.Clear();
            batch.Add(first);
            var rows = first.Rows;
            var deadline = Stopwatch.GetTimestamp() + (long)(_maxQueueDelay.TotalSeconds * Stopwatch.Frequency);
            while (rows < _maxBatchSize)
            {
                if (reader.TryPeek(out var next))
                {
                    if (rows + next.Rows > _maxBatchSize)
                    {
                        break;
                    }

                    reader.TryRead(out next);
                    batch.Add(next!);
                    rows += next!.Rows;
                    continue;
                }

                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero || !await ArrivesWithin(reader, remaining).ConfigureAwait(false))
                {
                    break;
                }
            }

            Run(batch, rows);
        }
    }

    private static async Task<bool> ArrivesWithin(ChannelReader<Work> reader, TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            return await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Run(List<Work> batch, int rows)
    {
        float[] features;
        if (batch.Count == 1)
        {
            features = batch[0].Features;
        }
        else
        {
            features = new float[(long)rows * _featureCount];
            var offset = 0;
            foreach (var work in batch)
            {
                work.Features.CopyTo(features, offset);
                offset += work.Features.Length;
            }
        }

        float[] outputs;
        var started = Stopwatch.GetTimestamp();
        try
        {
            outputs = _forward(features, rows);
        }
        catch (Exception e)
        {
            foreach (var work in batch)
            {
                work.Result.TrySetException(e);
            }

            return;
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var width = outputs.Length / rows;
        var start = 0;
        foreach (var work in batch)
        {
            work.Result.TrySetResult(outputs.AsSpan(start * width, work.Rows * width).ToArray());
            start += work.Rows;
        }

        BatchCompleted?.Invoke(batch.Count, rows, elapsed);
    }

    /// <summary>Stops taking requests and finishes those queued.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
    }

    private sealed record Work(float[] Features, int Rows, TaskCompletionSource<float[]> Result);
}
