using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Testing;

namespace Syllabus.Kubectl.Tests;

/// <summary>
/// The plugin's commands, run in-process against a real kube-apiserver with the Syllabus CRDs (crds/legacy, which a
/// 1.20 server takes): the object carries a status written through the status subresource, as the operator writes it.
/// </summary>
public sealed class ControlPlaneTests
{
    private const string Namespace = "team-a";
    private const string Name = "fraud-model";

    [Fact]
    public async Task CommandsReadAndPatchTheModelDeploymentOnARealApiServer()
    {
        if (ControlPlane.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        var ct = TestContext.Current.CancellationToken;
        await using var plane = await ControlPlane.StartAsync(new ControlPlaneOptions(), ct);
        await plane.InstallCrdsAsync(Path.Combine(RepositoryPaths.Root, "crds", "legacy"), ct);
        using var client = plane.CreateClient();
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new() { Name = Namespace } }, cancellationToken: ct);

        // The fixture's spec is created; its status goes through /status, the only way the API server accepts one.
        var fixture = PluginRunner.LoadFixture("canary.json");
        var md = new ModelDeployment
        {
            Metadata = new() { Name = Name, NamespaceProperty = Namespace, Annotations = new Dictionary<string, string> { ["team"] = "fraud" } },
            Spec = fixture.Spec,
        };
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(md, SyllabusGroup.Name, SyllabusGroup.Version, Namespace, ModelDeployment.Plural, cancellationToken: ct);
        fixture.Status!.ObservedGeneration = 1;
        var statusPatch = new JsonObject { ["status"] = JsonNode.Parse(KubernetesJson.Serialize(fixture.Status)) }.ToJsonString();
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(statusPatch, V1Patch.PatchType.MergePatch), SyllabusGroup.Name, SyllabusGroup.Version, Namespace, ModelDeployment.Plural, Name, cancellationToken: ct);

        Task<PluginRunner.Result> Run(params string[] args) => PluginRunner.RunAsync([.. args, "--kubeconfig", plane.KubeconfigPath, "-n", Namespace]);
        Task<ModelDeployment> Read() => client.CustomObjects.GetNamespacedCustomObjectAsync<ModelDeployment>(SyllabusGroup.Name, SyllabusGroup.Version, Namespace, ModelDeployment.Plural, Name, ct);

        // status: the tree of what the API server holds, the status having survived the CRD's schema intact.
        var status = await Run("status", $"md/{Name}");
        Assert.Equal((0, ""), (status.ExitCode, status.Error));
        var stored = await Read();
        Assert.Equal(StatusRenderer.Render(stored, PluginRunner.Now, color: false), status.Out);
        Assert.Equal(
            KubernetesJson.Serialize(fixture.Status.Revisions),
            KubernetesJson.Serialize(stored.Status!.Revisions));
        Assert.Contains("├──# revision:4  ◌ Canary  weight 20%  created 10m ago\n", status.Out, StringComparison.Ordinal);
        Assert.Contains("│     │  ├──⚠ Error  -  8m ago: Prometheus http://prometheus.monitoring:9090: connection refused\n", status.Out, StringComparison.Ordinal);

        // promote / abort / retry: one annotation, the other annotations untouched, the spec untouched.
        foreach (var action in new[] { "promote", "abort", "retry" })
        {
            var result = await Run(action, $"modeldeployment/{Name}");
            Assert.Equal((0, ""), (result.ExitCode, result.Error));
            var after = await Read();
            Assert.Equal(action, after.Metadata.Annotations[ModelDeploymentActions.Annotation]);
            Assert.Equal("fraud", after.Metadata.Annotations["team"]);
            Assert.Equal(1, after.Metadata.Generation);
        }

        // pin: only a kept revision; the error names the kept ones and nothing is sent.
        var missing = await Run("pin", $"md/{Name}", "7");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal(
            $"error: revision 7 is not in the revision history of modeldeployment/{Name} in {Namespace} (kept: 4 (Canary), 3 (Stable), 2 (Rejected), 1 (Superseded)); only a kept revision can be pinned\n",
            missing.Error.ReplaceLineEndings("\n"));
        Assert.Null((await Read()).Spec.PinnedRevision);

        var pin = await Run("pin", $"md/{Name}", "2");
        Assert.Equal((0, ""), (pin.ExitCode, pin.Error));
        var pinned = await Read();
        Assert.Equal(2, pinned.Spec.PinnedRevision);
        Assert.Equal(4, pinned.Spec.Replicas);
        Assert.Equal(2, pinned.Metadata.Generation);

        // While pinned, the operator ignores actions: the plugin refuses to send one.
        var promoteWhilePinned = await Run("promote", $"md/{Name}");
        Assert.Equal(1, promoteWhilePinned.ExitCode);
        Assert.Contains("is pinned to revision 2", promoteWhilePinned.Error, StringComparison.Ordinal);
        Assert.Equal("retry", (await Read()).Metadata.Annotations[ModelDeploymentActions.Annotation]);

        var unpin = await Run("unpin", $"md/{Name}");
        Assert.Equal((0, ""), (unpin.ExitCode, unpin.Error));
        var unpinned = await Read();
        Assert.Null(unpinned.Spec.PinnedRevision);
        var raw = await client.CustomObjects.GetNamespacedCustomObjectAsync<JsonObject>(SyllabusGroup.Name, SyllabusGroup.Version, Namespace, ModelDeployment.Plural, Name, ct);
        Assert.False(raw["spec"]!.AsObject().ContainsKey("pinnedRevision"), "unpin must remove spec.pinnedRevision, not set it to a value");

        // Errors name the problem and exit non-zero.
        var notFound = await Run("status", "md/no-such-model");
        Assert.Equal((1, $"error: modeldeployment/no-such-model not found in namespace {Namespace}\n"), (notFound.ExitCode, notFound.Error.ReplaceLineEndings("\n")));
        var otherNamespace = await PluginRunner.RunAsync(["status", $"md/{Name}", "--kubeconfig", plane.KubeconfigPath]);
        Assert.Equal((1, $"error: modeldeployment/{Name} not found in namespace default\n"), (otherNamespace.ExitCode, otherNamespace.Error.ReplaceLineEndings("\n")));
        var wrongKind = await Run("abort", $"tr/{Name}");
        Assert.Equal(1, wrongKind.ExitCode);
        Assert.Contains($"kind 'tr' is not a ModelDeployment", wrongKind.Error, StringComparison.Ordinal);
        var noCanary = await Run("status", $"md/{Name}");
        Assert.Equal(0, noCanary.ExitCode);

        // An API error: credentials the server refuses; the plugin reports the status and the server's message.
        var badToken = Path.Combine(plane.WorkDirectory, "kubeconfig-bad-token");
        await File.WriteAllTextAsync(badToken, System.Text.RegularExpressions.Regex.Replace(await File.ReadAllTextAsync(plane.KubeconfigPath, ct), "token: .*", "token: wrong"), ct);
        var unauthorized = await PluginRunner.RunAsync(["promote", $"md/{Name}", "--kubeconfig", badToken, "-n", Namespace]);
        Assert.Equal(1, unauthorized.ExitCode);
        Assert.StartsWith($"error: modeldeployment/{Name} in namespace {Namespace}: the API server answered 401 Unauthorized", unauthorized.Error, StringComparison.Ordinal);

        // The status says there is nothing to act on: the plugin sends nothing and says why.
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch("""{"status":{"canaryRevision":null,"revisions":[]}}""", V1Patch.PatchType.MergePatch), SyllabusGroup.Name, SyllabusGroup.Version, Namespace, ModelDeployment.Plural, Name, cancellationToken: ct);
        var abortWithoutCanary = await Run("abort", $"md/{Name}");
        Assert.Equal(1, abortWithoutCanary.ExitCode);
        Assert.Contains($"modeldeployment/{Name} has no canary to abort", abortWithoutCanary.Error, StringComparison.Ordinal);
        var retryWithoutRejected = await Run("retry", $"md/{Name}");
        Assert.Contains("has no Rejected or RolledBack revision to retry (revisions: none)", retryWithoutRejected.Error, StringComparison.Ordinal);

        // Without the CRD the API server does not know the kind: the message says to install it.
        await client.ApiextensionsV1.DeleteCustomResourceDefinitionAsync($"{ModelDeployment.Plural}.{SyllabusGroup.Name}", cancellationToken: ct);
        PluginRunner.Result noCrd;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            noCrd = await Run("status", $"md/{Name}");
        }
        while (!noCrd.Error.Contains("does not know ModelDeployments", StringComparison.Ordinal) && DateTime.UtcNow < deadline && await Delay(ct));
        Assert.Equal(1, noCrd.ExitCode);
        Assert.Contains("install the Syllabus CRDs", noCrd.Error, StringComparison.Ordinal);
    }

    private static async Task<bool> Delay(CancellationToken ct)
    {
        await Task.Delay(200, ct);
        return true;
    }
}
