using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using k8s.Models;

namespace Syllabus.Testing;

/// <summary>A probe's verdict, or null result with <see cref="Error"/> when it could not run (the kubelet then discards it).</summary>
internal sealed record ActionOutcome(bool? Success, string Output, string? Error = null)
{
    public static ActionOutcome Passed(string output) => new(true, output);

    public static ActionOutcome Failed(string output) => new(false, output);

    public static ActionOutcome Errored(string error) => new(null, string.Empty, error);
}

/// <summary>Where a container's probes and hooks run: its pod IP, its spec, and for exec its environment and paths.</summary>
internal sealed record ContainerContext(
    string PodIp,
    V1Container Container,
    IReadOnlyDictionary<string, string> Environment,
    PathMap Paths,
    string WorkingDirectory);

/// <summary>
/// Probe and lifecycle-hook handlers the way the 1.20 kubelet runs them: httpGet (host = pod IP unless set,
/// port by number or by the name of a containerPort, scheme HTTP or HTTPS without certificate checks, headers,
/// User-Agent kube-probe/1.20; success for a status in [200, 400), redirects followed on the same host only),
/// tcpSocket (success when a connection opens), exec (success for exit code 0, killed after the timeout as with
/// ExecProbeTimeout). An exec command runs on this machine, not in an image: command[0] is looked up on PATH,
/// its arguments get the container's path mapping, and it sees the container's environment and working
/// directory.
/// </summary>
internal static class ContainerActions
{
    private const int MaxOutputBytes = 10 * 1024;

    private static readonly HttpClient Http = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.Zero,
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Runs a probe once within its timeout.</summary>
    public static Task<ActionOutcome> ProbeAsync(V1Probe probe, ContainerContext context, CancellationToken ct)
    {
        var timeout = TimeSpan.FromSeconds(probe.TimeoutSeconds is > 0 and var seconds ? seconds : 1);
        if (probe.Exec is { } exec)
        {
            return ExecAsync(exec, context, timeout, ct);
        }

        if (probe.HttpGet is { } httpGet)
        {
            return HttpGetAsync(httpGet, context, timeout, statusMatters: true, ct);
        }

        if (probe.TcpSocket is { } tcp)
        {
            return TcpSocketAsync(tcp, context, timeout, ct);
        }

        return Task.FromResult(ActionOutcome.Errored(probe.Grpc is null
            ? "the probe has no handler (exec, httpGet or tcpSocket)"
            : "grpc probes do not exist in Kubernetes 1.20; TestKubelet does not run them"));
    }

    /// <summary>Runs a lifecycle hook (postStart, preStop) within <paramref name="timeout"/>. httpGet hooks only fail when no response comes, as in 1.20.</summary>
    public static Task<ActionOutcome> HookAsync(V1LifecycleHandler hook, ContainerContext context, TimeSpan timeout, CancellationToken ct)
    {
        if (hook.Exec is { } exec)
        {
            return ExecAsync(exec, context, timeout, ct);
        }

        if (hook.HttpGet is { } httpGet)
        {
            return HttpGetAsync(httpGet, context, timeout, statusMatters: false, ct);
        }

        return Task.FromResult(ActionOutcome.Errored(hook.TcpSocket is not null
            ? "tcpSocket is not supported as a lifecycle hook"
            : "the hook has no handler Kubernetes 1.20 knows (exec or httpGet)"));
    }

    /// <summary>A port given by number, or by the name of one of the container's ports.</summary>
    public static int? ResolvePort(IntOrString port, V1Container container, out string? error)
    {
        error = null;
        var value = port.Value ?? string.Empty;
        if (int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            if (number is > 0 and < 65536)
            {
                return number;
            }

            error = $"invalid port number: {number}";
            return null;
        }

        var named = container.Ports?.FirstOrDefault(p => p.Name == value);
        if (named is null)
        {
            error = $"couldn't find port: {value} in container {container.Name}";
            return null;
        }

        return named.ContainerPort;
    }

    private static async Task<ActionOutcome> HttpGetAsync(V1HTTPGetAction action, ContainerContext context, TimeSpan timeout, bool statusMatters, CancellationToken ct)
    {
        if (ResolvePort(action.Port, context.Container, out var portError) is not { } port)
        {
            return ActionOutcome.Errored(portError!);
        }

        var scheme = (action.Scheme ?? "HTTP").ToUpperInvariant();
        if (scheme is not ("HTTP" or "HTTPS"))
        {
            return ActionOutcome.Errored($"unsupported scheme \"{action.Scheme}\"");
        }

        var host = string.IsNullOrEmpty(action.Host) ? context.PodIp : action.Host;
        var path = string.IsNullOrEmpty(action.Path) ? "/" : action.Path;
        var uri = new UriBuilder(scheme.ToLowerInvariant(), host, port) { Path = path.Split('?')[0], Query = path.Contains('?', StringComparison.Ordinal) ? path[(path.IndexOf('?', StringComparison.Ordinal) + 1)..] : string.Empty }.Uri;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            for (var redirects = 0; ; redirects++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                request.Headers.ConnectionClose = true; // the kubelet's prober disables keep-alive
                request.Headers.TryAddWithoutValidation("User-Agent", "kube-probe/1.20");
                request.Headers.TryAddWithoutValidation("Accept", "*/*");
                foreach (var header in action.HttpHeaders ?? [])
                {
                    if (string.Equals(header.Name, "Host", StringComparison.OrdinalIgnoreCase))
                    {
                        request.Headers.Host = header.Value;
                    }
                    else
                    {
                        request.Headers.Remove(header.Name);
                        request.Headers.TryAddWithoutValidation(header.Name, header.Value);
                    }
                }

                using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
                var body = await ReadLimitedAsync(response.Content, deadline.Token);
                var code = (int)response.StatusCode;
                if (statusMatters && code is >= 300 and < 400 && response.Headers.Location is { } location && redirects < 10)
                {
                    var next = location.IsAbsoluteUri ? location : new Uri(uri, location);
                    if (next.Host == uri.Host)
                    {
                        uri = next;
                        continue;
                    }

                    return ActionOutcome.Passed($"probe terminated redirects to another host: {next}");
                }

                if (!statusMatters || code is >= 200 and < 400)
                {
                    return ActionOutcome.Passed(body);
                }

                return ActionOutcome.Failed($"HTTP probe failed with statuscode: {code}");
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ActionOutcome.Failed($"Get \"{uri}\": context deadline exceeded (timeout {timeout.TotalSeconds:0.#}s)");
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            // Refused, reset, or cut off while reading the body (a server going down): the probe fails.
            return ActionOutcome.Failed($"Get \"{uri}\": {e.InnerException?.Message ?? e.Message}");
        }
    }

    private static async Task<string> ReadLimitedAsync(HttpContent content, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct);
        var buffer = new byte[MaxOutputBytes];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), ct)) > 0)
        {
            total += read;
        }

        return Encoding.UTF8.GetString(buffer, 0, total);
    }

    private static async Task<ActionOutcome> TcpSocketAsync(V1TCPSocketAction action, ContainerContext context, TimeSpan timeout, CancellationToken ct)
    {
        if (ResolvePort(action.Port, context.Container, out var portError) is not { } port)
        {
            return ActionOutcome.Errored(portError!);
        }

        var host = string.IsNullOrEmpty(action.Host) ? context.PodIp : action.Host;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(host, port, deadline.Token);
            return ActionOutcome.Passed(string.Empty);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ActionOutcome.Failed($"dial tcp {host}:{port}: i/o timeout");
        }
        catch (SocketException e)
        {
            return ActionOutcome.Failed($"dial tcp {host}:{port}: {e.Message}");
        }
    }

    private static async Task<ActionOutcome> ExecAsync(V1ExecAction action, ContainerContext context, TimeSpan timeout, CancellationToken ct)
    {
        if (action.Command is not { Count: > 0 } command)
        {
            return ActionOutcome.Errored("exec has an empty command");
        }

        var startInfo = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = context.WorkingDirectory,
        };
        foreach (var argument in command.Skip(1))
        {
            startInfo.ArgumentList.Add(context.Paths.Apply(argument));
        }

        foreach (var (key, value) in context.Environment)
        {
            startInfo.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new InvalidOperationException($"could not start {command[0]}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // As in a container where the executable is missing: the exec fails, the probe fails.
            return ActionOutcome.Failed($"exec {command[0]}: {e.Message}");
        }

        using (process)
        {
            process.StandardInput.Close();
            var output = new StringBuilder();
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
                ct.ThrowIfCancellationRequested();
                return ActionOutcome.Failed($"command {string.Join(' ', command)} timed out after {timeout.TotalSeconds:0.#}s");
            }

            output.Append(await stdout).Append(await stderr);
            var text = output.Length > MaxOutputBytes ? output.ToString(0, MaxOutputBytes) : output.ToString();
            return process.ExitCode == 0
                ? ActionOutcome.Passed(text)
                : ActionOutcome.Failed($"command {string.Join(' ', command)} exited with {process.ExitCode}: {text}");
        }
    }
}
