using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.ControlPlaneTests;

/// <summary>The real etcd + kube-apiserver: round trips, CRDs, compaction and real 410s, a proxy that cuts watches.</summary>
public sealed class ApiServerTests(ApiServerFixture fixture) : IClassFixture<ApiServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ConfigMap_round_trips_through_the_real_apiserver()
    {
        var plane = fixture.Require();
        using var client = plane.CreateClient();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "roundtrip");

        var created = await client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "settings" }, Data = new Dictionary<string, string> { ["lr"] = "3e-4" } }, ns, cancellationToken: Ct);
        var read = await client.CoreV1.ReadNamespacedConfigMapAsync("settings", ns, cancellationToken: Ct);

        Assert.Equal("3e-4", read.Data["lr"]);
        Assert.Equal(created.Metadata.Uid, read.Metadata.Uid);
        Assert.False(string.IsNullOrEmpty(read.Metadata.ResourceVersion));
        var version = await client.Version.GetCodeAsync(Ct);
        Assert.Equal("v1.20.2", version.GitVersion.Split('+')[0]);

        // The apiserver really enforces things: a second create conflicts.
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "settings" } }, ns, cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);
    }

    [Fact]
    public async Task InstallCrds_establishes_a_CRD_and_serves_its_custom_resources()
    {
        var plane = fixture.Require();
        var directory = Directory.CreateTempSubdirectory("crds-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "widgets.yaml"), """
                apiVersion: apiextensions.k8s.io/v1
                kind: CustomResourceDefinition
                metadata:
                  name: widgets.test.syllabus.dev
                spec:
                  group: test.syllabus.dev
                  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wg]}
                  scope: Namespaced
                  versions:
                  - name: v1alpha1
                    served: true
                    storage: true
                    subresources: {status: {}}
                    schema:
                      openAPIV3Schema:
                        type: object
                        properties:
                          spec:
                            type: object
                            required: [size]
                            properties:
                              size: {type: integer, minimum: 1}
                          status:
                            type: object
                            properties:
                              phase: {type: string}
                """, Ct);
            await File.WriteAllTextAsync(Path.Combine(directory, "kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [widgets.yaml]\n", Ct);

            await plane.InstallCrdsAsync(directory, Ct);
            await plane.InstallCrdsAsync(directory, Ct); // re-applying replaces, it does not fail

            using var client = plane.CreateClient();
            var ns = await TestNamespaces.NewNamespaceAsync(client, "crd");
            var widget = new Dictionary<string, object>
            {
                ["apiVersion"] = "test.syllabus.dev/v1alpha1",
                ["kind"] = "Widget",
                ["metadata"] = new Dictionary<string, object> { ["name"] = "w1" },
                ["spec"] = new Dictionary<string, object> { ["size"] = 3, ["unknownField"] = "dropped" },
            };
            await client.CustomObjects.CreateNamespacedCustomObjectAsync(widget, "test.syllabus.dev", "v1alpha1", ns, "widgets", cancellationToken: Ct);
            var read = (System.Text.Json.JsonElement)await client.CustomObjects.GetNamespacedCustomObjectAsync("test.syllabus.dev", "v1alpha1", ns, "widgets", "w1", cancellationToken: Ct);
            var spec = read.GetProperty("spec");
            Assert.Equal(3, spec.GetProperty("size").GetInt32());
            Assert.False(spec.TryGetProperty("unknownField", out _), "structural schema pruning drops unknown fields");

            // The schema is enforced by the server.
            widget["metadata"] = new Dictionary<string, object> { ["name"] = "w2" };
            widget["spec"] = new Dictionary<string, object> { ["size"] = 0 };
            var invalid = await Assert.ThrowsAsync<HttpOperationException>(() => client.CustomObjects.CreateNamespacedCustomObjectAsync(widget, "test.syllabus.dev", "v1alpha1", ns, "widgets", cancellationToken: Ct));
            Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.Response.StatusCode);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task InstallCrds_rejects_a_folder_without_CRDs()
    {
        var plane = fixture.Require();
        var directory = Directory.CreateTempSubdirectory("no-crds-").FullName;
        try
        {
            await Assert.ThrowsAsync<DirectoryNotFoundException>(() => plane.InstallCrdsAsync(Path.Combine(directory, "missing"), Ct));
            var empty = await Assert.ThrowsAsync<InvalidDataException>(() => plane.InstallCrdsAsync(directory, Ct));
            Assert.Contains("no CustomResourceDefinition", empty.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Watch_from_a_compacted_resourceVersion_gets_410_Gone()
    {
        var plane = fixture.Require();
        using var client = plane.CreateClient();
        var ns = await TestNamespaces.NewNamespaceAsync(client, "compact");
        var first = await client.CoreV1.CreateNamespacedConfigMapAsync(
            new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c" }, Data = new Dictionary<string, string> { ["n"] = "0" } }, ns, cancellationToken: Ct);
        for (var i = 1; i <= 3; i++)
        {
            var patch = new V1Patch($$$"""{"data":{"n":"{{{i}}}"}}""", V1Patch.PatchType.MergePatch);
            await client.CoreV1.PatchNamespacedConfigMapAsync(patch, "c", ns, cancellationToken: Ct);
        }

        // Before compaction the old version is still watchable: the three updates replay.
        var (before, beforeErrors) = await WatchFromAsync(client, ns, first.Metadata.ResourceVersion, untilEvents: 3);
        Assert.Empty(beforeErrors);
        Assert.Equal(3, before.Count(e => e == WatchEventType.Modified));

        await plane.CompactEtcdAsync(Ct);

        // After compaction: the apiserver answers the watch with an ERROR event carrying a 410 Status, which
        // KubernetesClient turns into a KubernetesException passed to onError (the event itself is not yielded),
        // and then closes the stream.
        var (after, afterErrors) = await WatchFromAsync(client, ns, first.Metadata.ResourceVersion, untilEvents: 1);
        Assert.Empty(after);
        var gone = Assert.IsType<KubernetesException>(Assert.Single(afterErrors));
        Assert.Equal(410, gone.Status.Code);
        Assert.True(IsGone(gone));
    }

    /// <summary>How a runtime recognises "re-list needed" on a watch.</summary>
    private static bool IsGone(Exception e) => e is KubernetesException { Status.Code: 410 };

    private static async Task<(List<WatchEventType> Events, List<Exception> Errors)> WatchFromAsync(IKubernetes client, string ns, string resourceVersion, int untilEvents)
    {
        var events = new List<WatchEventType>();
        var errors = new List<Exception>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await foreach (var (type, _) in client.CoreV1.WatchListNamespacedConfigMapAsync(
                ns, resourceVersion: resourceVersion, timeoutSeconds: 5, onError: errors.Add, cancellationToken: cts.Token))
            {
                events.Add(type);
                if (events.Count >= untilEvents)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
        }

        return (events, errors);
    }

    [Fact]
    public async Task FaultProxy_streams_watch_events_and_CutWatches_ends_the_stream()
    {
        var plane = fixture.Require();
        await using var proxy = await FaultProxy.StartAsync(plane.ApiServerUri, Ct);
        using var direct = plane.CreateClient();
        using var proxied = plane.CreateClient(proxy.Address);
        var ns = await TestNamespaces.NewNamespaceAsync(direct, "proxy");

        // Plain requests pass through.
        Assert.NotNull(await proxied.CoreV1.ReadNamespaceAsync(ns, cancellationToken: Ct));

        var seen = new List<string>();
        var watch = Task.Run(async () =>
        {
            await foreach (var (_, cm) in proxied.CoreV1.WatchListNamespacedConfigMapAsync(ns, timeoutSeconds: 120, cancellationToken: Ct))
            {
                lock (seen)
                {
                    seen.Add(cm.Metadata.Name);
                }
            }
        }, Ct);

        Assert.Equal(1, await proxy.WaitForWatchesAsync(1, TimeSpan.FromSeconds(10)));
        // A request with a body through the proxy too.
        await proxied.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "streamed" } }, ns, cancellationToken: Ct);
        await Eventually.GetAsync(() => Task.FromResult(Contains(seen, "streamed") ? "yes" : null), TimeSpan.FromSeconds(10), () => "the watch event did not stream through the proxy");

        proxy.CutWatches();

        // The client sees its stream break (an IO error from the aborted chunked response), well before the 120 s timeout.
        var ended = await Task.WhenAny(watch, Task.Delay(TimeSpan.FromSeconds(10), Ct));
        Assert.Same(watch, ended);
        var error = await Record.ExceptionAsync(() => watch);
        Assert.True(error is null or HttpRequestException or IOException, $"unexpected {error}");
        // The proxy counts the stream closed once its own copy loop has ended, a moment after the client saw the break.
        await Eventually.TrueAsync(() => proxy.ActiveWatchCount == 0, "the proxy to count the cut watch closed", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task FaultProxy_EndWatches_closes_the_stream_cleanly()
    {
        var plane = fixture.Require();
        await using var proxy = await FaultProxy.StartAsync(plane.ApiServerUri, Ct);
        using var proxied = plane.CreateClient(proxy.Address);
        var firstEvent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = Task.Run(async () =>
        {
            var count = 0;
            await foreach (var _ in proxied.CoreV1.WatchListNamespaceAsync(timeoutSeconds: 120, cancellationToken: Ct))
            {
                count++;
                firstEvent.TrySetResult();
            }

            return count;
        }, Ct);

        await proxy.WaitForWatchesAsync(1, TimeSpan.FromSeconds(10));

        // KubernetesClient reads the first line when the watch response arrives and throws EndOfStreamException
        // if the stream ends before any event, so end it only once events flow.
        await firstEvent.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        proxy.EndWatches();

        var ended = await Task.WhenAny(watch, Task.Delay(TimeSpan.FromSeconds(10), Ct));
        Assert.Same(watch, ended);
        Assert.True(await watch > 0, "the initial ADDED events for existing namespaces came through first");
        Assert.Equal(1, proxy.TotalWatchCount);
    }

    private static bool Contains(List<string> list, string value)
    {
        lock (list)
        {
            return list.Contains(value);
        }
    }
}
