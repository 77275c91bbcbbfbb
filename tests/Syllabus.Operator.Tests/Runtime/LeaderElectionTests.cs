using k8s;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Syllabus.Runtime.Hosting;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class LeaderElectionTests
{
    private static readonly TimeSpan RenewDeadline = TimeSpan.FromSeconds(10);

    [Fact]
    public void The_fence_is_held_until_the_renew_deadline_after_the_last_renewal_started_then_lost_for_good()
    {
        var time = new FakeTimeProvider();
        var fence = new LeaseFence(time, RenewDeadline);
        var reasons = new List<string>();
        fence.Lost += reasons.Add;
        Assert.False(fence.IsHeld); // never renewed: not leading

        fence.Renewed(time.GetTimestamp());
        time.Advance(RenewDeadline - TimeSpan.FromMilliseconds(1));
        Assert.True(fence.IsHeld);
        fence.Renewed(time.GetTimestamp());
        time.Advance(RenewDeadline - TimeSpan.FromMilliseconds(1));
        Assert.True(fence.IsHeld, "each renewal extends the fence");

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(fence.IsHeld);
        Assert.True(fence.IsLost);
        Assert.False(fence.IsHeld);
        var reason = Assert.Single(reasons);
        Assert.Contains("renew deadline", reason, StringComparison.Ordinal);

        fence.Renewed(time.GetTimestamp()); // a late renewal does not reopen it: the process restarts instead
        Assert.False(fence.IsHeld);
        Assert.Single(reasons);
    }

    [Fact]
    public void A_renewal_counts_from_when_it_started_not_when_it_returned()
    {
        var time = new FakeTimeProvider();
        var fence = new LeaseFence(time, RenewDeadline);
        var started = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(8)); // a slow renewal request
        fence.Renewed(started);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(fence.IsHeld);
    }

    [Fact]
    public void Another_holder_seen_closes_the_fence_at_once()
    {
        var time = new FakeTimeProvider();
        var fence = new LeaseFence(time, RenewDeadline);
        var reasons = new List<string>();
        fence.Lost += reasons.Add;
        fence.MarkLost("held by someone"); // not leading yet: nothing to lose
        Assert.Empty(reasons);

        fence.Renewed(time.GetTimestamp());
        fence.MarkLost("the lease is now held by other");
        Assert.False(fence.IsHeld);
        Assert.Equal(["the lease is now held by other"], reasons);
    }

    [Fact]
    public async Task The_write_fence_refuses_writes_but_not_reads_once_the_lease_is_lost()
    {
        var time = new FakeTimeProvider();
        var fence = new LeaseFence(time, RenewDeadline);
        fence.Renewed(time.GetTimestamp());
        var terminal = new CountingHandler();
        var handler = LeaderWriteFenceHandler.ForReconciles(fence);
        handler.InnerHandler = terminal;
        using var invoker = new HttpMessageInvoker(handler);
        var ct = TestContext.Current.CancellationToken;

        using (await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Put, "http://api/x"), ct))
        {
        }

        fence.MarkLost("taken");
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Patch, HttpMethod.Delete })
        {
            await Assert.ThrowsAsync<LeaseLostException>(() => invoker.SendAsync(new HttpRequestMessage(method, "http://api/x"), ct));
        }

        using (await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://api/x"), ct))
        {
        }

        Assert.Equal(2, terminal.Count); // the first PUT and the GET reached the wire; the four writes did not
    }

    [Fact]
    public async Task The_lease_client_acquires_and_renews_freely_but_sends_no_lease_write_once_past_the_renew_deadline()
    {
        var time = new FakeTimeProvider();
        var fence = new LeaseFence(time, RenewDeadline);
        var terminal = new CountingHandler();
        var handler = LeaderWriteFenceHandler.ForLease(fence);
        handler.InnerHandler = terminal;
        using var invoker = new HttpMessageInvoker(handler);
        var ct = TestContext.Current.CancellationToken;

        using (await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Post, "http://api/leases"), ct)) // acquiring: not held yet
        {
        }

        fence.Renewed(time.GetTimestamp());
        time.Advance(RenewDeadline - TimeSpan.FromMilliseconds(1));
        using (await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Put, "http://api/leases/l"), ct)) // renewing in time
        {
        }

        // Frozen (SIGSTOP) between the read and the update of a renewal: on waking, the update must not leave.
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Assert.ThrowsAsync<LeaseLostException>(() => invoker.SendAsync(new HttpRequestMessage(HttpMethod.Put, "http://api/leases/l"), ct));
        Assert.True(fence.IsLost);
        using (await invoker.SendAsync(new HttpRequestMessage(HttpMethod.Get, "http://api/leases/l"), ct))
        {
        }

        Assert.Equal(3, terminal.Count); // the POST, the timely PUT and the GET; not the late PUT
    }

    [Fact]
    public async Task The_operators_lease_client_is_fenced_once_past_the_renew_deadline()
    {
        var time = new FakeTimeProvider();
        var methods = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(time);
        services.AddSingleton(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" });
        services.AddKubernetesClientHandler(_ => new StubApiServer(methods));
        services.AddSyllabusOperator(new ConfigurationBuilder().Build());
        await using var provider = services.BuildServiceProvider();
        var ct = TestContext.Current.CancellationToken;
        var fence = provider.GetRequiredService<LeaseFence>();
        var leaseClient = provider.GetRequiredService<LeaderElectionClient>().Client;
        var lease = new k8s.Models.V1Lease { Metadata = new k8s.Models.V1ObjectMeta { Name = "syllabus-operator", NamespaceProperty = "ns" } };

        fence.Renewed(time.GetTimestamp());
        await leaseClient.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "syllabus-operator", "ns", cancellationToken: ct);
        time.Advance(TimeSpan.FromSeconds(10)); // the default renew deadline
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leaseClient.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, "syllabus-operator", "ns", cancellationToken: ct));
        await leaseClient.CoordinationV1.ReadNamespacedLeaseAsync("syllabus-operator", "ns", cancellationToken: ct);

        Assert.Equal(["PUT", "GET"], methods); // the late PUT never reached the wire
    }

    [Fact]
    public async Task A_renewal_past_the_renew_deadline_reports_failure_without_writing_the_lease()
    {
        var time = new FakeTimeProvider();
        var fence = new LeaseFence(time, RenewDeadline);
        var inner = new RecordingLock();
        var fenced = new FencedLock(inner, fence);
        var ct = TestContext.Current.CancellationToken;
        var record = new k8s.LeaderElection.LeaderElectionRecord { HolderIdentity = inner.Identity };

        Assert.True(await fenced.CreateAsync(record, ct));
        Assert.True(fence.IsHeld);
        time.Advance(RenewDeadline);
        Assert.False(await fenced.UpdateAsync(record, ct));
        Assert.False(await fenced.CreateAsync(record, ct));
        Assert.Equal(1, inner.Writes); // only the first create reached the lock
        Assert.True(fence.IsLost);
    }

    [Fact]
    public async Task Lease_renewals_use_their_own_client_which_the_client_side_rate_limiter_does_not_hold_back()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(new KubernetesClientConfiguration { Host = "http://127.0.0.1:1" });
        services.AddKubernetesClientHandler(_ => new StubApiServer());
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Operator:ClientQps"] = "0.1", // one token per 10 s
            ["Operator:ClientBurst"] = "1",
        }).Build();
        services.AddSyllabusOperator(configuration);
        await using var provider = services.BuildServiceProvider();
        var ct = TestContext.Current.CancellationToken;

        var reconcileClient = provider.GetRequiredService<IKubernetes>();
        var leaseClient = provider.GetRequiredService<LeaderElectionClient>().Client;
        Assert.NotSame(reconcileClient, leaseClient);

        await reconcileClient.CoreV1.ReadNamespacedConfigMapAsync("a", "ns", cancellationToken: ct); // spends the burst
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var queued = reconcileClient.CoreV1.ReadNamespacedConfigMapAsync("b", "ns", cancellationToken: stop.Token);

        // The reconcile client's next request waits for a token; lease requests go out meanwhile, as many as needed.
        for (var i = 0; i < 5; i++)
        {
            await leaseClient.CoordinationV1.ReadNamespacedLeaseAsync("syllabus-operator", "ns", cancellationToken: ct);
        }

        Assert.False(queued.IsCompleted, "the rate limiter should still hold the reconcile client's second request");
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
    }

    /// <summary>Answers every request with an empty object, in place of the network (the innermost handler).</summary>
    private sealed class StubApiServer(System.Collections.Concurrent.ConcurrentQueue<string>? methods = null) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            methods?.Enqueue(request.Method.Method);
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK)
            {
                RequestMessage = request,
                Content = new StringContent("""{"metadata":{"name":"stub"}}""", System.Text.Encoding.UTF8, "application/json"),
            });
        }
    }

    private sealed class RecordingLock : k8s.LeaderElection.ILock
    {
        public int Writes { get; private set; }

        public string Identity => "me";

        public string Describe() => "recording lock";

        public Task<k8s.LeaderElection.LeaderElectionRecord> GetAsync(CancellationToken cancellationToken = default) =>
            Task.FromResult(new k8s.LeaderElection.LeaderElectionRecord { HolderIdentity = Identity });

        public Task<bool> CreateAsync(k8s.LeaderElection.LeaderElectionRecord record, CancellationToken cancellationToken = default)
        {
            Writes++;
            return Task.FromResult(true);
        }

        public Task<bool> UpdateAsync(k8s.LeaderElection.LeaderElectionRecord record, CancellationToken cancellationToken = default)
        {
            Writes++;
            return Task.FromResult(true);
        }
    }

    private sealed class CountingHandler : HttpMessageHandler
    {
        public int Count { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Count++;
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }
}
