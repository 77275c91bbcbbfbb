using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime.EndToEnd;

[Collection(ControlPlaneCollection.Name)]
public sealed class ResourceClientTests(ControlPlaneFixture fixture)
{
    [Fact]
    public async Task A_status_computed_from_a_stale_copy_gets_409_and_writes_nothing_and_a_fresh_one_writes_only_its_change()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("conflict");
        using var client = fixture.Plane.CreateClient();
        var widgets = new ResourceClient<Widget>(client);
        var stale = await widgets.CreateAsync(Widget.New(ns, "w"), ct);

        // Another writer changes the status first, so our copy's resourceVersion is stale.
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync<Widget>(
            new V1Patch("""{"status":{"note":"written by someone else"}}""", V1Patch.PatchType.MergePatch), "test.syllabus.dev", "v1", ns, "widgets", "w", cancellationToken: ct);

        var fromStale = new WidgetStatus { ObservedGeneration = 1 };
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => widgets.UpdateStatusAsync(stale, fromStale, ct));
        Assert.True(KubernetesErrors.IsConflict(refused), refused.ToString());
        var fresh = (await widgets.GetAsync(ns, "w", ct))!;
        Assert.Null(fresh.Status!.ObservedGeneration);
        Assert.Equal("written by someone else", fresh.Status.Note);

        // Recomputed from the fresh object: only the change is patched; the other writer's field stays.
        var status = KubernetesObjects.DeepClone(fresh.Status);
        status.ObservedGeneration = fresh.Metadata.Generation;
        var written = await widgets.UpdateStatusAsync(fresh, status, ct);
        Assert.Equal(1, written.Status!.ObservedGeneration);
        Assert.Equal("written by someone else", written.Status.Note);
        Assert.Equal(1, written.Metadata.Generation);
        var ours = Assert.Single(written.Metadata.ManagedFields, m => m.Manager == FieldManagers.Operator);
        Assert.Equal("Update", ours.Operation);
        Assert.Contains("f:observedGeneration", ours.FieldsV1.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("f:note", ours.FieldsV1.ToString(), StringComparison.Ordinal);

        // Nothing changed: no request at all.
        Assert.Same(written, await widgets.UpdateStatusAsync(written, KubernetesObjects.DeepClone(written.Status), ct));
    }

    [Fact]
    public async Task Under_a_second_writer_the_controller_requeues_conflicts_and_never_writes_a_stale_status()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("writer");
        using var direct = fixture.Plane.CreateClient();
        using var operatorClient = fixture.Plane.CreateClient();
        await direct.CustomObjects.CreateNamespacedCustomObjectAsync(Widget.New(ns, "w", size: 0), "test.syllabus.dev", "v1", ns, "widgets", cancellationToken: ct);

        // Every stored version of the widget, in order.
        var versions = new System.Collections.Concurrent.ConcurrentQueue<Widget>();
        using var watchCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watching = Task.Run(async () =>
        {
            var response = direct.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync(
                "test.syllabus.dev", "v1", ns, "widgets", watch: true, resourceVersion: "0", cancellationToken: watchCts.Token);
#pragma warning disable CS0618
            await foreach (var (_, widget) in response.WatchAsync<Widget, object>(cancellationToken: watchCts.Token))
#pragma warning restore CS0618
            {
                versions.Enqueue(widget);
            }
        }, CancellationToken.None);

        var factory = new InformerFactory(operatorClient, new InformerOptions { Namespaces = [ns], ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        var log = new ReconcileLog();
        var controller = new Controller<Widget>(factory.Get<Widget>(), new WidgetReconciler(new ResourceClient<Widget>(operatorClient), log, TimeProvider.System),
            new ControllerOptions { Workers = 2 }, TimeProvider.System, NullLogger.Instance);
        using var runCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = factory.RunAsync(runCts.Token);
        await controller.StartAsync(ct);
        var conflictsBefore = await fixture.Plane.CountApiRequestsAsync(new Dictionary<string, string> { ["resource"] = "widgets", ["subresource"] = "status", ["code"] = "409" }, ct);

        // The second writer: each round a new generation (the controller reconciles it) and its own status field, so
        // the controller's patches race it.
        const int Rounds = 60;
        for (var i = 1; i <= Rounds; i++)
        {
            await direct.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"size\":" + i + "}}", V1Patch.PatchType.MergePatch), "test.syllabus.dev", "v1", ns, "widgets", "w", cancellationToken: ct);
            await direct.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch("{\"status\":{\"note\":\"" + i + "\"}}", V1Patch.PatchType.MergePatch), "test.syllabus.dev", "v1", ns, "widgets", "w", cancellationToken: ct);
        }

        await Eventually.TrueAsync(async () => (await new ResourceClient<Widget>(direct).GetAsync(ns, "w", ct))?.Status?.ObservedGeneration == Rounds + 1,
            "the controller to observe the last generation", TimeSpan.FromSeconds(60));
        var conflicts = await fixture.Plane.CountApiRequestsAsync(new Dictionary<string, string> { ["resource"] = "widgets", ["subresource"] = "status", ["code"] = "409" }, ct) - conflictsBefore;
        await controller.StopAsync(CancellationToken.None);
        await runCts.CancelAsync();
        await running;
        await Eventually.TrueAsync(() => versions.LastOrDefault()?.Status?.ObservedGeneration == Rounds + 1, "the watch to see the final version");
        await watchCts.CancelAsync();
        await Task.WhenAny(watching, Task.Delay(TimeSpan.FromSeconds(5), ct));

        // A stale status re-applied on a fresh object would put back an older note or an older observedGeneration, or
        // a condition message of another generation than the one observed.
        var seen = versions.ToList();
        for (var i = 1; i < seen.Count; i++)
        {
            var before = seen[i - 1].Status;
            var after = seen[i].Status;
            Assert.True((after?.ObservedGeneration ?? 0) >= (before?.ObservedGeneration ?? 0), $"observedGeneration went back at version {i}");
            Assert.True(int.Parse(after?.Note ?? "0", System.Globalization.CultureInfo.InvariantCulture) >= int.Parse(before?.Note ?? "0", System.Globalization.CultureInfo.InvariantCulture), $"the other writer's note went back at version {i}");
        }

        Assert.All(seen.Where(w => w.Status?.ObservedGeneration is not null), w =>
        {
            var ready = w.Status!.Conditions.Single(c => c.Type == "Ready");
            Assert.Equal(w.Status.ObservedGeneration, ready.ObservedGeneration);
        });
        Assert.True(conflicts > 0, "the second writer forced no 409; the test proves nothing");
    }

    [Fact]
    public async Task Deleting_an_observed_object_never_deletes_a_same_named_successor()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("identity");
        using var client = fixture.Plane.CreateClient();
        var widgets = new ResourceClient<Widget>(client);
        var configMaps = new ResourceClient<V1ConfigMap>(client);
        V1ConfigMap ConfigMap() => new() { Metadata = new V1ObjectMeta { Name = "child", NamespaceProperty = ns }, Data = new Dictionary<string, string> { ["k"] = "v" } };

        // What a cache still holds after the object was deleted and another created under its name.
        var observedWidget = await widgets.CreateAsync(Widget.New(ns, "w"), ct);
        var observedMap = await configMaps.CreateAsync(ConfigMap(), ct);
        Assert.True(await widgets.DeleteAsync(ns, "w", ct));
        Assert.True(await configMaps.DeleteAsync(ns, "child", ct));
        var successorWidget = await widgets.CreateAsync(Widget.New(ns, "w"), ct);
        var successorMap = await configMaps.CreateAsync(ConfigMap(), ct);

        // The stale copies delete nothing (the UID precondition is refused); the successors stay.
        Assert.False(await widgets.DeleteAsync(observedWidget, ct));
        Assert.False(await configMaps.DeleteAsync(observedMap, ct));
        Assert.Equal(successorWidget.Metadata.Uid, (await widgets.GetAsync(ns, "w", ct))!.Metadata.Uid);
        Assert.Equal(successorMap.Metadata.Uid, (await configMaps.GetAsync(ns, "child", ct))!.Metadata.Uid);

        // The copies of the successors delete them; once gone, deleting again is false, not an error.
        Assert.True(await widgets.DeleteAsync(successorWidget, ct));
        Assert.True(await configMaps.DeleteAsync(successorMap, ct));
        Assert.Null(await configMaps.GetAsync(ns, "child", ct));
        Assert.Null(await widgets.GetAsync(ns, "w", ct)); // no finalizer: gone at once
        Assert.False(await widgets.DeleteAsync(successorWidget, ct));
    }

    [Fact]
    public async Task Crud_finalizers_and_typed_kinds_work_against_the_api()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("crud");

        // The runtime's client: built-in kinds are written through the generic custom-object API like custom ones.
        using var client = Syllabus.Runtime.Hosting.OperatorServiceCollectionExtensions.CreateClient(fixture.Plane.CreateClientConfiguration());
        var widgets = new ResourceClient<Widget>(client);
        var configMaps = new ResourceClient<V1ConfigMap>(client);

        var owner = await widgets.CreateAsync(Widget.New(ns, "owner"), ct);
        var again = await widgets.CreateOrGetAsync(Widget.New(ns, "owner", size: 9), ct); // AlreadyExists is success
        Assert.Equal(owner.Metadata.Uid, again.Metadata.Uid);

        var cm = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "child", NamespaceProperty = ns }, Data = new Dictionary<string, string> { ["k"] = "v" } };
        OwnerReferences.SetControllerReference(owner, cm);
        var created = await configMaps.CreateAsync(cm, ct);
        Assert.Equal("Widget", OwnerReferences.GetControllerOf(created)!.Kind);
        Assert.Equal("test.syllabus.dev/v1", OwnerReferences.GetControllerOf(created)!.ApiVersion);
        Assert.Single(await configMaps.ListAsync(ns, ct: ct));

        var withFinalizer = await widgets.AddFinalizerAsync(owner, "test.syllabus.dev/cleanup", ct);
        Assert.Contains("test.syllabus.dev/cleanup", withFinalizer.Metadata.Finalizers);
        Assert.Equal(owner.Metadata.Generation, withFinalizer.Metadata.Generation); // a metadata patch, not a spec write
        Assert.True(await widgets.DeleteAsync(ns, "owner", ct));
        var deleting = await widgets.GetAsync(ns, "owner", ct);
        Assert.NotNull(deleting!.Metadata.DeletionTimestamp);
        // A stale copy is refused (409), never written over the newer object; the fresh one removes the finalizer.
        Assert.True(KubernetesErrors.IsConflict(await Assert.ThrowsAnyAsync<Exception>(() => widgets.RemoveFinalizerAsync(withFinalizer, "test.syllabus.dev/cleanup", ct))));
        await widgets.RemoveFinalizerAsync(deleting, "test.syllabus.dev/cleanup", ct);
        await Eventually.TrueAsync(() => widgets.GetAsync(ns, "owner", ct).GetAwaiter().GetResult() is null, "the widget to go once its finalizer is removed");
        Assert.False(await widgets.DeleteAsync(ns, "owner", ct));
        Assert.Null(await configMaps.GetAsync(ns, "missing", ct));
    }

    [Fact]
    public async Task Server_side_apply_owns_what_it_sends_takes_it_back_from_hand_edits_and_leaves_other_fields_alone()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("apply");
        using var client = Syllabus.Runtime.Hosting.OperatorServiceCollectionExtensions.CreateClient(fixture.Plane.CreateClientConfiguration());
        using var plain = fixture.Plane.CreateClient();
        var applier = new ServerSideApplier(client, new ApplyOptions(), NullLogger<ServerSideApplier>.Instance);
        V1ConfigMap Desired() => new()
        {
            Metadata = new V1ObjectMeta { Name = "child", NamespaceProperty = ns, Labels = new Dictionary<string, string> { [ManagedObjects.Label] = "syllabus", ["role"] = "config" } },
            Data = new Dictionary<string, string> { ["k"] = "v" },
        };

        var created = await applier.ApplyAsync(Desired(), ct);
        Assert.Equal("v", created.Data["k"]);
        Assert.False(await applier.ApplyIfDriftedAsync(Desired(), created, ct)); // converged: no request

        // Someone edits a field we own and adds one of their own.
        var edited = await plain.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch("""{"metadata":{"labels":{"role":"hacked","extra":"theirs"}},"data":{"k":"changed","mine":"theirs"}}""", V1Patch.PatchType.MergePatch), "child", ns, cancellationToken: ct);
        Assert.True(await applier.ApplyIfDriftedAsync(Desired(), edited, ct));
        var converged = await plain.CoreV1.ReadNamespacedConfigMapAsync("child", ns, cancellationToken: ct);
        Assert.Equal("config", converged.Metadata.Labels["role"]);
        Assert.Equal("v", converged.Data["k"]);
        Assert.Equal("theirs", converged.Metadata.Labels["extra"]); // not ours: left alone
        Assert.Equal("theirs", converged.Data["mine"]);
        Assert.Contains(converged.Metadata.ManagedFields, m => m.Manager == "syllabus-operator" && m.Operation == "Apply");

        // Create-once: AlreadyExists is success (null), never a second object or an error.
        var job = new V1Job
        {
            Metadata = new V1ObjectMeta { Name = "once", NamespaceProperty = ns, Labels = new Dictionary<string, string> { [ManagedObjects.Label] = "syllabus" } },
            Spec = new V1JobSpec
            {
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { [ManagedObjects.Label] = "syllabus" } },
                    Spec = new V1PodSpec { RestartPolicy = "Never", Containers = [new V1Container { Name = "c", Image = "busybox" }] },
                },
            },
        };
        Assert.NotNull(await applier.CreateIfAbsentAsync(job, ct));
        Assert.Null(await applier.CreateIfAbsentAsync(job, ct));

        // Something without the managed-by label is refused before it is sent: the operator's own cache would never see it.
        var unlabelled = Desired();
        unlabelled.Metadata.Labels.Remove(ManagedObjects.Label);
        await Assert.ThrowsAsync<ArgumentException>(() => applier.ApplyAsync(unlabelled, ct));
    }

    [Fact]
    public async Task Repeated_events_are_aggregated_into_one_Event_with_a_count()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("events");
        using var client = fixture.Plane.CreateClient();
        var widget = await new ResourceClient<Widget>(client).CreateAsync(Widget.New(ns, "w"), ct);
        var recorder = new EventRecorder(client, new EventRecorderOptions { Component = "test" }, TimeProvider.System, NullLogger<EventRecorder>.Instance);

        await recorder.RecordAsync(widget, EventTypes.Normal, "Created", "made a thing", ct);
        await recorder.RecordAsync(widget, EventTypes.Normal, "Created", "made a thing", ct);
        await recorder.RecordAsync(widget, EventTypes.Normal, "Created", "made a thing", ct);
        await recorder.RecordAsync(widget, EventTypes.Warning, "Failed", "something else", ct);

        var events = (await client.CoreV1.ListNamespacedEventAsync(ns, cancellationToken: ct)).Items;
        Assert.Equal(2, events.Count);
        var created = Assert.Single(events, e => e.Reason == "Created");
        Assert.Equal(3, created.Count);
        Assert.Equal(("Widget", "w", widget.Metadata.Uid), (created.InvolvedObject.Kind, created.InvolvedObject.Name, created.InvolvedObject.Uid));
        Assert.Equal(1, Assert.Single(events, e => e.Reason == "Failed").Count);
    }
}
