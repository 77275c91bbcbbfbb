using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class InformerTests
{
    private readonly FakeKindApi<V1ConfigMap> api = new();
    private readonly ConcurrentQueue<string> events = new();

    [Fact]
    public async Task A_410_error_event_relists_and_reports_only_what_changed()
    {
        api.EnqueueList("5", Cm("a", "1"), Cm("b", "2"));
        api.EnqueueWatchEndingInErrorEvent(Gone(), (WatchEventType.Modified, Cm("a", "6")));
        api.EnqueueList("8", Cm("a", "6"), Cm("c", "7"));

        using var run = Start(NewInformer(TimeProvider.System), out var informer);
        await Eventually.TrueAsync(() => api.WatchedFrom.Count == 2, "the second watch");

        Assert.Equal(["add a", "add b", "update a 1->6", "delete b", "add c"], events);
        Assert.Equal(["5", "8"], api.WatchedFrom);
        Assert.Equal(1, informer.Relists);
        Assert.Equal(["a", "c"], informer.Cache.List().Select(c => c.Metadata.Name).Order());
    }

    [Fact]
    public async Task A_410_http_status_when_opening_the_watch_relists()
    {
        api.EnqueueList("5", Cm("a", "1"));
        api.EnqueueWatchThrowing(new HttpOperationException("gone") { Response = new HttpResponseMessageWrapper(new HttpResponseMessage(HttpStatusCode.Gone), "") });
        api.EnqueueList("9", Cm("a", "9"));

        using var run = Start(NewInformer(TimeProvider.System), out var informer);
        await Eventually.TrueAsync(() => api.WatchedFrom.Count == 2, "the watch after the re-list");

        Assert.Equal(["5", "9"], api.WatchedFrom);
        Assert.Equal(["add a", "update a 1->9"], events);
        Assert.Equal(1, informer.Relists);
    }

    [Fact]
    public async Task A_dropped_watch_resumes_from_the_last_resourceVersion_without_a_relist()
    {
        api.EnqueueList("5", Cm("a", "1"));
        api.EnqueueWatchThrowing(new IOException("connection reset"), (WatchEventType.Added, Cm("b", "6")), (WatchEventType.Deleted, Cm("a", "7")));
        api.EnqueueWatch((WatchEventType.Bookmark, Cm(null, "12")));

        using var run = Start(NewInformer(TimeProvider.System), out var informer);
        await Eventually.TrueAsync(() => api.WatchedFrom.Count == 3, "two reconnects");

        Assert.Equal(["5", "7", "12"], api.WatchedFrom);
        Assert.Equal(["add a", "add b", "delete a"], events);
        Assert.Equal(0, informer.Relists);
        Assert.Equal(1, api.ListCalls);
        Assert.Equal(2, informer.WatchRestarts);
        Assert.Null(informer.Cache.Get(null, "a"));
        Assert.NotNull(informer.Cache.Get(null, "b"));
    }

    [Fact]
    public async Task Listed_and_watched_objects_are_cached_and_handed_out_without_managedFields_or_last_applied()
    {
        api.EnqueueList("5", Bulky("a", "1"));
        var live = api.EnqueueLiveWatch();
        var handed = new ConcurrentQueue<V1ConfigMap>();
        var informer = NewInformer(TimeProvider.System);
        informer.AddHandler(new ResourceEventHandler<V1ConfigMap>(OnAdd: handed.Enqueue, OnUpdate: (_, n) => handed.Enqueue(n)));
        using var run = Start(informer, out _);
        await informer.WaitForSyncAsync(TestContext.Current.CancellationToken);
        await live.WriteAsync((WatchEventType.Added, Bulky("b", "6")), TestContext.Current.CancellationToken);
        await live.WriteAsync((WatchEventType.Modified, Bulky("a", "7")), TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => handed.Count == 3, "the listed object and both watch events");

        foreach (var obj in handed.Concat(informer.Cache.List()))
        {
            Assert.Null(obj.Metadata.ManagedFields);
            Assert.False(obj.Metadata.Annotations.ContainsKey(CacheTransforms.LastAppliedAnnotation));
            Assert.Equal("kept", obj.Metadata.Annotations["other"]);
            Assert.Equal("v", obj.Data["k"]);
        }
    }

    [Fact]
    public async Task Without_a_transform_objects_are_cached_as_received()
    {
        api.EnqueueList("5", Bulky("a", "1"));
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero, Transform = null }, TimeProvider.System, NullLogger.Instance);
        using var run = Start(informer, out _);
        await informer.WaitForSyncAsync(TestContext.Current.CancellationToken);

        var cached = informer.Cache.Get(null, "a")!;
        Assert.Single(cached.Metadata.ManagedFields);
        Assert.True(cached.Metadata.Annotations.ContainsKey(CacheTransforms.LastAppliedAnnotation));
    }

    [Fact]
    public async Task A_failed_list_is_retried_and_sync_waits_for_it()
    {
        api.EnqueueList("5", Cm("a", "1"));
        var failingOnce = new FailFirstList<V1ConfigMap>(api);
        var wrapped = new Informer<V1ConfigMap>(failingOnce, new InformerOptions { ResyncPeriod = TimeSpan.Zero, InitialBackoff = TimeSpan.FromMilliseconds(1) }, TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var running = wrapped.RunAsync(cts.Token);
        await wrapped.WaitForSyncAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.True(wrapped.HasSynced);
        Assert.Equal(2, failingOnce.Calls);
        await cts.CancelAsync();
        await running;
    }

    [Fact]
    public async Task Resync_hands_every_cached_object_to_OnResync_on_the_injected_clock()
    {
        var time = new FakeTimeProvider();
        api.EnqueueList("5", Cm("a", "1"), Cm("b", "2"));
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.FromMinutes(1) }, time, NullLogger.Instance);
        var resynced = new ConcurrentQueue<string>();
        informer.AddHandler(new ResourceEventHandler<V1ConfigMap>(OnResync: c => resynced.Enqueue(c.Metadata.Name)));
        using var cts = new CancellationTokenSource();
        var running = informer.RunAsync(cts.Token);
        await informer.WaitForSyncAsync(TestContext.Current.CancellationToken);
        for (var i = 0; i < 2000 && resynced.Count < 2; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }

        Assert.Equal(["a", "b"], resynced.Take(2).Order());
        await cts.CancelAsync();
        await running;
    }

    [Fact]
    public async Task A_watch_that_closes_at_once_is_retried_with_growing_backoff_not_in_a_tight_loop()
    {
        var time = new FakeTimeProvider();
        api.EnqueueList("5", Cm("a", "1"));
        api.EndUnscriptedWatchesAtOnce = true;
        var informer = new Informer<V1ConfigMap>(
            api,
            new InformerOptions { ResyncPeriod = TimeSpan.Zero, InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(30) },
            time,
            NullLogger.Instance,
            random: () => 1.0);
        using var cts = new CancellationTokenSource();
        var running = informer.RunAsync(cts.Token);
        await Eventually.TrueAsync(() => api.WatchedFrom.Count == 1, "the first watch");

        // The clock does not move: a tight loop would open thousands of watches here.
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Single(api.WatchedFrom);

        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(() => api.WatchedFrom.Count == 2, "the retry after 1 s");
        await Task.Delay(200, TestContext.Current.CancellationToken); // let the informer start its next wait
        time.Advance(TimeSpan.FromSeconds(1)); // the second wait is 2 s: half of it is not enough
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.Equal(2, api.WatchedFrom.Count);
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(() => api.WatchedFrom.Count == 3, "the retry after 2 s");

        Assert.Equal(1, api.ListCalls); // resumed from the same resourceVersion, no relist
        Assert.All(api.WatchedFrom, rv => Assert.Equal("5", rv));
        await cts.CancelAsync();
        await running;
    }

    [Fact]
    public async Task A_late_handler_sees_each_object_added_before_it_changes_even_while_events_stream_in()
    {
        const int objects = 200;
        api.EnqueueList("1", [.. Enumerable.Range(0, objects).Select(i => Cm($"o{i}", "1"))]);
        var stream = api.EnqueueLiveWatch();
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var running = informer.RunAsync(cts.Token);
        await informer.WaitForSyncAsync(TestContext.Current.CancellationToken);

        // Stream updates and deletes of every object while late handlers subscribe; each handler keeps its own view.
        var writer = Task.Run(async () =>
        {
            for (var round = 2; round < 40; round++)
            {
                for (var i = 0; i < objects; i++)
                {
                    var type = round % 7 == 0 && i % 3 == 0 ? WatchEventType.Deleted : WatchEventType.Modified;
                    await stream.WriteAsync((type, Cm($"o{i}", $"{round}")), TestContext.Current.CancellationToken);
                    if (type == WatchEventType.Deleted)
                    {
                        await stream.WriteAsync((WatchEventType.Added, Cm($"o{i}", $"{round}")), TestContext.Current.CancellationToken);
                    }
                }
            }

            await stream.WriteAsync((WatchEventType.Modified, Cm("o0", "final")), TestContext.Current.CancellationToken);
        }, TestContext.Current.CancellationToken);

        var views = new List<HandlerView>();
        while (!writer.IsCompleted)
        {
            var view = new HandlerView();
            informer.AddHandler(view.Handler);
            views.Add(view);
            await Task.Yield();
        }

        await writer;
        await Eventually.TrueAsync(() => informer.Cache.Get(null, "o0")?.Metadata.ResourceVersion == "final", "the last event");
        await cts.CancelAsync();
        await running;

        var cached = informer.Cache.List().ToDictionary(c => c.Metadata.Name, c => c.Metadata.ResourceVersion);
        Assert.NotEmpty(views);
        foreach (var view in views)
        {
            Assert.Empty(view.Violations);
            Assert.Equal(cached, view.Objects);
        }
    }

    private sealed class HandlerView
    {
        public HandlerView() =>
            Handler = new ResourceEventHandler<V1ConfigMap>(
                OnAdd: c =>
                {
                    if (!Objects.TryAdd(c.Metadata.Name, c.Metadata.ResourceVersion))
                    {
                        Violations.Add($"add of {c.Metadata.Name} it already had");
                    }
                },
                OnUpdate: (o, n) =>
                {
                    if (!Objects.TryGetValue(n.Metadata.Name, out var seen) || seen != o.Metadata.ResourceVersion)
                    {
                        Violations.Add($"update of {n.Metadata.Name} from {o.Metadata.ResourceVersion}, but it had {seen ?? "nothing"}");
                    }

                    Objects[n.Metadata.Name] = n.Metadata.ResourceVersion;
                },
                OnDelete: c =>
                {
                    if (!Objects.Remove(c.Metadata.Name))
                    {
                        Violations.Add($"delete of {c.Metadata.Name} it never had");
                    }
                });

        public ResourceEventHandler<V1ConfigMap> Handler { get; }

        public Dictionary<string, string> Objects { get; } = [];

        public List<string> Violations { get; } = [];
    }

    private static KubernetesException Gone() => new(new V1Status { Code = 410, Reason = "Expired", Message = "too old resource version" });

    private static V1ConfigMap Bulky(string name, string rv) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            ResourceVersion = rv,
            Annotations = new Dictionary<string, string> { [CacheTransforms.LastAppliedAnnotation] = "{\"data\":{\"k\":\"v\"}}", ["other"] = "kept" },
            ManagedFields = [new V1ManagedFieldsEntry { Manager = "kubectl", Operation = "Apply", FieldsV1 = new { } }],
        },
        Data = new Dictionary<string, string> { ["k"] = "v" },
    };

    private static V1ConfigMap Cm(string? name, string rv) => new() { Metadata = new V1ObjectMeta { Name = name, ResourceVersion = rv } };

    private Informer<V1ConfigMap> NewInformer(TimeProvider time)
    {
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero, InitialBackoff = TimeSpan.FromMilliseconds(1) }, time, NullLogger.Instance);
        informer.AddHandler(new ResourceEventHandler<V1ConfigMap>(
            OnAdd: c => events.Enqueue($"add {c.Metadata.Name}"),
            OnUpdate: (o, n) => events.Enqueue($"update {n.Metadata.Name} {o.Metadata.ResourceVersion}->{n.Metadata.ResourceVersion}"),
            OnDelete: c => events.Enqueue($"delete {c.Metadata.Name}")));
        return informer;
    }

    private static Running Start(Informer<V1ConfigMap> informer, out Informer<V1ConfigMap> same)
    {
        same = informer;
        var cts = new CancellationTokenSource();
        return new Running(informer.RunAsync(cts.Token), cts);
    }

    private sealed class Running(Task task, CancellationTokenSource cts) : IDisposable
    {
        public void Dispose()
        {
            cts.Cancel();
            task.GetAwaiter().GetResult();
            cts.Dispose();
        }
    }

    private sealed class FailFirstList<T>(FakeKindApi<T> inner) : IKindApi<T>
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        public int Calls;

        public Task<ListPage<T>> ListAsync(string? ns, string? labelSelector, string? continueToken, int? limit, CancellationToken ct) =>
            Interlocked.Increment(ref Calls) == 1
                ? Task.FromException<ListPage<T>>(new HttpRequestException("connection refused"))
                : inner.ListAsync(ns, labelSelector, continueToken, limit, ct);

        public IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string? ns, string? labelSelector, string resourceVersion, int timeoutSeconds, Action<Exception> onError, CancellationToken ct) =>
            inner.WatchAsync(ns, labelSelector, resourceVersion, timeoutSeconds, onError, ct);

        public Task<T> GetAsync(string ns, string name, CancellationToken ct) => inner.GetAsync(ns, name, ct);

        public Task<T> CreateAsync(T obj, CancellationToken ct) => inner.CreateAsync(obj, ct);

        public Task<T> PatchAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) => inner.PatchAsync(ns, name, patch, fieldManager, ct);

        public Task<T> PatchStatusAsync(string ns, string name, V1Patch patch, string fieldManager, CancellationToken ct) => inner.PatchStatusAsync(ns, name, patch, fieldManager, ct);

        public Task DeleteAsync(string ns, string name, V1DeleteOptions options, CancellationToken ct) => inner.DeleteAsync(ns, name, options, ct);
    }
}
