using System.Security.Cryptography;
using System.Text;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>Deterministic names and the labels of what a TrainingRun creates.</summary>
public static class TrainingRunNames
{
    public const string RunLabel = "syllabus.dev/training-run";
    public const string AttemptLabel = "syllabus.dev/attempt";
    public const string AppNameLabel = "app.kubernetes.io/name";
    public const string AppName = "syllabus-trainer";
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    /// <summary>The operator's Operator:ManagedBy default: its informers of owned kinds see only objects labelled with it.</summary>
    public const string ManagedBy = "syllabus";
    public const string KueueQueueLabel = "kueue.x-k8s.io/queue-name";
    public const string Finalizer = "syllabus.dev/cleanup";
    public const string ConfigHashAnnotation = "syllabus.dev/config-hash";
    public const string ContainerName = "trainer";

    /// <summary>Longest name of a Job (its pods get a suffix, and the job-name label must stay a 63-char label value).</summary>
    public const int MaxNameLength = 63;

    /// <summary>The Job of attempt <paramref name="attempt"/>: <c>RUN-ATTEMPT</c>.</summary>
    public static string Job(string run, int attempt) => Truncate($"{run}-{attempt}");

    /// <summary>The ConfigMap with the resolved spec: <c>RUN-config</c>.</summary>
    public static string ConfigMap(string run) => Truncate($"{run}-config");

    /// <summary>
    /// The name itself when it fits; otherwise a prefix, a dash and 8 hex digits of its SHA-256, so two long names
    /// that share a prefix still differ and the result is stable across restarts.
    /// </summary>
    public static string Truncate(string name, int max = MaxNameLength)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length <= max)
        {
            return name;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];
        return $"{name[..(max - 9)].TrimEnd('-', '.')}-{hash}";
    }

    /// <summary>A label value: at most 63 characters (hashed like names when longer).</summary>
    public static string LabelValue(string value) => Truncate(value);
}
