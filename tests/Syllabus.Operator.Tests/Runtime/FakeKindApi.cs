using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using k8s;
using k8s.Models;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

/// <summary>A scripted API for one kind: lists return the next scripted page; watches play the next scripted stream.</summary>
internal sealed class FakeKindApi<T> : IKindApi<T>
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly ConcurrentQueue<ListPage<T>> lists = new();
    private readonly ConcurrentQueue<Func<Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType, T)>>> watches = new();

    public ConcurrentQueue<string> WatchedFrom { get; } = new();

    public int ListCalls;

    /// <summary>When set, a watch with nothing scripted ends at once instead of hanging (a server that drops watches).</summary>
    public bool EndUnscriptedWatchesAtOnce { get; set; }

    public void EnqueueList(string resourceVersion, params T[] items) => lists.Enqueue(new ListPage<T>(items, resourceVersion, null));

    public void EnqueueWatch(params (WatchEventType, T)[] events) => watches.Enqueue((_, ct) => Play(events, null, null, ct));

    public void EnqueueWatchEndingInErrorEvent(Exception error, params (WatchEventType, T)[] events) => watches.Enqueue((onError, ct) => Play(events, () => onError(error), null, ct));

    /// <summary>A watch that delivers whatever the test writes to the returned channel, until it completes the channel.</summary>
    public System.Threading.Channels.ChannelWriter<(WatchEventType, T)> EnqueueLiveWatch()
    {
        var channel = System.Threading.Channels.Channel.CreateUnbounded<(WatchEventType, T)>();
        watches.Enqueue((_, ct) => channel.Reader.ReadAllAsync(ct));
        return channel.Writer;
    }

    public void EnqueueWatchThrowing(Exception error, params (WatchEventType, T)[] events) => watches.Enqueue((_, ct) => Play(events, null, error, ct));

    public Task<ListPage<T>> ListAsync(string? ns, string? labelSelector, string? continueToken, int? limit, CancellationToken ct)
    {
        Interlocked.Increment(ref ListCalls);
        return lists.TryDequeue(out var page)
            ? Task.FromResult(page)
            : Task.FromException<ListPage<T>>(new InvalidOperationException("no scripted list left"));
    }

    public IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string? ns, string? labelSelector, string resourceVersion, int timeoutSeconds, Action<Exception> onError, CancellationToken ct)
    {
        WatchedFrom.Enqueue(resourceVersion);
        return watches.TryDequeue(out var watch) ? watch(onError, ct) : EndUnscriptedWatchesAtOnce ? Play([], null, null, ct) : Hang(ct);
    }

    public Task<T> GetAsync(string ns, string name, CancellationToken ct) => throw new NotSupportedException();

    public Task<T> CreateAsync(T obj, CancellationToken ct) => throw new NotSupportedException();

    public Task<T> PatchAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) => throw new NotSupportedException();

    public Task<T> PatchStatusAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) => throw new NotSupportedException();

    public Task DeleteAsync(string ns, string name, V1DeleteOptions options, CancellationToken ct) => throw new NotSupportedException();

    private static async IAsyncEnumerable<(WatchEventType, T)> Play((WatchEventType, T)[] events, Action? onEnd, Exception? error, [EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var e in events)
        {
            await Task.Yield();
            yield return e;
        }

        onEnd?.Invoke();
        if (error is not null)
        {
            throw error;
        }
    }

    private static async IAsyncEnumerable<(WatchEventType, T)> Hang([EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Delay(Timeout.Infinite, ct);
        yield break;
    }
}
