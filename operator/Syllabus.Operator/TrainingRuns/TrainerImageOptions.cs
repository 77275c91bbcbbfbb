using System.Diagnostics.CodeAnalysis;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>How the operator runs trainers: section "Trainer" of the configuration (env: Trainer__Image=...).</summary>
[UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "The TimeSpan ranges are checked by the source-generated TrainerImageOptionsAnnotationsValidator (bounds parsed at compile time); nothing reflects over these attributes.")]
public sealed class TrainerImageOptions
{
    public const string SectionName = "Trainer";

    /// <summary>The trainer image for runs that do not name one.</summary>
    [Required]
    public string Image { get; set; } = "ghcr.io/syllabus-dev/syllabus-trainer:latest";

    [AllowedValues("Always", "IfNotPresent", "Never")]
    public string ImagePullPolicy { get; set; } = "IfNotPresent";

    /// <summary>Extended resource the GPUs are requested as when a run keeps the schema default (nvidia.com/gpu).</summary>
    [Required, RegularExpression(@"^[a-z0-9.-]+/[a-z0-9.-]+$")]
    public string GpuResourceName { get; set; } = "nvidia.com/gpu";

    /// <summary>Port of the trainer's Prometheus endpoint, scraped at the pod IP.</summary>
    [Range(1, 65535)]
    public int MetricsPort { get; set; } = 9090;

    /// <summary>At most one progress scrape (and so one progress status write) per run per interval.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Timeout of one progress scrape.</summary>
    [Range(typeof(TimeSpan), "00:00:00.1", "00:01:00")]
    public TimeSpan ScrapeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Wait after the first failed attempt; doubles with each further failure up to <see cref="BackoffCap"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromSeconds(10);

    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan BackoffCap { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>UID and GID the trainer runs as (non-root).</summary>
    [Range(1, int.MaxValue)]
    public long RunAsUser { get; set; } = 65532;
}

/// <summary>The cross-field rules data annotations cannot express.</summary>
internal sealed class TrainerImageOptionsValidator : IValidateOptions<TrainerImageOptions>
{
    public ValidateOptionsResult Validate(string? name, TrainerImageOptions options)
    {
        var failures = new List<string>();
        if (options.BackoffCap < options.BackoffBase)
        {
            failures.Add($"Trainer:BackoffCap ({options.BackoffCap}) must be at least Trainer:BackoffBase ({options.BackoffBase}).");
        }

        if (options.ScrapeTimeout >= options.ProgressInterval)
        {
            failures.Add($"Trainer:ScrapeTimeout ({options.ScrapeTimeout}) must be shorter than Trainer:ProgressInterval ({options.ProgressInterval}).");
        }

        if (options.Image.Any(char.IsWhiteSpace))
        {
            failures.Add($"Trainer:Image '{options.Image}' contains white space.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The DataAnnotations on <see cref="TrainerImageOptions"/>, checked by generated code (no reflection, so Native AOT keeps them).</summary>
[OptionsValidator]
internal sealed partial class TrainerImageOptionsAnnotationsValidator : IValidateOptions<TrainerImageOptions>;
