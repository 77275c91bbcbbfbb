using System.Diagnostics.CodeAnalysis;
using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Syllabus.Runtime.Hosting;

/// <summary>The operator's settings: section "Operator" of appsettings.json, overridable by env vars (Operator__ClientQps=20).</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The TimeSpan ranges are checked by the source-generated OperatorOptionsAnnotationsValidator (bounds parsed at compile time); nothing reflects over these attributes.")]
public sealed class OperatorOptions
{
    public const string SectionName = "Operator";

    /// <summary>Namespaces to watch; empty means all namespaces.</summary>
    public List<string> Namespaces { get; set; } = [];

    /// <summary>Reconcile workers per kind unless <see cref="Workers"/> names the kind.</summary>
    [Range(1, 256)]
    public int DefaultWorkers { get; set; } = 2;

    /// <summary>Reconcile workers by kind (e.g. TrainingRun: 4).</summary>
    public Dictionary<string, int> Workers { get; set; } = [];

    /// <summary>
    /// Sustained requests per second to the API server (a client-side token bucket), or -1 for none: the default, as
    /// controller-runtime's since v0.21 on SIG API Machinery's advice, because the API server's own Priority and Fairness
    /// (on by default since Kubernetes 1.20) queues and sheds load fairly across clients, and reads come from the cache.
    /// </summary>
    [Range(-1, 100_000)]
    public double ClientQps { get; set; } = DisabledQps;

    /// <summary>Requests the token bucket lets through at once; used only with a positive <see cref="ClientQps"/>.</summary>
    [Range(1, 100_000)]
    public int ClientBurst { get; set; } = 100;

    /// <summary>The <see cref="ClientQps"/> that turns the client-side limiter off.</summary>
    public const double DisabledQps = -1;

    /// <summary>The port of /healthz, /readyz and /metrics; 0 picks a free one (tests).</summary>
    [Range(0, 65535)]
    public int ProbePort { get; set; } = 8080;

    /// <summary>How long the informers may take to list before the manager gives up and exits (controller-runtime's 2 min).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan CacheSyncTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often every cached object is reconciled again even without changes; 0 turns it off.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan ResyncPeriod { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A kubeconfig file; when null and not <see cref="InCluster"/>, the default ($KUBECONFIG, ~/.kube/config, or in-cluster).</summary>
    public string? Kubeconfig { get; set; }

    public string? KubeconfigContext { get; set; }

    /// <summary>Use the pod's service account.</summary>
    public bool InCluster { get; set; }

    /// <summary>Log one JSON object per line (for log collectors) instead of the human console format.</summary>
    public bool JsonLogs { get; set; }

    /// <summary>
    /// The value of app.kubernetes.io/managed-by on everything the operator creates. Informers of owned kinds list and
    /// watch only objects with it, so the cache never holds the cluster's unrelated Jobs, Pods or ConfigMaps.
    /// </summary>
    [Required, RegularExpression(@"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    public string ManagedBy { get; set; } = "syllabus";

    /// <summary>The field manager of the operator's server-side applies and writes.</summary>
    [Required]
    public string FieldManager { get; set; } = "syllabus-operator";

    [ValidateObjectMembers]
    public LeaderElectionOptions LeaderElection { get; set; } = new();
}

[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The TimeSpan ranges are checked by the source-generated OperatorOptionsAnnotationsValidator (bounds parsed at compile time); nothing reflects over these attributes.")]
public sealed class LeaderElectionOptions
{
    public bool Enabled { get; set; } = true;

    [Required]
    public string LeaseName { get; set; } = "syllabus-operator";

    [Required]
    public string LeaseNamespace { get; set; } = "syllabus-system";

    /// <summary>How long a lease lasts without renewal: the most a standby waits after the leader dies.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    [Range(typeof(TimeSpan), "00:00:00.5", "00:10:00")]
    public TimeSpan RenewDeadline { get; set; } = TimeSpan.FromSeconds(10);

    [Range(typeof(TimeSpan), "00:00:00.1", "00:10:00")]
    public TimeSpan RetryPeriod { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>This instance's name in the lease; defaults to host name plus a random suffix.</summary>
    public string? Identity { get; set; }
}

/// <summary>The cross-field rules data annotations cannot express.</summary>
internal sealed partial class OperatorOptionsValidator : IValidateOptions<OperatorOptions>
{
    public ValidateOptionsResult Validate(string? name, OperatorOptions options)
    {
        var failures = new List<string>();
        foreach (var ns in options.Namespaces)
        {
            if (!Dns1123Label().IsMatch(ns ?? string.Empty))
            {
                failures.Add($"Operator:Namespaces contains '{ns}', which is not a valid namespace name (lowercase DNS label).");
            }
        }

        if (options.Namespaces.Count != options.Namespaces.Distinct(StringComparer.Ordinal).Count())
        {
            failures.Add("Operator:Namespaces lists a namespace more than once.");
        }

        foreach (var (kind, workers) in options.Workers)
        {
            if (workers is < 1 or > 256)
            {
                failures.Add($"Operator:Workers:{kind} is {workers}; it must be between 1 and 256.");
            }
        }

        if (options.ClientQps is not OperatorOptions.DisabledQps and < 0.1)
        {
            failures.Add($"Operator:ClientQps is {options.ClientQps}; it must be -1 (no client-side limit) or at least 0.1 requests per second.");
        }
        else if (options.ClientQps > 0 && options.ClientBurst < options.ClientQps)
        {
            failures.Add($"Operator:ClientBurst ({options.ClientBurst}) must be at least Operator:ClientQps ({options.ClientQps}).");
        }

        if (options.InCluster && options.Kubeconfig is not null)
        {
            failures.Add("Operator:InCluster and Operator:Kubeconfig are mutually exclusive; set one.");
        }

        if (options.Kubeconfig is { } path && !File.Exists(path))
        {
            failures.Add($"Operator:Kubeconfig names '{path}', which does not exist.");
        }

        var le = options.LeaderElection;
        if (le.Enabled)
        {
            if (!Dns1123Label().IsMatch(le.LeaseNamespace ?? string.Empty))
            {
                failures.Add($"Operator:LeaderElection:LeaseNamespace '{le.LeaseNamespace}' is not a valid namespace name.");
            }

            if (le.RenewDeadline >= le.LeaseDuration)
            {
                failures.Add($"Operator:LeaderElection:RenewDeadline ({le.RenewDeadline}) must be shorter than LeaseDuration ({le.LeaseDuration}).");
            }

            if (le.RetryPeriod >= le.RenewDeadline)
            {
                failures.Add($"Operator:LeaderElection:RetryPeriod ({le.RetryPeriod}) must be shorter than RenewDeadline ({le.RenewDeadline}).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex Dns1123Label();
}

/// <summary>The DataAnnotations on <see cref="OperatorOptions"/>, checked by generated code (no reflection, so Native AOT keeps them).</summary>
[OptionsValidator]
internal sealed partial class OperatorOptionsAnnotationsValidator : IValidateOptions<OperatorOptions>;
