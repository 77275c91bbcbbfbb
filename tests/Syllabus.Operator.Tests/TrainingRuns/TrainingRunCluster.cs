using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Api;
using Syllabus.Runtime.Hosting;
using Syllabus.Runtime;
using Syllabus.Operator.Tests.Install;
using Syllabus.Operator.DriftPolicies;
using Syllabus.Operator.LabelingQueues;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.TrainingRuns;

/// <summary>
/// The real control plane (apiserver, controller manager, scheduler) with the Syllabus CRDs, and a TestKubelet with one
/// 2-GPU node that runs the image <see cref="TrainerImage"/> as the built syllabus-trainer and "busybox" as /bin/sh.
/// Every trainer listens on 127.0.0.1 (the test kubelet's pod IP) at one free port chosen here; the tests of a class
/// run one after another and each runs one trainer at a time, so the port is never shared.
/// </summary>
public sealed class TrainingRunCluster : IAsyncLifetime
{
    public const string NodeName = "gpu-node-1";
    public const string TrainerImage = "syllabus-trainer-test:dev";
    public const int NodeGpus = 2;

    private string? skipReason;
    private ControlPlane? plane;
    private IKubernetes? client;
    private TestKubelet? kubelet;
    private OperatorIdentity? identity;

    public ControlPlane Plane => plane ?? throw new InvalidOperationException("not started");

    public IKubernetes Client => client ?? throw new InvalidOperationException("not started");

    public TestKubelet Kubelet => kubelet ?? throw new InvalidOperationException("not started");

    public int MetricsPort { get; } = FreePort();

    /// <summary>The operator's ServiceAccount as config/default installs it; operators started here run as it.</summary>
    public OperatorIdentity Identity => identity ?? throw new InvalidOperationException("not started");

    /// <summary>Every API request the operators started by this fixture made, as RBAC sees it.</summary>
    public ApiCallLog ApiCalls { get; } = new();

    public static string MnistDirectory => LocalCache.MnistFolder();

    /// <summary>The trainer the solution build produced (this project must not reference it: libtorch stays out).</summary>
    public static string? TrainerPath { get; } = FindTrainer();

    public void Require()
    {
        if (skipReason is not null)
        {
            Assert.Skip(skipReason);
        }
    }

    public async ValueTask InitializeAsync()
    {
        skipReason = ControlPlane.SkipReason
            ?? (TrainerPath is null ? "the trainer is not built (dotnet build trainer-image/Syllabus.Trainer)" : null)
            ?? (File.Exists(Path.Combine(MnistDirectory, "train.csv")) ? null : $"no MNIST CSVs in {MnistDirectory} (bash scripts/prepare-mnist.sh)");
        if (skipReason is not null)
        {
            return;
        }

        plane = await ControlPlane.StartAsync(new ControlPlaneOptions { WithControllerManager = true, WithScheduler = true });
        await plane.InstallCrdsAsync(Path.Combine(RepositoryPaths.Root, "crds"));
        client = plane.CreateClient();
        identity = await OperatorIdentity.InstallAsync(plane, TestContext.Current.CancellationToken);
        kubelet = await TestKubelet.StartAsync(client, new TestKubeletOptions
        {
            Nodes = [new TestNode(NodeName, Cpu: "8", Memory: "32Gi", Gpus: NodeGpus)],
            Images = new Dictionary<string, string> { ["busybox"] = "/bin/sh" },
            ImageLaunchers = new Dictionary<string, Func<ContainerLaunch, ProcessStartInfo>> { [TrainerImage] = LaunchTrainer },
        });
    }

    public async ValueTask DisposeAsync()
    {
        // A call the role does not grant fails its test only where the operator surfaces the error; events, for
        // one, are best effort. Every call made during the class is checked here as well.
        var problems = identity is null ? [] : RbacCoverage.Problems(ApiCalls, identity);
        if (Environment.GetEnvironmentVariable("SYLLABUS_API_CALLS") is { Length: > 0 } dump)
        {
            await File.AppendAllLinesAsync(dump, ApiCalls.Calls.Select(c => $"{c.Key} x{c.Value}").Order(StringComparer.Ordinal).Append("--"));
        }

        if (kubelet is not null)
        {
            await kubelet.DisposeAsync();
        }

        client?.Dispose();
        if (plane is not null)
        {
            await plane.DisposeAsync();
        }

        if (problems.Count > 0)
        {
            throw new InvalidOperationException($"The operator made calls its rendered RBAC does not allow:\n  {string.Join("\n  ", problems)}");
        }
    }

    /// <summary>A namespace with the claims "datasets" (seeded with digits CSVs) and "artifacts".</summary>
    public async Task<string> NewNamespaceAsync(string prefix, int trainRows = 3000, int testRows = 500)
    {
        var ct = TestContext.Current.CancellationToken;
        var ns = $"{prefix}-{Guid.NewGuid().ToString("N")[..6]}";
        await Client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: ct);
        foreach (var claim in new[] { "datasets", "artifacts" })
        {
            await Client.CoreV1.CreateNamespacedPersistentVolumeClaimAsync(new V1PersistentVolumeClaim
            {
                Metadata = new V1ObjectMeta { Name = claim },
                Spec = new V1PersistentVolumeClaimSpec
                {
                    AccessModes = ["ReadWriteOnce"],
                    Resources = new V1VolumeResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["storage"] = new("1Gi") } },
                },
            }, ns, cancellationToken: ct);
        }

        var data = Path.Combine(Kubelet.ClaimDirectory(ns, "datasets"), "mnist");
        Directory.CreateDirectory(data);
        await WriteDigitsAsync(Path.Combine(MnistDirectory, "train.csv"), Path.Combine(data, "train.csv"), trainRows, ct);
        await WriteDigitsAsync(Path.Combine(MnistDirectory, "test.csv"), Path.Combine(data, "test.csv"), testRows, ct);
        return ns;
    }

    /// <summary>
    /// Starts an operator (TrainingRun, Curriculum and ModelDeployment controllers) watching <paramref name="ns"/>, with short intervals,
    /// as the operator's ServiceAccount (the rendered config/default RBAC), recording its calls in <see cref="ApiCalls"/>;
    /// <paramref name="settings"/> (e.g. "--Trainer:BackoffBase=00:00:03") override the intervals.
    /// </summary>
    public Task<RunningOperator> StartOperatorAsync(string ns, params string[] settings) => StartOperatorAsync(ns, leaderElection: false, requests: null, settings);

    /// <summary>Like <see cref="StartOperatorAsync(string, string[])"/>; <paramref name="requests"/> sees every request the operator's clients send.</summary>
    public Task<RunningOperator> StartOperatorAsync(string ns, RequestLog requests) => StartOperatorAsync(ns, leaderElection: false, requests, []);

    /// <inheritdoc cref="StartOperatorAsync(string, string[])"/>
    public async Task<RunningOperator> StartOperatorAsync(string ns, bool leaderElection, RequestLog? requests = null, params string[] settings)
    {
        var builder = OperatorHost.CreateBuilder(
            [
                "--Operator:ProbePort=0",
                $"--Operator:Namespaces:0={ns}",
                $"--Operator:LeaderElection:Enabled={leaderElection}",
                $"--Operator:LeaderElection:LeaseNamespace={Identity.Namespace}",
                $"--Trainer:Image={TrainerImage}",
                $"--Trainer:MetricsPort={MetricsPort}",
                "--Trainer:ProgressInterval=00:00:01",
                "--Trainer:ScrapeTimeout=00:00:00.5",
                "--Trainer:BackoffBase=00:00:01",
                "--Trainer:BackoffCap=00:00:04",
                "--Logging:LogLevel:Default=Warning",
                .. settings,
            ],
            b => b.Services.AddSingleton(Identity.ClientConfiguration(Plane)));
        builder.Services.AddKubernetesClientHandler(_ => new ApiCallRecorder(ApiCalls, RbacCoverage.SyllabusResource));
        if (requests is not null)
        {
            builder.Services.AddKubernetesClientHandler(_ => requests.CreateHandler());
        }

        builder.Services.AddTrainingRunControllers(builder.Configuration);
        builder.Services.AddModelDeploymentController();
        builder.Services.AddLabelingQueueController();
        builder.Services.AddDriftPolicyController();
        var app = builder.Build();
        app.MapOperatorEndpoints();
        await app.StartAsync(TestContext.Current.CancellationToken);
        return new RunningOperator(app);
    }

    public ResourceClient<T> Resources<T>()
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        new(Client, fieldManager: "e2e-test"); // a user's writes, not the operator's

    /// <summary>
    /// The Events about <paramref name="involvedName"/> once <paramref name="ready"/> holds for them. The operator
    /// records Events from a background queue after the status write of their reconcile (as client-go's broadcaster
    /// does), so a test that has seen the status waits for the Event instead of reading once.
    /// </summary>
    public async Task<IList<Corev1Event>> WaitForEventsAsync(string ns, string involvedName, Func<IList<Corev1Event>, bool> ready, string what)
    {
        IList<Corev1Event> seen = [];
        return await Eventually.GetAsync(
            async () =>
            {
                seen = (await Client.CoreV1.ListNamespacedEventAsync(ns, fieldSelector: $"involvedObject.name={involvedName}", cancellationToken: TestContext.Current.CancellationToken)).Items;
                return ready(seen) ? seen : null;
            },
            TimeSpan.FromSeconds(30),
            () => $"{what}; Events about {involvedName}: {(seen.Count == 0 ? "(none)" : string.Join("; ", seen.Select(e => $"{e.Type} {e.Reason} x{e.Count ?? 1}: {e.Message}")))}");
    }

    /// <summary>Requests the API server answered whose labels include all of <paramref name="labels"/> ("verb=PUT", "group=syllabus.dev").</summary>
    public Task<long> CountApiRequestsAsync(params string[] labels) =>
        Plane.CountApiRequestsAsync(labels.Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal), TestContext.Current.CancellationToken);

    /// <summary>Runs the kubectl on PATH against this control plane; null when there is none.</summary>
    public async Task<string?> KubectlAsync(params string[] arguments)
    {
        var kubectl = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(File.Exists);
        if (kubectl is null)
        {
            return null;
        }

        var start = new ProcessStartInfo(kubectl) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add($"--kubeconfig={Plane.KubeconfigPath}");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(process.ExitCode == 0, $"kubectl {string.Join(' ', arguments)} failed: {await stderr}");
        return await stdout;
    }

    /// <summary>kubectl's view: the server-side Table of <c>kubectl get tr</c> (additionalPrinterColumns evaluated by the API server).</summary>
    public async Task<(IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<string>> Rows)> GetTableAsync(string ns, string plural)
    {
        var config = Plane.CreateClientConfiguration();
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        using var http = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{config.Host}/apis/{SyllabusGroup.Name}/{SyllabusGroup.Version}/namespaces/{ns}/{plural}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", config.AccessToken);
        request.Headers.Accept.ParseAdd("application/json;as=Table;v=v1;g=meta.k8s.io");
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        response.EnsureSuccessStatusCode();
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var columns = json.RootElement.GetProperty("columnDefinitions").EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToList();
        var rows = json.RootElement.GetProperty("rows").EnumerateArray()
            .Select(r => (IReadOnlyList<string>)[.. r.GetProperty("cells").EnumerateArray().Select(c => c.ValueKind == System.Text.Json.JsonValueKind.Null ? "" : c.ToString())])
            .ToList();
        return (columns, rows);
    }

    private static ProcessStartInfo LaunchTrainer(ContainerLaunch launch)
    {
        // The pod mounts each claim at /var/run/syllabus/pvc/CLAIM; the kubelet keeps claims of a namespace side by side,
        // so the parent of any mapped claim is the trainer's SYLLABUS_PVC_ROOT. The container's env is applied after this
        // start info is built, so the override goes through env(1), which wins over the inherited variable.
        var claimRoot = launch.PathMap
            .Where(p => p.Key.StartsWith(TrainerJobBuilder.PvcMountRoot + "/", StringComparison.Ordinal))
            .Select(p => Path.GetDirectoryName(p.Value.TrimEnd('/')))
            .FirstOrDefault();
        var start = new ProcessStartInfo("/usr/bin/env");
        if (claimRoot is not null)
        {
            start.ArgumentList.Add($"{TrainerJobBuilder.PvcRootVariable}={claimRoot}");
        }

        // The test kubelet's GPUs are only advertised capacity: train on the CPU whatever device the pod asks for.
        start.ArgumentList.Add($"{TrainerJobBuilder.DeviceVariable}=cpu");
        start.ArgumentList.Add(TrainerPath!);
        var arguments = launch.Arguments.ToList();
        if (arguments is ["serve" or "label", ..] && arguments.IndexOf("--port") is var port and >= 0 && port + 1 < arguments.Count)
        {
            // Every test pod shares this machine: a server binds its own pod address (as it would its pod's network namespace).
            arguments[port] = "--urls";
            arguments[port + 1] = $"http://{launch.PodIp}:{arguments[port + 1]}";
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }

    /// <summary>The first rows of an MNIST CSV plus a "difficulty" column (inked pixels), for the curriculum.</summary>
    private static async Task WriteDigitsAsync(string source, string target, int rows, CancellationToken ct)
    {
        using var reader = new StreamReader(source);
        await using var writer = new StreamWriter(target, false, new UTF8Encoding(false));
        var header = await reader.ReadLineAsync(ct) ?? throw new InvalidDataException($"{source} is empty");
        await writer.WriteLineAsync($"{header},difficulty");
        for (var i = 0; i < rows && await reader.ReadLineAsync(ct) is { } line; i++)
        {
            var inked = line.Split(',').Skip(1).Count(v => v != "0");
            await writer.WriteLineAsync($"{line},{inked}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string? FindTrainer()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent?.Parent?.Name ?? "Debug";
        return new[] { configuration, "Debug", "Release" }
            .Select(c => Path.Combine(RepositoryPaths.Root, "trainer-image", "Syllabus.Trainer", "bin", c, "net10.0", "linux-x64", "syllabus-trainer"))
            .FirstOrDefault(File.Exists);
    }
}

/// <summary>Records the method and path of every request but watches (which stay open from the start), for "no reads" checks.</summary>
public sealed class RequestLog
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> requests = new();

    public IReadOnlyList<string> Requests => [.. requests];

    public void Clear() => requests.Clear();

    /// <summary>A handler for one client's pipeline (a handler instance can sit in only one), recording into this log.</summary>
    public DelegatingHandler CreateHandler() => new Recorder(requests);

    private sealed class Recorder(System.Collections.Concurrent.ConcurrentQueue<string> requests) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(request);
            var uri = request.RequestUri!;
            if (!uri.Query.Contains("watch=true", StringComparison.Ordinal))
            {
                requests.Enqueue($"{request.Method} {uri.AbsolutePath}");
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}

/// <summary>An operator host started by a test; disposing stops it (in-flight reconciles finish).</summary>
public sealed class RunningOperator(WebApplication app) : IAsyncDisposable
{
    private int disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }
}
