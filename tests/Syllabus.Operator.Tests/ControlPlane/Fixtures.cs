using k8s;
using k8s.Models;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.ControlPlaneTests;

/// <summary>etcd + kube-apiserver only: starts in a few seconds; shared by one test class.</summary>
public sealed class ApiServerFixture : IAsyncLifetime
{
    public ControlPlane? Plane { get; private set; }

    public ControlPlane Require()
    {
        if (ControlPlane.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        return Plane ?? throw new InvalidOperationException("control plane did not start");
    }

    public async ValueTask InitializeAsync()
    {
        if (ControlPlane.SkipReason is null)
        {
            Plane = await ControlPlane.StartAsync(new ControlPlaneOptions());
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Plane is not null)
        {
            await Plane.DisposeAsync();
        }
    }
}

/// <summary>The whole control plane plus a TestKubelet with one 2-GPU node that runs "busybox" as /bin/sh and "python" as python3.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string NodeName = "gpu-node-1";

    public ControlPlane? Plane { get; private set; }

    public IKubernetes? Client { get; private set; }

    public TestKubelet? Kubelet { get; private set; }

    public (ControlPlane Plane, IKubernetes Client, TestKubelet Kubelet) Require()
    {
        if (ControlPlane.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        if (Plane is null || Client is null || Kubelet is null)
        {
            throw new InvalidOperationException("cluster did not start");
        }

        return (Plane, Client, Kubelet);
    }

    public async ValueTask InitializeAsync()
    {
        if (ControlPlane.SkipReason is not null)
        {
            return;
        }

        Plane = await ControlPlane.StartAsync(new ControlPlaneOptions { WithControllerManager = true, WithScheduler = true });
        Client = Plane.CreateClient();
        Kubelet = await TestKubelet.StartAsync(Client, new TestKubeletOptions
        {
            Nodes = [new TestNode(NodeName, Cpu: "8", Memory: "32Gi", Gpus: 2)],
            Images = new Dictionary<string, string> { ["busybox"] = "/bin/sh", [TestHttpServer.Image] = TestHttpServer.Python },
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (Kubelet is not null)
        {
            await Kubelet.DisposeAsync();
        }

        Client?.Dispose();
        if (Plane is not null)
        {
            await Plane.DisposeAsync();
        }
    }
}

internal static class TestNamespaces
{
    public static async Task<string> NewNamespaceAsync(IKubernetes client, string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } }, cancellationToken: TestContext.Current.CancellationToken);
        return name;
    }
}
