using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Serving;

/// <summary>One ground-truth label for row <see cref="Row"/> of the prediction answered under <see cref="Id"/>.</summary>
public sealed record FeedbackItem(string Id, int Row, string Label);

/// <summary>
/// The predicted classes of the most recent infer requests by response id (bounded; the oldest forgotten first; a
/// reused id refers to its latest request), ground-truth labels matched against them, and online accuracy over the
/// most recent judged rows (a sliding window).
/// </summary>
public sealed class FeedbackLog
{
    private readonly Lock _lock = new();
    private readonly FeatureSchema _schema;
    private readonly int _capacity;
    private readonly Dictionary<string, Prediction> _predictions = new(StringComparer.Ordinal);
    private readonly Queue<Prediction> _order = new();
    private readonly bool[] _outcomes;
    private int _nextOutcome;
    private int _judged;
    private int _correctInWindow;
    private long _correctTotal;
    private long _incorrectTotal;

    public FeedbackLog(FeatureSchema schema, int capacity, int accuracyWindow)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(accuracyWindow, 1);
        _schema = schema;
        _capacity = capacity;
        _outcomes = new bool[accuracyWindow];
    }

    /// <summary>Remembers the predicted class of each row answered under <paramref name="id"/>.</summary>
    public void Record(string id, int[] predicted)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(predicted);
        var prediction = new Prediction(id, predicted, new bool[predicted.Length]);
        lock (_lock)
        {
            _predictions[id] = prediction;
            _order.Enqueue(prediction);
            while (_order.Count > _capacity)
            {
                var old = _order.Dequeue();
                if (_predictions.TryGetValue(old.Id, out var current) && ReferenceEquals(current, old))
                {
                    _predictions.Remove(old.Id);
                }
            }
        }
    }

    /// <summary>
    /// Parses a feedback body: one object or an array of them, each {"id", "labels": [one per row]} or
    /// {"id", "row", "label"}; a label is a class name or index.
    /// </summary>
    /// <exception cref="InferenceException">400 naming the field at fault.</exception>
    public static List<FeedbackItem> Parse(JsonElement body)
    {
        var items = new List<FeedbackItem>();
        if (body.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var element in body.EnumerateArray())
            {
                ParseOne(element, $"[{i++}]", items);
            }
        }
        else
        {
            ParseOne(body, "", items);
        }

        return items.Count == 0 ? throw Bad("the feedback holds no labels") : items;
    }

    private static void ParseOne(JsonElement element, string where, List<FeedbackItem> items)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw Bad($"feedback{where} is not an object with \"id\" and \"labels\" (or \"row\" and \"label\")");
        }

        if (!element.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String)
        {
            throw Bad($"feedback{where} has no \"id\" string (the id of the infer response)");
        }

        var hasLabels = element.TryGetProperty("labels", out var labels);
        var hasLabel = element.TryGetProperty("label", out var label);
        if (hasLabels == hasLabel)
        {
            throw Bad($"feedback{where} needs either \"labels\" (one per row) or \"row\" and \"label\"");
        }

        if (hasLabels)
        {
            if (labels.ValueKind != JsonValueKind.Array || element.TryGetProperty("row", out _))
            {
                throw Bad($"feedback{where}: \"labels\" must be an array with one label per row of the request (and no \"row\")");
            }

            var row = 0;
            foreach (var value in labels.EnumerateArray())
            {
                items.Add(new FeedbackItem(id.GetString()!, row, Label(value, $"feedback{where}.labels[{row}]")));
                row++;
            }

            return;
        }

        if (!element.TryGetProperty("row", out var rowElement) || rowElement.ValueKind != JsonValueKind.Number || !rowElement.TryGetInt32(out var index))
        {
            throw Bad($"feedback{where}: \"label\" needs \"row\", the row's index in the request");
        }

        items.Add(new FeedbackItem(id.GetString()!, index, Label(label, $"feedback{where}.label")));
    }

    private static string Label(JsonElement value, string where) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        _ => throw Bad($"{where} is not a class name or index"),
    };

    /// <summary>Matches labels against the remembered predictions; all or none are taken.</summary>
    /// <exception cref="InferenceException">404 for an id never answered (or forgotten), 400 for a row or label that does not fit, 409 for a row already labelled.</exception>
    public JsonObject Apply(IReadOnlyList<FeedbackItem> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        lock (_lock)
        {
            var resolved = new List<(Prediction Prediction, int Row, long Label)>();
            var seen = new HashSet<(string, int)>();
            foreach (var item in items)
            {
                if (!_predictions.TryGetValue(item.Id, out var prediction))
                {
                    throw new InferenceException(StatusCodes.Status404NotFound,
                        $"no prediction with id '{item.Id}': never answered by this server, or older than the last {_capacity} requests it remembers (--feedback-capacity)");
                }

                if (item.Row < 0 || item.Row >= prediction.Predicted.Length)
                {
                    throw Bad($"prediction '{item.Id}' has {prediction.Predicted.Length} rows; row {item.Row} is not one of them");
                }

                var label = _schema.ClassIndex(item.Label);
                if (label < 0)
                {
                    throw Bad($"label '{item.Label}' for prediction '{item.Id}' row {item.Row} is not a class of the model ({string.Join(", ", _schema.Classes)})");
                }

                if (prediction.Judged[item.Row] || !seen.Add((item.Id, item.Row)))
                {
                    throw new InferenceException(StatusCodes.Status409Conflict, $"prediction '{item.Id}' row {item.Row} already has a label; each row is judged once");
                }

                resolved.Add((prediction, item.Row, label));
            }

            var correct = 0;
            foreach (var (prediction, row, label) in resolved)
            {
                prediction.Judged[row] = true;
                var right = prediction.Predicted[row] == label;
                correct += right ? 1 : 0;
                if (_judged == _outcomes.Length && _outcomes[_nextOutcome])
                {
                    _correctInWindow--;
                }

                _outcomes[_nextOutcome] = right;
                _correctInWindow += right ? 1 : 0;
                _nextOutcome = (_nextOutcome + 1) % _outcomes.Length;
                _judged = Math.Min(_judged + 1, _outcomes.Length);
                _correctTotal += right ? 1 : 0;
                _incorrectTotal += right ? 0 : 1;
            }

            var summary = SummaryLocked();
            summary["accepted"] = resolved.Count;
            summary["correct"] = correct;
            return summary;
        }
    }

    /// <summary>Online accuracy over the most recent judged rows; NaN before any feedback.</summary>
    public (double Accuracy, int Judged) OnlineAccuracy()
    {
        lock (_lock)
        {
            return (_judged == 0 ? double.NaN : (double)_correctInWindow / _judged, _judged);
        }
    }

    /// <summary>The documented `GET /v2/models/NAME/feedback` body.</summary>
    public JsonObject Summary()
    {
        lock (_lock)
        {
            return SummaryLocked();
        }
    }

    private JsonObject SummaryLocked() => new()
    {
        ["onlineAccuracy"] = _judged == 0 ? null : (double)_correctInWindow / _judged,
        ["judged"] = _judged,
        ["window"] = _outcomes.Length,
        ["correctTotal"] = _correctTotal,
        ["incorrectTotal"] = _incorrectTotal,
    };

    private static InferenceException Bad(string message) => new(StatusCodes.Status400BadRequest, message);

    private sealed record Prediction(string Id, int[] Predicted, bool[] Judged);
}
