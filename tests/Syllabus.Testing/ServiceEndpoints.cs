using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Syllabus.Testing;

/// <summary>
/// Where kube-proxy would send a connection to one port of a Service, kept current through a watch: the
/// ready endpoints of the Service's EndpointSlices, as the real endpointslice controller of the control plane
/// writes them (pods matching the selector, with a pod IP, Ready, not terminating; targetPort resolved by name
/// or number per pod).
/// <para>
/// Why EndpointSlices and not the Endpoints object: TestKubelet pod IPs are loopback addresses (127.B.x.y),
/// and Kubernetes validation rejects loopback addresses in Endpoints ("may not be in the loopback range
/// (127.0.0.0/8)"; the endpoints controller's updates fail with FailedToUpdateEndpoint events), while
/// EndpointSlice validation only asks for a valid IPv4 address. kube-proxy itself reads EndpointSlices by
/// default on Linux since 1.19 (EndpointSliceProxying), so this is its real input. It follows kube-proxy's
/// EndpointSliceCache: slices labelled <c>kubernetes.io/service-name</c>, the slice port named like the
/// Service port, endpoints whose <c>conditions.ready</c> is unset or true, the first address of each,
/// duplicates across slices once. Reads discovery.k8s.io/v1 where the apiserver serves it, else v1beta1
/// (Kubernetes 1.20).
/// </para>
/// <para>
/// Not modelled: kube-proxy's own delay (iptables sync period, usually well under a second), session
/// affinity, topology, externalTrafficPolicy, and the pick itself: iptables mode picks at random per
/// connection; <see cref="Next"/> goes round-robin as ipvs mode does by default.
/// </para>
/// </summary>
public sealed class ServiceEndpoints : IAsyncDisposable
{
    private const string ServiceNameLabel = "kubernetes.io/service-name";

    private readonly IKubernetes client;
    private readonly string version;
    private readonly Lock gate = new();
    private readonly Dictionary<string, V1EndpointSlice> slices = [];
    private readonly List<ServiceEndpointsChange> history = [];
    private readonly List<string> errors = [];
    private readonly CancellationTokenSource stop = new();
    private IReadOnlyList<IPEndPoint> current = [];
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? watch;
    private int turn;

    private ServiceEndpoints(IKubernetes client, string @namespace, string service, string portName, string version)
    {
        this.client = client;
        Namespace = @namespace;
        Service = service;
        PortName = portName;
        this.version = version;
    }

    public string Namespace { get; }

    public string Service { get; }

    /// <summary>The Service port's name ("" for a Service with one unnamed port).</summary>
    public string PortName { get; }

    /// <summary>The endpoints a new connection may go to now, in a stable order (by address, then port).</summary>
    public IReadOnlyList<IPEndPoint> Current
    {
        get
        {
            lock (gate)
            {
                return current;
            }
        }
    }

    /// <summary>Every change of <see cref="Current"/> with the time it was seen, the first being the initial list.</summary>
    public IReadOnlyList<ServiceEndpointsChange> History
    {
        get
        {
            lock (gate)
            {
                return [.. history];
            }
        }
    }

    /// <summary>Watch failures other than the expiries a re-list recovers from.</summary>
    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (gate)
            {
                return [.. errors];
            }
        }
    }

    /// <summary>
    /// Lists and starts watching the EndpointSlices of Service <paramref name="service"/>. <paramref name="portName"/>
    /// names the Service port; it may be omitted when the Service has exactly one port. Fails when the Service
    /// does not exist, is headless (kube-proxy does not route those) or has no such port.
    /// </summary>
    public static async Task<ServiceEndpoints> StartAsync(IKubernetes client, string @namespace, string service, string? portName = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        V1Service found;
        try
        {
            found = await client.CoreV1.ReadNamespacedServiceAsync(service, @namespace, cancellationToken: ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new ArgumentException($"Service {@namespace}/{service} does not exist", nameof(service), e);
        }

        if (found.Spec.ClusterIP == "None")
        {
            throw new ArgumentException($"Service {@namespace}/{service} is headless (clusterIP None): kube-proxy does not route it", nameof(service));
        }

        var ports = found.Spec.Ports ?? [];
        var names = string.Join(", ", ports.Select(p => string.IsNullOrEmpty(p.Name) ? $"(unnamed) {p.Port}" : $"{p.Name} {p.Port}"));
        V1ServicePort port;
        if (portName is null)
        {
            port = ports.Count == 1 ? ports[0] : throw new ArgumentException($"Service {@namespace}/{service} has {ports.Count} ports ({names}): name one", nameof(portName));
        }
        else
        {
            port = ports.SingleOrDefault(p => (p.Name ?? string.Empty) == portName)
                ?? throw new ArgumentException($"Service {@namespace}/{service} has no port named \"{portName}\" (it has: {names})", nameof(portName));
        }

        var version = await SliceVersionAsync(client, ct);
        var endpoints = new ServiceEndpoints(client, @namespace, service, port.Name ?? string.Empty, version);
        var resourceVersion = await endpoints.ListAsync(ct);
        endpoints.watch = Task.Run(() => endpoints.WatchLoopAsync(resourceVersion, endpoints.stop.Token), CancellationToken.None);
        return endpoints;
    }

    /// <summary>The next endpoint, round-robin over <see cref="Current"/>; null when there is none (kube-proxy rejects the connection).</summary>
    public IPEndPoint? Next()
    {
        lock (gate)
        {
            if (current.Count == 0)
            {
                return null;
            }

            turn = (turn + 1) % current.Count;
            return current[turn];
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds for <see cref="Current"/>; on timeout throws with the history.</summary>
    public async Task<IReadOnlyList<IPEndPoint>> WaitUntilAsync(Func<IReadOnlyList<IPEndPoint>, bool> condition, TimeSpan timeout, CancellationToken ct = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        while (true)
        {
            Task next;
            IReadOnlyList<IPEndPoint> now;
            lock (gate)
            {
                next = changed.Task;
                now = current;
            }

            if (condition(now))
            {
                return now;
            }

            try
            {
                await next.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"Service {Namespace}/{Service} port \"{PortName}\": the condition did not hold within {timeout.TotalSeconds:0.#} s; {Describe()}");
            }
        }
    }

    /// <summary>The current endpoints, the history of changes and any watch errors, for assertion messages.</summary>
    public string Describe()
    {
        var lines = History.Select(h => $"{h.At:HH:mm:ss.fff} [{string.Join(", ", h.Endpoints)}]");
        var problems = Errors;
        return $"endpoints now [{string.Join(", ", Current)}]; history: {string.Join("; ", lines)}"
            + (problems.Count == 0 ? string.Empty : $"; watch errors: {string.Join("; ", problems)}");
    }

    private static async Task<string> SliceVersionAsync(IKubernetes client, CancellationToken ct)
    {
        var groups = await client.Apis.GetAPIVersionsAsync(ct);
        var discovery = groups.Groups.SingleOrDefault(g => g.Name == "discovery.k8s.io")
            ?? throw new InvalidOperationException("the apiserver serves no discovery.k8s.io API group (EndpointSlices): kube-proxy's input is missing");
        return discovery.Versions.Any(v => v.Version == "v1") ? "v1" : "v1beta1";
    }

    private async Task<string> ListAsync(CancellationToken ct)
    {
        using var response = await client.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync<V1EndpointSliceList>(
            "discovery.k8s.io", version, Namespace, "endpointslices", labelSelector: $"{ServiceNameLabel}={Service}", cancellationToken: ct);
        lock (gate)
        {
            slices.Clear();
            foreach (var slice in response.Body.Items)
            {
                slices[slice.Metadata.Name] = slice;
            }

            Recompute();
        }

        return response.Body.Metadata.ResourceVersion;
    }

    private async Task WatchLoopAsync(string resourceVersion, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                Exception? watchError = null;
                var events = client.CustomObjects.WatchListNamespacedCustomObjectAsync(
                    "discovery.k8s.io", version, Namespace, "endpointslices", labelSelector: $"{ServiceNameLabel}={Service}",
                    resourceVersion: resourceVersion, timeoutSeconds: 300, onError: e => watchError = e, cancellationToken: ct);
                await foreach (var (type, item) in events)
                {
                    if (type is WatchEventType.Error or WatchEventType.Bookmark)
                    {
                        break; // A Status (410 Expired and the like): re-list below.
                    }

                    // Custom-object watches hand out raw JSON; v1beta1 slices read as v1 ones for what is used here.
                    var slice = KubernetesJson.Deserialize<V1EndpointSlice>(((System.Text.Json.JsonElement)item).GetRawText());
                    lock (gate)
                    {
                        if (type is WatchEventType.Added or WatchEventType.Modified)
                        {
                            slices[slice.Metadata.Name] = slice;
                        }
                        else if (type == WatchEventType.Deleted)
                        {
                            slices.Remove(slice.Metadata.Name);
                        }

                        resourceVersion = slice.Metadata.ResourceVersion ?? resourceVersion;
                        Recompute();
                    }
                }

                // The watch ended (timeout, 410 Gone after compaction, a dropped connection): re-list, as an informer does.
                if (watchError is not null and not KubernetesException)
                {
                    RecordError($"watch: {watchError.Message}");
                }

                resourceVersion = await ListAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or HttpOperationException or IOException or KubernetesException)
            {
                RecordError($"{e.GetType().Name}: {e.Message}");
                await Task.Delay(TimeSpan.FromMilliseconds(500), CancellationToken.None);
                try
                {
                    resourceVersion = await ListAsync(ct);
                }
                catch (Exception again) when (again is HttpRequestException or HttpOperationException or IOException)
                {
                    RecordError($"re-list: {again.Message}");
                }
            }
        }
    }

    private void RecordError(string message)
    {
        lock (gate)
        {
            errors.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {message}");
        }
    }

    // Called under gate.
    private void Recompute()
    {
        var endpoints = new HashSet<IPEndPoint>();
        foreach (var slice in slices.Values.OrderBy(s => s.Metadata.Name, StringComparer.Ordinal))
        {
            if (slice.AddressType is not ("IPv4" or "IPv6"))
            {
                continue; // FQDN slices are not proxied.
            }

            var port = slice.Ports?.FirstOrDefault(p => (p.Name ?? string.Empty) == PortName && (p.Protocol ?? "TCP") == "TCP");
            if (port?.Port is not { } number)
            {
                continue;
            }

            foreach (var endpoint in slice.Endpoints ?? [])
            {
                if (endpoint.Addresses is not { Count: > 0 } addresses || endpoint.Conditions?.Ready == false)
                {
                    continue;
                }

                if (IPAddress.TryParse(addresses[0], out var address))
                {
                    endpoints.Add(new IPEndPoint(address, number));
                }
            }
        }

        IReadOnlyList<IPEndPoint> sorted = [.. endpoints.OrderBy(e => e.Address.ToString(), StringComparer.Ordinal).ThenBy(e => e.Port)];
        if (history.Count > 0 && sorted.SequenceEqual(current))
        {
            return;
        }

        current = sorted;
        history.Add(new ServiceEndpointsChange(DateTimeOffset.UtcNow, sorted));
        var signal = changed;
        changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        signal.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        if (watch is not null)
        {
            try
            {
                await watch;
            }
            catch (OperationCanceledException)
            {
            }
        }

        stop.Dispose();
    }
}

/// <summary>The endpoints of a Service port from <paramref name="At"/> on.</summary>
public sealed record ServiceEndpointsChange(DateTimeOffset At, IReadOnlyList<IPEndPoint> Endpoints);
