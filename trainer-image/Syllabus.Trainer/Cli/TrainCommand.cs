using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Cli;

/// <summary>`syllabus-trainer train -f FILE ...`: exit 0 on success (gates may still fail), 1 on a training error, 2 on bad input.</summary>
public static class TrainCommand
{
    public const int Success = 0;
    public const int TrainingError = 1;
    public const int BadInput = 2;

    public static RootCommand CreateRoot(TextWriter output, TextWriter error, Func<string, string?> environment, TimeProvider time)
    {
        var files = new Option<string[]>("--file", "-f") { Description = "Manifest file(s) holding the TrainingRun and what it refers to", Required = true, AllowMultipleArgumentsPerToken = false };
        var runName = new Option<string?>("--run") { Description = "Name of the TrainingRun to run when the files hold several" };
        var artifacts = new Option<string?>("--artifacts") { Description = "Artifacts URI overriding spec.artifacts.uri" };
        var metricsPort = new Option<int>("--metrics-port") { Description = "Port of the Prometheus /metrics endpoint (0 disables)", DefaultValueFactory = _ => 9090 };
        var terminationPath = new Option<string?>("--termination-message-path") { Description = "Where to write the JSON summary (default /dev/termination-log when writable)" };
        var noProgress = new Option<bool>("--no-progress") { Description = "Plain log lines instead of a progress bar" };
        var device = new Option<string?>("--device") { Description = $"auto (CUDA when available), cpu, cuda or cuda:N; default ${TrainingDevice.EnvironmentVariable} or auto" };

        var train = new Command("train", "Train a model as a TrainingRun manifest describes");
        foreach (var option in new Option[] { files, runName, artifacts, metricsPort, terminationPath, noProgress, device })
        {
            train.Add(option);
        }

        train.SetAction((parse, cancellationToken) => RunAsync(
            new TrainArguments(parse.GetValue(files) ?? [], parse.GetValue(runName), parse.GetValue(artifacts), parse.GetValue(metricsPort),
                parse.GetValue(terminationPath), parse.GetValue(noProgress), parse.GetValue(device) ?? environment(TrainingDevice.EnvironmentVariable)),
            output, error, environment, time, cancellationToken));

        var root = new RootCommand("Syllabus trainer: trains, scores and serves models described by Syllabus resources");
        root.Add(train);
        root.Add(ServeCommand.Create(output, error, environment));
        root.Add(DriftCommand.Create(output, error, environment, time));
        root.Add(ScoreCommand.Create(output, error, environment));
        root.Add(LabelCommand.Create(output, error));
        return root;
    }

    public static async Task<int> RunAsync(
        TrainArguments arguments, TextWriter output, TextWriter error, Func<string, string?> environment, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        ResolvedRun? run = null;
        TrainingReport report;
        var exitCode = Success;
        try
        {
            if (arguments.MetricsPort is < 0 or > 65535)
            {
                throw new InputException($"--metrics-port: {arguments.MetricsPort} is not a port (0 disables the endpoint)");
            }

            run = ManifestResolver.Resolve(arguments.Files, arguments.Run, arguments.Artifacts, environment);
            TorchSharp.torch.set_num_threads(IntraOpThreads(environment));
            output.WriteLine($"TrainingRun {run.Name}: artifacts in {run.ArtifactsDirectory}");
            var gauges = new ProgressGauges();
            await using var endpoint = arguments.MetricsPort > 0 ? StartEndpoint(gauges, arguments.MetricsPort, error) : null;
            var job = new TrainingJob(run, time) { Log = output.WriteLine, Device = arguments.Device };
            job.ExtraCallbacks.Add(gauges);
            TrainingOutcome outcome;
            var interactive = !arguments.NoProgress && !Console.IsOutputRedirected && ReferenceEquals(output, Console.Out);
            if (interactive)
            {
                outcome = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .StartAsync(context =>
                    {
                        job.ExtraCallbacks.Add(new BarProgressCallback(context.AddTask("training"), AnsiConsole.Console));
                        return Task.Run(() => job.Run(cancellationToken), cancellationToken);
                    });
            }
            else
            {
                job.ExtraCallbacks.Add(new LogProgressCallback(output));
                outcome = await Task.Run(() => job.Run(cancellationToken), cancellationToken);
            }

            report = outcome.Report;
            PrintSummary(output, outcome);
        }
        catch (InputException e)
        {
            error.WriteLine($"error: {e.Message}");
            report = TrainingJob.FailureReport(run, e.Message, time.GetUtcNow());
            exitCode = BadInput;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled; the last checkpoint is kept and the next start resumes from it");
            report = TrainingJob.FailureReport(run, "cancelled", time.GetUtcNow());
            exitCode = TrainingError;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine($"training failed: {e}");
            report = TrainingJob.FailureReport(run, $"{e.GetType().Name}: {e.Message}", time.GetUtcNow());
            exitCode = TrainingError;
        }

        if (exitCode != Success && run is not null)
        {
            TrySaveFailureReport(run, report, error);
        }

        var written = TerminationMessage.FromReport(report).Write(arguments.TerminationMessagePath);
        if (written is not null && arguments.TerminationMessagePath is not null)
        {
            output.WriteLine($"termination message: {written}");
        }

        return exitCode;
    }

    /// <summary>
    /// libtorch's intra-op threads: OMP_NUM_THREADS when set, else one less than the CPUs .NET sees (it honours the
    /// container's CPU quota). libtorch's default of every core spins badly when the loop's own thread or other
    /// processes compete for them: on a busy 2-core machine an MLP epoch took 20-30 s with 2 threads and 1.5 s with 1.
    /// </summary>
    internal static int IntraOpThreads(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return int.TryParse(environment("OMP_NUM_THREADS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : Math.Max(1, Environment.ProcessorCount - 1);
    }

    private static MetricsEndpoint? StartEndpoint(ProgressGauges gauges, int port, TextWriter error)
    {
        try
        {
            return new MetricsEndpoint(gauges, port);
        }
        catch (System.Net.HttpListenerException e)
        {
            // Live progress is a convenience; a busy port must not fail the run.
            error.WriteLine($"warning: metrics endpoint on port {port} not started: {e.Message}");
            return null;
        }
    }

    private static void TrySaveFailureReport(ResolvedRun run, TrainingReport report, TextWriter error)
    {
        try
        {
            Directory.CreateDirectory(run.ArtifactsDirectory);
            report.Save(Path.Combine(run.ArtifactsDirectory, TrainingReport.FileName));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"warning: could not write the failure report: {e.Message}");
        }
    }

    private static void PrintSummary(TextWriter output, TrainingOutcome outcome)
    {
        var report = outcome.Report;
        var metrics = report.Metrics ?? new Dictionary<string, double>();
        string Metric(string name) => metrics.TryGetValue(name, out var v) ? v.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"done: {report.EpochsTrained} epochs in {report.Timings.GetValueOrDefault("totalSeconds"):F1}s; {report.EvaluationSplit} accuracy {Metric("accuracy")}, macro F1 {Metric("macroF1")}, loss {Metric("loss")}"));
        if (report.Continual is { Forgetting: { } forgetting } continual)
        {
            var measured = continual.Tasks.Where(t => t.Forgetting is not null).Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {t.AccuracyAfterLearning:F4} -> {t.Accuracy:F4}"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"earlier tasks (accuracy right after learning -> now): {string.Join(", ", measured)}; forgetting {forgetting:F4}, backward transfer {continual.BackwardTransfer:F4}"));
        }

        foreach (var gate in report.Gates)
        {
            var bound = gate.AtLeast is { } least ? $">= {least}" : $"<= {gate.AtMost}";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"gate {gate.Metric}{(gate.Slice is null ? "" : $" [{gate.Slice}]")} {bound}: {(gate.Passed ? "passed" : "FAILED")} ({gate.Value?.ToString("F4", CultureInfo.InvariantCulture) ?? "missing"})"));
        }

        output.WriteLine($"model:  {outcome.ModelFolder}");
        output.WriteLine($"report: {outcome.ReportPath}");
        output.WriteLine($"curves: {Path.Combine(Path.GetDirectoryName(outcome.ReportPath)!, CurvePlotter.FileName)}");
    }
}

/// <summary>The parsed `train` options.</summary>
public sealed record TrainArguments(
    IReadOnlyList<string> Files, string? Run = null, string? Artifacts = null, int MetricsPort = 9090,
    string? TerminationMessagePath = null, bool NoProgress = false, string? Device = null);
