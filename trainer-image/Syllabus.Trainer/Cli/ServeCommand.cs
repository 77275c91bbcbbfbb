using System.CommandLine;
using Syllabus.Trainer.Serving;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Cli;

/// <summary>`syllabus-trainer serve --model URI ...`: serves a model until stopped; exit 0 on a clean stop, 2 on bad input.</summary>
public static class ServeCommand
{
    public static Command Create(TextWriter output, TextWriter error, Func<string, string?> environment)
    {
        var defaults = new ServeOptions { Model = "" };
        var model = new Option<string?>("--model", "-m") { Description = "The model artifact: its folder or URI (file://, pvc://CLAIM/path, a relative path), holding model.json" };
        var files = new Option<string[]>("--file", "-f") { Description = "Instead of --model: a ModelDeployment manifest and the TrainingRun manifest(s) its source names or selects" };
        var deployment = new Option<string?>("--deployment") { Description = "The ModelDeployment to serve when the files hold several" };
        var name = new Option<string?>("--name") { Description = "Name served under /v2/models/NAME (default: the TrainingRun that made the model)" };
        var version = new Option<string?>("--model-version") { Description = "Version reported and accepted under /versions/V (default 1)" };
        var port = new Option<int>("--port", "-p") { Description = "Port on every interface", DefaultValueFactory = _ => defaults.Port };
        var urls = new Option<string[]>("--urls") { Description = "Kestrel URLs instead of --port, e.g. http://127.0.0.1:0 (0 picks a free port)", AllowMultipleArgumentsPerToken = true };
        var device = new Option<string?>("--device") { Description = $"auto (CUDA when available), cpu, cuda or cuda:N; default ${TrainingDevice.EnvironmentVariable} or auto" };
        var profile = new Option<string?>("--profile") { Description = "The training data profile (profile.json) the live window is binned by (default: profile.json beside the model folder)" };
        var maxBatch = new Option<int>("--max-batch-size") { Description = "Most rows merged into one model forward by dynamic batching; 1 turns batching off", DefaultValueFactory = _ => defaults.MaxBatchSize };
        var maxDelay = new Option<double>("--max-queue-delay-ms") { Description = "How long a request waits for others to share its forward", DefaultValueFactory = _ => defaults.MaxQueueDelay.TotalMilliseconds };
        var maxBytes = new Option<long>("--max-request-bytes") { Description = "Largest request body (413 beyond)", DefaultValueFactory = _ => defaults.MaxRequestBytes };
        var maxRows = new Option<int>("--max-rows") { Description = "Most rows in one infer request (413 beyond)", DefaultValueFactory = _ => defaults.MaxRows };
        var window = new Option<int>("--window-size") { Description = "Most recent input rows kept for the live window", DefaultValueFactory = _ => defaults.WindowSize };
        var accuracyWindow = new Option<int>("--accuracy-window") { Description = "Most recent labelled rows online accuracy is computed over", DefaultValueFactory = _ => defaults.AccuracyWindow };
        var feedbackCapacity = new Option<int>("--feedback-capacity") { Description = "Most recent requests whose predictions can still get feedback", DefaultValueFactory = _ => defaults.FeedbackCapacity };
        var uncertainCapacity = new Option<int>("--uncertain-capacity") { Description = "Most uncertain recent rows kept for labelling", DefaultValueFactory = _ => defaults.UncertainCapacity };
        var uncertainHorizon = new Option<int>("--uncertain-horizon") { Description = "An uncertain row is dropped after this many newer rows", DefaultValueFactory = _ => defaults.UncertainHorizon };

        var serve = new Command("serve", "Serve a trained model over the Open Inference Protocol (KServe v2 REST) with Prometheus /metrics");
        foreach (var option in new Option[] { model, files, deployment, name, version, port, urls, device, profile, maxBatch, maxDelay, maxBytes, maxRows, window, accuracyWindow, feedbackCapacity, uncertainCapacity, uncertainHorizon })
        {
            serve.Add(option);
        }

        serve.SetAction((parse, cancellationToken) =>
        {
            var delay = parse.GetValue(maxDelay);
            var manifests = parse.GetValue(files) ?? [];
            string modelUri;
            var servedName = parse.GetValue(name);
            try
            {
                (modelUri, servedName) = ModelToServe(parse.GetValue(model), manifests, parse.GetValue(deployment), servedName, output, environment);
            }
            catch (InputException e)
            {
                error.WriteLine($"error: {e.Message}");
                return Task.FromResult(TrainCommand.BadInput);
            }

            var options = new ServeOptions
            {
                Model = modelUri,
                Name = servedName,
                Version = parse.GetValue(version),
                Port = parse.GetValue(port),
                Urls = parse.GetValue(urls) is { Length: > 0 } u ? u : null,
                Device = parse.GetValue(device) ?? environment(TrainingDevice.EnvironmentVariable),
                Profile = parse.GetValue(profile),
                MaxBatchSize = parse.GetValue(maxBatch),
                MaxQueueDelay = double.IsFinite(delay) ? TimeSpan.FromMilliseconds(delay) : TimeSpan.MinValue,
                MaxRequestBytes = parse.GetValue(maxBytes),
                MaxRows = parse.GetValue(maxRows),
                WindowSize = parse.GetValue(window),
                AccuracyWindow = parse.GetValue(accuracyWindow),
                FeedbackCapacity = parse.GetValue(feedbackCapacity),
                UncertainCapacity = parse.GetValue(uncertainCapacity),
                UncertainHorizon = parse.GetValue(uncertainHorizon),
            };
            return RunAsync(options, output, error, environment, cancellationToken);
        });
        return serve;
    }

    /// <summary>The model URI and served name from --model, or from a ModelDeployment manifest given with -f.</summary>
    private static (string Model, string? Name) ModelToServe(
        string? model, string[] files, string? deployment, string? name, TextWriter output, Func<string, string?> environment)
    {
        if ((model is null) == (files.Length == 0))
        {
            throw new InputException("give either --model URI or -f MODELDEPLOYMENT.yaml (with the TrainingRun manifests it refers to)");
        }

        if (model is not null)
        {
            return deployment is null ? (model, name) : throw new InputException("--deployment goes with -f, not --model");
        }

        var source = DeploymentResolver.Resolve(files, deployment, environment);
        output.WriteLine($"ModelDeployment {source.Deployment}: serving the model of TrainingRun {source.TrainingRun} (canary, analysis and revision history apply in a cluster only)");
        return (source.ModelFolder, name ?? source.Deployment);
    }

    /// <summary>Serves until SIGTERM, Ctrl+C or <paramref name="cancellationToken"/>.</summary>
    public static async Task<int> RunAsync(ServeOptions options, TextWriter output, TextWriter error, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        try
        {
            TorchSharp.torch.set_num_threads(TrainCommand.IntraOpThreads(environment));
            await using var server = await InferenceServer.StartAsync(options, output.WriteLine, cancellationToken);
            await server.WaitForShutdownAsync(cancellationToken);
            output.WriteLine("stopped");
            return TrainCommand.Success;
        }
        catch (InputException e)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainCommand.BadInput;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return TrainCommand.Success;
        }
        catch (IOException e)
        {
            // Kestrel could not bind (port in use, no permission).
            error.WriteLine($"error: {e.Message}");
            return TrainCommand.BadInput;
        }
    }
}
