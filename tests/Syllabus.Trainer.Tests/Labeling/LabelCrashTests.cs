using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Syllabus.Trainer.Tests.Data;

namespace Syllabus.Trainer.Tests.Labeling;

/// <summary>
/// The labelling service is SIGKILLed in the middle of a stream of concurrent submissions and restarted on the same
/// store: every label it acknowledged is there exactly once, and resending the unanswered ones (same keys) labels each
/// item once.
/// </summary>
public sealed class LabelCrashTests : IDisposable
{
    private const string Token = "crash-test-token";
    private const int Items = 600;
    private const int Writers = 8;
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Every_acknowledged_label_survives_SIGKILL_exactly_once()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var batch = LabelProcess.WriteBatch(_folder.Path, Items);
        var tokenFile = _folder.Full("token");
        await File.WriteAllTextAsync(tokenFile, Token + "\n", cancellationToken);
        string[] arguments = ["--store", Path.Combine(_folder.Path, "store", "labels.db"), "--pool", batch, "--labels", "cat,dog", "--token-file", tokenFile];

        var acknowledged = new ConcurrentDictionary<string, (string Item, string Label)>();
        var unanswered = new ConcurrentDictionary<string, (string Item, string Label)>();
        using (var first = await LabelProcess.StartAsync(arguments))
        {
            using var client = Client(first.Address);
            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                // Each writer owns every Writers-th item, so no two submissions race for one item.
                for (var i = w + 1; i <= Items && !stop.IsCancellationRequested; i += Writers)
                {
                    var key = $"key-{i}";
                    var label = i % 3 == 0 ? "dog" : "cat";
                    unanswered[key] = ($"item-{i}", label);
                    try
                    {
                        using var response = await client.PostAsJsonAsync("/api/submit", new { itemId = $"item-{i}", label, idempotencyKey = key }, CancellationToken.None);
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            acknowledged[key] = ($"item-{i}", label);
                            unanswered.TryRemove(key, out _);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return; // the service is gone
                    }
                }
            }, cancellationToken)).ToArray();

            // Kill once a good part of the stream is acknowledged and plenty is still in flight.
            while (acknowledged.Count < 150 && writers.Any(t => !t.IsCompleted))
            {
                await Task.Delay(5, cancellationToken);
            }

            first.Kill();
            stop.Cancel();
            await Task.WhenAll(writers);
        }

        Assert.InRange(acknowledged.Count, 150, Items - 1);
        using var second = await LabelProcess.StartAsync(arguments);
        using var restarted = Client(second.Address);
        var events = (await restarted.GetFromJsonAsync<JsonObject>("/api/events", cancellationToken))!["events"]!.AsArray();
        var byKey = events.GroupBy(e => (string)e!["idempotencyKey"]!).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var (key, (item, label)) in acknowledged)
        {
            Assert.True(byKey.TryGetValue(key, out var recorded), $"acknowledged {key} is missing after the restart");
            var only = Assert.Single(recorded);
            Assert.Equal((item, label), ((string)only!["itemId"]!, (string)only["label"]!));
        }

        Assert.Equal(events.Count, events.Select(e => (string)e!["itemId"]!).Distinct().Count());

        // The client resends what it never heard back about, with the same keys: each item ends labelled once.
        foreach (var (key, (item, label)) in unanswered)
        {
            using var response = await restarted.PostAsJsonAsync("/api/submit", new { itemId = item, label, idempotencyKey = key }, cancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var stats = (await restarted.GetFromJsonAsync<JsonObject>("/api/stats", cancellationToken))!;
        Assert.Equal(acknowledged.Count + unanswered.Count, (int)stats["labelled"]!);
        var after = (await restarted.GetFromJsonAsync<JsonObject>("/api/events", cancellationToken))!["events"]!.AsArray();
        Assert.Equal(after.Count, after.Select(e => (string)e!["itemId"]!).Distinct().Count());
        Assert.Contains("0 new items", second.Output);
    }

    private static HttpClient Client(Uri address)
    {
        var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return client;
    }
}
