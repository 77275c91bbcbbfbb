using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class ControllerTests
{
    private readonly FakeKindApi<V1ConfigMap> api = new();

    [Fact]
    public async Task Errors_back_off_and_retry_terminal_errors_do_not_and_RequeueAfter_comes_back()
    {
        api.EnqueueList("1", Cm("fails-twice", "1"), Cm("terminal", "1"), Cm("requeue-once", "1"), Cm("fine", "1"));
        var reconciler = new ScriptedReconciler(name => name switch
        {
            "fails-twice" => attempt => attempt <= 2 ? throw new InvalidOperationException("boom") : ReconcileResult.Done,
            "terminal" => _ => throw new TerminalReconcileException("bad spec"),
            "requeue-once" => attempt => attempt == 1 ? ReconcileResult.After(TimeSpan.FromMilliseconds(50)) : ReconcileResult.Done,
            _ => _ => ReconcileResult.Done,
        });

        var (controller, informer, stop) = await StartAsync(reconciler);
        await Eventually.TrueAsync(() => reconciler.Count("fails-twice") == 3 && reconciler.Count("requeue-once") == 2, "retries and requeue");
        await Eventually.TrueAsync(
            () => controller.Queue.Count == 0 && controller.Queue.ProcessingCount == 0 && controller.Queue.DelayedCount == 0,
            "the queue to be idle with nothing scheduled (no further reconcile can come)");
        await stop();

        Assert.Equal(3, reconciler.Count("fails-twice"));
        Assert.Equal(1, reconciler.Count("terminal"));
        Assert.Equal(2, reconciler.Count("requeue-once"));
        Assert.Equal(1, reconciler.Count("fine"));
        Assert.Equal(0, controller.Queue.NumRequeues(new ObjectKey(null, "fails-twice")));
        Assert.Equal(7, controller.ReconcileCount);
        Assert.NotNull(informer);
    }

    [Fact]
    public async Task The_reconciler_gets_a_copy_so_changing_it_cannot_corrupt_the_cache()
    {
        api.EnqueueList("1", Cm("a", "1"));
        var reconciler = new ScriptedReconciler(_ => _ => ReconcileResult.Done, mutate: true);
        var (_, informer, stop) = await StartAsync(reconciler);
        await Eventually.TrueAsync(() => reconciler.Count("a") == 1, "one reconcile");
        await stop();
        Assert.Null(informer.Cache.Get(null, "a")!.Data);
    }

    [Fact]
    public async Task Owned_objects_enqueue_their_controlling_owner_of_the_right_kind()
    {
        // "owner" and "other" are both ConfigMaps this controller reconciles; a Job controlled by a *Deployment* named
        // "other" must not enqueue the ConfigMap "other" (the owner's kind and group are checked, not just its name).
        api.EnqueueList("1", Cm("owner", "1", "ns"), Cm("other", "1", "ns"));
        var jobs = new FakeKindApi<V1Job>();
        jobs.EnqueueList("1");
        var jobEvents = jobs.EnqueueLiveWatch();
        var owned = Job("child", "1", new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "owner", NamespaceProperty = "ns", Uid = "u" } });
        var foreign = Job("foreign", "1", new V1Deployment { Metadata = new V1ObjectMeta { Name = "other", NamespaceProperty = "ns", Uid = "d" } });

        var reconciler = new ScriptedReconciler(_ => _ => ReconcileResult.Done);
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);
        var jobInformer = new Informer<V1Job>(jobs, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);

        // One worker: keys are reconciled in the order they were enqueued, so a later reconcile of "owner" proves an
        // earlier (wrong) enqueue of "other" has been reconciled too.
        var controller = new Controller<V1ConfigMap>(informer, reconciler, new ControllerOptions { Workers = 1 }, TimeProvider.System, NullLogger.Instance);
        controller.Owns(jobInformer);
        using var cts = new CancellationTokenSource();
        var running = Task.WhenAll(informer.RunAsync(cts.Token), jobInformer.RunAsync(cts.Token));
        await controller.StartAsync(TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => reconciler.Count("owner") == 1 && reconciler.Count("other") == 1, "the initial reconciles");

        // An update enqueues the owner of the old and of the new object, so it may be reconciled once or twice: each
        // step waits for "more than before".
        await jobEvents.WriteAsync((WatchEventType.Added, owned), TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => reconciler.Count("owner") > 1, "the owned Job's add to enqueue its owner");

        var before = reconciler.Count("owner");
        await jobEvents.WriteAsync((WatchEventType.Added, foreign), TestContext.Current.CancellationToken);
        await jobEvents.WriteAsync((WatchEventType.Modified, Job("child", "2", new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "owner", NamespaceProperty = "ns", Uid = "u" } })), TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => reconciler.Count("owner") > before, "the owned Job's update to enqueue its owner");

        before = reconciler.Count("owner");
        await jobEvents.WriteAsync((WatchEventType.Deleted, owned), TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => reconciler.Count("owner") > before, "the owned Job's deletion to enqueue its owner");
        await controller.StopAsync(CancellationToken.None);
        await cts.CancelAsync();
        await running;

        Assert.Equal(1, reconciler.Count("other"));
    }

    [Fact]
    public async Task Watches_enqueues_what_the_map_relates_an_object_to_and_honours_the_update_predicate()
    {
        api.EnqueueList("1", Cm("a", "1", "ns", labels: new() { ["team"] = "red" }), Cm("b", "1", "ns", labels: new() { ["team"] = "blue" }));
        var related = new FakeKindApi<V1Secret>();
        related.EnqueueList("1");
        var relatedEvents = related.EnqueueLiveWatch();
        var reconciler = new ScriptedReconciler(_ => _ => ReconcileResult.Done);
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);
        informer.Cache.AddIndex("team", c => [Team(c)]);
        var secrets = new Informer<V1Secret>(related, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);
        var controller = new Controller<V1ConfigMap>(informer, reconciler, new ControllerOptions { Workers = 1 }, TimeProvider.System, NullLogger.Instance);

        // A Secret enqueues the ConfigMaps of its team, through the index; updates only when its type changes.
        var byTeam = CacheReader<V1ConfigMap>.Over(informer.Cache);
        controller.Watches(secrets, s => byTeam.KeysByIndex("team", s.Metadata.Labels["team"], s.Metadata.NamespaceProperty), (o, n) => o.Type != n.Type);
        using var cts = new CancellationTokenSource();
        var running = Task.WhenAll(informer.RunAsync(cts.Token), secrets.RunAsync(cts.Token));
        await controller.StartAsync(TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => reconciler.Count("a") == 1 && reconciler.Count("b") == 1, "the initial reconciles");

        await relatedEvents.WriteAsync((WatchEventType.Added, Secret("s", "2", "red", "x")), TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => reconciler.Count("a") == 2, "a red Secret to enqueue the red ConfigMap");
        await relatedEvents.WriteAsync((WatchEventType.Modified, Secret("s", "3", "red", "x")), TestContext.Current.CancellationToken); // filtered out
        await relatedEvents.WriteAsync((WatchEventType.Added, Secret("t", "4", "blue", "x")), TestContext.Current.CancellationToken);
        await Eventually.TrueAsync(() => reconciler.Count("b") == 2, "a blue Secret to enqueue the blue ConfigMap");
        Assert.Equal(2, reconciler.Count("a")); // one worker, in order: the filtered update enqueued nothing

        await relatedEvents.WriteAsync((WatchEventType.Modified, Secret("s", "5", "blue", "y")), TestContext.Current.CancellationToken); // old red, new blue
        await Eventually.TrueAsync(() => reconciler.Count("b") == 3 && reconciler.Count("a") == 3, "an update to enqueue what the old and the new object map to");
        await controller.StopAsync(CancellationToken.None);
        await cts.CancelAsync();
        await running;
        Assert.Equal(3, reconciler.Count("a"));
        Assert.Equal(3, reconciler.Count("b"));
    }

    private static V1Job Job(string name, string rv, IKubernetesObject<V1ObjectMeta> owner)
    {
        var job = new V1Job { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ns", ResourceVersion = rv } };
        switch (owner)
        {
            case V1ConfigMap cm:
                OwnerReferences.SetControllerReference(cm, job);
                break;
            case V1Deployment d:
                OwnerReferences.SetControllerReference(d, job);
                break;
        }

        return job;
    }

    private static V1Secret Secret(string name, string rv, string team, string type) =>
        new() { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ns", ResourceVersion = rv, Labels = new Dictionary<string, string> { ["team"] = team } }, Type = type };

    [Fact]
    public async Task Stopping_finishes_in_flight_reconciles_and_starts_no_new_ones()
    {
        api.EnqueueList("1", Cm("slow", "1"), Cm("queued", "1"));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconciler = new BlockingReconciler(entered, release);
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);
        var controller = new Controller<V1ConfigMap>(informer, reconciler, new ControllerOptions { Workers = 1 }, TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var running = informer.RunAsync(cts.Token);
        await controller.StartAsync(TestContext.Current.CancellationToken);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        var stopping = controller.StopAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => controller.Queue.IsShuttingDown, "the queue to shut down");
        Assert.False(stopping.IsCompleted, "stop waits for the in-flight reconcile (blocked until released)");
        release.SetResult();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(1, reconciler.Started);
        Assert.Equal(1, reconciler.Finished);
        Assert.False(reconciler.SawCancellation);
        await cts.CancelAsync();
        await running;
    }

    [Fact]
    public async Task Aborting_a_stop_cancels_the_in_flight_reconcile()
    {
        api.EnqueueList("1", Cm("slow", "1"));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconciler = new BlockingReconciler(entered, new TaskCompletionSource());
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);
        var controller = new Controller<V1ConfigMap>(informer, reconciler, new ControllerOptions { Workers = 1 }, TimeProvider.System, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var running = informer.RunAsync(cts.Token);
        await controller.StartAsync(TestContext.Current.CancellationToken);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        using var abort = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await controller.StopAsync(abort.Token).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.True(reconciler.SawCancellation);
        await cts.CancelAsync();
        await running;
    }

    [Fact]
    public async Task Reconcile_metrics_are_recorded_by_kind_and_result()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        var metrics = new OperatorMetrics(meterFactory);
        var seen = new ConcurrentQueue<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == OperatorMetrics.MeterName)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
        {
            var t = tags.ToArray().ToDictionary(kv => kv.Key, kv => kv.Value?.ToString());
            seen.Enqueue($"{i.Name} {t.GetValueOrDefault("kind")} {t.GetValueOrDefault("result")}");
        });
        listener.Start();

        api.EnqueueList("1", Cm("ok", "1"), Cm("bad", "1"), Cm("stale", "1"));
        var reconciler = new ScriptedReconciler(name => name switch
        {
            "bad" => _ => throw new TerminalReconcileException("no"),
            // A guarded write met a newer object: requeued (with the per-key backoff) and recomputed, not an error.
            "stale" => attempt => attempt == 1 ? throw Conflict() : ReconcileResult.Done,
            _ => _ => ReconcileResult.Done,
        });
        var (_, _, stop) = await StartAsync(reconciler, metrics);
        await Eventually.TrueAsync(() => reconciler.Count("ok") + reconciler.Count("bad") == 2 && reconciler.Count("stale") == 2, "all reconciled, the conflicted one twice");
        await stop();

        Assert.Contains("syllabus.reconcile ConfigMap success", seen);
        Assert.Contains("syllabus.reconcile ConfigMap terminal", seen);
        Assert.Contains("syllabus.reconcile ConfigMap conflict", seen);
        Assert.DoesNotContain(seen, m => m.StartsWith("syllabus.reconcile.errors", StringComparison.Ordinal));
        Assert.Contains("syllabus.workqueue.adds ConfigMap ", seen);
    }

    private async Task<(Controller<V1ConfigMap>, Informer<V1ConfigMap>, Func<Task>)> StartAsync(ScriptedReconciler reconciler, OperatorMetrics? metrics = null)
    {
        var informer = new Informer<V1ConfigMap>(api, new InformerOptions { ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLogger.Instance);
        var limiter = new ItemExponentialFailureRateLimiter<ObjectKey>(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(20));
        var controller = new Controller<V1ConfigMap>(informer, reconciler, new ControllerOptions { Workers = 3 }, TimeProvider.System, NullLogger.Instance, metrics, limiter);
        var cts = new CancellationTokenSource();
        var running = informer.RunAsync(cts.Token);
        await controller.StartAsync(TestContext.Current.CancellationToken);
        return (controller, informer, async () =>
        {
            await controller.StopAsync(CancellationToken.None);
            await cts.CancelAsync();
            await running;
            cts.Dispose();
        });
    }

    private static k8s.Autorest.HttpOperationException Conflict() => new("Operation returned an invalid status code 'Conflict'")
    {
        Response = new k8s.Autorest.HttpResponseMessageWrapper(new HttpResponseMessage(System.Net.HttpStatusCode.Conflict), """{"kind":"Status","reason":"Conflict","code":409}"""),
    };

    private static V1ConfigMap Cm(string name, string rv, string? ns = null, Dictionary<string, string>? labels = null) =>
        new() { Metadata = new V1ObjectMeta { Name = name, ResourceVersion = rv, NamespaceProperty = ns, Labels = labels } };

    private sealed class ScriptedReconciler(Func<string, Func<int, ReconcileResult>> script, bool mutate = false) : IReconciler<V1ConfigMap>
    {
        private readonly ConcurrentDictionary<string, int> counts = new();

        public ConcurrentQueue<string> Names { get; } = new();

        public int Count(string name) => counts.GetValueOrDefault(name);

        public Task<ReconcileResult> ReconcileAsync(V1ConfigMap resource, CancellationToken ct)
        {
            var name = resource.Metadata.Name;
            Names.Enqueue(name);
            var attempt = counts.AddOrUpdate(name, 1, (_, n) => n + 1);
            if (mutate)
            {
                resource.Data = new Dictionary<string, string> { ["changed"] = "yes" };
            }

            return Task.FromResult(script(name)(attempt));
        }
    }

    private sealed class BlockingReconciler(TaskCompletionSource entered, TaskCompletionSource release) : IReconciler<V1ConfigMap>
    {
        public int Started;
        public int Finished;
        public bool SawCancellation;

        public async Task<ReconcileResult> ReconcileAsync(V1ConfigMap resource, CancellationToken ct)
        {
            Interlocked.Increment(ref Started);
            entered.TrySetResult();
            try
            {
                await release.Task.WaitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                SawCancellation = true;
                throw;
            }

            Interlocked.Increment(ref Finished);
            return ReconcileResult.Done;
        }
    }

    private static string? Team(V1ConfigMap c) => c.Metadata.Labels is { } labels && labels.TryGetValue("team", out var team) ? team : null;
}
