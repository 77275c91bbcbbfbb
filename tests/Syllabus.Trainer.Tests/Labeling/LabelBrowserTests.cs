using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Syllabus.Testing;
using Syllabus.Trainer.Labeling;
using Syllabus.Trainer.Tests.Data;

namespace Syllabus.Trainer.Tests.Labeling;

/// <summary>
/// Debian's chromium, headless, driven over the DevTools protocol (System.Net.WebSockets): labels items with the
/// keyboard in the UI, undoes one, skips one, and reads the counts back through the API. Skipped, with the reason,
/// where no chromium is installed.
/// </summary>
public sealed class LabelBrowserTests : IDisposable
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

    private static void RequireChromium()
    {
        if (HeadlessChromium.SkipReason is { } reason)
        {
            Assert.Skip(reason);
        }
    }

    private const string Message = "document.getElementById('message') && document.getElementById('message').textContent";

    [Fact]
    public async Task Labels_by_keyboard_undoes_and_skips_and_the_API_sees_the_counts()
    {
        RequireChromium();
        var cancellationToken = TestContext.Current.CancellationToken;
        var store = LabelStore.Open(_folder.Full("labels.db"), LabelStoreTests.Schema, budget: 10);
        await store.ImportAsync(LabelStoreTests.Items(6), cancellationToken);
        await using var server = await LabelServer.StartAsync(store, Token, ["http://127.0.0.1:0"], cancellationToken);
        using var api = new HttpClient { BaseAddress = new Uri(server.Addresses[0]) };

        using var browser = await HeadlessChromium.StartAsync(_folder.Full("profile"), cancellationToken);
        using var page = await browser.OpenPageAsync(cancellationToken);
        await page.NavigateAsync($"{server.Addresses[0]}/#token={Token}", cancellationToken);
        await page.WaitForAsync("document.body.dataset.ready === 'true'", cancellationToken, Message);
        Assert.Equal("item item-1 · rank 1 · score 1.0000", await page.EvaluateAsync("document.getElementById('item-id').textContent", cancellationToken));
        Assert.Equal("cat", await page.EvaluateAsync("document.querySelector('#predicted b').textContent", cancellationToken));

        async Task Press(string key, string code, int keyCode, string? text, Func<JsonObject, bool> done)
        {
            await page.PressKeyAsync(key, code, keyCode, text, cancellationToken);
            var clock = Stopwatch.StartNew();
            while (!done((await api.GetFromJsonAsync<JsonObject>("/api/stats", cancellationToken))!))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the UI did not act on {key}: {await page.EvaluateAsync("document.getElementById('message').textContent", cancellationToken)}");
                await Task.Delay(50, cancellationToken);
            }

            // The next key only counts once the page has taken in the answer and shown the next item.
            await page.WaitForAsync("document.body.dataset.busy === 'false'", cancellationToken, Message);
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
}
