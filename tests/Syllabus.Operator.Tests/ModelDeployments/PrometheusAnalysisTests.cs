using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;
using Syllabus.Operator.Tests.TrainingRuns;
using Syllabus.Testing;

namespace Syllabus.Operator.Tests.ModelDeployments;

/// <summary>
/// The PromQL analysis path against a real Prometheus (Debian's prometheus) scraping a real <c>syllabus-trainer serve</c>:
/// the query a ModelDeployment's metric names, with {{arm}} and {{name}} replaced, measures what the server counted;
/// an empty result is no data, several series and a Prometheus that is down are errors, each with a message.
/// </summary>
public sealed class PrometheusAnalysisTests : IAsyncLifetime
{
    private static readonly string? PrometheusPath = new[] { "/usr/bin/prometheus", "/usr/local/bin/prometheus" }.FirstOrDefault(File.Exists);
    private readonly string work = Directory.CreateTempSubdirectory("prom-analysis-").FullName;
    private ManagedProcess? serve;
    private ManagedProcess? prometheus;
    private int servePort;
    private int prometheusPort;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string? SkipReason =>
        PrometheusPath is null ? "Debian's prometheus is not installed (apt-get install prometheus; scripts/test-prereqs.sh does)"
        : TrainingRunCluster.TrainerPath is null ? "the trainer is not built (dotnet build trainer-image/Syllabus.Trainer)"
        : File.Exists(Path.Combine(TrainingRunCluster.MnistDirectory, "train.csv")) ? null : "no MNIST CSVs (bash scripts/prepare-mnist.sh)";

    public async ValueTask InitializeAsync()
    {
        if (SkipReason is not null)
        {
            return;
        }

        // A small model, trained by the real trainer, served by the real server.
        var manifest = Path.Combine(work, "run.yaml");
        await File.WriteAllTextAsync(manifest, $$"""
            apiVersion: syllabus.dev/v1alpha1
            kind: TrainingRun
            metadata: {name: digits}
            spec:
              model: {architecture: MLP, hiddenLayers: [32]}
              data:
                train: {uri: {{TrainingRunCluster.MnistDirectory}}/train.csv, limit: 1000}
                normalization: Scale
                scale: 255
              epochs: 1
              artifacts: {uri: file://{{work}}/artifacts}
            """, Ct);
        await RunToEndAsync(TrainingRunCluster.TrainerPath!, ["train", "-f", manifest, "--no-progress"]);

        servePort = FreePort();
        serve = ManagedProcess.Start("serve", new ProcessStartInfo(TrainingRunCluster.TrainerPath!)
        {
            ArgumentList = { "serve", "--model", Path.Combine(work, "artifacts", "model"), "--name", "digits", "--urls", $"http://127.0.0.1:{servePort}" },
        }, Path.Combine(work, "serve.log"));
        using var http = new HttpClient();
        await Eventually.GetAsync(async () =>
        {
            try
            {
                return (await http.GetAsync(new Uri($"http://127.0.0.1:{servePort}/v2/health/ready"), Ct)).IsSuccessStatusCode ? "ready" : null;
            }
            catch (HttpRequestException)
            {
                return null;
            }
        }, TimeSpan.FromSeconds(60), () => $"serve to be ready: {File.ReadAllText(Path.Combine(work, "serve.log"))}");

        // Prometheus scrapes it every second; the target label arm is what a kubernetes_sd relabelling of the pod's
        // syllabus.dev/arm label gives in a cluster.
        prometheusPort = FreePort();
        await File.WriteAllTextAsync(Path.Combine(work, "prometheus.yml"), $$"""
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            scrape_configs:
            - job_name: serve
              static_configs:
              - targets: ['127.0.0.1:{{servePort}}']
                labels: {arm: canary, namespace: ml}
            """, Ct);
        prometheus = ManagedProcess.Start("prometheus", new ProcessStartInfo(PrometheusPath!)
        {
            ArgumentList = { $"--config.file={Path.Combine(work, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(work, "tsdb")}", $"--web.listen-address=127.0.0.1:{prometheusPort}" },
        }, Path.Combine(work, "prometheus.log"));
    }

    [Fact]
    public async Task A_PromQL_metric_measures_what_the_serving_pods_counted_and_reports_no_data_and_errors_by_name()
    {
        Assert.SkipWhen(SkipReason is not null, SkipReason ?? "");
        using var http = new HttpClient();
        var row = string.Join(',', Enumerable.Repeat("0", 784));
        for (var i = 0; i < 5; i++)
        {
            using var ok = await http.PostAsync(new Uri($"http://127.0.0.1:{servePort}/v2/models/digits/infer"),
                new StringContent($$"""{"inputs":[{"name":"features","shape":[1,784],"datatype":"FP32","data":[{{row}}]}]}""", Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            using var bad = await http.PostAsync(new Uri($"http://127.0.0.1:{servePort}/v2/models/digits/infer"),
                new StringContent("""{"inputs":[{"name":"features","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""", Encoding.UTF8, "application/json"), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        var client = new HttpPrometheusQueryClient(http);
        var address = $"http://127.0.0.1:{prometheusPort}";
        var md = new ModelDeployment { Metadata = new() { Name = "digits", NamespaceProperty = "ml" }, Spec = new() };
        var query = ModelDeploymentReconciler.Expand(
            """sum(syllabus_serve_requests_total{model="{{name}}",namespace="{{namespace}}",arm="{{arm}}",endpoint="infer",code=~"4.."}) / sum(syllabus_serve_requests_total{model="{{name}}",arm="{{arm}}",endpoint="infer"})""",
            md, AnalysisArms.Canary, 2);
        MeasuredValue? measured = null;
        await Eventually.TrueAsync(async () => (measured = await client.QueryAsync(address, query, Ct)).Value is 0.375, "Prometheus to scrape 3 rejected of 8 infer requests", TimeSpan.FromSeconds(30));
        Assert.Equal(MeasuredValue.Of(0.375), measured);

        // Judged like any analysis measurement: 0.375 > 0.01 fails with the value in the message.
        var metric = new AnalysisMetric { Name = "client-error-rate", Source = AnalysisSources.Prometheus, Query = query, AtMost = 0.01 };
        var judged = AnalysisEvaluator.Judge(metric, await client.QueryAsync(address, query, Ct), DateTimeOffset.UtcNow);
        Assert.Equal((AnalysisPhases.Failed, "0.375 > 0.01"), (judged.Phase, judged.Message));

        var stableArm = ModelDeploymentReconciler.Expand("""sum(syllabus_serve_requests_total{arm="{{arm}}"})""", md, AnalysisArms.Stable, 1);
        var empty = await client.QueryAsync(address, stableArm, Ct);
        Assert.Equal((null, "the query returned no series", false), (empty.Value, empty.Problem, empty.IsError));

        var several = await client.QueryAsync(address, """syllabus_serve_requests_total{arm="canary"}""", Ct);
        Assert.True(several.IsError);
        Assert.Contains("series; it must return one number", several.Problem, StringComparison.Ordinal);

        var malformed = await client.QueryAsync(address, "sum(", Ct);
        Assert.True(malformed.IsError);
        Assert.StartsWith("Prometheus rejected the query:", malformed.Problem, StringComparison.Ordinal);

        var down = await client.QueryAsync($"http://127.0.0.1:{FreePort()}", query, Ct);
        Assert.True(down.IsError);
        Assert.Contains("unreachable", down.Problem, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        if (prometheus is not null)
        {
            await prometheus.DisposeAsync();
        }

        if (serve is not null)
        {
            await serve.DisposeAsync();
        }

        try
        {
            Directory.Delete(work, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task RunToEndAsync(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["SYLLABUS_DEVICE"] = "cpu";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var errors = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} exited {process.ExitCode}: {await errors}{await output}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
