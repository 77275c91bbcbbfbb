namespace Syllabus.Api;

/// <summary>The API group and version every Syllabus kind lives in.</summary>
public static class SyllabusGroup
{
    public const string Name = "syllabus.dev";
    public const string Version = "v1alpha1";
    public const string ApiVersion = Name + "/" + Version;
    public const string Category = "syllabus";

    /// <summary>Duration strings as Argo Rollouts writes them: 30s, 5m, 1h30m, 250ms.</summary>
    public const string DurationPattern = @"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

    /// <summary>Where artifacts live: a PVC path in a cluster or a local folder.</summary>
    public const string ArtifactUriPattern = @"^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/.*)?|file:///.*)$";

    /// <summary>Where data comes from: the artifact schemes plus plain local paths for local runs.</summary>
    public const string DataUriPattern = @"^(pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?/.+|file:///.+|[^:]+)$";
}
