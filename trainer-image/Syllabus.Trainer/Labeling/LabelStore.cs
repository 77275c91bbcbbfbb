using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;

namespace Syllabus.Trainer.Labeling;

/// <summary>A request the store refuses: the HTTP status and a message naming the problem.</summary>
public sealed class LabelingException(int statusCode, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
}

/// <summary>Wire names of the store's item states and event kinds.</summary>
public static class ItemStates
{
    public const string Pending = "pending";
    public const string Labelled = "labelled";
    public const string Skipped = "skipped";
}

/// <summary>An item to label, as imported from a scored batch (or Label Studio).</summary>
public sealed record LabelItem(
    string Id, string Batch, int? Rank, double? Score, string? Predicted, double? Confidence,
    IReadOnlyDictionary<string, double>? Probabilities, string? SourceFile, long? SourceLine, IReadOnlyList<string?> Features);

/// <summary>An item with its current state and label.</summary>
public sealed record StoredItem(long Sequence, LabelItem Item, string State, string? Label, long? EventSequence);

/// <summary>One acknowledged action (a label or a skip).</summary>
public sealed record LabelEvent(long Sequence, string ItemId, string Kind, string? Label, string IdempotencyKey, DateTimeOffset At, DateTimeOffset? UndoneAt);

/// <summary>The outcome of a write: the event, and whether the idempotency key had already been used for it.</summary>
public sealed record WriteOutcome(LabelEvent Event, bool Duplicate);

/// <summary>Counts for the queue's status and the UI's progress.</summary>
public sealed record LabelStats(long Total, long Pending, long Labelled, long Skipped, long? Budget, IReadOnlyDictionary<string, long> PerLabel, long LastEventSequence)
{
    public long? BudgetLeft => Budget is { } b ? Math.Max(0, b - Labelled) : null;

    public bool BudgetExhausted => Budget is { } b && Labelled >= b;
}

/// <summary>What the store holds besides items: the label set and how to read and show the features.</summary>
public sealed record StoreSchema(IReadOnlyList<string> Labels, IReadOnlyList<string> FeatureColumns, string LabelColumn, IReadOnlyList<int>? ImageShape, IReadOnlyList<string>? ImageColumns);

/// <summary>
/// The labelling service's durable store: SQLite (Microsoft.Data.Sqlite) in WAL mode with synchronous=FULL, so a
/// committed label survives a crash or power loss, and every write is one transaction answered only after its commit.
/// Items are never deleted; labels and skips are events, and undo marks an event undone, so the history stays.
/// An item's state is its latest event not undone. One connection serialises writers, as SQLite would anyway.
/// </summary>
public sealed class LabelStore : IDisposable
{
    private const int MaxIdempotencyKeyLength = 200;
    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _time;

    private LabelStore(SqliteConnection connection, StoreSchema schema, long? budget, TimeProvider time)
    {
        _connection = connection;
        Schema = schema;
        Budget = budget;
        _time = time;
    }

    public StoreSchema Schema { get; private set; }

    /// <summary>How many labels may be held at once; null for no limit. An undone label gives its place back.</summary>
    public long? Budget { get; }

    public string Path => _connection.DataSource;

    /// <summary>
    /// Opens (or creates) the store at <paramref name="path"/>. A new store takes <paramref name="schema"/>; an existing
    /// one must have the same labels and feature columns.
    /// </summary>
    /// <exception cref="LabelingException">400: the store was made for other labels or features.</exception>
    public static LabelStore Open(string path, StoreSchema? schema, long? budget, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = full, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
        try
        {
            connection.Open();
            Execute(connection, """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=FULL;
                PRAGMA foreign_keys=ON;
                PRAGMA busy_timeout=10000;
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS items(
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    batch TEXT NOT NULL,
                    rank INTEGER, score REAL, predicted TEXT, confidence REAL, probabilities TEXT,
                    source_file TEXT, source_line INTEGER,
                    features TEXT NOT NULL,
                    imported_at TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS events(
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    item_id TEXT NOT NULL REFERENCES items(id),
                    kind TEXT NOT NULL CHECK (kind IN ('labelled', 'skipped')),
                    label TEXT,
                    idempotency_key TEXT NOT NULL UNIQUE,
                    at TEXT NOT NULL,
                    undone_at TEXT);
                CREATE INDEX IF NOT EXISTS events_item ON events(item_id, seq);
                CREATE TABLE IF NOT EXISTS undos(idempotency_key TEXT PRIMARY KEY, event_seq INTEGER NOT NULL REFERENCES events(seq));
                """);
            var mode = Scalar(connection, "PRAGMA journal_mode;") as string;
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new IOException($"{full}: SQLite would not switch to WAL mode (journal_mode is '{mode}'); is the volume a network file system?");
            }

            var stored = Scalar(connection, "SELECT value FROM meta WHERE key = 'schema';") as string;
            StoreSchema effective;
            if (stored is null)
            {
                effective = schema ?? throw new LabelingException(400, $"{full}: a new store needs its labels (--labels) and items (--pool or a Label Studio import)");
                Execute(connection, "INSERT INTO meta(key, value) VALUES ('schema', $v);", ("$v", JsonSerializer.Serialize(effective)));
            }
            else
            {
                effective = JsonSerializer.Deserialize<StoreSchema>(stored)!;
                if (schema is not null && !schema.Labels.SequenceEqual(effective.Labels))
                {
                    throw new LabelingException(400, $"{full}: the store was created with labels {string.Join(",", effective.Labels)}, not {string.Join(",", schema.Labels)}");
                }
            }

            return new LabelStore(connection, effective, budget, time ?? TimeProvider.System);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The schema stored in <paramref name="path"/>, or null when there is no store there yet.</summary>
    public static StoreSchema? ReadSchema(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        var tables = Scalar(connection, "SELECT count(*) FROM sqlite_master WHERE name = 'meta';") is long n && n > 0;
        return tables && Scalar(connection, "SELECT value FROM meta WHERE key = 'schema';") is string s ? JsonSerializer.Deserialize<StoreSchema>(s) : null;
    }

    /// <summary>The ids of every item in the store at <paramref name="path"/> (read-only; the service may be running), or none when there is no store.</summary>
    public static HashSet<string> ReadItemIds(string path)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        if (ReadSchema(path) is null)
        {
            return ids;
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM items;";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>Adds items not yet in the store (by id); returns how many were new. Features must follow <see cref="StoreSchema.FeatureColumns"/>.</summary>
    public async Task<int> ImportAsync(IEnumerable<LabelItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            using var transaction = _connection.BeginTransaction();
            using var insert = _connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = """
                INSERT OR IGNORE INTO items(id, batch, rank, score, predicted, confidence, probabilities, source_file, source_line, features, imported_at)
                VALUES ($id, $batch, $rank, $score, $predicted, $confidence, $probabilities, $file, $line, $features, $at);
                """;
            var added = 0;
            var now = Now();
            foreach (var item in items)
            {
                if (item.Features.Count != Schema.FeatureColumns.Count)
                {
                    throw new LabelingException(400, $"item '{item.Id}' has {item.Features.Count} feature values, the store {Schema.FeatureColumns.Count} columns");
                }

                insert.Parameters.Clear();
                insert.Parameters.AddWithValue("$id", item.Id);
                insert.Parameters.AddWithValue("$batch", item.Batch);
                insert.Parameters.AddWithValue("$rank", (object?)item.Rank ?? DBNull.Value);
                insert.Parameters.AddWithValue("$score", (object?)item.Score ?? DBNull.Value);
                insert.Parameters.AddWithValue("$predicted", (object?)item.Predicted ?? DBNull.Value);
                insert.Parameters.AddWithValue("$confidence", (object?)item.Confidence ?? DBNull.Value);
                insert.Parameters.AddWithValue("$probabilities", item.Probabilities is null ? DBNull.Value : JsonSerializer.Serialize(item.Probabilities));
                insert.Parameters.AddWithValue("$file", (object?)item.SourceFile ?? DBNull.Value);
                insert.Parameters.AddWithValue("$line", (object?)item.SourceLine ?? DBNull.Value);
                insert.Parameters.AddWithValue("$features", JsonSerializer.Serialize(item.Features));
                insert.Parameters.AddWithValue("$at", now);
                added += await insert.ExecuteNonQueryAsync(cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            return added;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Records a label; acknowledged (returned) only once committed. The same key again returns the first outcome.</summary>
    /// <exception cref="LabelingException">400 bad label, unknown item or key; 409 already labelled, key reused differently, budget spent.</exception>
    public Task<WriteOutcome> LabelAsync(string itemId, string label, string idempotencyKey, CancellationToken cancellationToken = default)
    {
        if (!Schema.Labels.Contains(label))
        {
            throw new LabelingException(400, $"label '{label}' is not one of the labels {string.Join(",", Schema.Labels)}");
        }

        return WriteEventAsync(itemId, ItemStates.Labelled, label, idempotencyKey, cancellationToken);
    }

    /// <summary>Skips an item: it leaves the pending queue until the skip is undone.</summary>
    public Task<WriteOutcome> SkipAsync(string itemId, string idempotencyKey, CancellationToken cancellationToken = default) =>
        WriteEventAsync(itemId, ItemStates.Skipped, null, idempotencyKey, cancellationToken);

    private async Task<WriteOutcome> WriteEventAsync(string itemId, string kind, string? label, string idempotencyKey, CancellationToken cancellationToken)
    {
        CheckKey(idempotencyKey);
        if (string.IsNullOrEmpty(itemId))
        {
            throw new LabelingException(400, "itemId is required");
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            using var transaction = _connection.BeginTransaction();
            if (FindEvent("idempotency_key = $k", ("$k", idempotencyKey), transaction) is { } earlier)
            {
                return earlier.ItemId == itemId && earlier.Kind == kind && earlier.Label == label
                    ? new WriteOutcome(earlier, Duplicate: true)
                    : throw new LabelingException(409, $"idempotency key '{idempotencyKey}' was already used to {Describe(earlier)}");
            }

            if (Scalar(_connection, "SELECT count(*) FROM items WHERE id = $id;", transaction, ("$id", itemId)) is not long n || n == 0)
            {
                throw new LabelingException(400, $"item '{itemId}' is not in this store");
            }

            if (CurrentEvent(itemId, transaction) is { Kind: ItemStates.Labelled } current)
            {
                throw new LabelingException(409, $"item '{itemId}' is already labelled '{current.Label}' (event {current.Sequence}); undo that label first");
            }

            if (kind == ItemStates.Labelled && Budget is { } budget && CountLabelled(transaction) >= budget)
            {
                throw new LabelingException(409, $"the labelling budget of {budget} labels is spent; no more labels are accepted (undo one, or raise the budget)");
            }

            var at = Now();
            var sequence = (long)Scalar(_connection, """
                INSERT INTO events(item_id, kind, label, idempotency_key, at) VALUES ($item, $kind, $label, $key, $at);
                SELECT last_insert_rowid();
                """, transaction, ("$item", itemId), ("$kind", kind), ("$label", label), ("$key", idempotencyKey), ("$at", at))!;
            transaction.Commit();
            return new WriteOutcome(new LabelEvent(sequence, itemId, kind, label, idempotencyKey, DateTimeOffset.Parse(at, CultureInfo.InvariantCulture), null), Duplicate: false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Undoes the latest label or skip still in force: of <paramref name="itemId"/> when given, else of any item. With an
    /// idempotency key, a repeated undo returns the first one's event instead of undoing another.
    /// </summary>
    /// <exception cref="LabelingException">400 unknown item; 409 nothing to undo.</exception>
    public async Task<WriteOutcome> UndoAsync(string? itemId, string? idempotencyKey, CancellationToken cancellationToken = default)
    {
        if (idempotencyKey is not null)
        {
            CheckKey(idempotencyKey);
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            using var transaction = _connection.BeginTransaction();
            if (idempotencyKey is not null && Scalar(_connection, "SELECT event_seq FROM undos WHERE idempotency_key = $k;", transaction, ("$k", idempotencyKey)) is long done)
            {
                return new WriteOutcome(FindEvent("seq = $s", ("$s", done), transaction)!, Duplicate: true);
            }

            if (itemId is not null && Scalar(_connection, "SELECT count(*) FROM items WHERE id = $id;", transaction, ("$id", itemId)) is not > 0L)
            {
                throw new LabelingException(400, $"item '{itemId}' is not in this store");
            }

            var target = itemId is null
                ? FindEvent("undone_at IS NULL ORDER BY seq DESC LIMIT 1", default, transaction)
                : CurrentEvent(itemId, transaction);
            if (target is null)
            {
                throw new LabelingException(409, itemId is null ? "there is nothing to undo" : $"item '{itemId}' has no label or skip to undo");
            }

            var at = Now();
            Execute(_connection, "UPDATE events SET undone_at = $at WHERE seq = $s;", transaction, ("$at", at), ("$s", target.Sequence));
            if (idempotencyKey is not null)
            {
                Execute(_connection, "INSERT INTO undos(idempotency_key, event_seq) VALUES ($k, $s);", transaction, ("$k", idempotencyKey), ("$s", target.Sequence));
            }

            transaction.Commit();
            return new WriteOutcome(target with { UndoneAt = DateTimeOffset.Parse(at, CultureInfo.InvariantCulture) }, Duplicate: false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Up to <paramref name="limit"/> pending items (neither labelled nor skipped), best rank first, then in import order.</summary>
    public Task<IReadOnlyList<StoredItem>> NextAsync(int limit, CancellationToken cancellationToken = default) =>
        QueryItemsAsync("WHERE state IS NULL ORDER BY i.seq LIMIT $limit", cancellationToken, ("$limit", limit));

    /// <summary>Items in a state (null: all), in import order.</summary>
    public Task<IReadOnlyList<StoredItem>> ItemsAsync(string? state, CancellationToken cancellationToken = default) =>
        state is null ? QueryItemsAsync("ORDER BY i.seq", cancellationToken)
        : state == ItemStates.Pending ? QueryItemsAsync("WHERE state IS NULL ORDER BY i.seq", cancellationToken)
        : QueryItemsAsync("WHERE state = $state ORDER BY i.seq", cancellationToken, ("$state", state));

    public async Task<StoredItem?> ItemAsync(string id, CancellationToken cancellationToken = default) =>
        (await QueryItemsAsync("WHERE i.id = $id", cancellationToken, ("$id", id))).FirstOrDefault();

    /// <summary>Every event, undone ones included, in order.</summary>
    public async Task<IReadOnlyList<LabelEvent>> EventsAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT seq, item_id, kind, label, idempotency_key, at, undone_at FROM events ORDER BY seq;";
            using var reader = command.ExecuteReader();
            var events = new List<LabelEvent>();
            while (reader.Read())
            {
                events.Add(ReadEvent(reader));
            }

            return events;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<LabelStats> StatsAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = $"SELECT state, label, count(*) FROM ({ItemStateQuery}) GROUP BY state, label;";
            long total = 0, labelled = 0, skipped = 0;
            var perLabel = Schema.Labels.ToDictionary(l => l, _ => 0L, StringComparer.Ordinal);
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    var count = reader.GetInt64(2);
                    total += count;
                    var state = reader.IsDBNull(0) ? null : reader.GetString(0);
                    if (state == ItemStates.Labelled)
                    {
                        labelled += count;
                        perLabel[reader.GetString(1)] = count;
                    }
                    else if (state == ItemStates.Skipped)
                    {
                        skipped += count;
                    }
                }
            }

            var last = Scalar(_connection, "SELECT coalesce(max(seq), 0) FROM events;") as long? ?? 0;
            return new LabelStats(total, total - labelled - skipped, labelled, skipped, Budget, perLabel, last);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A PRAGMA's value on the store's connection (synchronous is per connection), for tests.</summary>
    internal object? Pragma(string name) => Scalar(_connection, $"PRAGMA {name};");

    public void Dispose()
    {
        _connection.Dispose();
        _gate.Dispose();
    }

    // Each item with its latest event still in force (state and label null while pending).
    private const string ItemStateQuery = """
        SELECT i.*, e.kind AS state, e.label AS label, e.seq AS event_seq FROM items i
        LEFT JOIN events e ON e.seq = (SELECT max(seq) FROM events WHERE item_id = i.id AND undone_at IS NULL)
        """;

    private async Task<IReadOnlyList<StoredItem>> QueryItemsAsync(string where, CancellationToken cancellationToken, params (string, object?)[] parameters)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = $"SELECT * FROM ({ItemStateQuery}) i {where};";
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            }

            using var reader = command.ExecuteReader();
            var items = new List<StoredItem>();
            while (reader.Read())
            {
                string? Text(string column) => reader.IsDBNull(reader.GetOrdinal(column)) ? null : reader.GetString(reader.GetOrdinal(column));
                long? Long(string column) => reader.IsDBNull(reader.GetOrdinal(column)) ? null : reader.GetInt64(reader.GetOrdinal(column));
                double? Real(string column) => reader.IsDBNull(reader.GetOrdinal(column)) ? null : reader.GetDouble(reader.GetOrdinal(column));
                var item = new LabelItem(
                    Text("id")!, Text("batch")!, (int?)Long("rank"), Real("score"), Text("predicted"), Real("confidence"),
                    Text("probabilities") is { } p ? JsonSerializer.Deserialize<Dictionary<string, double>>(p) : null,
                    Text("source_file"), Long("source_line"), JsonSerializer.Deserialize<List<string?>>(Text("features")!)!);
                items.Add(new StoredItem(Long("seq")!.Value, item, Text("state") ?? ItemStates.Pending, Text("label"), Long("event_seq")));
            }

            return items;
        }
        finally
        {
            _gate.Release();
        }
    }

    private LabelEvent? CurrentEvent(string itemId, SqliteTransaction transaction) =>
        FindEvent("item_id = $item AND undone_at IS NULL ORDER BY seq DESC LIMIT 1", ("$item", itemId), transaction);

    private LabelEvent? FindEvent(string where, (string Name, object? Value) parameter, SqliteTransaction transaction)
    {
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT seq, item_id, kind, label, idempotency_key, at, undone_at FROM events WHERE {where};";
        if (parameter.Name is not null)
        {
            command.Parameters.AddWithValue(parameter.Name, parameter.Value ?? DBNull.Value);
        }

        using var reader = command.ExecuteReader();
        return reader.Read() ? ReadEvent(reader) : null;
    }

    private long CountLabelled(SqliteTransaction transaction) =>
        (long)Scalar(_connection, $"SELECT count(*) FROM ({ItemStateQuery}) WHERE state = 'labelled';", transaction)!;

    private static LabelEvent ReadEvent(SqliteDataReader reader) => new(
        reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4),
        DateTimeOffset.Parse(reader.GetString(5), CultureInfo.InvariantCulture), reader.IsDBNull(6) ? null : DateTimeOffset.Parse(reader.GetString(6), CultureInfo.InvariantCulture));

    private static string Describe(LabelEvent e) => e.Kind == ItemStates.Labelled
        ? $"label item '{e.ItemId}' '{e.Label}' (event {e.Sequence})"
        : $"skip item '{e.ItemId}' (event {e.Sequence})";

    private static void CheckKey(string? key)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            throw new LabelingException(400, "idempotencyKey is required (any unique string per submission, e.g. a UUID; a retry sends the same one)");
        }

        if (key.Length > MaxIdempotencyKeyLength)
        {
            throw new LabelingException(400, $"idempotencyKey is longer than {MaxIdempotencyKeyLength} characters");
        }
    }

    private string Now() => _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);

    private static void Execute(SqliteConnection connection, string sql, params (string, object?)[] parameters) => Execute(connection, sql, null, parameters);

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction, params (string, object?)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, params (string, object?)[] parameters) => Scalar(connection, sql, null, parameters);

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? transaction, params (string, object?)[] parameters)
    {
        using var command = Command(connection, sql, transaction, parameters);
        return command.ExecuteScalar();
    }

    private static SqliteCommand Command(SqliteConnection connection, string sql, SqliteTransaction? transaction, (string, object?)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }
}
