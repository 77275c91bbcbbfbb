using System.Diagnostics;
using System.Net;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Syllabus.Runtime.Hosting;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime.EndToEnd;

[Collection(ControlPlaneCollection.Name)]
public sealed class HostTests(ControlPlaneFixture fixture)
{
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task The_host_serves_reconcile_metrics_in_Prometheus_text_and_its_probes()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("metrics");
        var log = new ReconcileLog();
        await using var host = await StartHostAsync(ns, log, "solo", leaderElection: false);
        using var direct = fixture.Plane.CreateClient();
        await direct.CustomObjects.CreateNamespacedCustomObjectAsync(Widget.New(ns, "w"), "test.syllabus.dev", "v1", ns, "widgets", cancellationToken: ct);
        await Eventually.TrueAsync(() => log.Count(new ObjectKey(ns, "w"), 1) == 1, "the widget reconciled", TimeSpan.FromSeconds(30));

        using var http = new HttpClient { BaseAddress = host.Address };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz", ct)).StatusCode);
        // The exporter answers from its last collection (cached briefly), so the first scrape may predate the reconcile.
        var text = await Eventually.GetAsync(
            async () =>
            {
                using var response = await http.GetAsync("/metrics", ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
                var body = await response.Content.ReadAsStringAsync(ct);
                return body.Contains("syllabus_reconcile_total{", StringComparison.Ordinal) ? body : null;
            },
            TimeSpan.FromSeconds(10),
            () => "the reconcile counter in /metrics");

        Assert.Contains("# TYPE syllabus_reconcile_total counter", text, StringComparison.Ordinal);
        Assert.Matches("""syllabus_reconcile_total\{[^}]*kind="Widget"[^}]*result="success"[^}]*\} [1-9]""", text);
        Assert.Contains("# TYPE syllabus_reconcile_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Matches("""syllabus_reconcile_duration_seconds_count\{[^}]*kind="Widget"[^}]*\} [1-9]""", text);
        Assert.Matches("""syllabus_workqueue_depth\{[^}]*kind="Widget"[^}]*\} 0""", text);
        Assert.Matches("""syllabus_workqueue_latency_seconds_bucket\{[^}]*kind="Widget""", text);
        Assert.Matches("""syllabus_objects\{[^}]*kind="Widget"[^}]*phase="Ready"[^}]*\} 1""", text);
    }

    [Fact]
    public async Task Two_instances_elect_one_leader_and_the_standby_takes_over_within_the_lease_duration()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("election");
        var log = new ReconcileLog();
        var first = await StartHostAsync(ns, log, "first", leaderElection: true);
        await using var second = await StartHostAsync(ns, log, "second", leaderElection: true);
        try
        {
            await Eventually.TrueAsync(() => first.Status.IsLeader || second.Status.IsLeader, "a leader", TimeSpan.FromSeconds(30));
            var expected = first.Status.IsLeader ? first.Identity : second.Identity;
            await Eventually.TrueAsync(() => first.Status.Leader == expected && second.Status.Leader == expected, "both instances to observe the leader", TimeSpan.FromSeconds(30));
            Assert.True(first.Status.IsLeader ^ second.Status.IsLeader, "exactly one instance leads");
            var (leader, standby) = first.Status.IsLeader ? (first, second) : (second, first);

            using var http = new HttpClient { BaseAddress = standby.Address };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz", ct)).StatusCode); // standing by is ready

            using var direct = fixture.Plane.CreateClient();
            await direct.CustomObjects.CreateNamespacedCustomObjectAsync(Widget.New(ns, "before"), "test.syllabus.dev", "v1", ns, "widgets", cancellationToken: ct);
            await Eventually.TrueAsync(() => log.Count(new ObjectKey(ns, "before"), 1) == 1, "the leader reconciles", TimeSpan.FromSeconds(30));
            Assert.All(log.Reconcilers, r => Assert.Equal(leader.Identity, r));

            var stopwatch = Stopwatch.StartNew();
            await leader.DisposeAsync();
            await Eventually.TrueAsync(() => standby.Status.IsLeader, "the standby to take over", LeaseDuration + TimeSpan.FromSeconds(10));
            var takeover = stopwatch.Elapsed;
            Assert.True(takeover <= LeaseDuration, $"took over after {takeover}, lease duration {LeaseDuration}");

            var lease = await direct.CoordinationV1.ReadNamespacedLeaseAsync("syllabus-operator", ns, cancellationToken: ct);
            Assert.Equal(standby.Identity, lease.Spec.HolderIdentity);

            await direct.CustomObjects.CreateNamespacedCustomObjectAsync(Widget.New(ns, "after"), "test.syllabus.dev", "v1", ns, "widgets", cancellationToken: ct);
            await Eventually.TrueAsync(() => log.Count(new ObjectKey(ns, "after"), 1) == 1, "the new leader reconciles", TimeSpan.FromSeconds(30));
            Assert.Equal(standby.Identity, log.Reconcilers.Last());
        }
        finally
        {
            await first.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_leader_whose_lease_is_taken_cancels_its_in_flight_reconcile_refuses_its_writes_and_stops()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("lost");
        var blocking = new BlockingWidgetReconciler();
        await using var host = await StartHostAsync(ns, new ReconcileLog(), "holder", leaderElection: true, blocking);
        await Eventually.TrueAsync(() => host.Status.IsLeader, "the instance to lead", TimeSpan.FromSeconds(30));
        using var direct = fixture.Plane.CreateClient();
        await direct.CustomObjects.CreateNamespacedCustomObjectAsync(Widget.New(ns, "busy"), "test.syllabus.dev", "v1", ns, "widgets", cancellationToken: ct);
        await blocking.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);

        // Another holder takes the lease (as a standby does once a lease expires): the next renewal sees it.
        var lease = await direct.CoordinationV1.ReadNamespacedLeaseAsync("syllabus-operator", ns, cancellationToken: ct);
        lease.Spec.HolderIdentity = "intruder";
        lease.Spec.RenewTime = DateTime.UtcNow;
        lease.Spec.LeaseDurationSeconds = 60;
        await direct.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "syllabus-operator", ns, cancellationToken: ct);

        var outcome = await blocking.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(30), ct);
        Assert.True(outcome.WriteRefused, $"a write after losing the lease was not refused by the fence: {outcome.WriteError}");
        await Eventually.TrueAsync(() => host.Lifetime.ApplicationStopping.IsCancellationRequested, "the host to stop", TimeSpan.FromSeconds(30));
        Assert.True(host.Status.LeaseLost);
        Assert.False(host.Status.IsLeader);
        var after = await direct.CoordinationV1.ReadNamespacedLeaseAsync("syllabus-operator", ns, cancellationToken: ct);
        Assert.Equal("intruder", after.Spec.HolderIdentity); // a lost lease is not "released" over the new holder
    }

    /// <summary>Blocks in its first reconcile until cancelled, then tries a status write without a token.</summary>
    private sealed class BlockingWidgetReconciler : IReconciler<Widget>
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<(bool WriteRefused, string? WriteError)> Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IResourceClient<Widget>? Widgets { get; set; }

        public async Task<ReconcileResult> ReconcileAsync(Widget resource, CancellationToken ct)
        {
            Entered.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                try
                {
                    await Widgets!.UpdateStatusAsync(resource, new WidgetStatus { Note = "written after the lease was lost" }, CancellationToken.None);
                    Cancelled.TrySetResult((false, "the write went through"));
                }
                catch (Exception e)
                {
                    // HttpClient may wrap what a handler throws; the fence's exception must be in the chain.
                    var refused = false;
                    for (var inner = e; inner is not null; inner = inner.InnerException)
                    {
                        refused |= inner is LeaseLostException;
                    }

                    Cancelled.TrySetResult((refused, e.ToString()));
                }

                throw;
            }

            return ReconcileResult.Done;
        }
    }

    [Fact]
    public async Task The_host_runs_with_no_controllers_registered_and_becomes_ready()
    {
        fixture.SkipIfUnavailable();
        var ns = await fixture.CreateNamespaceAsync("idle");
        var builder = OperatorHost.CreateBuilder(
            ["--Operator:ProbePort=0", $"--Operator:LeaderElection:LeaseNamespace={ns}", "--Logging:LogLevel:Default=Warning"],
            b => b.Services.AddSingleton(fixture.OperatorClientConfiguration()));
        await using var app = builder.Build();
        app.MapOperatorEndpoints();
        await app.StartAsync(TestContext.Current.CancellationToken);
        var status = app.Services.GetRequiredService<OperatorStatus>();
        await Eventually.TrueAsync(() => status.IsLeader && status.CachesSynced, "leading with (no) caches synced", TimeSpan.FromSeconds(30));
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First().Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)) };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/metrics", TestContext.Current.CancellationToken)).StatusCode);
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task A_kind_whose_CRD_is_missing_fails_the_start_after_CacheSyncTimeout_naming_it()
    {
        var ns = await fixture.CreateNamespaceAsync("nocrd");
        var builder = OperatorHost.CreateBuilder(
            ["--Operator:ProbePort=0", $"--Operator:Namespaces:0={ns}", "--Operator:LeaderElection:Enabled=false", "--Operator:CacheSyncTimeout=00:00:02", "--Logging:LogLevel:Default=Warning"],
            b =>
            {
                b.Services.AddSingleton(fixture.OperatorClientConfiguration());
                b.Services.AddController<Gadget, GadgetReconciler>();
            });
        await using var app = builder.Build();
        app.MapOperatorEndpoints();
        var stopping = new TaskCompletionSource();
        app.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        await app.StartAsync(TestContext.Current.CancellationToken);

        // The manager gives up, reports the fault (and /healthz fails on it), and the host stops: the pod restarts.
        await stopping.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        var fault = app.Services.GetRequiredService<OperatorStatus>().Fault;
        Assert.NotNull(fault);
        Assert.Contains("the caches of Gadget did not sync within Operator:CacheSyncTimeout (00:00:02)", fault, StringComparison.Ordinal);
    }

    /// <summary>A kind the API server does not serve (no CRD): its informer can never list.</summary>
    [KubernetesEntity(Group = "test.syllabus.dev", ApiVersion = "v1", Kind = "Gadget", PluralName = "gadgets")]
    public sealed class Gadget : IKubernetesObject<V1ObjectMeta>
    {
        public string ApiVersion { get; set; } = "test.syllabus.dev/v1";

        public string Kind { get; set; } = "Gadget";

        public V1ObjectMeta Metadata { get; set; } = new();
    }

    private sealed class GadgetReconciler : IReconciler<Gadget>
    {
        public Task<ReconcileResult> ReconcileAsync(Gadget resource, CancellationToken ct) => Task.FromResult(ReconcileResult.Done);
    }

    [Fact]
    public async Task Invalid_options_fail_start_up_with_a_message_naming_the_setting()
    {
        var builder = OperatorHost.CreateBuilder(
            ["--Operator:ProbePort=0", "--Operator:ClientQps=0", "--Operator:LeaderElection:RenewDeadline=00:01:00", "--Operator:Namespaces:0=Not_A_Namespace"],
            b => b.Services.AddSingleton(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" }));
        await using var app = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(TestContext.Current.CancellationToken));
        var message = string.Join("\n", e.Failures);
        Assert.Contains("ClientQps", message, StringComparison.Ordinal);
        Assert.Contains("RenewDeadline", message, StringComparison.Ordinal);
        Assert.Contains("Not_A_Namespace", message, StringComparison.Ordinal);
    }

    private async Task<RunningHost> StartHostAsync(string ns, ReconcileLog log, string identity, bool leaderElection, BlockingWidgetReconciler? blocking = null)
    {
        var config = fixture.OperatorClientConfiguration();
        var builder = OperatorHost.CreateBuilder(
            [
                "--Operator:ProbePort=0",
                $"--Operator:Namespaces:0={ns}",
                $"--Operator:LeaderElection:Enabled={leaderElection}",
                $"--Operator:LeaderElection:LeaseNamespace={ns}",
                $"--Operator:LeaderElection:Identity={identity}",
                $"--Operator:LeaderElection:LeaseDuration={LeaseDuration}",
                "--Operator:LeaderElection:RenewDeadline=00:00:04",
                "--Operator:LeaderElection:RetryPeriod=00:00:00.500",
                "--Logging:LogLevel:Default=Warning",
            ],
            b =>
            {
                b.Services.AddSingleton(config);
                b.Services.AddSingleton(log);
                if (blocking is not null)
                {
                    b.Services.AddController<Widget, BlockingWidgetReconciler>();
                    b.Services.AddSingleton(sp =>
                    {
                        blocking.Widgets = sp.GetRequiredService<IResourceClient<Widget>>();
                        return blocking;
                    });
                    return;
                }

                b.Services.AddController<Widget, WidgetReconciler>();
                b.Services.AddSingleton(sp => new WidgetReconciler(
                    sp.GetRequiredService<IResourceClient<Widget>>(), log, TimeProvider.System, sp.GetRequiredService<OperatorMetrics>(), identity));
            });
        var app = builder.Build();
        app.MapOperatorEndpoints();
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = new Uri(app.Urls.First().Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        return new RunningHost(app, address, app.Services.GetRequiredService<OperatorStatus>(), identity, app.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>());
    }

    private sealed class RunningHost(WebApplication app, Uri address, OperatorStatus status, string identity, Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime) : IAsyncDisposable
    {
        private int disposed;

        public Uri Address => address;

        public OperatorStatus Status => status;

        public string Identity => identity;

        public Microsoft.Extensions.Hosting.IHostApplicationLifetime Lifetime => lifetime;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
            {
                await app.StopAsync(CancellationToken.None);
                await app.DisposeAsync();
            }
        }
    }
}
