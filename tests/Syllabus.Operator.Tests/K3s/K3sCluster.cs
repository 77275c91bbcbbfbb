using Syllabus.Testing;
using System.Text;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Syllabus.Runtime.Hosting;
using Syllabus.Operator.Tests.TrainingRuns;
using Syllabus.Operator.TrainingRuns;
using Testcontainers.K3s;

namespace Syllabus.Operator.Tests.K3s;

/// <summary>
/// A real k3s (Kubernetes 1.31, which evaluates CRD CEL rules) started with Testcontainers, with the Syllabus CRDs
/// installed. Where no Docker engine answers, or the image is neither present nor pullable, every test using it
/// reports itself skipped with the reason.
/// </summary>
public sealed class K3sCluster : IAsyncLifetime
{
    public const string Image = "rancher/k3s:v1.31.5-k3s1";

    private K3sContainer? container;
    private KubernetesClientConfiguration? configuration;

    public string? SkipReason { get; private set; }

    public KubernetesClientConfiguration Configuration => configuration ?? throw new InvalidOperationException("k3s is not running");

    public void Require()
    {
        if (SkipReason is { } reason)
        {
            Assert.Skip($"k3s tier skipped: {reason}");
        }
    }

    public async ValueTask InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        SkipReason = await DockerAvailability.SkipReasonAsync(Image, timeout.Token);
        if (SkipReason is not null)
        {
            return;
        }

        container = new K3sBuilder(Image).Build();
        await container.StartAsync();
        var kubeconfig = await container.GetKubeconfigAsync();
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(kubeconfig));
        configuration = await KubernetesClientConfiguration.BuildConfigFromConfigFileAsync(stream);
        await InstallCrdsAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (container is not null)
        {
            await container.DisposeAsync();
        }
    }

    public IKubernetes CreateClient() => new Kubernetes(Configuration);

    public async Task<string> NewNamespaceAsync(string prefix)
    {
        using var client = CreateClient();
        var name = $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)];
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = name } });
        return name;
    }

    /// <summary>The operator (TrainingRun and Curriculum controllers) watching <paramref name="ns"/>.</summary>
    public async Task<RunningOperator> StartOperatorAsync(string ns)
    {
        var builder = OperatorHost.CreateBuilder(
            [
                "--Operator:ProbePort=0",
                $"--Operator:Namespaces:0={ns}",
                "--Operator:LeaderElection:Enabled=false",
                "--Trainer:Image=syllabus-trainer:k3s-test",
                "--Logging:LogLevel:Default=Warning",
            ],
            b => b.Services.AddSingleton(Configuration));
        builder.Services.AddTrainingRunControllers(builder.Configuration);
        var app = builder.Build();
        app.MapOperatorEndpoints();
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new RunningOperator(app);
    }

    private async Task InstallCrdsAsync()
    {
        using var client = CreateClient();
        foreach (var file in Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml").Order())
        {
            var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(await File.ReadAllTextAsync(file));
            await client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            var list = await client.ApiextensionsV1.ListCustomResourceDefinitionAsync();
            var established = list.Items.Count(c => c.Spec.Group == Syllabus.Api.SyllabusGroup.Name &&
                c.Status?.Conditions?.Any(x => x.Type == "Established" && x.Status == "True") == true);
            if (established == 5)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"only {established} of the 5 Syllabus CRDs became Established on k3s");
            }

            await Task.Delay(500);
        }
    }
}
