using System.Text.Json;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Operator.Tests.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Runtime.Json;

namespace Syllabus.Operator.Tests.Runtime;

/// <summary>
/// What the Native AOT operator can serialise: KubernetesClient's options with only the registered source-generated
/// contexts behind them (no reflection), as the published executable has. A type the operator sends or receives that no
/// context covers fails here, naming it, instead of in a cluster.
/// </summary>
public sealed class SourceGeneratedJsonTests
{
    private static readonly JsonSerializerOptions Strict = CreateStrict();

    private static JsonSerializerOptions CreateStrict()
    {
        OperatorJson.Register();
        var options = new JsonSerializerOptions
        {
            TypeInfoResolver = KubernetesJsonMetadata.SourceGeneratedOnly(),
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };
        options.Converters.Add(new JsonStringEnumConverter<WatchEventType>());
        options.Converters.Add(new KubernetesJson.Iso8601TimeSpanConverter());
        options.Converters.Add(new KubernetesJson.KubernetesDateTimeConverter());
        options.Converters.Add(new KubernetesJson.KubernetesDateTimeOffsetConverter());
        return options;
    }

    // What the API server returns: managedFields with fieldsV1 (an untyped object), a status, owner references.
    private const string Metadata = """
        "metadata": {"name": "x", "namespace": "ns", "uid": "u1", "resourceVersion": "7", "generation": 1,
          "creationTimestamp": "2026-11-24T12:00:00Z",
          "labels": {"app.kubernetes.io/managed-by": "syllabus"},
          "ownerReferences": [{"apiVersion": "syllabus.dev/v1alpha1", "kind": "TrainingRun", "name": "x", "uid": "u0", "controller": true}],
          "managedFields": [{"manager": "syllabus-operator", "operation": "Apply", "apiVersion": "v1", "time": "2026-11-24T12:00:01Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}]}
        """;

    public static TheoryData<string, string> Kinds() => new()
    {
        { "batch/v1", "Job" }, { "v1", "Pod" }, { "v1", "ConfigMap" }, { "apps/v1", "Deployment" }, { "v1", "Service" }, { "v1", "Secret" },
        { SyllabusGroup.ApiVersion, TrainingRun.KindName }, { SyllabusGroup.ApiVersion, Curriculum.KindName },
        { SyllabusGroup.ApiVersion, ModelDeployment.KindName }, { SyllabusGroup.ApiVersion, DriftPolicy.KindName },
        { SyllabusGroup.ApiVersion, LabelingQueue.KindName },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_watched_kind_lists_watches_and_writes_back_without_reflection(string apiVersion, string kind)
    {
        var type = kind switch
        {
            "Job" => (typeof(V1Job), typeof(V1JobList), typeof(Watcher<V1Job>.WatchEvent)),
            "Pod" => (typeof(V1Pod), typeof(V1PodList), typeof(Watcher<V1Pod>.WatchEvent)),
            "ConfigMap" => (typeof(V1ConfigMap), typeof(V1ConfigMapList), typeof(Watcher<V1ConfigMap>.WatchEvent)),
            "Deployment" => (typeof(V1Deployment), typeof(V1DeploymentList), typeof(Watcher<V1Deployment>.WatchEvent)),
            "Service" => (typeof(V1Service), typeof(V1ServiceList), typeof(Watcher<V1Service>.WatchEvent)),
            "Secret" => (typeof(V1Secret), typeof(V1SecretList), typeof(Watcher<V1Secret>.WatchEvent)),
            TrainingRun.KindName => (typeof(TrainingRun), typeof(ResourceList<TrainingRun>), typeof(Watcher<TrainingRun>.WatchEvent)),
            Curriculum.KindName => (typeof(Curriculum), typeof(ResourceList<Curriculum>), typeof(Watcher<Curriculum>.WatchEvent)),
            ModelDeployment.KindName => (typeof(ModelDeployment), typeof(ResourceList<ModelDeployment>), typeof(Watcher<ModelDeployment>.WatchEvent)),
            DriftPolicy.KindName => (typeof(DriftPolicy), typeof(ResourceList<DriftPolicy>), typeof(Watcher<DriftPolicy>.WatchEvent)),
            LabelingQueue.KindName => (typeof(LabelingQueue), typeof(ResourceList<LabelingQueue>), typeof(Watcher<LabelingQueue>.WatchEvent)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var item = $$"""{"apiVersion": "{{apiVersion}}", "kind": "{{kind}}", {{Metadata}}}""";

        var obj = JsonSerializer.Deserialize(item, type.Item1, Strict)!;
        var list = JsonSerializer.Deserialize($$"""{"apiVersion": "{{apiVersion}}", "kind": "{{kind}}List", "metadata": {"resourceVersion": "9"}, "items": [{{item}}]}""", type.Item2, Strict)!;
        var watchEvent = JsonSerializer.Deserialize($$"""{"type": "MODIFIED", "object": {{item}}}""", type.Item3, Strict)!;

        // Written back (a deep copy, a create, a diff) with the untyped fieldsV1 intact.
        var written = JsonSerializer.Serialize(obj, type.Item1, Strict);
        Assert.Contains("\"f:labels\"", written, StringComparison.Ordinal);
        Assert.Contains("\"uid\":\"u1\"", JsonSerializer.Serialize(list, type.Item2, Strict), StringComparison.Ordinal);
        Assert.Contains("\"uid\":\"u1\"", JsonSerializer.Serialize(watchEvent, type.Item3, Strict), StringComparison.Ordinal);
    }

    [Fact]
    public void The_watch_machinery_and_leases_and_events_need_no_reflection()
    {
        // Every watch line is first read as a generic object, and a Status line as a Status.
        var generic = JsonSerializer.Deserialize<Watcher<KubernetesObject>.WatchEvent>("""{"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1"}}""", Strict)!;
        Assert.Equal(WatchEventType.Error, generic.Type);
        var status = JsonSerializer.Deserialize<Watcher<V1Status>.WatchEvent>("""{"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}""", Strict)!;
        Assert.Equal(410, status.Object.Code);

        // Leader election reads a Lease (with managedFields) and replaces it.
        var lease = JsonSerializer.Deserialize<V1Lease>($$$"""{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", {{{Metadata}}}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "acquireTime": "2026-11-24T12:00:00.123456Z"}}""", Strict)!;
        lease.Spec.HolderIdentity = "b";
        Assert.Contains("\"holderIdentity\":\"b\"", JsonSerializer.Serialize(lease, Strict), StringComparison.Ordinal);

        // The patches the runtime sends: a JSON text, and the Event count as a partial Event.
        Assert.Equal("""{"count":2}""", JsonSerializer.Serialize(new Corev1Event { Count = 2 }, Strict));
        Assert.NotEmpty(JsonSerializer.Serialize(new V1Patch("""{"metadata":{"finalizers":["a"]}}""", V1Patch.PatchType.MergePatch), Strict));
        Assert.Equal(
            """{"preconditions":{"uid":"u1"},"propagationPolicy":"Background"}""",
            JsonSerializer.Serialize(new V1DeleteOptions { PropagationPolicy = "Background", Preconditions = new V1Preconditions { Uid = "u1" } }, Strict));
    }

    [Fact]
    public void The_trainer_Job_and_ConfigMap_serialise_as_with_reflection()
    {
        var run = TestRuns.Run();
        var config = ResolvedConfigBuilder.Build(run, null, null);
        object[] children = [TrainerJobBuilder.Build(run, config, TestRuns.Options(), attempt: 1, activeDeadlineSeconds: 3600), TrainerJobBuilder.BuildConfigMap(run, config), run];
        foreach (var child in children)
        {
            Assert.Equal(KubernetesJson.Serialize(child), JsonSerializer.Serialize(child, child.GetType(), Strict));
        }
    }
}
