using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Serialization;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Syllabus.Testing;

public sealed record ControlPlaneOptions
{
    /// <summary>Runs kube-controller-manager (all controllers but node lifecycle): Jobs, garbage collection, PV binding.</summary>
    public bool WithControllerManager { get; init; }

    /// <summary>Runs kube-scheduler, so pods get bound to <see cref="TestKubelet"/> nodes.</summary>
    public bool WithScheduler { get; init; }

    /// <summary>
    /// The apiserver's watch cache. Off by default: watches are then served straight from etcd, so after
    /// <see cref="ControlPlane.CompactEtcdAsync"/> any older resourceVersion yields a real 410 Gone, as on a
    /// long-running cluster. With the cache on, 410 only appears once a version falls out of the cache window.
    /// </summary>
    public bool WatchCache { get; init; }

    /// <summary>How long to wait for each component to become ready.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(90);
}

/// <summary>
/// A real Kubernetes control plane for tests, the envtest way: etcd and kube-apiserver (plus, on request,
/// kube-controller-manager and kube-scheduler) on loopback with free ports and temporary directories, found
/// through <c>KUBEBUILDER_ASSETS</c> (or the cache that <c>scripts/kube-assets.sh</c> fills). Clients
/// authenticate with a static admin token in <c>system:masters</c>.
/// </summary>
public sealed class ControlPlane : IAsyncDisposable
{
    public const string AssetsVariable = "KUBEBUILDER_ASSETS";

    private static readonly string[] RequiredBinaries = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

    private readonly string workDirectory;
    private readonly Uri etcdUri;
    private readonly string adminToken;
    private readonly List<ManagedProcess> processes = [];
    private int stopped;

    private ControlPlane(string workDirectory, Uri etcdUri, Uri apiServerUri, string adminToken)
    {
        this.workDirectory = workDirectory;
        this.etcdUri = etcdUri;
        ApiServerUri = apiServerUri;
        this.adminToken = adminToken;
        EtcdDataDirectory = HasRoomOnShm()
            ? Path.Combine("/dev/shm", Path.GetFileName(workDirectory))
            : Path.Combine(workDirectory, "etcd");
    }

    /// <summary><c>KUBEBUILDER_ASSETS</c> if set, else the cache directory of <c>scripts/kube-assets.sh</c>.</summary>
    public static string? AssetsDirectory
    {
        get
        {
            var fromEnvironment = Environment.GetEnvironmentVariable(AssetsVariable);
            if (!string.IsNullOrWhiteSpace(fromEnvironment))
            {
                return fromEnvironment;
            }

            var cache = Environment.GetEnvironmentVariable("SYLLABUS_CACHE");
            if (string.IsNullOrWhiteSpace(cache))
            {
                var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                if (string.IsNullOrEmpty(home))
                {
                    return null;
                }

                cache = Path.Combine(home, ".cache", "syllabus");
            }

            return Path.Combine(cache, "kube-assets", "v1.20.2");
        }
    }

    /// <summary>Why the control plane cannot start here (a binary is missing), or null when it can.</summary>
    public static string? SkipReason
    {
        get
        {
            var directory = AssetsDirectory;
            if (directory is null)
            {
                return $"{AssetsVariable} is not set and there is no home directory; run scripts/kube-assets.sh";
            }

            foreach (var binary in RequiredBinaries)
            {
                if (!File.Exists(Path.Combine(directory, binary)))
                {
                    return $"{binary} not found in {AssetsVariable}={directory}; run scripts/kube-assets.sh";
                }
            }

            return null;
        }
    }

    public Uri ApiServerUri { get; }

    // etcd preallocates 64 MB WAL segments: use tmpfs only where it has room (Docker's default /dev/shm is 64 MB).
    private string EtcdDataDirectory { get; }

    private static bool HasRoomOnShm()
    {
        try
        {
            return Directory.Exists("/dev/shm") && new DriveInfo("/dev/shm").AvailableFreeSpace > 1L << 30;
        }
        catch (IOException)
        {
            return false;
        }
    }

    // etcd rejects URLs with a path, even "/".
    private string EtcdUrl => etcdUri.GetLeftPart(UriPartial.Authority);

    /// <summary>The directory holding data, certificates, kubeconfig and each component's log.</summary>
    public string WorkDirectory => workDirectory;

    /// <summary>The guards of the running components (etcd, kube-apiserver, ...), by component name; each guard's child is the component.</summary>
    internal IReadOnlyDictionary<string, ManagedProcess> Components => processes.ToDictionary(p => p.Name, StringComparer.Ordinal);

    public static async Task<ControlPlane> StartAsync(ControlPlaneOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (SkipReason is { } reason)
        {
            throw new InvalidOperationException(reason);
        }

        // Two tries: a port picked as free can be taken by a parallel fixture before the component binds it.
        for (var attempt = 1; ; attempt++)
        {
            var plane = await CreateAsync(ct);
            try
            {
                await plane.StartComponentsAsync(options, ct);
                return plane;
            }
            catch (InvalidOperationException e) when (attempt < 2 && e.Message.Contains("address already in use", StringComparison.Ordinal))
            {
                await plane.StopAsync();
            }
            catch
            {
                await plane.StopAsync();
                throw;
            }
        }
    }

    private static async Task<ControlPlane> CreateAsync(CancellationToken ct)
    {
        var work = OwnedTempDirectories.Create(Path.GetTempPath(), "syllabus-cp-");
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var apiPort = FreePorts.Next();
        var etcdPort = FreePorts.Next();
        var plane = new ControlPlane(work, new Uri($"http://127.0.0.1:{etcdPort}"), new Uri($"https://127.0.0.1:{apiPort}"), token);

        using var key = RSA.Create(2048);
        await File.WriteAllTextAsync(Path.Combine(work, "sa.key"), key.ExportRSAPrivateKeyPem(), ct);
        await File.WriteAllTextAsync(Path.Combine(work, "sa.pub"), key.ExportSubjectPublicKeyInfoPem(), ct);
        await File.WriteAllTextAsync(Path.Combine(work, "tokens.csv"), $"{token},admin,admin,system:masters\n", ct);
        await File.WriteAllTextAsync(Path.Combine(work, "kubeconfig"), plane.KubeconfigYaml(), ct);
        return plane;
    }

    private async Task StartComponentsAsync(ControlPlaneOptions options, CancellationToken ct)
    {
        OwnedTempDirectories.Sweep("/dev/shm", "syllabus-cp-");
        var assets = AssetsDirectory!;
        var etcdPeerPort = FreePorts.Next();

        // etcd fsyncs every write; tmpfs keeps that cheap on small CI machines.
        var etcdData = EtcdDataDirectory;
        var etcd = Start("etcd", Path.Combine(assets, "etcd"),
        [
            "--name=default",
            $"--data-dir={etcdData}",
            $"--listen-client-urls={EtcdUrl}",
            $"--advertise-client-urls={EtcdUrl}",
            $"--listen-peer-urls=http://127.0.0.1:{etcdPeerPort}",
            $"--initial-advertise-peer-urls=http://127.0.0.1:{etcdPeerPort}",
            $"--initial-cluster=default=http://127.0.0.1:{etcdPeerPort}",
            "--log-level=warn",
        ]);
        await WaitUntilAsync(etcd, "etcd /health", async () =>
        {
            using var http = new HttpClient();
            using var response = await http.GetAsync(new Uri(etcdUri, "/health"), ct);
            return response.IsSuccessStatusCode;
        }, options.StartTimeout, ct);

        var certDirectory = Directory.CreateDirectory(Path.Combine(workDirectory, "certs")).FullName;
        var apiserver = Start("kube-apiserver", Path.Combine(assets, "kube-apiserver"),
        [
            $"--etcd-servers={EtcdUrl}",
            $"--etcd-prefix=/registry",
            $"--cert-dir={certDirectory}",
            $"--secure-port={ApiServerUri.Port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--insecure-port=0",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            $"--service-account-key-file={Path.Combine(workDirectory, "sa.pub")}",
            $"--service-account-signing-key-file={Path.Combine(workDirectory, "sa.key")}",
            $"--token-auth-file={Path.Combine(workDirectory, "tokens.csv")}",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
            // As on most production clusters: setting blockOwnerDeletion needs update on the owner's finalizers,
            // so an operator run under its own RBAC fails here when it lacks that permission.
            "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            $"--watch-cache={(options.WatchCache ? "true" : "false")}",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
        ]);
        using (var probe = CreateProbeClient())
        {
            await WaitUntilAsync(apiserver, "kube-apiserver /readyz", async () =>
            {
                using var response = await probe.GetAsync(new Uri(ApiServerUri, "/readyz"), ct);
                return response.IsSuccessStatusCode;
            }, options.StartTimeout, ct);
        }

        var kubeconfig = Path.Combine(workDirectory, "kubeconfig");
        if (options.WithControllerManager)
        {
            var manager = Start("kube-controller-manager", Path.Combine(assets, "kube-controller-manager"),
            [
                $"--kubeconfig={kubeconfig}",
                "--controllers=*,-nodelifecycle",
                "--port=0",
                "--secure-port=0",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                $"--service-account-private-key-file={Path.Combine(workDirectory, "sa.key")}",
                "--profiling=false",
            ]);

            // The service-account controller creating "default" shows the controllers run.
            using var client = CreateClient();
            await WaitUntilAsync(manager, "kube-controller-manager (default ServiceAccount)", async () =>
            {
                var accounts = await client.CoreV1.ListNamespacedServiceAccountAsync("default", cancellationToken: ct);
                return accounts.Items.Any(a => a.Metadata.Name == "default");
            }, options.StartTimeout, ct);
        }

        if (options.WithScheduler)
        {
            var scheduler = Start("kube-scheduler", Path.Combine(assets, "kube-scheduler"),
            [
                $"--kubeconfig={kubeconfig}",
                "--port=0",
                "--secure-port=0",
                "--leader-elect=false",
                "--profiling=false",
            ]);

            // It has no health endpoint without ports; make sure it did not die on its flags.
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
            scheduler.ThrowIfExited();
        }
    }

    private ManagedProcess Start(string name, string executable, IEnumerable<string> arguments)
    {
        var process = ManagedProcess.Start(name, executable, arguments, Path.Combine(workDirectory, $"{name}.log"), workDirectory);
        processes.Add(process);
        return process;
    }

    private static async Task WaitUntilAsync(ManagedProcess process, string what, Func<Task<bool>> ready, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (true)
        {
            process.ThrowIfExited();
            try
            {
                if (await ready())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or HttpOperationException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                last = e;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"{what} not ready after {timeout.TotalSeconds:0} s (last error: {last?.Message ?? "none"}); last output of {process.Name} ({process.LogPath}):\n{process.Tail()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
        }
    }

    private HttpClient CreateProbeClient()
    {
        // The serving certificate is self-signed for this run: tests accept it.
        var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
        var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        return client;
    }

    /// <summary>
    /// The sum of the API server's <c>apiserver_request_total</c> over the series whose labels include every pair in
    /// <paramref name="labels"/> (e.g. verb=PUT, group=syllabus.dev): how many such requests it has answered.
    /// </summary>
    public async Task<long> CountApiRequestsAsync(IReadOnlyDictionary<string, string> labels, CancellationToken ct = default)
    {
        using var http = CreateProbeClient();
        var text = await http.GetStringAsync(new Uri(ApiServerUri, "/metrics"), ct);
        long total = 0;
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("apiserver_request_total{", StringComparison.Ordinal))
            {
                continue;
            }

            var close = line.LastIndexOf('}');
            var series = System.Text.RegularExpressions.Regex.Matches(line[..close], "(\\w+)=\"([^\"]*)\"")
                .ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
            if (labels.All(l => series.TryGetValue(l.Key, out var v) && v == l.Value))
            {
                total += (long)double.Parse(line[(close + 1)..].Trim(), CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    /// <summary>Admin credentials (<c>system:masters</c>); <paramref name="server"/> overrides the address, e.g. a <see cref="FaultProxy"/>.</summary>
    public KubernetesClientConfiguration CreateClientConfiguration(Uri? server = null) => new()
    {
        Host = (server ?? ApiServerUri).ToString().TrimEnd('/'),
        AccessToken = adminToken,
        SkipTlsVerify = true,
        Namespace = "default",
    };

    public IKubernetes CreateClient(Uri? server = null) => new Kubernetes(CreateClientConfiguration(server));

    /// <summary>A kubeconfig file for kubectl or other processes (admin token, TLS verification off).</summary>
    public string KubeconfigPath => Path.Combine(workDirectory, "kubeconfig");

    private string KubeconfigYaml() => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster:
            server: {ApiServerUri.ToString().TrimEnd('/')}
            insecure-skip-tls-verify: true
        users:
        - name: admin
          user:
            token: {adminToken}
        contexts:
        - name: test
          context:
            cluster: test
            user: admin
            namespace: default
        current-context: test
        """;

    /// <summary>
    /// Creates or replaces every CustomResourceDefinition in the <c>*.yaml</c>/<c>*.yml</c> files of
    /// <paramref name="directory"/> (multi-document files allowed; other kinds, e.g. a kustomization, are
    /// skipped) and waits until each is Established.
    /// </summary>
    public async Task InstallCrdsAsync(string directory, CancellationToken ct = default)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"CRD directory {directory} does not exist");
        }

        var files = Directory.EnumerateFiles(directory, "*.yaml").Concat(Directory.EnumerateFiles(directory, "*.yml")).Order(StringComparer.Ordinal).ToList();
        var crds = new List<V1CustomResourceDefinition>();
        foreach (var file in files)
        {
            var text = await File.ReadAllTextAsync(file, ct);
            foreach (var document in YamlDocuments(text))
            {
                try
                {
                    // Other kinds (a kustomization, a namespace) may share the folder; only CRDs are installed.
                    var header = KubernetesYaml.Deserialize<KubernetesObject>(document);
                    if (header?.Kind == V1CustomResourceDefinition.KubeKind)
                    {
                        crds.Add(KubernetesYaml.Deserialize<V1CustomResourceDefinition>(document, strict: false));
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    throw new InvalidDataException($"{file}: not a valid Kubernetes YAML document: {e.Message}", e);
                }
            }
        }

        if (crds.Count == 0)
        {
            throw new InvalidDataException($"no CustomResourceDefinition (apiextensions.k8s.io/v1) found in {directory}");
        }

        using var client = CreateClient();
        foreach (var crd in crds)
        {
            await ApplyCrdAsync(client, crd, ct);
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        foreach (var crd in crds)
        {
            while (true)
            {
                var current = await client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: ct);
                if (current.Status?.Conditions?.Any(c => c.Type == "Established" && c.Status == "True") == true)
                {
                    break;
                }

                if (DateTime.UtcNow > deadline)
                {
                    var conditions = string.Join("; ", current.Status?.Conditions?.Select(c => $"{c.Type}={c.Status} {c.Reason}: {c.Message}") ?? []);
                    throw new TimeoutException($"CRD {crd.Metadata.Name} not Established after 60 s: {conditions}");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
            }
        }
    }

    private static IEnumerable<string> YamlDocuments(string text)
    {
        var current = new System.Text.StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            if (line.TrimEnd() == "---")
            {
                if (current.ToString().Trim().Length > 0)
                {
                    yield return current.ToString();
                }

                current.Clear();
            }
            else
            {
                current.Append(line).Append('\n');
            }
        }

        if (current.ToString().Trim().Length > 0)
        {
            yield return current.ToString();
        }
    }

    private static async Task ApplyCrdAsync(IKubernetes client, V1CustomResourceDefinition crd, CancellationToken ct)
    {
        try
        {
            await client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd, cancellationToken: ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            var existing = await client.ApiextensionsV1.ReadCustomResourceDefinitionAsync(crd.Metadata.Name, cancellationToken: ct);
            crd.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
            await client.ApiextensionsV1.ReplaceCustomResourceDefinitionAsync(crd, crd.Metadata.Name, cancellationToken: ct);
        }
        catch (HttpOperationException e)
        {
            throw new InvalidOperationException($"creating CRD {crd.Metadata.Name} failed: {(int)e.Response.StatusCode} {e.Response.Content}", e);
        }
    }

    /// <summary>
    /// Compacts etcd up to its current revision, so a watch from any older resourceVersion gets 410 Gone
    /// (needs <see cref="ControlPlaneOptions.WatchCache"/> off, the default). Returns nothing; the revision
    /// compacted to is the cluster's current resourceVersion.
    /// </summary>
    public async Task CompactEtcdAsync(CancellationToken ct = default)
    {
        // etcd's gRPC gateway (JSON over HTTP) avoids depending on etcdctl.
        var revision = await GetEtcdRevisionAsync(ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var compact = await http.PostAsJsonAsync(
            new Uri(etcdUri, "/v3/kv/compaction"), new EtcdCompactionRequest(revision.ToString(CultureInfo.InvariantCulture), true), ct);
        if (!compact.IsSuccessStatusCode)
        {
            var body = await compact.Content.ReadAsStringAsync(ct);

            // Compacting twice to the same revision is not an error for callers.
            if (!body.Contains("required revision has been compacted", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"etcd compaction to {revision} failed: {(int)compact.StatusCode} {body}");
            }
        }
    }

    /// <summary>The revision etcd is at (the cluster-wide resourceVersion).</summary>
    public async Task<long> GetEtcdRevisionAsync(CancellationToken ct = default)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var rangeKey = Convert.ToBase64String("/registry"u8.ToArray());
        using var range = await http.PostAsJsonAsync(new Uri(etcdUri, "/v3/kv/range"), new EtcdRangeRequest(rangeKey, true), ct);
        range.EnsureSuccessStatusCode();
        var header = (await range.Content.ReadFromJsonAsync<EtcdResponse>(ct))?.Header
            ?? throw new InvalidOperationException("etcd range response had no header");
        return long.Parse(header.Revision, CultureInfo.InvariantCulture);
    }

    /// <summary>The last lines of a component's log (etcd, kube-apiserver, kube-controller-manager, kube-scheduler).</summary>
    public string LogTail(string component, int lines = 40) => ManagedProcess.ReadTail(Path.Combine(workDirectory, $"{component}.log"), lines);

    /// <summary>Stops every component and deletes the temporary directories. Safe to call twice.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref stopped, 1) == 1)
        {
            return;
        }

        // Reverse order: clients of the apiserver first, etcd last.
        for (var i = processes.Count - 1; i >= 0; i--)
        {
            await processes[i].DisposeAsync();
        }

        processes.Clear();
        TryDelete(EtcdDataDirectory);
        TryDelete(workDirectory);
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private sealed record EtcdRangeRequest(
        [property: JsonPropertyName("key")] string Key,
        [property: JsonPropertyName("count_only")] bool CountOnly);

    private sealed record EtcdCompactionRequest(
        [property: JsonPropertyName("revision")] string Revision,
        [property: JsonPropertyName("physical")] bool Physical);

    private sealed record EtcdResponse([property: JsonPropertyName("header")] EtcdHeader? Header);

    private sealed record EtcdHeader([property: JsonPropertyName("revision")] string Revision);
}
