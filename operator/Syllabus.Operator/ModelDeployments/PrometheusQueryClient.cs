using System.Globalization;
using System.Text.Json;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>Runs an instant PromQL query (<c>GET /api/v1/query</c>).</summary>
public interface IPrometheusQueryClient
{
    /// <summary>The query's single number: no data for an empty result or NaN, an error for anything else unusable.</summary>
    Task<MeasuredValue> QueryAsync(string address, string query, CancellationToken ct);
}

public sealed class HttpPrometheusQueryClient(HttpClient http) : IPrometheusQueryClient
{
    public async Task<MeasuredValue> QueryAsync(string address, string query, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        ArgumentException.ThrowIfNullOrEmpty(query);
        var url = new Uri($"{address.TrimEnd('/')}/api/v1/query?query={Uri.EscapeDataString(query)}");
        string body;
        System.Net.HttpStatusCode status;
        try
        {
            using var response = await http.GetAsync(url, ct).ConfigureAwait(false);
            status = response.StatusCode;
            body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return MeasuredValue.Failed($"Prometheus at {address} is unreachable: {e.Message}");
        }

        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.GetProperty("status").GetString() != "success")
            {
                var error = root.TryGetProperty("error", out var e) ? e.GetString() : $"HTTP {(int)status}";
                return MeasuredValue.Failed($"Prometheus rejected the query: {error}");
            }

            var data = root.GetProperty("data");
            var type = data.GetProperty("resultType").GetString();
            var result = data.GetProperty("result");
            JsonElement sample;
            switch (type)
            {
                case "scalar":
                    sample = result;
                    break;
                case "vector" when result.GetArrayLength() == 0:
                    return MeasuredValue.NoData("the query returned no series");
                case "vector" when result.GetArrayLength() == 1:
                    sample = result[0].GetProperty("value");
                    break;
                case "vector":
                    return MeasuredValue.Failed($"the query returned {result.GetArrayLength()} series; it must return one number (aggregate it, e.g. with sum)");
                default:
                    return MeasuredValue.Failed($"the query returned a {type}; it must return a scalar or a one-series vector");
            }

            var text = sample[1].GetString();
            var value = text switch
            {
                "NaN" => double.NaN,
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                _ => double.Parse(text!, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            return double.IsNaN(value) ? MeasuredValue.NoData("the query returned NaN") : MeasuredValue.Of(value);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException)
        {
            return MeasuredValue.Failed($"Prometheus at {address} answered HTTP {(int)status} with a body that is not a query result: {e.Message}");
        }
    }
}
