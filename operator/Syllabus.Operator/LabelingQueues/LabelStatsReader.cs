using System.Text.Json;

namespace Syllabus.Operator.LabelingQueues;

/// <summary>The labelling service's <c>GET /api/stats</c>.</summary>
public sealed record LabelStats(long Total, long Pending, long Labelled, long Skipped, long? Budget, long? BudgetLeft, bool BudgetExhausted, long LastEventSeq)
{
    /// <summary>The scored batches the service could not import (its <c>batchesNotImported</c>, the first 20), by file name.</summary>
    public IReadOnlyList<BatchNotImported> BatchesNotImported { get; init; } = [];

    /// <summary>How many batches the service could not import, listed or not.</summary>
    public long BatchesNotImportedCount { get; init; }
}

/// <summary>A batch file of the store's batch folder the labelling service could not import, and why.</summary>
public sealed record BatchNotImported(string File, string Reason);

/// <summary>Reads a labelling pod's counts.</summary>
public interface ILabelStatsReader
{
    /// <summary>The stats of the pod at <paramref name="address"/> (host:port); throws <see cref="LabelStatsException"/> when it cannot.</summary>
    Task<LabelStats> ReadAsync(string address, CancellationToken ct);
}

public sealed class LabelStatsException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Reads <c>GET http://POD:PORT/api/stats</c> (no token: reads are open), bounded to 64 KiB.</summary>
public sealed class HttpLabelStatsReader(HttpClient http) : ILabelStatsReader
{
    private const int MaxBytes = 64 << 10;

    public async Task<LabelStats> ReadAsync(string address, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"http://{address}/api/stats"), HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new LabelStatsException($"GET {address}/api/stats answered {(int)response.StatusCode}");
            }

            var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = new byte[MaxBytes + 1];
                var length = 0;
                int read;
                while (length <= MaxBytes && (read = await stream.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false)) > 0)
                {
                    length += read;
                }

                if (length > MaxBytes)
                {
                    throw new LabelStatsException($"GET {address}/api/stats answered more than {MaxBytes} bytes");
                }

                return Parse(buffer.AsSpan(0, length), address);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new LabelStatsException($"GET {address}/api/stats: {e.Message}", e);
        }
    }

    internal static LabelStats Parse(ReadOnlySpan<byte> json, string address)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            long Required(string name) => root.TryGetProperty(name, out var v) && v.TryGetInt64(out var n) && n >= 0
                ? n
                : throw new LabelStatsException($"GET {address}/api/stats: no count '{name}'");
            long? Optional(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;
            var exhausted = root.TryGetProperty("budgetExhausted", out var e) && e.ValueKind == JsonValueKind.True;
            // A service of an older image has no such list: nothing known to be wrong.
            IReadOnlyList<BatchNotImported> notImported = root.TryGetProperty("batchesNotImported", out var b) && b.ValueKind == JsonValueKind.Array && b.GetArrayLength() > 0
                ? [.. b.EnumerateArray().Select(f => new BatchNotImported(f.GetProperty("file").GetString() ?? "", f.GetProperty("reason").GetString() ?? ""))]
                : Array.Empty<BatchNotImported>();
            return new LabelStats(Required("total"), Required("pending"), Required("labelled"), Required("skipped"), Optional("budget"), Optional("budgetLeft"), exhausted, Optional("lastEventSeq") ?? 0)
            {
                BatchesNotImported = notImported,
                BatchesNotImportedCount = Optional("batchesNotImportedCount") ?? notImported.Count,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new LabelStatsException($"GET {address}/api/stats: malformed answer: {e.Message}", e);
        }
    }
}
