using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Syllabus.Trainer.Tests.Labeling;

/// <summary>`syllabus-trainer label` as a separate process on a free loopback port, and a scored batch to feed it.</summary>
internal sealed partial class LabelProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output;

    private LabelProcess(Process process, Uri address, StringBuilder output)
    {
        _process = process;
        Address = address;
        _output = output;
    }

    public Uri Address { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Polls GET /api/stats until <paramref name="done"/> holds (failing after 30 s with the service's output) and returns those stats.</summary>
    public async Task<JsonObject> WaitForStatsAsync(HttpClient client, Func<JsonObject, bool> done, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var stats = (await client.GetFromJsonAsync<JsonObject>("/api/stats", ct))!;
            if (done(stats))
            {
                return stats;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), Output);
            await Task.Delay(200, ct);
        }
    }

    /// <summary>A batch file as the score mode writes it (id, rank, predicted, confidence, then features x and y).</summary>
    public static string WriteBatch(string folder, int items, int first = 1, string name = "batch.csv")
    {
        var text = new StringBuilder("id,rank,score,predicted,confidence,x,y\n");
        for (var i = first; i < first + items; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"item-{i},{i},{1.0 / i:R},{(i % 2 == 0 ? "dog" : "cat")},0.6,{i}.25,{i % 7}\n");
        }

        var path = Path.Combine(folder, name);
        File.WriteAllText(path, text.ToString());
        return path;
    }

    /// <summary>The manifest `score` writes last beside a batch, which marks it finished.</summary>
    public static void WriteManifest(string batch) =>
        new Syllabus.Trainer.Scoring.ScoredBatchManifest { Strategy = "margin", Classes = ["cat", "dog"], FeatureColumns = ["x", "y"], SelectedRows = 1 }
            .Save(Syllabus.Trainer.Scoring.ScoredBatchFile.ManifestPath(batch));

    public static async Task<LabelProcess> StartAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "syllabus-trainer.dll"), "label", "--urls", "http://127.0.0.1:0" }.Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info)!;
        var output = new StringBuilder();
        var ready = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }

            if (ListeningAt().Match(line) is { Success: true } match)
            {
                ready.TrySetResult(new Uri(match.Groups[1].Value));
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(ready.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != ready.Task)
        {
            var log = output.ToString();
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw new InvalidOperationException($"label did not start: {log}");
        }

        return new LabelProcess(process, await ready.Task, output);
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"labelling \d+ items .* at (http://\S+?)(,|$)")]
    private static partial Regex ListeningAt();
}
