using Microsoft.Data.Sqlite;
using Syllabus.Trainer.Labeling;
using Syllabus.Trainer.Tests.Data;

namespace Syllabus.Trainer.Tests.Labeling;

public sealed class LabelStoreTests : IDisposable
{
    internal static readonly StoreSchema Schema = new(["cat", "dog"], ["x", "colour"], "label", null, null);
    private readonly TempFolder _folder = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }

    internal static IEnumerable<LabelItem> Items(int count) => Enumerable.Range(1, count).Select(i =>
        new LabelItem($"item-{i}", "batch.csv", i, 1.0 / i, i % 2 == 0 ? "dog" : "cat", 0.5 + (0.01 * i), null, "pool.csv", i + 1, [$"{i}.5", i % 2 == 0 ? "red" : null]));

    private async Task<LabelStore> OpenAsync(long? budget = null, int items = 5)
    {
        var store = LabelStore.Open(_folder.Full("labels.db"), Schema, budget);
        await store.ImportAsync(Items(items), TestContext.Current.CancellationToken);
        return store;
    }

    [Fact]
    public async Task A_submission_repeated_with_its_key_is_recorded_once()
    {
        using var store = await OpenAsync();
        var first = await store.LabelAsync("item-1", "dog", "key-1", Ct);
        var again = await store.LabelAsync("item-1", "dog", "key-1", Ct);
        Assert.False(first.Duplicate);
        Assert.True(again.Duplicate);
        Assert.Equal(first.Event, again.Event);
        Assert.Single(await store.EventsAsync(Ct));
        Assert.Equal(1, (await store.StatsAsync(Ct)).Labelled);
        var reused = await Assert.ThrowsAsync<LabelingException>(() => store.LabelAsync("item-2", "dog", "key-1", Ct));
        Assert.Equal(409, reused.StatusCode);
        Assert.Contains("idempotency key 'key-1' was already used to label item 'item-1'", reused.Message);
    }

    [Fact]
    public async Task A_label_outside_the_set_an_unknown_item_or_no_key_is_a_400()
    {
        using var store = await OpenAsync();
        var label = await Assert.ThrowsAsync<LabelingException>(() => store.LabelAsync("item-1", "fish", "k", Ct));
        Assert.Equal((400, "label 'fish' is not one of the labels cat,dog"), (label.StatusCode, label.Message));
        var item = await Assert.ThrowsAsync<LabelingException>(() => store.LabelAsync("item-99", "cat", "k", Ct));
        Assert.Equal((400, "item 'item-99' is not in this store"), (item.StatusCode, item.Message));
        var key = await Assert.ThrowsAsync<LabelingException>(() => store.LabelAsync("item-1", "cat", " ", Ct));
        Assert.Equal(400, key.StatusCode);
        Assert.Empty(await store.EventsAsync(Ct));
    }

    [Fact]
    public async Task Undo_takes_back_the_latest_action_and_a_labelled_item_needs_an_undo_before_relabelling()
    {
        using var store = await OpenAsync();
        await store.LabelAsync("item-1", "cat", "a", Ct);
        await store.SkipAsync("item-2", "b", Ct);
        Assert.Equal(["item-3", "item-4", "item-5"], (await store.NextAsync(10, Ct)).Select(i => i.Item.Id));
        var relabel = await Assert.ThrowsAsync<LabelingException>(() => store.LabelAsync("item-1", "dog", "c", Ct));
        Assert.Equal(409, relabel.StatusCode);

        var undoSkip = await store.UndoAsync(null, "undo-1", Ct);
        Assert.Equal(("item-2", ItemStates.Skipped), (undoSkip.Event.ItemId, undoSkip.Event.Kind));
        // The same undo again (a retry) undoes nothing more.
        Assert.True((await store.UndoAsync(null, "undo-1", Ct)).Duplicate);
        Assert.Equal(ItemStates.Labelled, (await store.ItemAsync("item-1", Ct))!.State);
        Assert.Equal("item-2", (await store.NextAsync(1, Ct))[0].Item.Id);

        await store.UndoAsync("item-1", null, Ct);
        await store.LabelAsync("item-1", "dog", "d", Ct);
        var item = await store.ItemAsync("item-1", Ct);
        Assert.Equal((ItemStates.Labelled, "dog"), (item!.State, item.Label));
        // History is kept: the undone label stays, marked.
        var events = await store.EventsAsync(Ct);
        Assert.Equal(3, events.Count);
        Assert.Equal([true, true, false], events.Select(e => e.UndoneAt is not null));

        await store.UndoAsync(null, null, Ct);
        var nothing = await Assert.ThrowsAsync<LabelingException>(() => store.UndoAsync(null, null, Ct));
        Assert.Equal((409, "there is nothing to undo"), (nothing.StatusCode, nothing.Message));
    }

    [Fact]
    public async Task The_budget_stops_new_labels_with_a_clear_error_and_an_undo_gives_a_place_back()
    {
        using var store = await OpenAsync(budget: 2);
        await store.LabelAsync("item-1", "cat", "a", Ct);
        await store.LabelAsync("item-2", "dog", "b", Ct);
        var stats = await store.StatsAsync(Ct);
        Assert.Equal((2L, 0L, true), (stats.Labelled, stats.BudgetLeft, stats.BudgetExhausted));
        var spent = await Assert.ThrowsAsync<LabelingException>(() => store.LabelAsync("item-3", "cat", "c", Ct));
        Assert.Equal(409, spent.StatusCode);
        Assert.Contains("budget of 2 labels is spent", spent.Message);
        // A retry of an acknowledged label is still answered, and skips are not labels.
        Assert.True((await store.LabelAsync("item-2", "dog", "b", Ct)).Duplicate);
        await store.SkipAsync("item-3", "s", Ct);
        await store.UndoAsync("item-1", null, Ct);
        await store.LabelAsync("item-4", "cat", "c", Ct);
        Assert.Equal(2, (await store.StatsAsync(Ct)).Labelled);
    }

    [Fact]
    public async Task Labels_and_items_survive_reopening_and_reimporting_adds_nothing_twice()
    {
        using (var store = await OpenAsync())
        {
            await store.LabelAsync("item-3", "dog", "a", Ct);
            Assert.Equal(0, await store.ImportAsync(Items(5), Ct));
        }

        using var reopened = LabelStore.Open(_folder.Full("labels.db"), null, null);
        Assert.Equal(3, await reopened.ImportAsync(Items(8), Ct));
        var stats = await reopened.StatsAsync(Ct);
        Assert.Equal((8L, 7L, 1L), (stats.Total, stats.Pending, stats.Labelled));
        Assert.Equal(1, stats.PerLabel["dog"]);
        var item = await reopened.ItemAsync("item-2", Ct);
        Assert.Equal(["2.5", "red"], item!.Item.Features);
        Assert.Equal(Schema.FeatureColumns, reopened.Schema.FeatureColumns);

        var other = Assert.Throws<LabelingException>(() => LabelStore.Open(_folder.Full("labels.db"), Schema with { Labels = ["a", "b"] }, null));
        Assert.Contains("created with labels cat,dog", other.Message);
    }

    [Fact]
    public async Task The_store_is_in_WAL_mode_with_full_sync()
    {
        using var store = await OpenAsync();
        Assert.Equal(2L, store.Pragma("synchronous"));
        using var connection = new SqliteConnection($"Data Source={_folder.Full("labels.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar());
    }
}
