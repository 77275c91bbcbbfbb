using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Syllabus.Testing;

/// <summary>
/// Debian's chromium, headless, for browser tests: started with a throwaway profile and a DevTools port, killed (with
/// its renderer and GPU processes) on dispose. Pages are driven over the DevTools protocol (<see cref="DevToolsPage"/>).
/// </summary>
public sealed partial class HeadlessChromium : IDisposable
{
    private readonly Process _process;
    private int _disposed;

    private HeadlessChromium(Process process, Uri devTools)
    {
        _process = process;
        DevTools = devTools;
    }

    /// <summary>The browser's DevTools WebSocket address.</summary>
    public Uri DevTools { get; }

    /// <summary>Why a browser test cannot run here, or null when chromium is installed (CHROMIUM_PATH, or chromium on PATH).</summary>
    public static string? SkipReason => FindExecutable() is null
        ? "chromium is not installed (Debian: apt-get install chromium; or set CHROMIUM_PATH)"
        : null;

    public static string? FindExecutable() =>
        new[] { Environment.GetEnvironmentVariable("CHROMIUM_PATH") }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .SelectMany(d => new[] { Path.Combine(d, "chromium"), Path.Combine(d, "chromium-browser") }))
            .FirstOrDefault(File.Exists);

    /// <summary>Starts chromium with its profile in <paramref name="profile"/> and waits for its DevTools address.</summary>
    public static async Task<HeadlessChromium> StartAsync(string profile, CancellationToken cancellationToken)
    {
        var executable = FindExecutable() ?? throw new InvalidOperationException(SkipReason);
        var info = new ProcessStartInfo(executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0", $"--user-data-dir={profile}", "about:blank" })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info)!;
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null && DevToolsLine().Match(e.Data) is { Success: true } match)
            {
                listening.TrySetResult(new Uri(match.Groups[1].Value));
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            return new HeadlessChromium(process, await listening.Task.WaitAsync(TimeSpan.FromSeconds(60), cancellationToken));
        }
        catch
        {
            Kill(process);
            throw;
        }
    }

    /// <summary>Opens a new blank page and a DevTools session on it.</summary>
    public Task<DevToolsPage> OpenPageAsync(CancellationToken cancellationToken) => DevToolsPage.OpenAsync(DevTools, cancellationToken);

    /// <summary>Kills the browser; a second call does nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Kill(_process);
        }
    }

    private static void Kill(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        process.Dispose();
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex DevToolsLine();
}

/// <summary>A DevTools protocol session with one page: commands by id over a WebSocket; events are ignored.</summary>
public sealed class DevToolsPage : IDisposable
{
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(30);
    private readonly ClientWebSocket _socket = new();
    private int _nextId;

    internal static async Task<DevToolsPage> OpenAsync(Uri browser, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://{browser.Authority}") };
        using var created = await http.PutAsync(new Uri("/json/new?about:blank", UriKind.Relative), null, cancellationToken);
        var target = JsonNode.Parse(await created.Content.ReadAsStringAsync(cancellationToken))!;
        var page = new DevToolsPage();
        await page._socket.ConnectAsync(new Uri((string)target["webSocketDebuggerUrl"]!), cancellationToken);
        return page;
    }

    public async Task<JsonNode?> CallAsync(string method, JsonObject parameters, CancellationToken cancellationToken)
    {
        var id = ++_nextId;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, cancellationToken);
        var buffer = new byte[64 * 1024];
        while (true)
        {
            using var text = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await _socket.ReceiveAsync(buffer, cancellationToken).WaitAsync(WaitLimit, cancellationToken);
                text.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);

            var reply = JsonNode.Parse(text.ToArray())!;
            if (reply["id"]?.GetValue<int>() != id)
            {
                continue;
            }

            return reply["error"] is { } error ? throw new InvalidOperationException($"{method}: {error.ToJsonString()}") : reply["result"];
        }
    }

    public Task NavigateAsync(string url, CancellationToken cancellationToken) =>
        CallAsync("Page.navigate", new JsonObject { ["url"] = url }, cancellationToken);

    /// <summary>A JavaScript expression's value, as a string (null for null or undefined).</summary>
    public async Task<string?> EvaluateAsync(string expression, CancellationToken cancellationToken)
    {
        var result = await CallAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true }, cancellationToken);
        return result?["result"]?["value"]?.ToString();
    }

    /// <summary>
    /// Polls <paramref name="condition"/> (JavaScript) until it is truthy; after 30 s throws a TimeoutException showing
    /// <paramref name="diagnostic"/>'s value (e.g. the page's message line).
    /// </summary>
    public async Task WaitForAsync(string condition, CancellationToken cancellationToken, string diagnostic = "document.title")
    {
        var clock = Stopwatch.StartNew();
        while (await EvaluateAsync($"!!({condition})", cancellationToken) != "true")
        {
            if (clock.Elapsed > WaitLimit)
            {
                throw new TimeoutException($"timed out waiting for {condition}; {diagnostic}: {await EvaluateAsync(diagnostic, cancellationToken)}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>Presses and releases a key as a keyboard would (<paramref name="text"/> null for keys that type nothing).</summary>
    public async Task PressKeyAsync(string key, string code, int keyCode, string? text, CancellationToken cancellationToken)
    {
        var down = new JsonObject { ["type"] = text is null ? "rawKeyDown" : "keyDown", ["key"] = key, ["code"] = code, ["windowsVirtualKeyCode"] = keyCode };
        if (text is not null)
        {
            down["text"] = text;
        }

        await CallAsync("Input.dispatchKeyEvent", down, cancellationToken);
        await CallAsync("Input.dispatchKeyEvent", new JsonObject { ["type"] = "keyUp", ["key"] = key, ["code"] = code, ["windowsVirtualKeyCode"] = keyCode }, cancellationToken);
    }

    public void Dispose() => _socket.Dispose();
}
