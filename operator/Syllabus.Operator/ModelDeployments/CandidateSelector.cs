using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>Which TrainingRun's model a ModelDeployment should serve next.</summary>
public static class CandidateSelector
{
    /// <summary>
    /// The named run, or the newest (by completion) Succeeded run matching the selector; only runs with a model, whose
    /// gates passed when <c>requireGates</c>, and that were not rejected or rolled back here (their newest revision says
    /// so) unless <paramref name="retrying"/> names them. Null, with why, when there is none.
    /// </summary>
    public static (TrainingRun? Run, string? WhyNone) Select(ModelDeployment deployment, IEnumerable<TrainingRun> runsInNamespace, string? retrying = null)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(runsInNamespace);
        var source = deployment.Spec.Source;
        var requireGates = deployment.Spec.Promotion.RequireGates;
        IEnumerable<TrainingRun> matching;
        string described;
        if (source.TrainingRun is { } named)
        {
            matching = runsInNamespace.Where(r => r.Metadata.Name == named.Name);
            described = $"TrainingRun {named.Name}";
        }
        else if (source.Selector is { } selector)
        {
            var parsed = LabelSelector.From(selector);
            matching = runsInNamespace.Where(r => parsed.Matches(r.Metadata.Labels));
            described = $"TrainingRuns matching {parsed}";
        }
        else
        {
            return (null, "spec.source names neither a trainingRun nor a selector");
        }

        var all = matching.ToList();
        if (all.Count == 0)
        {
            return (null, $"no {described} exists");
        }

        var eligible = all
            .Where(r => r.Metadata.DeletionTimestamp is null)
            .Where(r => r.Status?.Phase == TrainingRunPhases.Succeeded && !string.IsNullOrEmpty(r.Status.Result?.ModelUri))
            .Where(r => !requireGates || GatesPassed(r))
            .Where(r => r.Metadata.Name == retrying || !Refused(deployment, r))
            .OrderByDescending(r => r.Status!.CompletionTime ?? DateTime.MinValue)
            .ThenByDescending(r => r.Metadata.CreationTimestamp ?? DateTime.MinValue)
            .ThenBy(r => r.Metadata.Name, StringComparer.Ordinal)
            .ToList();
        return eligible.Count > 0
            ? (eligible[0], null)
            : (null, $"none of the {all.Count} {described} has Succeeded with a model{(requireGates ? " and passed its gates" : "")} without having been rejected here");
    }

    /// <summary>Whether the run's gates all passed (a run without gates passes).</summary>
    public static bool GatesPassed(TrainingRun run) =>
        Conditions.Find(run.Status?.Conditions, ConditionTypes.GatesPassed) is not { } gates || gates.Status == Conditions.True;

    /// <summary>What a revision displaced by spec.pinnedRevision says: it may serve again once the pin is removed.</summary>
    public const string DisplacedByPin = "displaced by spec.pinnedRevision";

    /// <summary>
    /// Not a candidate (until retried): the model was rejected or rolled back here (status.refused, which outlives the
    /// history), or it served and was superseded by a newer one (never a silent downgrade when a newer run is deleted),
    /// unless a pin displaced it.
    /// </summary>
    public static bool Refused(ModelDeployment deployment, TrainingRun run)
    {
        var uri = run.Status?.Result?.ModelUri;
        if (deployment.Status?.Refused?.Any(r => r.TrainingRun == run.Metadata.Name && r.ModelUri == uri) == true)
        {
            return true;
        }

        var newest = deployment.Status?.Revisions?
            .Where(r => r.TrainingRun == run.Metadata.Name && r.ModelUri == uri)
            .OrderByDescending(r => r.Revision)
            .FirstOrDefault();
        // Superseded after serving as stable (PromotedAt) is done with; a canary replaced unjudged, or a revision a pin
        // displaced, may come back.
        return newest?.Outcome is RevisionOutcomes.Rejected or RevisionOutcomes.RolledBack
            || (newest is { Outcome: RevisionOutcomes.Superseded, PromotedAt: not null } && newest.Reason?.StartsWith(DisplacedByPin, StringComparison.Ordinal) != true);
    }
}
