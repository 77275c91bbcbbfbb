using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Syllabus.Trainer.Labeling;
using Syllabus.Trainer.Tests.Data;

namespace Syllabus.Trainer.Tests.Labeling;

/// <summary>
/// Debian's chromium, headless, driven over the DevTools protocol (System.Net.WebSockets): labels items with the
/// keyboard in the UI, undoes one, skips one, and reads the counts back through the API. Skipped, with the reason,
/// where no chromium is installed.
/// </summary>
public sealed partial class LabelBrowserTests : IDisposable
{
    private const string Token = "browser-token";
    private readonly TempFolder _folder = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            _folder.Dispose();
        }
        catch (IOException)
        {
            // chromium may still be writing its profile for a moment after it was killed.
        }
    }

    private static string Chromium()
    {
        var candidates = new[] { Environment.GetEnvironmentVariable("CHROMIUM_PATH") }
            .Concat((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').SelectMany(d => new[] { Path.Combine(d, "chromium"), Path.Combine(d, "chromium-browser") }));
        var found = candidates.FirstOrDefault(File.Exists);
        if (found is null)
        {
            Assert.Skip("chromium is not installed (Debian: apt-get install chromium; or set CHROMIUM_PATH)");
        }

        return found;
    }

    [Fact]
    public async Task Labels_by_keyboard_undoes_and_skips_and_the_API_sees_the_counts()
    {
        var chromium = Chromium();
        var cancellationToken = TestContext.Current.CancellationToken;
        var store = LabelStore.Open(_folder.Full("labels.db"), LabelStoreTests.Schema, budget: 10);
        await store.ImportAsync(LabelStoreTests.Items(6), cancellationToken);
        await using var server = await LabelServer.StartAsync(store, Token, ["http://127.0.0.1:0"], cancellationToken);
        using var api = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };

        using var browser = StartBrowser(chromium, _folder.Full("profile"), out var devtools);
        using var page = await DevTools.OpenPageAsync(await devtools, cancellationToken);
        await page.CallAsync("Page.navigate", new JsonObject { ["url"] = $"{server.Addresses[0]}/#token={Token}" }, cancellationToken);
        await page.WaitForAsync("document.body.dataset.ready === 'true'", cancellationToken);
        Assert.Equal("item item-1 · rank 1 · score 1.0000", await page.EvaluateAsync("document.getElementById('item-id').textContent", cancellationToken));
        Assert.Equal("cat", await page.EvaluateAsync("document.querySelector('#predicted b').textContent", cancellationToken));

        async Task Press(string key, string code, int keyCode, string? text, Func<JsonObject, bool> done)
        {
            var down = new JsonObject { ["type"] = text is null ? "rawKeyDown" : "keyDown", ["key"] = key, ["code"] = code, ["windowsVirtualKeyCode"] = keyCode };
            if (text is not null)
            {
                down["text"] = text;
            }

            await page.CallAsync("Input.dispatchKeyEvent", down, cancellationToken);
            await page.CallAsync("Input.dispatchKeyEvent", new JsonObject { ["type"] = "keyUp", ["key"] = key, ["code"] = code, ["windowsVirtualKeyCode"] = keyCode }, cancellationToken);
            var clock = Stopwatch.StartNew();
            while (!done((await api.GetFromJsonAsync<JsonObject>("/api/stats", cancellationToken))!))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the UI did not act on {key}: {await page.EvaluateAsync("document.getElementById('message').textContent", cancellationToken)}");
                await Task.Delay(50, cancellationToken);
            }

            // The next key only counts once the page has taken in the answer and shown the next item.
            await page.WaitForAsync("document.body.dataset.busy === 'false'", cancellationToken);
        }

        // Labels of several letters: 1 and 2 by position, c and d by first letter.
        await Press("1", "Digit1", 49, "1", s => (int)s["labelled"]! == 1);
        await Press("d", "KeyD", 68, "d", s => (int)s["labelled"]! == 2);
        await Press("c", "KeyC", 67, "c", s => (int)s["labelled"]! == 3);
        await Press("Backspace", "Backspace", 8, null, s => (int)s["labelled"]! == 2);
        await page.WaitForAsync("document.getElementById('item-id').textContent.startsWith('item item-3 ')", cancellationToken);
        await Press(" ", "Space", 32, " ", s => (int)s["skipped"]! == 1);

        var stats = (await api.GetFromJsonAsync<JsonObject>("/api/stats", cancellationToken))!;
        Assert.Equal((2, 1, 3, 8), ((int)stats["labelled"]!, (int)stats["skipped"]!, (int)stats["pending"]!, (int)stats["budgetLeft"]!));
        var labelled = (await api.GetFromJsonAsync<JsonObject>("/api/items?state=labelled", cancellationToken))!["items"]!.AsArray();
        Assert.Equal(["item-1:cat", "item-2:dog"], labelled.Select(i => $"{i!["id"]}:{i["label"]}"));
        Assert.Equal("skipped", (string)(await api.GetFromJsonAsync<JsonObject>("/api/items/item-3", cancellationToken))!["state"]!);
        await page.WaitForAsync("document.getElementById('counts').textContent.startsWith('2 labelled of a budget of 10')", cancellationToken);
        await page.WaitForAsync("document.getElementById('item-id').textContent.startsWith('item item-4 ')", cancellationToken);
    }

    private static Browser StartBrowser(string chromium, string profile, out Task<Uri> devtools)
    {
        var info = new ProcessStartInfo(chromium) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
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
        devtools = listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return new Browser(process);
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex DevToolsLine();

    /// <summary>Kills the browser (and its renderer and GPU processes) when the test ends.</summary>
    private sealed class Browser(Process process) : IDisposable
    {
        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            process.Dispose();
        }
    }

    /// <summary>A DevTools protocol session with one page: commands by id over a WebSocket; events are ignored.</summary>
    private sealed class DevTools : IDisposable
    {
        private readonly ClientWebSocket _socket = new();
        private int _nextId;

        public static async Task<DevTools> OpenPageAsync(Uri browser, CancellationToken cancellationToken)
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://{browser.Authority}") };
            using var created = await http.PutAsync("/json/new?about:blank", null, cancellationToken);
            var target = JsonNode.Parse(await created.Content.ReadAsStringAsync(cancellationToken))!;
            var page = new DevTools();
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
                    result = await _socket.ReceiveAsync(buffer, cancellationToken).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
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

        public async Task<string?> EvaluateAsync(string expression, CancellationToken cancellationToken)
        {
            var result = await CallAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["returnByValue"] = true }, cancellationToken);
            return result?["result"]?["value"]?.ToString();
        }

        public async Task WaitForAsync(string condition, CancellationToken cancellationToken)
        {
            var clock = Stopwatch.StartNew();
            while (await EvaluateAsync($"!!({condition})", cancellationToken) != "true")
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"timed out waiting for {condition}; message: {await EvaluateAsync("document.getElementById('message') && document.getElementById('message').textContent", cancellationToken)}");
                await Task.Delay(50, cancellationToken);
            }
        }

        public void Dispose() => _socket.Dispose();
    }
}
