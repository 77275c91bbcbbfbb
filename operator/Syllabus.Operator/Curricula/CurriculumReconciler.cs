using Microsoft.Extensions.Logging;
using Syllabus.Api;
using Syllabus.Runtime;
using Syllabus.Runtime.Rbac;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Api.Validation;

namespace Syllabus.Operator.Curricula;

/// <summary>
/// Validates a Curriculum (Valid condition) and counts the TrainingRuns that use it, from the TrainingRun cache's
/// spec.curriculumRef.name index. Runs already started keep the copy inlined into their ConfigMap, so nothing here
/// touches them. The controller watches TrainingRuns, so a run that starts or stops using the curriculum updates the
/// count at once; nothing polls.
/// </summary>
// The controller's informer (list, watch); status written through the subresource with a guarded merge patch.
[RbacRule(Groups = ["syllabus.dev"], Resources = ["curricula"], Verbs = ["list", "watch"])]
[RbacRule(Groups = ["syllabus.dev"], Resources = ["curricula/status"], Verbs = ["patch"])]
// TrainingRuns are watched (an informer) so a run that starts or stops using the curriculum updates its usedBy at once.
[RbacRule(Groups = ["syllabus.dev"], Resources = ["trainingruns"], Verbs = ["list", "watch"])]
internal sealed partial class CurriculumReconciler(
    IResourceClient<Curriculum> curricula,
    ICacheReader<TrainingRun> runs,
    TimeProvider time,
    ILogger<CurriculumReconciler> log) : IReconciler<Curriculum>
{
    public async Task<ReconcileResult> ReconcileAsync(Curriculum resource, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (resource.Metadata.DeletionTimestamp is not null)
        {
            return ReconcileResult.Done;
        }

        var ns = resource.Metadata.NamespaceProperty;
        var users = runs.ByIndex(TrainingRunIndexes.Curriculum, resource.Metadata.Name, ns)
            .Where(r => r.Metadata.DeletionTimestamp is null)
            .Select(r => r.Metadata.Name)
            .Order(StringComparer.Ordinal)
            .ToList();
        var status = CurriculumStatusCalculator.Compute(resource, SpecValidation.Validate(resource.Spec), users, time.GetUtcNow());
        if (Manifests.ToJson(resource.Status ?? new CurriculumStatus()) != Manifests.ToJson(status))
        {
            await curricula.UpdateStatusAsync(resource, status, ct).ConfigureAwait(false);
            LogUsage(ObjectKey.From(resource), users.Count);
        }

        return ReconcileResult.Done;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Curriculum {Curriculum} is used by {Count} TrainingRuns")]
    private partial void LogUsage(ObjectKey curriculum, int count);
}

/// <summary>The status of a Curriculum from its validation errors and the runs that reference it (pure).</summary>
public static class CurriculumStatusCalculator
{
    public static CurriculumStatus Compute(Curriculum curriculum, IReadOnlyList<ValidationError> errors, IReadOnlyList<string> usedBy, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(curriculum);
        ArgumentNullException.ThrowIfNull(errors);
        ArgumentNullException.ThrowIfNull(usedBy);
        var conditions = curriculum.Status?.Conditions?.Select(KubernetesObjects.DeepClone).ToList() ?? [];
        var generation = curriculum.Metadata.Generation;
        if (errors.Count == 0)
        {
            Conditions.SetCondition(conditions, ConditionTypes.Valid, Conditions.True, TrainingRunReasons.Valid, "The curriculum passed the operator's validation", generation, now);
        }
        else
        {
            Conditions.SetCondition(conditions, ConditionTypes.Valid, Conditions.False, TrainingRunReasons.InvalidSpec, SpecValidation.Describe(errors), generation, now);
        }

        return new CurriculumStatus
        {
            ObservedGeneration = generation,
            Conditions = conditions,
            UsedBy = usedBy.Count == 0 ? null : [.. usedBy.Order(StringComparer.Ordinal).Take(CurriculumStatus.MaxUsedByNames)],
            UsedByCount = usedBy.Count,
        };
    }
}
