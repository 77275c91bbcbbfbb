using System.Globalization;
using System.Text.Json;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>What a retraining run is built from: the policy's template and the model the ModelDeployment serves.</summary>
public sealed record RetrainSource
{
    public required DriftPolicy Policy { get; init; }

    public required RetrainSpec Retrain { get; init; }

    public required ModelDeployment Deployment { get; init; }

    /// <summary>The stable revision that drifted.</summary>
    public required ModelRevision Served { get; init; }

    /// <summary>The TrainingRun that produced the served model, if it still exists (its training data is replayed).</summary>
    public TrainingRun? ServedRun { get; init; }

    public required int Number { get; init; }

    public required string Reason { get; init; }
}

/// <summary>
/// The retraining TrainingRun of a DriftPolicy as a pure function: the template's spec, warm-started from the served
/// model (baseModel.uri) and replaying <c>replayFraction</c> of its training data (data.replay), unless the template
/// sets those itself; labelled with the ModelDeployment's selector so the deployment takes it as a candidate (and
/// judges it with mustBeat and its analysis before promoting). Every reason it cannot be built is named.
/// </summary>
public static class DriftRetrainBuilder
{
    /// <summary>The longest drift reason kept in the run's annotation.</summary>
    private const int ReasonLength = 1000;

    public static (TrainingRun? Run, string? Problem) Build(RetrainSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var policy = source.Policy;
        var template = source.Retrain.Template;
        var spec = SyllabusJson.Copy<TrainingRunSpec>(template.Spec);
        if (source.Retrain.WarmStart && spec.BaseModel is null)
        {
            if (string.IsNullOrEmpty(source.Served.ModelUri))
            {
                return (null, $"warmStart needs the served model, and revision {source.Served.Revision} records no modelUri");
            }

            spec.BaseModel = new BaseModelSpec { Uri = source.Served.ModelUri };
        }

        if (source.Retrain.ReplayFraction > 0 && spec.Data.Replay is null)
        {
            var served = source.ServedRun?.Spec?.Data?.Train;
            if (served is null)
            {
                return (null, $"replayFraction {source.Retrain.ReplayFraction.ToString(CultureInfo.InvariantCulture)} replays the served model's training data, but its TrainingRun {source.Served.TrainingRun ?? "(none recorded)"} is gone; set retrain.template.spec.data.replay, or replayFraction 0");
            }

            spec.Data.Replay = new ReplaySpec { Data = SyllabusJson.Copy<DatasetSource>(served), Fraction = source.Retrain.ReplayFraction };
        }

        // Each run writes its own folder: a later retrain must never overwrite a model a ModelDeployment still serves.
        var name = DriftPolicyNames.RetrainRun(policy.Metadata.Name, source.Number);
        spec.Artifacts.Uri = $"{spec.Artifacts.Uri.TrimEnd('/')}/{name}";
        var labels = new Dictionary<string, string>(template.Metadata?.Labels ?? [], StringComparer.Ordinal);
        var selector = source.Deployment.Spec.Source.Selector;
        if (selector is null)
        {
            return (null, $"ModelDeployment {source.Deployment.Metadata.Name} serves TrainingRun {source.Deployment.Spec.Source.TrainingRun?.Name} by name, so a retrained run can never become its candidate; give it source.selector");
        }

        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            labels[key] = value;
        }

        labels[TrainingRunNames.ManagedByLabel] = TrainingRunNames.ManagedBy;
        labels[DriftPolicyNames.PolicyLabel] = TrainingRunNames.LabelValue(policy.Metadata.Name);
        try
        {
            if (!LabelSelector.From(selector).Matches(labels))
            {
                return (null, $"the retrained run's labels ({string.Join(", ", labels.Select(l => $"{l.Key}={l.Value}"))}) do not match ModelDeployment {source.Deployment.Metadata.Name}'s selector; add the labels its matchExpressions need to retrain.template.metadata.labels");
            }
        }
        catch (FormatException e)
        {
            return (null, $"ModelDeployment {source.Deployment.Metadata.Name}'s selector is invalid: {e.Message}");
        }

        var reason = source.Reason.Length > ReasonLength ? string.Concat(source.Reason.AsSpan(0, ReasonLength), "...") : source.Reason;
        var annotations = new Dictionary<string, string>(template.Metadata?.Annotations ?? [], StringComparer.Ordinal)
        {
            [DriftPolicyNames.DriftedRevisionAnnotation] = source.Served.Revision.ToString(CultureInfo.InvariantCulture),
            [DriftPolicyNames.DriftReasonAnnotation] = reason,
        };
        if (spec.BaseModel?.Uri is { } warm)
        {
            annotations[DriftPolicyNames.WarmStartAnnotation] = warm;
        }

        var run = new TrainingRun
        {
            ApiVersion = $"{SyllabusGroup.Name}/{SyllabusGroup.Version}",
            Kind = TrainingRun.KindName,
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = policy.Metadata.NamespaceProperty,
                Labels = labels,
                Annotations = annotations,
            },
            Spec = spec,
        };
        OwnerReferences.SetControllerReference(policy, run);
        return (run, null);
    }
}
