using System.Text.Json.Nodes;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.Runtime;

public sealed class CacheTests
{
    [Fact]
    public void Indexes_follow_updates_and_deletes_and_filter_by_namespace()
    {
        var cache = new ResourceCache<V1ConfigMap>();
        cache.Upsert(Cm("a", "ns1", team: "red"));
        cache.AddIndex("team", c => [Team(c)]); // indexes what is already cached
        cache.Upsert(Cm("b", "ns1", team: "red"));
        cache.Upsert(Cm("c", "ns2", team: "red"));
        cache.Upsert(Cm("d", "ns1"));

        Assert.Equal(["a", "b", "c"], Names(cache.ByIndex("team", "red")));
        Assert.Equal(["a", "b"], Names(cache.ByIndex("team", "red", "ns1")));

        cache.Upsert(Cm("a", "ns1", team: "blue"));
        Assert.Equal(["b", "c"], Names(cache.ByIndex("team", "red")));
        Assert.Equal(["a"], Names(cache.ByIndex("team", "blue")));

        cache.Remove(new ObjectKey("ns1", "b"));
        Assert.Equal(["c"], Names(cache.ByIndex("team", "red")));
        Assert.Empty(cache.ByIndex("team", "green"));

        var error = Assert.Throws<ArgumentException>(() => cache.ByIndex("colour", "red"));
        Assert.Contains("no index 'colour'", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => cache.AddIndex("team", c => [c.Metadata.Name]));
    }

    [Fact]
    public void Every_cache_indexes_objects_by_their_controllers_uid()
    {
        var cache = new ResourceCache<V1Job>();
        var owner = new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "owner", NamespaceProperty = "ns", Uid = "uid-1" } };
        var child = new V1Job { Metadata = new V1ObjectMeta { Name = "child", NamespaceProperty = "ns" } };
        OwnerReferences.SetControllerReference(owner, child);
        cache.Upsert(child);
        cache.Upsert(new V1Job { Metadata = new V1ObjectMeta { Name = "orphan", NamespaceProperty = "ns" } });

        Assert.Equal(["child"], cache.ByIndex(CacheIndexes.ControllerUid, "uid-1").Select(j => j.Metadata.Name));
    }

    [Fact]
    public void Reader_lists_by_label_selector_and_hands_out_copies()
    {
        var cache = new ResourceCache<V1ConfigMap>();
        cache.Upsert(Cm("a", "ns", team: "red", tier: "gold"));
        cache.Upsert(Cm("b", "ns", team: "blue"));
        cache.Upsert(Cm("c", "other", team: "red"));
        var reader = CacheReader<V1ConfigMap>.Over(cache);

        Assert.Equal(["a"], Names(reader.List("ns", "team=red")));
        Assert.Equal(["a", "c"], Names(reader.List(null, "team in (red, green),!missing")));
        Assert.Equal(["b"], Names(reader.List("ns", "team!=red")));
        Assert.Equal(["a"], Names(reader.List(null, "tier")));
        Assert.Equal(["b", "c"], Names(reader.List(null, "team notin (x),!tier")));

        var copy = reader.Get("ns", "a")!;
        copy.Metadata.Labels["team"] = "changed";
        Assert.Equal("red", cache.Get("ns", "a")!.Metadata.Labels["team"]);
        Assert.True(reader.Contains("ns", "a"));
        Assert.False(reader.Contains("ns", "a", uid: "another"));
    }

    [Theory]
    [InlineData("team in (red")]
    [InlineData("team = red = blue")]
    [InlineData("te am=red")]
    [InlineData("team=red!")]
    public void Malformed_selectors_are_rejected_naming_the_part(string selector)
    {
        var error = Assert.Throws<FormatException>(() => LabelSelector.Parse(selector));
        Assert.Contains(selector, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Expectations_hold_until_observed_or_lapsed()
    {
        var time = new FakeTimeProvider();
        var expectations = new Expectations<V1ConfigMap>(time);
        var owner = new ObjectKey("ns", "owner");
        var seen = false;
        Assert.True(expectations.IsSatisfied(owner, out _, out _));

        expectations.Expect(owner, "Job ns/child", () => seen);
        Assert.False(expectations.IsSatisfied(owner, out var wait, out var what));
        Assert.Equal(Expectations<V1ConfigMap>.Timeout, wait);
        Assert.Equal("Job ns/child", what);

        seen = true;
        Assert.True(expectations.IsSatisfied(owner, out _, out _));

        expectations.Expect(owner, "Job ns/never", () => false);
        time.Advance(Expectations<V1ConfigMap>.Timeout);
        Assert.True(expectations.IsSatisfied(owner, out _, out _)); // lapsed: a lost event cannot wedge the owner
    }

    [Fact]
    public void The_apply_configuration_is_the_desired_object_without_status_or_server_fields_and_requires_the_managed_label()
    {
        var applier = new ServerSideApplier(new k8s.Kubernetes(new k8s.KubernetesClientConfiguration { Host = "http://127.0.0.1:1" }), new ApplyOptions(), NullLogger<ServerSideApplier>.Instance);
        var job = new V1Job
        {
            Metadata = new V1ObjectMeta { Name = "j", NamespaceProperty = "ns", ResourceVersion = "7", Uid = "u", Labels = new Dictionary<string, string> { [ManagedObjects.Label] = "syllabus" } },
            Spec = new V1JobSpec { Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = new Dictionary<string, string> { [ManagedObjects.Label] = "syllabus" } }, Spec = new V1PodSpec() } },
            Status = new V1JobStatus { Active = 1 },
        };

        var body = applier.ApplyConfiguration(job);
        Assert.Equal("batch/v1", (string?)body["apiVersion"]);
        Assert.Equal("Job", (string?)body["kind"]);
        Assert.Null(body["status"]);
        Assert.Null(body["metadata"]!["resourceVersion"]);
        Assert.Null(body["metadata"]!["uid"]);

        job.Spec.Template.Metadata.Labels.Clear();
        var error = Assert.Throws<ArgumentException>(() => applier.ApplyConfiguration(job));
        Assert.Contains("pod template of Job ns/j", error.Message, StringComparison.Ordinal);
        Assert.Contains("app.kubernetes.io/managed-by=syllabus", error.Message, StringComparison.Ordinal);

        job.Metadata.Labels.Clear();
        Assert.Throws<ArgumentException>(() => applier.ApplyConfiguration(job));
    }

    [Fact]
    public void A_child_holding_every_desired_field_is_not_drifted_whatever_the_server_added()
    {
        var desired = JsonNode.Parse("""{"metadata":{"name":"c","labels":{"a":"1"}},"data":{"k":"v"},"list":[{"x":1}]}""");
        var observed = JsonNode.Parse("""{"metadata":{"name":"c","uid":"u","labels":{"a":"1","other":"2"}},"data":{"k":"v"},"list":[{"x":1,"default":true}]}""");
        Assert.True(JsonSubset.IsSubset(desired, observed));
        Assert.False(JsonSubset.IsSubset(desired, JsonNode.Parse("""{"metadata":{"name":"c","labels":{"a":"2"}},"data":{"k":"v"},"list":[{"x":1}]}""")));
        Assert.False(JsonSubset.IsSubset(desired, JsonNode.Parse("""{"metadata":{"name":"c","labels":{"a":"1"}},"data":{"k":"v"},"list":[{"x":1},{"x":2}]}""")));
        Assert.False(JsonSubset.IsSubset(desired, JsonNode.Parse("""{"metadata":{"name":"c"},"data":{"k":"v"},"list":[{"x":1}]}""")));
    }

    [Fact]
    public async Task Core_group_custom_object_paths_are_sent_to_api_v1()
    {
        var seen = new List<Uri>();
        using var handler = new CoreApiPathHandler { InnerHandler = new Recorder(seen) };
        using var invoker = new HttpMessageInvoker(handler);
        using var core = new HttpRequestMessage(HttpMethod.Patch, "https://k8s:6443/apis//v1/namespaces/ns/configmaps/c?fieldManager=m&force=true");
        using var grouped = new HttpRequestMessage(HttpMethod.Patch, "https://k8s:6443/apis/batch/v1/namespaces/ns/jobs/j");
        (await invoker.SendAsync(core, TestContext.Current.CancellationToken)).Dispose();
        (await invoker.SendAsync(grouped, TestContext.Current.CancellationToken)).Dispose();
        Assert.Equal("https://k8s:6443/api/v1/namespaces/ns/configmaps/c?fieldManager=m&force=true", seen[0].ToString());
        Assert.Equal("https://k8s:6443/apis/batch/v1/namespaces/ns/jobs/j", seen[1].ToString());
    }

    private static IEnumerable<string> Names(IEnumerable<V1ConfigMap> items) => items.Select(c => c.Metadata.Name).Order(StringComparer.Ordinal);

    private static V1ConfigMap Cm(string name, string ns, string? team = null, string? tier = null)
    {
        var labels = new Dictionary<string, string>();
        if (team is not null)
        {
            labels["team"] = team;
        }

        if (tier is not null)
        {
            labels["tier"] = tier;
        }

        return new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns, ResourceVersion = "1", Labels = labels } };
    }

    private sealed class Recorder(List<Uri> seen) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            seen.Add(request.RequestUri!);
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK));
        }
    }

    private static string? Team(V1ConfigMap c) => c.Metadata.Labels is { } labels && labels.TryGetValue("team", out var team) ? team : null;
}
