using System.Diagnostics;
using System.Globalization;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.Tests.Install;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime.Hosting;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.TrainingRuns;

/// <summary>
/// Failover with the operator as it ships: two processes of the Native AOT executable the image runs (published here as
/// the Dockerfile does), and of the JIT build next to these tests; each with a kubeconfig of
/// the operator's ServiceAccount and its own <see cref="FaultProxy"/> (which records every request it forwards). The
/// leader is frozen with SIGSTOP past its lease; the standby takes over; the old leader, resumed with SIGCONT, must make
/// no write and exit with <see cref="OperatorHost.LeaseLostExitCode"/>.
/// </summary>
public sealed class LeaderFailoverTests : IAsyncLifetime
{
    // Short enough for a quick test, long enough that a leader starting up beside a whole CI run on two cores does not
    // miss its renew deadline before it is frozen (3 s did, once).
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan RenewDeadline = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan RetryPeriod = TimeSpan.FromSeconds(1);

    private readonly List<IAsyncDisposable> disposables = [];
    private ControlPlane? plane;
    private OperatorIdentity? identity;
    private string? nativeOperator;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        if (ControlPlane.SkipReason is not null || OperatorDll is null)
        {
            return;
        }

        plane = await ControlPlane.StartAsync(new ControlPlaneOptions());
        await plane.InstallCrdsAsync(Path.Combine(RepositoryPaths.Root, "crds"));
        identity = await OperatorIdentity.InstallAsync(plane, Ct);
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = disposables.Count - 1; i >= 0; i--)
        {
            await disposables[i].DisposeAsync();
        }

        if (plane is not null)
        {
            await plane.DisposeAsync();
        }
    }

    /// <summary>The operator as built next to these tests (the project reference copies it here).</summary>
    private static string? OperatorDll =>
        Path.Combine(AppContext.BaseDirectory, "Syllabus.Operator.dll") is var path && File.Exists(path) ? path : null;

    [Theory]
    [InlineData("aot")]
    [InlineData("jit")]
    public async Task A_leader_frozen_past_its_lease_makes_no_write_when_resumed_and_exits_while_the_standby_leads(string build)
    {
        if (ControlPlane.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }

        Assert.True(OperatorDll is not null, $"Syllabus.Operator.dll is not in {AppContext.BaseDirectory}");
        if (build == "aot")
        {
            if (NativeOperator.SkipReason is { } noAot)
            {
                Assert.Skip(noAot);
            }

            nativeOperator = await NativeOperator.PublishAsync(Path.Combine(AppContext.BaseDirectory, "operator-aot"), Ct);
        }

        var plane = this.plane!;
        using var admin = plane.CreateClient();
        var ns = $"failover-{Guid.NewGuid().ToString("N")[..6]}";
        await admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }, cancellationToken: Ct);
        var runs = new Syllabus.Runtime.ResourceClient<TrainingRun>(admin, fieldManager: "e2e-test");

        var (first, firstProxy, firstIdentity) = await StartOperatorAsync("first", ns);
        await WaitUntilAsync(async () => await HolderAsync(admin) == firstIdentity, "the first operator to take the lease", TimeSpan.FromSeconds(30));
        var (second, secondProxy, secondIdentity) = await StartOperatorAsync("second", ns);
        await WaitUntilAsync(() => Task.FromResult(secondProxy.Requests.Any(r => r.Method == "GET" && r.PathAndQuery.Contains("/leases/", StringComparison.Ordinal))), "the second operator to stand by (reading the lease)", TimeSpan.FromSeconds(30));

        await runs.CreateAsync(Run(ns, "before"), Ct);
        await WaitUntilAsync(async () => await HasFinalizerAsync(runs, ns, "before"), "the leader to reconcile the first run", TimeSpan.FromSeconds(30));
        Assert.True(await HolderAsync(admin) == firstIdentity, $"the first operator lost the lease before it was frozen:\n{first.Tail()}");
        Assert.Contains(firstProxy.Requests, r => r.IsWrite && r.PathAndQuery.Contains("/trainingruns/", StringComparison.Ordinal));

        // Freeze the leader: it neither renews nor notices anything until it is resumed.
        var pid = FindProcess(firstIdentity);
        Signal(pid, "STOP");
        try
        {
            // The frozen leader's last renewal, as stored: the standby may take the lease only a LeaseDuration after it.
            var frozenLease = await ReadLeaseAsync(admin);
            await WaitUntilAsync(async () => await HolderAsync(admin) == secondIdentity, "the standby to take the lease", LeaseDuration * 4);
            var takenLease = await ReadLeaseAsync(admin);
            var unrenewed = takenLease.Spec.AcquireTime!.Value - frozenLease.Spec.RenewTime!.Value;
            Assert.True(unrenewed >= LeaseDuration, $"the standby took the lease {unrenewed} after the frozen leader's last renewal, before the lease ({LeaseDuration}) could have expired");

            // Work for the old leader to find when it wakes: its watches will deliver this run and the new leader's writes.
            await runs.CreateAsync(Run(ns, "after"), Ct);
            await WaitUntilAsync(async () => await HasFinalizerAsync(runs, ns, "after"), "the new leader to reconcile a new run", TimeSpan.FromSeconds(30));
            var seen = firstProxy.Requests.Count == 0 ? 0 : firstProxy.Requests[^1].Sequence;

            Signal(pid, "CONT");
            using var exitTimeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            exitTimeout.CancelAfter(TimeSpan.FromSeconds(60));
            var exitCode = await first.WaitForExitAsync(exitTimeout.Token);

            var afterResume = firstProxy.Requests.Where(r => r.Sequence > seen).ToList();
            var writes = afterResume.Where(r => r.IsWrite).ToList();
            Assert.True(writes.Count == 0, $"the resumed old leader wrote:\n  {string.Join("\n  ", writes)}\n{first.Tail()}");
            Assert.True(exitCode == OperatorHost.LeaseLostExitCode, $"the old leader exited with {exitCode}, not {OperatorHost.LeaseLostExitCode}:\n{first.Tail()}");
            Assert.Contains("lost the lease", File.ReadAllText(first.LogPath), StringComparison.Ordinal);

            // Its exit code and log show it woke up; whether it also read the Lease first depends on timing (the fence
            // closes on its own clock), so no request is required of it here — only that none of them wrote.
            Assert.Equal(secondIdentity, await HolderAsync(admin));
            Assert.False(second.HasExited, $"the new leader exited:\n{second.Tail()}");
        }
        finally
        {
            // Never leave a stopped process behind when an assertion above failed (it may have exited already).
            Signal(pid, "CONT", mustSucceed: false);
        }
    }

    private async Task<(ManagedProcess Process, FaultProxy Proxy, string Identity)> StartOperatorAsync(string name, string ns)
    {
        var proxy = await FaultProxy.StartAsync(plane!.ApiServerUri, Ct);
        disposables.Add(proxy);
        var kubeconfig = identity!.WriteKubeconfig(Path.Combine(plane.WorkDirectory, $"{name}.kubeconfig"), plane, proxy.Address);
        var id = $"{name}-{Guid.NewGuid():N}";
        string[] arguments =
        [
            $"--Operator:Kubeconfig={kubeconfig}",
            "--Operator:ProbePort=0",
            $"--Operator:Namespaces:0={ns}",
            $"--Operator:LeaderElection:Identity={id}",
            $"--Operator:LeaderElection:LeaseNamespace={identity.Namespace}",
            $"--Operator:LeaderElection:LeaseDuration={LeaseDuration.ToString("c", CultureInfo.InvariantCulture)}",
            $"--Operator:LeaderElection:RenewDeadline={RenewDeadline.ToString("c", CultureInfo.InvariantCulture)}",
            $"--Operator:LeaderElection:RetryPeriod={RetryPeriod.ToString("c", CultureInfo.InvariantCulture)}",
            "--Trainer:Image=syllabus-trainer-test:dev",
        ];
        var process = nativeOperator is not null
            ? ManagedProcess.Start($"operator-{name}", nativeOperator, arguments, Path.Combine(plane.WorkDirectory, $"operator-{name}.log"), plane.WorkDirectory)
            : ManagedProcess.Start($"operator-{name}", Dotnet(), [OperatorDll!, .. arguments], Path.Combine(plane.WorkDirectory, $"operator-{name}.log"), plane.WorkDirectory);
        disposables.Add(process);
        return (process, proxy, id);
    }

    private static TrainingRun Run(string ns, string name) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
        Spec = new TrainingRunSpec
        {
            Model = new ModelSpec { Architecture = ModelArchitectures.Mlp, HiddenLayers = [16] },
            Data = new DataSpec { Train = new DatasetSource { Uri = "pvc://datasets/train.csv" } },
            Artifacts = new ArtifactsSpec { Uri = $"pvc://artifacts/runs/{name}" },
        },
    };

    private Task<V1Lease> ReadLeaseAsync(IKubernetes admin) =>
        admin.CoordinationV1.ReadNamespacedLeaseAsync(new LeaderElectionOptions().LeaseName, identity!.Namespace, cancellationToken: Ct);

    private async Task<string?> HolderAsync(IKubernetes admin)
    {
        try
        {
            return (await ReadLeaseAsync(admin)).Spec.HolderIdentity;
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static async Task<bool> HasFinalizerAsync(Syllabus.Runtime.ResourceClient<TrainingRun> runs, string ns, string name) =>
        (await runs.GetAsync(ns, name, Ct))?.Metadata.Finalizers?.Contains(TrainingRunNames.Finalizer) == true;

    /// <summary>The PID of the operator process (dotnet, or the native executable) whose command line names this identity (not its bash guard).</summary>
    private static int FindProcess(string operatorIdentity)
    {
        var marker = $"--Operator:LeaderElection:Identity={operatorIdentity}";
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var argv = File.ReadAllText(Path.Combine(directory, "cmdline")).Split('\0');
                if (argv.Length > 1 && Path.GetFileName(argv[0]) is "dotnet" or "Syllabus.Operator" && argv.Contains(marker))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        throw new InvalidOperationException($"no operator process runs with {marker}");
    }

    private static void Signal(int pid, string signal, bool mustSucceed = true)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { $"-{signal}", pid.ToString(CultureInfo.InvariantCulture) }, RedirectStandardError = true })!;
        kill.WaitForExit();
        Assert.True(kill.ExitCode == 0 || !mustSucceed, $"kill -{signal} {pid} failed: {kill.StandardError.ReadToEnd()}");
    }

    private static string Dotnet() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists)
                ?? throw new InvalidOperationException("dotnet is not on PATH");

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout) =>
        Eventually.TrueAsync(condition, what, timeout, TimeSpan.FromMilliseconds(100));
}
