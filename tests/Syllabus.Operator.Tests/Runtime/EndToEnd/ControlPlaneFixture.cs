using k8s;
using k8s.Models;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.Runtime.EndToEnd;

/// <summary>One real etcd + kube-apiserver for the runtime's end-to-end tests, with the Widget CRD installed.</summary>
public sealed class ControlPlaneFixture : IAsyncLifetime
{
    private ControlPlane? plane;

    public ControlPlane Plane => plane ?? throw new InvalidOperationException(SkipReason ?? "control plane not started");

    public string? SkipReason { get; private set; }

    public async ValueTask InitializeAsync()
    {
        SkipReason = ControlPlane.SkipReason;
        if (SkipReason is not null)
        {
            return;
        }

        plane = await ControlPlane.StartAsync(new ControlPlaneOptions());
        var crdDir = Directory.CreateTempSubdirectory("widget-crd-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(crdDir.FullName, "widgets.yaml"), Widget.CrdYaml);
            await plane.InstallCrdsAsync(crdDir.FullName);
        }
        finally
        {
            crdDir.Delete(recursive: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (plane is not null)
        {
            await plane.DisposeAsync();
        }
    }

    /// <summary>Skips the calling test when the binaries are absent.</summary>
    public void SkipIfUnavailable()
    {
        if (SkipReason is not null)
        {
            Assert.Skip(SkipReason);
        }
    }

    public async Task<string> CreateNamespaceAsync(string prefix)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 9, 63)];
        using var client = Plane.CreateClient();
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } });
        return name;
    }
}

[CollectionDefinition(Name)]
public sealed class ControlPlaneCollection : ICollectionFixture<ControlPlaneFixture>
{
    public const string Name = "runtime control plane";
}
