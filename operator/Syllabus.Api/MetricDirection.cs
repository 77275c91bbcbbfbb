namespace Syllabus.Api;

/// <summary>
/// Which way each metric improves, defined once for early stopping, reduce-on-plateau, gates, curriculum stage
/// advancement and model comparison. A metric key is <c>name</c>, <c>name/class</c> or either with <c>@slice</c>
/// (<see cref="TrainerSummary.GateKey"/>); its direction is that of <c>name</c>, the identifier before the first
/// '/' or '@' (a class or slice called "loss" does not make precision minimised).
/// </summary>
public static class MetricDirection
{
    /// <summary>Metrics where lower is better: the cross-entropy loss and the expected calibration error.</summary>
    public const string Loss = "loss";

    public const string Ece = "ece";

    /// <summary>Continual learning: accuracy lost on earlier tasks (lower is better).</summary>
    public const string Forgetting = "forgetting";

    /// <summary>Per-class example counts: neither better nor worse, so no optimisation may monitor them.</summary>
    public const string Support = "support";

    /// <summary>
    /// The CEL form of <see cref="BoundsTheRightSide"/> for a Gate (whose metric has no @slice), generated from the
    /// same names so the CRD and the C# rule cannot disagree.
    /// </summary>
    public const string GateCelRule =
        "has(self.atLeast) == has(self.atMost) || self.metric.startsWith('" + Support + "/') || (self.metric in ['" + Loss + "', '" + Ece + "', '" + Forgetting + "'] ? has(self.atMost) : has(self.atLeast))";

    public const string GateCelMessage =
        "a gate bounds a metric on the side where it gets worse: atMost for loss, ece and forgetting (lower is better), atLeast for every other metric except support/<class>";

    /// <summary>The metric name of a key: "loss@hard" and "loss" give "loss", "precision/loss" gives "precision".</summary>
    public static string BaseName(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var end = key.IndexOfAny(['/', '@']);
        return end < 0 ? key : key[..end];
    }

    /// <summary>Whether lower values of the metric are better.</summary>
    public static bool IsMinimised(string key) => BaseName(key) is Loss or Ece or Forgetting;

    /// <summary>Whether the metric has a direction at all (support/&lt;class&gt; counts examples).</summary>
    public static bool HasDirection(string key) => BaseName(key) != Support;

    /// <summary>Whether <paramref name="candidate"/> beats <paramref name="reference"/> by more than <paramref name="minDelta"/>.</summary>
    public static bool Improves(string key, double candidate, double reference, double minDelta = 0)
        => IsMinimised(key) ? candidate < reference - minDelta : candidate > reference + minDelta;

    /// <summary>
    /// Whether a gate bounds its metric from the side a worse model would cross: atMost for a minimised metric,
    /// atLeast for a maximised one (either for support/&lt;class&gt;). The other side would pass worse models.
    /// </summary>
    public static bool BoundsTheRightSide(string metric, bool hasAtLeast, bool hasAtMost)
        => !HasDirection(metric) || (IsMinimised(metric) ? hasAtMost : hasAtLeast);
}
