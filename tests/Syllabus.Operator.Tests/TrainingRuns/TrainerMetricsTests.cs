using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Syllabus.Api;
using System.Net;
using System.Net.Sockets;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.Tests.TrainingRuns;

public sealed class TrainerMetricsTests
{
    // What the trainer's ProgressGauges render, taken from its output format.
    private const string TrainerOutput = """
        # HELP syllabus_trainer_epoch Current epoch (1-based).
        # TYPE syllabus_trainer_epoch gauge
        syllabus_trainer_epoch 3
        # TYPE syllabus_trainer_total_epochs gauge
        syllabus_trainer_total_epochs 10
        syllabus_trainer_step 1407
        syllabus_trainer_loss 0.2345678
        syllabus_trainer_learning_rate 0.0003
        # HELP syllabus_trainer_stage_info Current curriculum stage (value is always 1).
        # TYPE syllabus_trainer_stage_info gauge
        syllabus_trainer_stage_info{stage="medium \"b\""} 1
        syllabus_trainer_stage_index 1
        syllabus_trainer_data_fraction 0.6
        syllabus_trainer_samples_per_second 12345.678
        syllabus_trainer_validation_accuracy 0.93456

        """;

    [Fact]
    public void The_trainers_gauges_become_progress()
    {
        var now = new DateTime(2026, 11, 24, 1, 0, 0, DateTimeKind.Utc);
        var progress = TrainerMetrics.ToProgress(PrometheusText.Parse(TrainerOutput), now)!;
        Assert.Equal(3, progress.Epoch);
        Assert.Equal(10, progress.TotalEpochs);
        Assert.Equal(1407, progress.Step);
        Assert.Equal("medium \"b\"", progress.Stage);
        Assert.Equal(0.6, progress.DataFraction);
        Assert.Equal(0.2346, progress.Loss);
        Assert.Equal(0.9346, progress.Accuracy);
        Assert.Equal(0.0003, progress.LearningRate);
        Assert.Equal(12345.7, progress.SamplesPerSecond);
        Assert.Equal(now, progress.UpdatedAt);
    }

    [Fact]
    public void No_epoch_yet_means_no_progress_and_NaN_values_are_left_out()
    {
        Assert.Null(TrainerMetrics.ToProgress(PrometheusText.Parse("syllabus_trainer_loss 1\n"), DateTime.UtcNow));
        var progress = TrainerMetrics.ToProgress(PrometheusText.Parse("syllabus_trainer_epoch 1\nsyllabus_trainer_validation_accuracy NaN\n"), DateTime.UtcNow)!;
        Assert.Null(progress.Accuracy);
    }

    [Theory]
    [InlineData("m{a=\"x\",b=\"y\"} 1 1700000000000", "m", 1.0, 2)]
    [InlineData("m{} +Inf", "m", double.PositiveInfinity, 0)]
    [InlineData("name_with:colon -1.5e-3", "name_with:colon", -0.0015, 0)]
    public void The_parser_reads_labels_special_values_and_timestamps(string line, string name, double value, int labels)
    {
        var sample = Assert.Single(PrometheusText.Parse(line));
        Assert.Equal(name, sample.Name);
        Assert.Equal(value, sample.Value);
        Assert.Equal(labels, sample.Labels.Count);
    }

    [Theory]
    [InlineData("{a=\"b\"} 1")]
    [InlineData("m{a=\"b} 1")]
    [InlineData("m{a=b} 1")]
    [InlineData("m one")]
    [InlineData("m")]
    public void Malformed_lines_are_rejected_quoting_the_line(string line) =>
        Assert.Contains(line, Assert.Throws<FormatException>(() => PrometheusText.Parse(line)).Message, StringComparison.Ordinal);

    [Fact]
    public async Task The_HTTP_scraper_reads_a_real_endpoint_and_treats_a_closed_port_as_no_progress()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serve = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync(ct);
            var buffer = new byte[4096];
            _ = await socket.ReceiveAsync(buffer, ct);
            var body = System.Text.Encoding.UTF8.GetBytes(TrainerOutput);
            var head = System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
            await socket.SendAsync(head.Concat(body).ToArray(), ct);
        }, ct);

        using var http = new HttpClient();
        var scraper = Scraper(http, TimeSpan.FromSeconds(5));
        var progress = await scraper.ScrapeAsync("127.0.0.1", port, ct);
        await serve;
        Assert.Equal(3, progress?.Epoch);

        listener.Stop();
        Assert.Null(await scraper.ScrapeAsync("127.0.0.1", port, ct));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_answer_over_1_MiB_is_no_progress_whether_or_not_it_declares_its_length(bool declareLength)
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var sent = 0L;
        var serve = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync(ct);
            _ = await socket.ReceiveAsync(new byte[4096], ct);

            // Valid metrics, padded with comment lines to 64 MiB: only the size makes it unusable.
            var body = System.Text.Encoding.UTF8.GetBytes(TrainerOutput);
            var padding = System.Text.Encoding.UTF8.GetBytes(new string('#', (64 << 10) - 1) + "\n");
            const int total = 64 << 20;
            var length = declareLength ? $"Content-Length: {body.Length + ((total / padding.Length) * padding.Length)}\r\n" : "";
            await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n{length}Connection: close\r\n\r\n"), ct);
            try
            {
                await socket.SendAsync(body, ct);
                for (var i = 0; i < total / padding.Length; i++)
                {
                    sent += await socket.SendAsync(padding, ct);
                }
            }
            catch (SocketException)
            {
                // The scraper hung up once it had read its limit.
            }
        }, ct);

        using var http = new HttpClient();
        Assert.Null(await Scraper(http, TimeSpan.FromSeconds(10)).ScrapeAsync("127.0.0.1", port, ct));
        await serve;
        Assert.True(sent < 32 << 20, $"the scraper read on far past its limit ({sent} bytes of 64 MiB sent)");
    }

    [Fact]
    public async Task A_trainer_that_never_answers_is_given_up_on_after_the_scrape_timeout()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var hold = new CancellationTokenSource();
        var serve = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync(ct);
            _ = await socket.ReceiveAsync(new byte[4096], ct);
            await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n# slow"), ct);
            await Task.Delay(Timeout.Infinite, hold.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        }, ct);

        using var http = new HttpClient();
        var started = System.Diagnostics.Stopwatch.StartNew();

        // The caller's token never fires: the scraper's own ScrapeTimeout must end it.
        Assert.Null(await Scraper(http, TimeSpan.FromMilliseconds(300)).ScrapeAsync("127.0.0.1", port, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), ct));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), $"took {started.Elapsed}");
        await hold.CancelAsync();
        await serve;
    }

    private static HttpTrainerMetricsScraper Scraper(HttpClient http, TimeSpan timeout) =>
        new(http, Options.Create(new TrainerImageOptions { ScrapeTimeout = timeout }), TimeProvider.System, NullLogger<HttpTrainerMetricsScraper>.Instance);

    [Fact]
    public void A_summary_that_is_not_JSON_is_no_summary()
    {
        Assert.Null(TrainerSummary.TryParse(null));
        Assert.Null(TrainerSummary.TryParse("Traceback: something broke"));
        Assert.Null(TrainerSummary.TryParse("{not json"));
        Assert.Equal("Succeeded", TrainerSummary.TryParse(TestRuns.PassingSummary)!.Phase);
    }

    [Fact]
    public void Sliced_gates_are_matched_by_metric_at_slice()
    {
        var summary = TrainerSummary.TryParse("""{"phase":"Succeeded","metrics":{"accuracy":0.95},"gatesPassed":1,"gatesFailed":["accuracy@night"]}""")!;
        var result = summary.ToResult([new Syllabus.Api.Gate { Metric = "accuracy", AtLeast = 0.9 }, new Syllabus.Api.Gate { Metric = "accuracy", Slice = "night", AtLeast = 0.9 }]);
        Assert.True(result.Gates![0].Passed);
        Assert.Equal(0.95, result.Gates[0].Value);
        Assert.False(result.Gates[1].Passed);
        Assert.Null(result.Gates[1].Value);
    }

    [Fact]
    public void Gate_values_from_the_summary_give_sliced_gates_their_value_and_message()
    {
        var summary = TrainerSummary.TryParse("""{"phase":"Succeeded","metrics":{"accuracy":0.95},"gatesPassed":1,"gatesFailed":["accuracy@night"],"gateValues":{"accuracy":0.95,"accuracy@night":0.71}}""")!;
        var result = summary.ToResult([new Syllabus.Api.Gate { Metric = "accuracy", AtLeast = 0.9 }, new Syllabus.Api.Gate { Metric = "accuracy", Slice = "night", AtLeast = 0.9 }]);
        Assert.Equal(0.95, result.Gates![0].Value);
        Assert.False(result.Gates[1].Passed);
        Assert.Equal(0.71, result.Gates[1].Value);
        Assert.Equal("accuracy = 0.71 is below 0.9", result.Gates[1].Message);
    }
}
