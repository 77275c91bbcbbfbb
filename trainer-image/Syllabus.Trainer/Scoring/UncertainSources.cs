using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Scoring;

/// <summary>What the uncertain rows of the serve pods added to a pool: rows fetched, rows rejected, and the ids kept.</summary>
public sealed record UncertainCounts(int Rows, int Rejected, IReadOnlySet<string> Ids);

/// <summary>
/// The uncertain rows a ModelDeployment's serve pods kept (`GET /v2/models/M/uncertain`) joining a scoring pool: each
/// body is fetched once, read as a pool of its own (rows identified by their content, <see cref="PoolReader.ContentId"/>,
/// their REQUEST#ROW kept beside) and merged into the dataset's columns. A pod whose inputs are not the scoring model's
/// (a column missing or extra) has every row rejected with the reason, never imputed; a row another pod kept too is
/// one row (its requests joined); an id the dataset already uses is rejected.
/// </summary>
public static class UncertainSources
{
    private const long MaxBytes = 256L * 1024 * 1024;

    /// <summary>Fetches <paramref name="url"/>'s body into <paramref name="folder"/> (as .json, which the pool reader reads as uncertain rows).</summary>
    public static string Fetch(HttpClient http, string url, string folder, int index)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new DataException($"--uncertain {url}: not an http(s) URL");
        }

        var file = Path.Combine(folder, $"uncertain-{index}.json");
        try
        {
            using var response = http.Send(new HttpRequestMessage(HttpMethod.Get, uri), HttpCompletionOption.ResponseHeadersRead);
            if (!response.IsSuccessStatusCode)
            {
                throw new DataException($"--uncertain {url}: answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            if (response.Content.Headers.ContentLength > MaxBytes)
            {
                throw new DataException($"--uncertain {url}: its body ({response.Content.Headers.ContentLength} bytes) is over {MaxBytes} bytes");
            }

            using var body = response.Content.ReadAsStream();
            using var target = File.Create(file);
            body.CopyTo(target);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            throw new DataException($"--uncertain {url}: {e.Message}", e);
        }

        return file;
    }

    /// <summary>
    /// The pool to score: <paramref name="dataset"/>'s rows (if any) and each source's rows, in the dataset's columns (the
    /// model's feature columns without a dataset), with the counts of what the sources added.
    /// </summary>
    public static (Pool Pool, UncertainCounts Counts) Merge(Pool? dataset, IReadOnlyList<(string Source, Pool Rows)> sources,
        IReadOnlyList<string> modelFeatures, IReadOnlyCollection<string> nonFeatureColumns)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(modelFeatures);
        ArgumentNullException.ThrowIfNull(nonFeatureColumns);
        var columns = dataset?.Columns ?? modelFeatures;
        var rows = new List<PoolRow>(dataset?.Rows ?? []);
        var rejected = new List<RejectedRow>(dataset?.Rejected ?? []);
        var seen = rows.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        var kept = new Dictionary<string, int>(StringComparer.Ordinal);
        var fetched = 0;
        var refused = 0;
        var features = modelFeatures.ToHashSet(StringComparer.Ordinal);
        foreach (var (source, pool) in sources)
        {
            fetched += pool.Rows.Count + pool.Rejected.Count;
            foreach (var bad in pool.Rejected)
            {
                rejected.Add(bad with { File = source });
                refused++;
            }

            var inputs = pool.Columns.Where(c => c != PoolReader.UncertainIdColumn).ToList();
            var missing = modelFeatures.Where(c => !inputs.Contains(c, StringComparer.Ordinal)).ToList();
            var extra = inputs.Where(c => !features.Contains(c) && !nonFeatureColumns.Contains(c)).ToList();
            var mismatch = pool.Rows.Count == 0 || (missing.Count == 0 && extra.Count == 0) ? null
                : "the serving model's inputs are not the scoring model's: "
                  + string.Join("; ", new[] { Named("missing", missing), Named("not an input of the scoring model", extra) }.OfType<string>());
            var position = columns.Select(c => inputs.Contains(c, StringComparer.Ordinal) ? pool.Columns.ToList().IndexOf(c) : -1).ToArray();
            foreach (var row in pool.Rows)
            {
                var requests = string.Join("; ", row.Requests ?? []);
                if (mismatch is null && kept.TryGetValue(row.Id, out var earlier))
                {
                    // Another serve pod kept the same row: one row, its requests joined.
                    rows[earlier] = rows[earlier] with { Requests = [.. rows[earlier].Requests ?? [], .. row.Requests ?? []] };
                    continue;
                }

                string? problem = mismatch ?? (seen.Contains(row.Id) ? $"id {row.Id} is also a row of the dataset" : null);
                if (problem is not null)
                {
                    rejected.Add(new RejectedRow(row.Id, source, row.Line, requests.Length > 0 ? $"request {requests}: {problem}" : problem));
                    refused++;
                    continue;
                }

                seen.Add(row.Id);
                kept[row.Id] = rows.Count;
                rows.Add(new PoolRow(row.Id, source, row.Line, [.. position.Select(p => p >= 0 ? row.Values[p] : null)]) { Requests = row.Requests });
            }
        }

        return (new Pool(columns, rows, rejected, dataset?.IdColumn), new UncertainCounts(fetched, refused, kept.Keys.ToHashSet(StringComparer.Ordinal)));
    }

    private static string? Named(string what, List<string> columns) => columns.Count == 0 ? null
        : $"{what} {string.Join(", ", columns.Take(5).Select(c => $"'{c}'"))}{(columns.Count > 5 ? $" and {columns.Count - 5} more" : "")}";
}
