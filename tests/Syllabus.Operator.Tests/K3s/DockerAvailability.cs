using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Syllabus.Operator.Tests.K3s;

/// <summary>
/// Whether a Docker engine answers and holds (or can pull) an image: the k3s tests need both, and report
/// themselves skipped with the reason otherwise.
/// </summary>
internal static class DockerAvailability
{
    public static async Task<string?> SkipReasonAsync(string image, CancellationToken ct)
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } configured ? configured : "unix:///var/run/docker.sock";
        using var http = CreateClient(host, out var problem);
        if (http is null)
        {
            return problem;
        }

        try
        {
            using var ping = await http.GetAsync("/_ping", ct);
            if (!ping.IsSuccessStatusCode)
            {
                return $"Docker at {host} answered /_ping with {(int)ping.StatusCode}";
            }

            using var inspect = await http.GetAsync($"/images/{image}/json", ct);
            if (inspect.StatusCode == HttpStatusCode.OK)
            {
                return null;
            }

            // Not local: try to pull it once (the engine streams JSON progress; an errorDetail line means it failed).
            var (repository, tag) = SplitImage(image);
            using var pull = await http.PostAsync($"/images/create?fromImage={Uri.EscapeDataString(repository)}&tag={Uri.EscapeDataString(tag)}", null, ct);
            var body = await pull.Content.ReadAsStringAsync(ct);
            if (!pull.IsSuccessStatusCode || body.Contains("\"errorDetail\"", StringComparison.Ordinal))
            {
                return $"the image {image} is not present in Docker at {host} and could not be pulled: {FirstError(body)}";
            }

            return null;
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException or TaskCanceledException)
        {
            return $"no Docker engine answers at {host} ({e.GetBaseException().Message})";
        }
    }

    private static HttpClient? CreateClient(string host, out string? problem)
    {
        problem = null;
        if (host.StartsWith("unix://", StringComparison.Ordinal))
        {
            var path = host["unix://".Length..];
            if (!File.Exists(path))
            {
                problem = $"no Docker engine: {path} does not exist (set DOCKER_HOST to use another)";
                return null;
            }

            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, token) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), token);
                    return new NetworkStream(socket, ownsSocket: true);
                },
            };
            return new HttpClient(handler) { BaseAddress = new Uri("http://docker"), Timeout = TimeSpan.FromMinutes(3) };
        }

        if (host.StartsWith("tcp://", StringComparison.Ordinal))
        {
            return new HttpClient { BaseAddress = new Uri("http://" + host["tcp://".Length..]), Timeout = TimeSpan.FromMinutes(3) };
        }

        problem = $"DOCKER_HOST={host} is neither unix:// nor tcp://";
        return null;
    }

    private static (string Repository, string Tag) SplitImage(string image)
    {
        var colon = image.LastIndexOf(':');
        return colon > image.LastIndexOf('/') ? (image[..colon], image[(colon + 1)..]) : (image, "latest");
    }

    private static string FirstError(string body)
    {
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                using var document = JsonDocument.Parse(line);
                if (document.RootElement.TryGetProperty("error", out var error))
                {
                    return error.GetString() ?? line;
                }
            }
            catch (JsonException)
            {
                return line;
            }
        }

        return body.Length > 200 ? body[..200] : body;
    }
}
