using System.Text.Json.Nodes;

namespace Syllabus.Trainer.Labeling;

/// <summary>A scored batch the labelling service could not import: the file (kept where it is), why, and when it was tried.</summary>
public sealed record BatchImportFailure(string File, string Reason, DateTimeOffset At);

/// <summary>
/// The batches of --pool-dir that could not be imported, by file name, for <c>GET /api/stats</c> (so the operator's
/// status names them): a failure replaces the file's earlier one, a later successful import of the file clears it.
/// Thread-safe: the start-up import and the poller write, requests read.
/// </summary>
public sealed class BatchImportFailures
{
    private readonly Lock _lock = new();
    private readonly SortedDictionary<string, BatchImportFailure> _failures = new(StringComparer.Ordinal);

    public void Record(string batchFile, string reason, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(batchFile);
        ArgumentNullException.ThrowIfNull(reason);
        var name = Path.GetFileName(batchFile);
        lock (_lock)
        {
            _failures[name] = new BatchImportFailure(name, reason, at);
        }
    }

    public void Clear(string batchFile)
    {
        ArgumentNullException.ThrowIfNull(batchFile);
        lock (_lock)
        {
            _failures.Remove(Path.GetFileName(batchFile));
        }
    }

    /// <summary>Forgets the failures of batch files no longer in the folder (removed by hand): nothing is left to import.</summary>
    public void KeepOnly(IEnumerable<string> presentBatchFiles)
    {
        ArgumentNullException.ThrowIfNull(presentBatchFiles);
        var present = presentBatchFiles.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var gone in _failures.Keys.Where(name => !present.Contains(name)).ToList())
            {
                _failures.Remove(gone);
            }
        }
    }

    public IReadOnlyList<BatchImportFailure> Snapshot()
    {
        lock (_lock)
        {
            return [.. _failures.Values];
        }
    }

    /// <summary>Entries <see cref="ToJson"/> lists, and the length a reason is cut to there: the operator reads at most 64 KiB of stats.</summary>
    public const int MaxListed = 20;

    public const int MaxReasonLength = 500;

    /// <summary>
    /// The <c>batchesNotImported</c> of <c>GET /api/stats</c>: <c>[{file, reason, at}]</c> by file name, the first
    /// <see cref="MaxListed"/>, reasons cut to <see cref="MaxReasonLength"/> characters (the log has them whole).
    /// </summary>
    public JsonArray ToJson() => new([.. Snapshot().Take(MaxListed).Select(f => (JsonNode)new JsonObject
    {
        ["file"] = f.File,
        ["reason"] = f.Reason.Length <= MaxReasonLength ? f.Reason : f.Reason[..MaxReasonLength] + "...",
        ["at"] = f.At,
    })]);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _failures.Count;
            }
        }
    }

    /// <summary>
    /// The message of a failed import: the exception's, without the file's path in front (the file is named apart);
    /// "PATH:LINE: ..." becomes "line LINE: ...".
    /// </summary>
    public static string ReasonOf(string batchFile, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(batchFile);
        ArgumentNullException.ThrowIfNull(exception);
        var message = exception.Message;
        if (!message.StartsWith(batchFile + ":", StringComparison.Ordinal))
        {
            return message;
        }

        var rest = message[(batchFile.Length + 1)..];
        var digits = rest.TakeWhile(char.IsAsciiDigit).Count();
        return digits > 0 && rest.Length > digits && rest[digits] == ':' ? $"line {rest[..digits]}:{rest[(digits + 1)..]}" : rest.TrimStart();
    }
}
