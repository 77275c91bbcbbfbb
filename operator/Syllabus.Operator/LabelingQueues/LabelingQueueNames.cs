using System.Globalization;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.LabelingQueues;

/// <summary>Names, labels, annotations and paths of what a LabelingQueue creates.</summary>
public static class LabelingQueueNames
{
    /// <summary>On every child and its pods: which queue they belong to.</summary>
    public const string QueueLabel = "syllabus.dev/labeling-queue";

    /// <summary>On the children and pods: label (the service), score or export (Jobs).</summary>
    public const string RoleLabel = "syllabus.dev/labeling-role";

    public const string LabelRole = "label";
    public const string ScoreRole = "score";
    public const string ExportRole = "export";

    /// <summary>On a retrained TrainingRun: the export it trains on (a pvc:// file URI).</summary>
    public const string ExportAnnotation = "syllabus.dev/label-export";

    /// <summary>On a retrained TrainingRun: how many labels that export holds.</summary>
    public const string LabelCountAnnotation = "syllabus.dev/label-count";

    /// <summary>On a retrained TrainingRun: its retraining round (1, 2, ...).</summary>
    public const string RoundAnnotation = "syllabus.dev/labeling-round";

    /// <summary>On the labelling pod template: the token's hash (status.tokenHash), so a new token restarts the pod.</summary>
    public const string TokenHashAnnotation = "syllabus.dev/token-hash";

    public const string AppName = "syllabus-label";
    public const string ContainerName = "label";
    public const string PortName = "http";
    public const int ContainerPort = 8080;
    public const int ServicePort = 80;
    public const string ReadinessPath = "/healthz";

    /// <summary>The token Secret's key, and where the labelling pod mounts the Secret.</summary>
    public const string TokenKey = "token";
    public const string TokenMountPath = "/var/run/secrets/syllabus.dev/labeling";

    public const string StoreFile = "labels.db";
    public const string BatchFolder = "batches";
    public const string ExportFile = "labels.csv";

    /// <summary>The labelling service's Deployment and Service: <c>NAME-label</c>.</summary>
    public static string LabelService(string queue) => TrainingRunNames.Truncate($"{queue}-label");

    /// <summary>The Secret with the bearer token: <c>NAME-token</c>.</summary>
    public static string TokenSecret(string queue) => TrainingRunNames.Truncate($"{queue}-token");

    /// <summary>The Job scoring batch <paramref name="batch"/>, attempt <paramref name="attempt"/>: <c>NAME-score-B-A</c>.</summary>
    public static string ScoreJob(string queue, int batch, int attempt) =>
        TrainingRunNames.Truncate(string.Create(CultureInfo.InvariantCulture, $"{queue}-score-{batch}-{attempt}"));

    /// <summary>The Job exporting the labels of retraining round <paramref name="round"/>: <c>NAME-export-R</c>.</summary>
    public static string ExportJob(string queue, int round) =>
        TrainingRunNames.Truncate(string.Create(CultureInfo.InvariantCulture, $"{queue}-export-{round}"));

    /// <summary>The TrainingRun of retraining round <paramref name="round"/>: <c>NAME-retrain-R</c>, so a retried reconcile never creates two.</summary>
    public static string RetrainRun(string queue, int round) =>
        TrainingRunNames.Truncate(string.Create(CultureInfo.InvariantCulture, $"{queue}-retrain-{round}"));

    /// <summary>The file batch <paramref name="batch"/> is scored into, under the store folder.</summary>
    public static string BatchFileName(int batch) => string.Create(CultureInfo.InvariantCulture, $"batch-{batch:D4}.csv");

    /// <summary>The export of round <paramref name="round"/>: <c>EXPORTURI/round-RRRR/labels.csv</c>.</summary>
    public static string ExportUri(string exportFolderUri, int round) =>
        string.Create(CultureInfo.InvariantCulture, $"{exportFolderUri.TrimEnd('/')}/round-{round:D4}/{ExportFile}");

    /// <summary>Where a pvc:// URI is inside the pods (claims are mounted under <see cref="TrainerJobBuilder.PvcMountRoot"/>).</summary>
    public static string MountedPath(string pvcUri)
    {
        ArgumentNullException.ThrowIfNull(pvcUri);
        if (!pvcUri.StartsWith("pvc://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{pvcUri} is not a pvc:// URI", nameof(pvcUri));
        }

        return $"{TrainerJobBuilder.PvcMountRoot}/{pvcUri["pvc://".Length..].TrimEnd('/')}";
    }

    /// <summary>The labels every child carries (managed-by is what the operator's informers filter on).</summary>
    public static Dictionary<string, string> CommonLabels(LabelingQueue queue, string role) => new()
    {
        [TrainingRunNames.AppNameLabel] = AppName,
        [TrainingRunNames.ManagedByLabel] = TrainingRunNames.ManagedBy,
        [QueueLabel] = TrainingRunNames.LabelValue(queue.Metadata.Name),
        [RoleLabel] = role,
    };

    /// <summary>A label's or annotation's value, if the map has it.</summary>
    internal static string? ValueOf(IDictionary<string, string>? map, string key) =>
        map is not null && map.TryGetValue(key, out var value) ? value : null;
}
