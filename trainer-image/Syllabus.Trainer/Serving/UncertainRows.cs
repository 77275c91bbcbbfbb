using System.Text.Json.Nodes;

namespace Syllabus.Trainer.Serving;

/// <summary>
/// The most uncertain recent rows, kept for labelling (bounded): a predicted row enters when there is room or when it
/// is less confident than the most confident row kept, which it then replaces; a row leaves once
/// <c>horizon</c> newer rows have been predicted, so what is kept is recent. Uncertainty is 1 - the predicted class's
/// probability (least confidence); the margin between the two most probable classes is reported too.
/// </summary>
public sealed class UncertainRows
{
    private readonly Lock _lock = new();
    private readonly InferenceProtocol _protocol;
    private readonly IReadOnlyList<string> _classes;
    private readonly int _capacity;
    private readonly long _horizon;
    private readonly SortedSet<Entry> _kept = new(Comparer<Entry>.Create((a, b) =>
        a.Uncertainty != b.Uncertainty ? a.Uncertainty.CompareTo(b.Uncertainty) : a.Sequence.CompareTo(b.Sequence)));
    private long _sequence;

    public UncertainRows(InferenceProtocol protocol, IReadOnlyList<string> classes, int capacity, int horizon)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        ArgumentNullException.ThrowIfNull(classes);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(horizon, capacity);
        _protocol = protocol;
        _classes = classes;
        _capacity = capacity;
        _horizon = horizon;
    }

    /// <summary>Offers the rows of one request (probabilities rows x classes) answered under <paramref name="id"/>.</summary>
    public void Add(string id, InputRows rows, float[] probabilities)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(probabilities);
        var k = _classes.Count;
        lock (_lock)
        {
            _kept.RemoveWhere(e => e.Sequence <= _sequence + rows.Count - _horizon);
            for (var r = 0; r < rows.Count; r++)
            {
                var sequence = ++_sequence;
                var p = probabilities.AsSpan(r * k, k);
                var uncertainty = 1.0 - p[InferenceProtocol.ArgMax(p)];
                if (_kept.Count >= _capacity)
                {
                    if (uncertainty <= _kept.Min!.Uncertainty)
                    {
                        continue;
                    }

                    _kept.Remove(_kept.Min!);
                }

                // The row's own values are copied: holding the request's rows would keep whole large requests alive.
                var numeric = rows.Numeric.AsSpan(r * _protocol.NumericColumns.Count, _protocol.NumericColumns.Count).ToArray();
                var categorical = rows.Categorical.AsSpan(r * _protocol.CategoricalColumns.Count, _protocol.CategoricalColumns.Count).ToArray();
                _kept.Add(new Entry(id, r, sequence, uncertainty, numeric, categorical, p.ToArray()));
            }
        }
    }

    /// <summary>The documented `GET /v2/models/NAME/uncertain` body: the kept rows, most uncertain first.</summary>
    public JsonObject Snapshot(string model, int? limit)
    {
        List<Entry> entries;
        lock (_lock)
        {
            entries = [.. _kept.Reverse().Take(limit ?? int.MaxValue)];
        }

        var rows = new JsonArray();
        foreach (var entry in entries)
        {
            var sorted = entry.Probabilities.Select((p, i) => (p, i)).OrderByDescending(x => x.p).ToArray();
            rows.Add(new JsonObject
            {
                ["id"] = entry.Id,
                ["row"] = entry.Row,
                ["uncertainty"] = entry.Uncertainty,
                ["margin"] = sorted.Length > 1 ? sorted[0].p - sorted[1].p : 1.0,
                ["predicted"] = _classes[sorted[0].i],
                ["probabilities"] = new JsonObject([.. _classes.Select((c, i) => KeyValuePair.Create(c, (JsonNode?)entry.Probabilities[i]))]),
                ["inputs"] = Inputs(entry),
            });
        }

        return new JsonObject { ["model"] = model, ["capacity"] = _capacity, ["horizon"] = _horizon, ["rows"] = rows };
    }

    private JsonObject Inputs(Entry entry)
    {
        var inputs = new JsonObject();
        for (var c = 0; c < entry.Numeric.Length; c++)
        {
            inputs[_protocol.NumericColumns[c]] = double.IsNaN(entry.Numeric[c]) ? null : entry.Numeric[c];
        }

        for (var c = 0; c < entry.Categorical.Length; c++)
        {
            inputs[_protocol.CategoricalColumns[c]] = entry.Categorical[c];
        }

        return inputs;
    }

    /// <summary>A kept row: row <see cref="Row"/> of the request answered under <see cref="Id"/>, with its raw values.</summary>
    private sealed record Entry(string Id, int Row, long Sequence, double Uncertainty, double[] Numeric, string?[] Categorical, float[] Probabilities);
}
