namespace Syllabus.Trainer.Serving;

/// <summary>What `syllabus-trainer serve` serves and how (the CLI's options, validated by <see cref="Validate"/>).</summary>
public sealed record ServeOptions
{
    /// <summary>The model artifact: a folder or URI holding model.json and model.safetensors.</summary>
    public required string Model { get; init; }

    /// <summary>The name the model is served under (/v2/models/NAME); default: the TrainingRun that made it, else the folder's name.</summary>
    public string? Name { get; init; }

    /// <summary>The version it is served as; default: the TrainingRun that made it, else "1".</summary>
    public string? Version { get; init; }

    /// <summary>Kestrel URLs to listen on (e.g. http://127.0.0.1:0); when null, http://0.0.0.0:PORT.</summary>
    public IReadOnlyList<string>? Urls { get; init; }

    public int Port { get; init; } = 8080;

    /// <summary>auto, cpu, cuda or cuda:N.</summary>
    public string? Device { get; init; }

    /// <summary>The training data profile (profile.json) whose binning the live window uses; default: profile.json beside the model folder, when present.</summary>
    public string? Profile { get; init; }

    /// <summary>Most rows one model forward takes when merging concurrent requests; 1 turns dynamic batching off.</summary>
    public int MaxBatchSize { get; init; } = 64;

    /// <summary>How long the first request of a batch waits for others to join it.</summary>
    public TimeSpan MaxQueueDelay { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Largest request body Kestrel accepts (413 beyond it).</summary>
    public long MaxRequestBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Most rows one infer request may carry (413 beyond it).</summary>
    public int MaxRows { get; init; } = 4096;

    /// <summary>Most recent input rows kept for the live window.</summary>
    public int WindowSize { get; init; } = 1000;

    /// <summary>Most recent feedback judgements online accuracy is computed over.</summary>
    public int AccuracyWindow { get; init; } = 500;

    /// <summary>Most recent requests whose predictions are remembered for feedback.</summary>
    public int FeedbackCapacity { get; init; } = 10_000;

    /// <summary>How many of the most uncertain recent rows are kept for labelling.</summary>
    public int UncertainCapacity { get; init; } = 100;

    /// <summary>How many of the most recent predicted rows the uncertain rows are chosen among.</summary>
    public int UncertainHorizon { get; init; } = 10_000;

    /// <summary>The first problem with these options, naming the option; null when they are usable.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(Model))
        {
            return "--model: give the model artifact's folder or URI";
        }

        if (Name is not null && (Name.Length == 0 || Name.Contains('/', StringComparison.Ordinal)))
        {
            return $"--name: '{Name}' is not a model name (non-empty, no '/')";
        }

        if (Version is not null && (Version.Length == 0 || Version.Contains('/', StringComparison.Ordinal)))
        {
            return $"--model-version: '{Version}' is not a version (non-empty, no '/')";
        }

        return Port is < 0 or > 65535 ? $"--port: {Port} is not a port"
            : MaxBatchSize < 1 ? $"--max-batch-size: {MaxBatchSize} must be at least 1 (1 turns batching off)"
            : MaxQueueDelay < TimeSpan.Zero ? $"--max-queue-delay-ms: {MaxQueueDelay.TotalMilliseconds} must not be negative"
            : MaxRequestBytes < 1024 ? $"--max-request-bytes: {MaxRequestBytes} must be at least 1024"
            : MaxRows < 1 ? $"--max-rows: {MaxRows} must be at least 1"
            : WindowSize < 1 ? $"--window-size: {WindowSize} must be at least 1"
            : AccuracyWindow < 1 ? $"--accuracy-window: {AccuracyWindow} must be at least 1"
            : FeedbackCapacity < 1 ? $"--feedback-capacity: {FeedbackCapacity} must be at least 1"
            : UncertainCapacity < 1 ? $"--uncertain-capacity: {UncertainCapacity} must be at least 1"
            : UncertainHorizon < UncertainCapacity ? $"--uncertain-horizon: {UncertainHorizon} must be at least --uncertain-capacity ({UncertainCapacity})"
            : null;
    }
}
