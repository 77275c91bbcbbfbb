using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime.EndToEnd;

[Collection(ControlPlaneCollection.Name)]
public sealed class ResourceClientTests(ControlPlaneFixture fixture)
{
    [Fact]
    public async Task A_status_write_that_hits_a_real_409_rereads_reapplies_and_succeeds()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("conflict");
        using var client = fixture.Plane.CreateClient();
        var widgets = new ResourceClient<Widget>(client, TimeProvider.System, NullLogger<ResourceClient<Widget>>.Instance);
        var stale = await widgets.CreateAsync(Widget.New(ns, "w"), ct);

        // A concurrent writer changes the status first, so our copy's resourceVersion is stale.
        using (var other = fixture.Plane.CreateClient())
        {
            var theirs = KubernetesObjects.DeepClone(stale);
            theirs.Status = new WidgetStatus { Note = "written by someone else" };
            await other.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync<Widget>(theirs, "test.syllabus.dev", "v1", ns, "widgets", "w", cancellationToken: ct);
        }

        var applied = 0;
        var written = await widgets.UpdateStatusAsync(stale, w =>
        {
            applied++;
            w.Status ??= new WidgetStatus();
            w.Status.ObservedGeneration = w.Metadata.Generation;
        }, ct);

        Assert.Equal(1, widgets.ConflictRetries);
        Assert.Equal(2, applied);
        Assert.Equal(1, written.Status!.ObservedGeneration);
        Assert.Equal("written by someone else", written.Status.Note);
        var fresh = await widgets.GetAsync(ns, "w", ct);
        Assert.Equal(written.Metadata.ResourceVersion, fresh!.Metadata.ResourceVersion);
    }

    [Fact]
    public async Task Crud_finalizers_and_typed_kinds_work_against_the_api()
    {
        fixture.SkipIfUnavailable();
        var ct = TestContext.Current.CancellationToken;
        var ns = await fixture.CreateNamespaceAsync("crud");

        // The runtime's client: built-in kinds are written through the generic custom-object API like custom ones.
        using var client = Syllabus.Runtime.Hosting.OperatorServiceCollectionExtensions.CreateClient(fixture.Plane.CreateClientConfiguration());
        var widgets = new ResourceClient<Widget>(client, TimeProvider.System, NullLogger<ResourceClient<Widget>>.Instance);
        var configMaps = new ResourceClient<V1ConfigMap>(client, TimeProvider.System, NullLogger<ResourceClient<V1ConfigMap>>.Instance);

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
        Assert.True(await widgets.DeleteAsync(ns, "owner", ct));
        var deleting = await widgets.GetAsync(ns, "owner", ct);
        Assert.NotNull(deleting!.Metadata.DeletionTimestamp);
        await widgets.RemoveFinalizerAsync(withFinalizer, "test.syllabus.dev/cleanup", ct); // stale copy: conflict-retried
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
        var widget = await new ResourceClient<Widget>(client, TimeProvider.System, NullLogger<ResourceClient<Widget>>.Instance).CreateAsync(Widget.New(ns, "w"), ct);
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
