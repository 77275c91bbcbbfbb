using System.Globalization;
using System.Text;
using k8s.Models;
using Syllabus.Api;

namespace Syllabus.Kubectl;

/// <summary>
/// <c>kubectl syllabus status</c>: a ModelDeployment's status as a summary, its conditions, and a tree of its revisions
/// with the analysis of the one under analysis, in the manner of <c>kubectl argo rollouts get rollout</c>.
/// </summary>
internal static class StatusRenderer
{
    private const string Green = "\u001b[32m", Yellow = "\u001b[33m", Red = "\u001b[31m", Reset = "\u001b[0m";

    public static string Render(ModelDeployment md, DateTimeOffset now, bool color)
    {
        ArgumentNullException.ThrowIfNull(md);
        var s = md.Status;
        var sb = new StringBuilder();
        var name = md.Metadata.Name;
        Field(sb, "Name", name);
        Field(sb, "Namespace", md.Metadata.NamespaceProperty ?? "");
        if (s is null)
        {
            Field(sb, "Status", Badge(ModelDeploymentPhases.Pending, color) + " (the operator has not reported a status yet)");
            Field(sb, "Pinned", Pinned(md));
            return sb.ToString();
        }

        Field(sb, "Status", Badge(s.Phase ?? ModelDeploymentPhases.Pending, color));
        if (Message(s) is { } message)
        {
            Field(sb, "Message", message);
        }

        Field(sb, "Stable", s.StableRevision is { } stable ? $"revision {Num(stable)}{RunOf(s, stable)}" : "-");
        Field(sb, "Canary", s.CanaryRevision is { } canary
            ? $"revision {Num(canary)}{RunOf(s, canary)}, weight {Num(s.CanaryWeight ?? 0)}%"
            : "-");
        Field(sb, "Pinned", Pinned(md));
        Field(sb, "Live accuracy", s.LiveAccuracy is { } accuracy ? Value(accuracy) : "-");
        var generation = md.Metadata.Generation;
        if (generation is not null && (s.ObservedGeneration is null || s.ObservedGeneration < generation))
        {
            Field(sb, "Observed", $"generation {(s.ObservedGeneration is { } o ? Num(o) : "none")} of {Num(generation.Value)}: the operator has not acted on the latest spec yet");
        }

        WriteConditions(sb, s.Conditions, now);
        sb.Append('\n');
        BuildTree(md, now, color).Write(sb);
        return sb.ToString();
    }

    private static void Field(StringBuilder sb, string label, string value) =>
        sb.Append((label + ":").PadRight(16)).Append(value).Append('\n');

    private static string Pinned(ModelDeployment md) => md.Spec.PinnedRevision is { } pin
        ? $"revision {Num(pin)} (spec.pinnedRevision; automatic promotion waits until it is removed)"
        : "-";

    /// <summary>The condition that explains the phase: as the Argo CD health check (config/argocd/health.lua) chooses it.</summary>
    private static string? Message(ModelDeploymentStatus s)
    {
        V1Condition? Find(string type) => s.Conditions?.FirstOrDefault(c => c.Type == type);
        var c = s.Phase switch
        {
            ModelDeploymentPhases.Degraded => DegradedBecause(Find(ConditionTypes.Degraded), Find(ConditionTypes.RolledBack)),
            ModelDeploymentPhases.Healthy => Find(ConditionTypes.Available),
            _ => Find(ConditionTypes.Progressing) is { Message.Length: > 0 } progressing ? progressing : Find(ConditionTypes.Available),
        };
        return c?.Message is { Length: > 0 } m ? m : c?.Reason;
    }

    /// <summary>A rollback's condition names both revisions: it explains a Degraded phase unless Degraded=True has another reason (a missing pinned revision).</summary>
    private static V1Condition? DegradedBecause(V1Condition? degraded, V1Condition? rolledBack) =>
        rolledBack is { Status: "True" } && (degraded is not { Status: "True" } || degraded.Reason == rolledBack.Reason) ? rolledBack
        : degraded is { Status: "True" } ? degraded
        : rolledBack;

    private static void WriteConditions(StringBuilder sb, List<V1Condition>? conditions, DateTimeOffset now)
    {
        sb.Append("Conditions:");
        if (conditions is not { Count: > 0 })
        {
            sb.Append("      none\n");
            return;
        }

        sb.Append('\n');
        var rows = new List<string[]> { new[] { "TYPE", "STATUS", "REASON", "AGE", "MESSAGE" } };
        rows.AddRange(conditions.Select(c => new[] { c.Type, c.Status, c.Reason ?? "", c.LastTransitionTime is { } t ? Age(now, t) : "", c.Message ?? "" }));
        var widths = Enumerable.Range(0, 4).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var row in rows)
        {
            sb.Append("  ");
            for (var i = 0; i < 4; i++)
            {
                sb.Append(row[i].PadRight(widths[i] + 2));
            }

            sb.Append(row[4].ReplaceLineEndings(" ")).Append('\n');
        }
    }

    private static TextTree BuildTree(ModelDeployment md, DateTimeOffset now, bool color)
    {
        var s = md.Status!;
        var created = md.Metadata.CreationTimestamp is { } c ? $"  created {Age(now, c)} ago" : "";
        var root = new TextTree($"⟳ modeldeployment/{md.Metadata.Name}  {Badge(s.Phase ?? ModelDeploymentPhases.Pending, color)}{created}");
        var revisions = (s.Revisions ?? []).OrderByDescending(r => r.Revision).ToList();
        if (revisions.Count == 0)
        {
            root.Add("no revisions yet");
        }

        var analysisPlaced = false;
        foreach (var r in revisions)
        {
            var node = root.Add(RevisionLabel(r, s, md.Spec.PinnedRevision, now, color));
            Detail(node, "TrainingRun", r.TrainingRun);
            Detail(node, "Model", r.ModelUri);
            Detail(node, "Image", r.Image);
            if (r.Metric is { } metric)
            {
                node.Add($"Offline metric: {Value(metric)}{(r.TestData is { Length: > 0 } data ? $" (test data {data})" : "")}");
            }

            Detail(node, "Reason", r.Reason);
            if (s.Analysis is { } analysis && analysis.Revision == r.Revision)
            {
                AddAnalysis(node, analysis, now, color);
                analysisPlaced = true;
            }
        }

        if (!analysisPlaced && s.Analysis is { } orphan)
        {
            // The analysed revision has left the history: show the analysis anyway, under the deployment.
            AddAnalysis(root, orphan, now, color);
        }

        return root;
    }

    private static string RevisionLabel(ModelRevision r, ModelDeploymentStatus s, int? pinned, DateTimeOffset now, bool color)
    {
        var label = new StringBuilder($"# revision:{Num(r.Revision)}  {OutcomeBadge(r.Outcome, color)}");
        if (r.Revision == s.CanaryRevision)
        {
            label.Append($"  weight {Num(s.CanaryWeight ?? 0)}%");
        }

        if (r.Revision == pinned)
        {
            label.Append("  pinned");
        }

        var (what, when) = r.Outcome switch
        {
            RevisionOutcomes.Rejected or RevisionOutcomes.RolledBack when r.RejectedAt is { } t => ("rejected", t),
            RevisionOutcomes.Stable or RevisionOutcomes.Superseded or RevisionOutcomes.RolledBack when r.PromotedAt is { } t => ("promoted", t),
            _ when r.CreatedAt is { } t => ("created", t),
            _ => ((string?)null, default(DateTime)),
        };
        if (what is not null)
        {
            label.Append($"  {what} {Age(now, when)} ago");
        }

        return label.ToString();
    }

    private static void Detail(TextTree node, string label, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            node.Add($"{label}: {value}");
        }
    }

    private static void AddAnalysis(TextTree parent, AnalysisStatus a, DateTimeOffset now, bool color)
    {
        var started = a.StartedAt is { } t ? $", started {Age(now, t)} ago" : "";
        var node = parent.Add($"Analysis ({a.Arm ?? "?"}): {MeasurementBadge(a.Phase ?? AnalysisPhases.Running, color)}{started}");
        if (a.Message is { Length: > 0 } message)
        {
            node.Add($"Message: {message}");
        }

        foreach (var m in a.Metrics ?? [])
        {
            var metric = node.Add(
                $"{m.Name}: {Num(m.Count)} measured: {Num(m.Successful)} successful, {Num(m.Failed)} failed, {Num(m.Inconclusive)} inconclusive, {Num(m.Error)} error" +
                (m.ConsecutiveError > 0 ? $" ({Num(m.ConsecutiveError)} in a row)" : ""));
            if (m.Measurements is not { Count: > 0 })
            {
                metric.Add("no measurements yet");
                continue;
            }

            foreach (var x in m.Measurements)
            {
                var value = x.Value is { } v ? Value(v) : "-";
                var at = x.MeasuredAt is { } when ? $"  {Age(now, when)} ago" : "";
                var why = x.Message is { Length: > 0 } text ? $": {text}" : "";
                metric.Add($"{MeasurementBadge(x.Phase, color)}  {value}{at}{why}");
            }
        }
    }

    private static string RunOf(ModelDeploymentStatus s, int revision) =>
        s.Revisions?.FirstOrDefault(r => r.Revision == revision)?.TrainingRun is { Length: > 0 } run ? $" (TrainingRun {run})" : "";

    private static string Badge(string phase, bool color) => phase switch
    {
        ModelDeploymentPhases.Healthy => Paint("✔ " + phase, Green, color),
        ModelDeploymentPhases.Degraded => Paint("✖ " + phase, Red, color),
        _ => Paint("◌ " + phase, Yellow, color),
    };

    private static string OutcomeBadge(string? outcome, bool color) => outcome switch
    {
        RevisionOutcomes.Stable => Paint("✔ Stable", Green, color),
        RevisionOutcomes.Canary => Paint("◌ Canary", Yellow, color),
        RevisionOutcomes.Rejected or RevisionOutcomes.RolledBack => Paint("✖ " + outcome, Red, color),
        null or "" => "• (no outcome)",
        _ => "• " + outcome,
    };

    private static string MeasurementBadge(string phase, bool color) => phase switch
    {
        AnalysisPhases.Successful => Paint("✔ " + phase, Green, color),
        AnalysisPhases.Failed => Paint("✖ " + phase, Red, color),
        AnalysisPhases.Error => Paint("⚠ " + phase, Red, color),
        AnalysisPhases.Inconclusive => Paint("? " + phase, Yellow, color),
        _ => Paint("◌ " + phase, Yellow, color),
    };

    private static string Paint(string text, string ansi, bool color) => color ? ansi + text + Reset : text;

    private static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    private static string Value(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>An age as kubectl prints it (apimachinery's duration.HumanDuration).</summary>
    internal static string Age(DateTimeOffset now, DateTime then)
    {
        var utc = then.Kind switch
        {
            DateTimeKind.Local => then.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(then, DateTimeKind.Utc),
            _ => then,
        };
        var d = now - new DateTimeOffset(utc);
        if (d < TimeSpan.FromSeconds(-1))
        {
            // Clock skew between this machine and the writer; kubectl says the same.
            return "<invalid>";
        }

        var seconds = (long)Math.Max(0, d.TotalSeconds);
        if (seconds < 120)
        {
            return $"{seconds}s";
        }

        var minutes = seconds / 60;
        if (minutes < 10)
        {
            return seconds % 60 == 0 ? $"{minutes}m" : $"{minutes}m{seconds % 60}s";
        }

        if (minutes < 60 * 3)
        {
            return $"{minutes}m";
        }

        var hours = minutes / 60;
        if (hours < 8)
        {
            return minutes % 60 == 0 ? $"{hours}h" : $"{hours}h{minutes % 60}m";
        }

        if (hours < 48)
        {
            return $"{hours}h";
        }

        if (hours < 24 * 8)
        {
            return hours % 24 == 0 ? $"{hours / 24}d" : $"{hours / 24}d{hours % 24}h";
        }

        if (hours < 24 * 365 * 2)
        {
            return $"{hours / 24}d";
        }

        var years = hours / 24 / 365;
        if (hours < 24 * 365 * 8)
        {
            var days = hours / 24 % 365;
            return days == 0 ? $"{years}y" : $"{years}y{days}d";
        }

        return $"{years}y";
    }
}
