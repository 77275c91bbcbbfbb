using System.Text.Json.Nodes;
using static TorchSharp.torch.optim;

namespace Syllabus.Trainer.Schedules;

/// <summary>Reading and checking saved schedule states.</summary>
internal static class ScheduleState
{
    public static void ExpectType(JsonObject state, string type)
    {
        var saved = state["type"]?.GetValue<string>();
        if (saved != type)
        {
            throw new InvalidDataException($"schedule state is for '{saved ?? "(none)"}', this run's schedule is '{type}'");
        }
    }

    public static long Long(JsonObject state, string name)
        => state[name]?.GetValue<long>() is { } v and >= 0 ? v : throw new InvalidDataException($"schedule state: '{name}' missing or negative");

    /// <summary>The replayed rates must equal the saved ones; a mismatch means the spec or optimizer changed between runs.</summary>
    public static void CheckLearningRates(JsonObject state, Optimizer optimizer)
    {
        if (state["learningRates"] is not JsonArray saved)
        {
            return;
        }

        var now = optimizer.ParamGroups.Select(g => g.LearningRate).ToArray();
        if (saved.Count != now.Length)
        {
            throw new InvalidDataException($"schedule state has {saved.Count} parameter groups, the optimizer has {now.Length}");
        }

        for (var i = 0; i < now.Length; i++)
        {
            var expected = saved[i]!.GetValue<double>();
            if (Math.Abs(expected - now[i]) > 1e-12 + (1e-9 * Math.Abs(expected)))
            {
                throw new InvalidDataException(
                    $"resumed schedule gives learning rate {now[i]} for group {i} where the checkpoint had {expected}; the lrSchedule or optimizer spec changed since the checkpoint");
            }
        }
    }
}
