using k8s;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Runtime;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.Runtime.EndToEnd;

[Collection(ControlPlaneCollection.Name)]
public sealed class InformerRecoveryTests(ControlPlaneFixture fixture)
{
    private const int Widgets = 15;

    [Fact]
    public async Task A_watch_cut_mid_stream_resumes_without_missed_or_duplicated_reconciles()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        await using var proxy = await FaultProxy.StartAsync(fixture.Plane.ApiServerUri, ct);
        await using var harness = await Harness.StartAsync(fixture, proxy, gate: null, ct);

        await harness.WaitAllObservedAsync(1);
        var watchesBefore = proxy.TotalWatchCount;

        proxy.CutWatches();
        await harness.BumpAllAsync(); // generation 2, partly while the informer reconnects
        await harness.WaitAllObservedAsync(2);
        await harness.WaitCaughtUpAsync(); // any stray reconcile has happened by then

        Assert.True(proxy.TotalWatchCount > watchesBefore, "the informer opened a new watch after the cut");
        Assert.True(harness.Informer.WatchRestarts >= 1);
        Assert.Equal(0, harness.Informer.Relists);
        harness.AssertExactlyOneReconcilePerGeneration(2);
    }

    [Fact]
    public async Task A_410_Gone_after_compaction_relists_without_missed_or_duplicated_reconciles()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        await using var proxy = await FaultProxy.StartAsync(fixture.Plane.ApiServerUri, ct);
        var gate = new GateHandler();
        await using var harness = await Harness.StartAsync(fixture, proxy, gate, ct);
        await harness.WaitAllObservedAsync(1);

        // Disconnect the informer and keep it out while the world changes and etcd forgets the history.
        gate.Close();
        proxy.CutWatches();
        await harness.BumpAllAsync();
        await using (var direct = new DisposableClient(fixture.Plane.CreateClient()))
        {
            // Enough unrelated writes that the informer's resourceVersion is strictly older than the compaction point.
            for (var i = 0; i < 3; i++)
            {
                await direct.Client.CoreV1.CreateNamespacedConfigMapAsync(new k8s.Models.V1ConfigMap { Metadata = new() { Name = $"noise-{i}" } }, harness.Namespace, cancellationToken: ct);
            }
        }

        await fixture.Plane.CompactEtcdAsync(ct);
        gate.Open();

        await harness.WaitAllObservedAsync(2);
        await harness.WaitCaughtUpAsync();

        Assert.True(harness.Informer.Relists >= 1, "the informer re-listed after 410 Gone");
        harness.AssertExactlyOneReconcilePerGeneration(2);
    }

    /// <summary>Fails requests while closed, as a network partition would, so the informer stays disconnected.</summary>
    internal sealed class GateHandler : DelegatingHandler
    {
        private volatile bool closed;

        public void Close() => closed = true;

        public void Open() => closed = false;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            closed ? Task.FromException<HttpResponseMessage>(new HttpRequestException("partitioned by the test")) : base.SendAsync(request, cancellationToken);
    }

    private sealed class DisposableClient(IKubernetes client) : IAsyncDisposable
    {
        public IKubernetes Client => client;

        public ValueTask DisposeAsync()
        {
            client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A Widget informer and controller reading through the proxy, and a direct client for the test's own writes.</summary>
    private sealed class Harness : IAsyncDisposable
    {
        private readonly CancellationTokenSource cts = new();
        private Task running = Task.CompletedTask;

        private Harness(string ns, IKubernetes operatorClient, IKubernetes direct)
        {
            Namespace = ns;
            OperatorClient = operatorClient;
            Direct = direct;
        }

        public string Namespace { get; }

        public IKubernetes OperatorClient { get; }

        public IKubernetes Direct { get; }

        public ReconcileLog Log { get; } = new();

        public Informer<Widget> Informer { get; private set; } = null!;

        public Controller<Widget> Controller { get; private set; } = null!;

        public static async Task<Harness> StartAsync(ControlPlaneFixture fixture, FaultProxy proxy, GateHandler? gate, CancellationToken ct)
        {
            var ns = await fixture.CreateNamespaceAsync("recover");
            var config = fixture.OperatorClientConfiguration(proxy.Address);
            var operatorClient = gate is null ? new Kubernetes(config) : new Kubernetes(config, gate);
            var harness = new Harness(ns, operatorClient, fixture.Plane.CreateClient());
            for (var i = 0; i < Widgets; i++)
            {
                await harness.Direct.CustomObjects.CreateNamespacedCustomObjectAsync(Widget.New(ns, $"w{i}"), "test.syllabus.dev", "v1", ns, "widgets", cancellationToken: ct);
            }

            var factory = new InformerFactory(operatorClient, new InformerOptions
            {
                Namespaces = [ns],
                ResyncPeriod = TimeSpan.Zero,
                InitialBackoff = TimeSpan.FromMilliseconds(100),
                MaxBackoff = TimeSpan.FromSeconds(1),
            }, TimeProvider.System, NullLoggerFactory.Instance);
            harness.Informer = factory.Get<Widget>();
            var reconciler = new WidgetReconciler(new ResourceClient<Widget>(operatorClient), harness.Log, TimeProvider.System);
            harness.Controller = new Controller<Widget>(harness.Informer, reconciler, new ControllerOptions { Workers = 4 }, TimeProvider.System, NullLogger.Instance);
            harness.running = factory.RunAsync(harness.cts.Token);
            await harness.Controller.StartAsync(ct);
            return harness;
        }

        public async Task BumpAllAsync()
        {
            for (var i = 0; i < Widgets; i++)
            {
                var patch = new k8s.Models.V1Patch("{\"spec\":{\"size\":2}}", k8s.Models.V1Patch.PatchType.MergePatch);
                await Direct.CustomObjects.PatchNamespacedCustomObjectAsync(patch, "test.syllabus.dev", "v1", Namespace, "widgets", $"w{i}");
            }
        }

        public async Task WaitAllObservedAsync(long generation)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                var list = await Direct.CustomObjects.ListNamespacedCustomObjectAsync<ResourceList<Widget>>("test.syllabus.dev", "v1", Namespace, "widgets");
                var done = list.Items.Count(w => w.Metadata.Generation == generation && w.Status?.ObservedGeneration == generation);
                if (done == Widgets)
                {
                    return;
                }

                if (DateTime.UtcNow > deadline)
                {
                    Assert.Fail($"Only {done}/{Widgets} widgets observed generation {generation} after 60 s (reconciles so far: {Log.Total}).");
                }

                await Task.Delay(100);
            }
        }

        /// <summary>
        /// Waits until the informer's cache holds every widget at the server's current resourceVersion and the controller
        /// has nothing queued, in flight or scheduled: every event the watch will deliver has been handled.
        /// </summary>
        public async Task WaitCaughtUpAsync() => await Eventually.TrueAsync(async () =>
        {
            var list = await Direct.CustomObjects.ListNamespacedCustomObjectAsync<ResourceList<Widget>>("test.syllabus.dev", "v1", Namespace, "widgets");
            return list.Items.All(w => Informer.Cache.Get(new ObjectKey(Namespace, w.Metadata.Name))?.Metadata.ResourceVersion == w.Metadata.ResourceVersion)
                && Controller.Queue.Count == 0 && Controller.Queue.ProcessingCount == 0 && Controller.Queue.DelayedCount == 0;
        }, "the informer to catch up with the server and the controller to go idle", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));

        public void AssertExactlyOneReconcilePerGeneration(long finalGeneration)
        {
            for (var i = 0; i < Widgets; i++)
            {
                var key = new ObjectKey(Namespace, $"w{i}");
                Assert.Equal(1, Log.Count(key, 1));
                Assert.Equal(1, Log.Count(key, finalGeneration));
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Controller.StopAsync(CancellationToken.None);
            await cts.CancelAsync();
            await running;
            cts.Dispose();
            OperatorClient.Dispose();
            Direct.Dispose();
        }
    }
}
