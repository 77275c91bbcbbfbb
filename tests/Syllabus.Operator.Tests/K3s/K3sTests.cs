using Syllabus.Testing;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Operator.Tests.TrainingRuns;

namespace Syllabus.Operator.Tests.K3s;

/// <summary>The real-cluster tier: the generated CRDs and the operator on k3s (skipped without Docker).</summary>
public sealed class K3sTests(K3sCluster cluster) : IClassFixture<K3sCluster>
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task The_crds_enforce_their_cel_rules_on_a_real_server()
    {
        cluster.Require();
        var ct = TestContext.Current.CancellationToken;
        var ns = await cluster.NewNamespaceAsync("cel");
        using var client = cluster.CreateClient();
        var runs = new ResourceClient<TrainingRun>(client);

        var valid = Load<TrainingRun>("examples/cluster/trainingrun-mnist-mlp.yaml");
        valid.Metadata = new V1ObjectMeta { Name = "valid", NamespaceProperty = ns };
        await runs.CreateAsync(valid, ct);

        var invalid = Load<TrainingRun>("examples/cluster/trainingrun-mnist-mlp.yaml");
        invalid.Metadata = new V1ObjectMeta { Name = "both-bounds", NamespaceProperty = ns };
        invalid.Spec.Gates = [new Gate { Metric = "accuracy", AtLeast = 0.9, AtMost = 0.99 }];
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => runs.CreateAsync(invalid, ct));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, error.Response.StatusCode);
        Assert.Contains("a gate needs exactly one of atLeast or atMost", error.Response.Content, StringComparison.Ordinal);
        Assert.Contains("spec.gates[0]", error.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_operator_validates_a_curriculum_and_a_gpu_run_waits_Unschedulable_on_a_cluster_without_gpus()
    {
        cluster.Require();
        var ct = TestContext.Current.CancellationToken;
        var ns = await cluster.NewNamespaceAsync("op");
        await using var running = await cluster.StartOperatorAsync(ns);
        using var client = cluster.CreateClient();
        var curricula = new ResourceClient<Curriculum>(client);
        var runs = new ResourceClient<TrainingRun>(client);

        var curriculum = Load<Curriculum>("examples/curriculum-mnist-pacing.yaml");
        curriculum.Metadata.NamespaceProperty = ns;
        await curricula.CreateAsync(curriculum, ct);

        var run = Load<TrainingRun>("examples/cluster/trainingrun-mnist-mlp.yaml");
        run.Metadata.NamespaceProperty = ns;
        run.Spec.Resources!.Gpus = 1;
        run.Spec.CurriculumRef = new LocalObjectReference { Name = curriculum.Metadata.Name };
        await runs.CreateAsync(run, ct);

        await Eventually.TrueAsync(async () => (await curricula.GetAsync(ns, curriculum.Metadata.Name, ct))?.Status is { } s &&
            s.Conditions?.Any(c => c.Type == ConditionTypes.Valid && c.Status == "True") == true && s.UsedByCount == 1,
            "the Curriculum to be Valid and used by the run", Patience);

        await Eventually.TrueAsync(async () => (await runs.GetAsync(ns, run.Metadata.Name, ct))?.Status is { } s &&
            s.Phase == TrainingRunPhases.Pending &&
            s.Conditions?.Any(c => c.Type == ConditionTypes.Scheduled && c.Status == "False" && c.Reason == "Unschedulable") == true,
            "the run to be Pending with Scheduled=False Unschedulable", Patience);

        var jobs = await client.BatchV1.ListNamespacedJobAsync(ns, cancellationToken: ct);
        var job = Assert.Single(jobs.Items);
        var limits = job.Spec.Template.Spec.Containers[0].Resources.Limits;
        Assert.Equal("1", limits["nvidia.com/gpu"].ToString());
        Assert.Contains(job.Spec.Template.Spec.Volumes, v => v.PersistentVolumeClaim?.ClaimName == "mnist-data");
    }

    private static T Load<T>(string relativePath) =>
        Manifests.LoadFile(Path.Combine(RepositoryPaths.Root, relativePath)).OfType<T>().Single();
}
