using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.ModelDeployments;

/// <summary>Names and labels of what a ModelDeployment creates: two Deployments (stable, canary) behind one Service.</summary>
public static class ModelDeploymentNames
{
    /// <summary>On the Deployments, their pods and the Service: which ModelDeployment they serve.</summary>
    public const string DeploymentLabel = "syllabus.dev/model-deployment";

    /// <summary>On the pods: stable or canary.</summary>
    public const string ArmLabel = "syllabus.dev/arm";

    /// <summary>On the pods: the revision they serve.</summary>
    public const string RevisionLabel = "syllabus.dev/revision";

    public const string AppName = "syllabus-serve";
    public const string ContainerName = "serve";
    public const string PortName = "http";
    public const int ContainerPort = 8080;
    public const int ServicePort = 80;
    public const string ReadinessPath = "/v2/health/ready";
    public const string LivenessPath = "/v2/health/live";

    /// <summary>The Deployment of an arm: <c>NAME-stable</c> or <c>NAME-canary</c>.</summary>
    public static string Deployment(string name, string arm) => TrainingRunNames.Truncate($"{name}-{arm}");

    /// <summary>The Service in front of both arms: the ModelDeployment's own name.</summary>
    public static string Service(string name) => name;

    /// <summary>The labels every child carries (the managed-by label is what the operator's informers filter on).</summary>
    public static Dictionary<string, string> CommonLabels(ModelDeployment deployment) => new()
    {
        [TrainingRunNames.AppNameLabel] = AppName,
        [TrainingRunNames.ManagedByLabel] = TrainingRunNames.ManagedBy,
        [DeploymentLabel] = TrainingRunNames.LabelValue(deployment.Metadata.Name),
    };
}
