namespace Syllabus.Trainer.Data;

/// <summary>
/// A uniform sample of at most <see cref="Capacity"/> items from a stream of unknown length: Vitter's Algorithm R
/// (the first <c>k</c> items fill it; item <c>t</c> (1-based) then replaces a uniformly chosen slot with probability
/// k/t), with a seeded <see cref="Random"/>, so the same stream and seed keep the same items. After any number of
/// items every item seen is held with the same probability k/t.
/// </summary>
public sealed class Reservoir<T>
{
    private readonly List<T> _items;
    private readonly Random _random;

    public Reservoir(int capacity, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _items = new List<T>(Math.Min(capacity, 1 << 16));
        _random = new Random(seed);
    }

    public int Capacity { get; }

    /// <summary>Items offered so far.</summary>
    public long Seen { get; private set; }

    /// <summary>The kept items, in slot order (not the stream's order).</summary>
    public IReadOnlyList<T> Items => _items;

    /// <summary>Offers the next item of the stream.</summary>
    public void Add(T item)
    {
        Seen++;
        if (_items.Count < Capacity)
        {
            _items.Add(item);
            return;
        }

        // Next(int) while it can (the draws the drift profile has always made), NextInt64 past int.MaxValue items.
        var j = Seen <= int.MaxValue ? _random.Next((int)Seen) : _random.NextInt64(Seen);
        if (j < Capacity)
        {
            _items[(int)j] = item;
        }
    }

    /// <summary>Indices 0..count−1 kept by a reservoir of <paramref name="capacity"/> with <paramref name="seed"/>, ascending.</summary>
    public static int[] SampleIndices(int count, int capacity, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var reservoir = new Reservoir<int>(capacity, seed);
        for (var i = 0; i < count; i++)
        {
            reservoir.Add(i);
        }

        var kept = reservoir.Items.ToArray();
        Array.Sort(kept);
        return kept;
    }
}
