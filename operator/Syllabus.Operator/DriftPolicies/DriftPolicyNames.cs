using System.Globalization;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>Names, labels and annotations of what a DriftPolicy creates.</summary>
public static class DriftPolicyNames
{
    /// <summary>On a retraining TrainingRun: the policy that created it.</summary>
    public const string PolicyLabel = "syllabus.dev/drift-policy";

    /// <summary>On a retraining TrainingRun: the ModelDeployment revision that drifted.</summary>
    public const string DriftedRevisionAnnotation = "syllabus.dev/drifted-revision";

    /// <summary>On a retraining TrainingRun: the model it warm-started from.</summary>
    public const string WarmStartAnnotation = "syllabus.dev/warm-start-model";

    /// <summary>On a retraining TrainingRun: what drifted (the detectors that breached, with their values).</summary>
    public const string DriftReasonAnnotation = "syllabus.dev/drift-reason";

    /// <summary>The n-th retraining run of a policy: <c>POLICY-retrain-N</c> (deterministic, so a retried reconcile never makes two).</summary>
    public static string RetrainRun(string policy, int n) => TrainingRunNames.Truncate($"{policy}-retrain-{n.ToString(CultureInfo.InvariantCulture)}");
}
