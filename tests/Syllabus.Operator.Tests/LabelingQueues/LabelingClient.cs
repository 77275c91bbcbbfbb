using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using k8s;
using Syllabus.Operator.LabelingQueues;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.LabelingQueues;

/// <summary>A labeller: the labelling service reached through its Service's endpoints, writes with the token from the queue's Secret.</summary>
public sealed class LabelingClient : IAsyncDisposable
{
    private readonly ServiceEndpoints endpoints;
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly string token;
    private int submissions;

    private LabelingClient(ServiceEndpoints endpoints, string token)
    {
        this.endpoints = endpoints;
        this.token = token;
    }

    public static async Task<LabelingClient> StartAsync(IKubernetes client, string ns, string queue, CancellationToken ct)
    {
        var secret = await client.CoreV1.ReadNamespacedSecretAsync(LabelingQueueNames.TokenSecret(queue), ns, cancellationToken: ct);
        var token = System.Text.Encoding.UTF8.GetString(secret.Data[LabelingQueueNames.TokenKey]);
        var endpoints = await ServiceEndpoints.StartAsync(client, ns, LabelingQueueNames.LabelService(queue), LabelingQueueNames.PortName, ct);
        await endpoints.WaitUntilAsync(e => e.Count == 1, TimeSpan.FromSeconds(60), ct);
        return new LabelingClient(endpoints, token);
    }

    /// <summary>Labels up to <paramref name="count"/> pending items with the model's prediction; returns how many it labelled.</summary>
    public async Task<int> LabelAsync(int count, CancellationToken ct)
    {
        var next = (await http.GetFromJsonAsync<JsonObject>(Url($"/api/next?limit={count}"), ct))?["items"]?.AsArray() ?? [];
        foreach (var item in next)
        {
            using var response = await SubmitAsync(item!["id"]!.GetValue<string>(), item["predicted"]!.GetValue<string>(), withToken: true, ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"submit answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
        }

        return next.Count;
    }

    /// <summary>One submission (a fresh idempotency key); the caller disposes the answer.</summary>
    public async Task<HttpResponseMessage> SubmitAsync(string itemId, string label, bool withToken, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Url("/api/submit"))
        {
            Content = JsonContent.Create(new { itemId, label, idempotencyKey = $"e2e-{Interlocked.Increment(ref submissions)}-{Guid.NewGuid():N}" }),
        };
        if (withToken)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return await http.SendAsync(request, ct);
    }

    /// <summary>The labelling UI's page.</summary>
    public Task<string> PageAsync(CancellationToken ct) => http.GetStringAsync(Url("/"), ct);

    /// <summary>The first pending item's id, if any.</summary>
    public async Task<string?> FirstPendingAsync(CancellationToken ct) =>
        (await http.GetFromJsonAsync<JsonObject>(Url("/api/next?limit=1"), ct))?["items"]?.AsArray().FirstOrDefault()?["id"]?.GetValue<string>();

    private Uri Url(string path) => new($"http://{endpoints.Current[0]}{path}");

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await endpoints.DisposeAsync();
    }
}
