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
        var widgets = new ResourceClient<Widget>(client);
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
        using var client = fixture.Plane.CreateClient();
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
        Assert.True(await widgets.DeleteAsync(ns, "owner", ct));
        var deleting = await widgets.GetAsync(ns, "owner", ct);
        Assert.NotNull(deleting!.Metadata.DeletionTimestamp);
        await widgets.RemoveFinalizerAsync(withFinalizer, "test.syllabus.dev/cleanup", ct); // stale copy: conflict-retried
        await Eventually.TrueAsync(() => widgets.GetAsync(ns, "owner", ct).GetAwaiter().GetResult() is null, "the widget to go once its finalizer is removed");
        Assert.False(await widgets.DeleteAsync(ns, "owner", ct));
        Assert.Null(await configMaps.GetAsync(ns, "missing", ct));
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
