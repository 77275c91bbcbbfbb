using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Syllabus.Api;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Reporting;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Reporting;

public sealed class ReportingTests
{
    private static ProgressGauges GaugesMidRun()
    {
        var gauges = new ProgressGauges();
        var state = new TrainerState { TotalEpochs = 10, Epoch = 2, GlobalStep = 40 };
        var control = new TrainerControl();
        gauges.OnTrainBegin(state, control);
        gauges.OnEpochBegin(state, control, new CurriculumEpoch(2, "warm \"up\"", 1, 0.5, [0, 1]));
        gauges.OnStepEnd(state, control, new StepInfo(41, 3, 1, 20, 0.25, 0.001, 1234.5));
        gauges.OnEpochEnd(state, control, new EpochRecord { Epoch = 3, SamplesPerSecond = 1500, Validation = new() { ["accuracy"] = 0.875 } });
        return gauges;
    }

    [Fact]
    public void Gauges_render_the_names_the_operator_scrapes()
    {
        var text = GaugesMidRun().Render();

        Assert.Contains("syllabus_trainer_epoch 3\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_total_epochs 10\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_step 41\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_loss 0.25\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_learning_rate 0.001\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_stage_info{stage=\"warm \\\"up\\\"\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_stage_index 1\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_data_fraction 0.5\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_samples_per_second 1500\n", text, StringComparison.Ordinal);
        Assert.Contains("syllabus_trainer_validation_accuracy 0.875\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE syllabus_trainer_epoch gauge\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Gauges_without_data_render_NaN_not_zero()
    {
        var text = new ProgressGauges().Render();

        Assert.Contains("syllabus_trainer_loss NaN\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("stage_info{", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endpoint_serves_the_gauges_over_http()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var gauges = GaugesMidRun();
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        await using (new MetricsEndpoint(gauges, port, "localhost"))
        {
            using var client = new HttpClient();
            using var response = await client.GetAsync(new Uri($"http://localhost:{port}/metrics"), cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            using var missing = await client.GetAsync(new Uri($"http://localhost:{port}/other"), cancellationToken);

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.StartsWith("text/plain; version=0.0.4", response.Content.Headers.ContentType!.ToString(), StringComparison.Ordinal);
            Assert.Equal(gauges.Render(), body);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
    }

    private static TrainingReport Report(int failedGates, string? error = null) => new()
    {
        Phase = error is null ? "Succeeded" : "Failed",
        Error = error,
        ModelUri = "pvc://models/runs/a/model",
        ReportUri = "pvc://models/runs/a/report.json",
        ProfileUri = "pvc://models/runs/a/profile.json",
        EpochsTrained = 7,
        Metrics = new Dictionary<string, double> { ["accuracy"] = 0.97, ["macroF1"] = 0.96, ["precision/cat"] = 0.5, ["loss"] = 0.1 },
        Gates =
        [
            new GateResult { Metric = "accuracy", AtLeast = 0.9, Value = 0.97, Passed = true },
            .. Enumerable.Range(0, failedGates).Select(i => new GateResult { Metric = $"recall/class-{i}-with-a-rather-long-name", Slice = "eu", AtLeast = 0.99, Value = 0.5, Passed = false }),
        ],
    };

    [Fact]
    public void Termination_message_summarises_the_report()
    {
        using var document = JsonDocument.Parse(TerminationMessage.FromReport(Report(failedGates: 1)).ToJson());
        var root = document.RootElement;

        Assert.Equal("Succeeded", root.GetProperty("phase").GetString());
        Assert.Equal("pvc://models/runs/a/model", root.GetProperty("modelUri").GetString());
        Assert.Equal("pvc://models/runs/a/report.json", root.GetProperty("reportUri").GetString());
        Assert.Equal(7, root.GetProperty("epochs").GetInt32());
        Assert.Equal(0.97, root.GetProperty("metrics").GetProperty("accuracy").GetDouble());
        Assert.False(root.GetProperty("metrics").TryGetProperty("precision/cat", out _));
        Assert.Equal(1, root.GetProperty("gatesPassed").GetInt32());
        Assert.Equal(["recall/class-0-with-a-rather-long-name@eu"], root.GetProperty("gatesFailed").EnumerateArray().Select(e => e.GetString()));
        var values = root.GetProperty("gateValues");
        Assert.Equal(0.97, values.GetProperty("accuracy").GetDouble());
        Assert.Equal(0.5, values.GetProperty("recall/class-0-with-a-rather-long-name@eu").GetDouble());
    }

    [Fact]
    public void Termination_message_stays_under_4096_bytes()
    {
        var json = TerminationMessage.FromReport(Report(failedGates: 300, error: new string('x', 10_000))).ToJson();

        Assert.True(Encoding.UTF8.GetByteCount(json) <= TerminationMessage.MaxBytes, $"{Encoding.UTF8.GetByteCount(json)} bytes");
        using var document = JsonDocument.Parse(json);
        Assert.Equal("Failed", document.RootElement.GetProperty("phase").GetString());
        Assert.Equal("pvc://models/runs/a/report.json", document.RootElement.GetProperty("reportUri").GetString());
    }

    [Fact]
    public void Termination_message_goes_to_the_given_path()
    {
        var path = Path.GetTempFileName();
        try
        {
            Assert.Equal(path, TerminationMessage.FromReport(Report(0)).Write(path));
            Assert.Contains("\"phase\":\"Succeeded\"", File.ReadAllText(path), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
