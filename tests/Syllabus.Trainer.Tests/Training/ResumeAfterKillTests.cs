using System.Diagnostics;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Reporting;

namespace Syllabus.Trainer.Tests.Training;

/// <summary>Kills the real trainer process mid-run and starts it again: it must continue from the last checkpoint.</summary>
[Collection(TorchCollection.Name)]
public sealed class ResumeAfterKillTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 2000, testRows: 200);

    public void Dispose() => _fixture.Dispose();

    private static Process Start(string manifest, string? artifacts = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "syllabus-trainer.dll"), "train", "-f", manifest, "--metrics-port", "0", "--no-progress" })
        {
            info.ArgumentList.Add(argument);
        }

        if (artifacts is not null)
        {
            info.ArgumentList.Add("--artifacts");
            info.ArgumentList.Add(artifacts);
        }

        info.Environment["OMP_NUM_THREADS"] = "1";
        return Process.Start(info)!;
    }

    private static async Task<(int ExitCode, string Output)> CompleteAsync(Process process, CancellationToken cancellationToken)
    {
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromMinutes(3), cancellationToken);
        return (process.ExitCode, await output + await error);
    }

    [Fact]
    public async Task Killed_run_resumes_from_its_last_checkpoint_and_matches_an_uninterrupted_run()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        const int epochs = 10;
        var manifest = _fixture.Manifest("resume", """
              checkpoint: {everyEpochs: 1, keep: 2}
            """, epochs: epochs, hidden: "[48, 48]", dropout: 0.1);
        File.WriteAllText(manifest, File.ReadAllText(manifest).Replace("batchSize: 32", "batchSize: 16", StringComparison.Ordinal));
        var checkpoints = Path.Combine(_fixture.Artifacts("resume"), "checkpoints");

        using (var first = Start(manifest))
        {
            var drain = first.StandardOutput.ReadToEndAsync(cancellationToken);
            var clock = Stopwatch.StartNew();
            while (!Directory.Exists(Path.Combine(checkpoints, "epoch-0003")) && !first.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
            {
                await Task.Delay(20, cancellationToken);
            }

            if (first.HasExited)
            {
                Assert.Fail($"the trainer finished or failed before it could be killed: {await drain}");
            }

            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync(cancellationToken);
        }

        Assert.False(File.Exists(Path.Combine(_fixture.Artifacts("resume"), TrainingReport.FileName)));
        var killedAt = new CheckpointStore(checkpoints, 2).Latest()!;
        var killedEpoch = int.Parse(Path.GetFileName(killedAt)["epoch-".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(killedEpoch, 3, epochs - 1);

        using var second = Start(manifest);
        var (exitCode, output) = await CompleteAsync(second, cancellationToken);
        Assert.True(exitCode == 0, output);
        Assert.Contains($"resumed from the checkpoint after epoch {killedEpoch}", output, StringComparison.Ordinal);
        Assert.DoesNotContain("epoch 1/", output, StringComparison.Ordinal);

        var report = TrainingReport.Load(Path.Combine(_fixture.Artifacts("resume"), TrainingReport.FileName));
        Assert.Equal(killedEpoch, report.ResumedFromEpoch);
        Assert.Equal(epochs, report.EpochsTrained);
        Assert.Equal(Enumerable.Range(1, epochs), report.History.Select(h => h.Epoch));
        Assert.Equal(2, Directory.GetDirectories(checkpoints).Length);

        // The same run without the kill gives the same model: everything per epoch derives from (seed, epoch).
        var reference = Path.Combine(_fixture.Folder, "reference");
        using var uninterrupted = Start(manifest, reference);
        var (referenceExit, referenceOutput) = await CompleteAsync(uninterrupted, cancellationToken);
        Assert.True(referenceExit == 0, referenceOutput);
        var referenceReport = TrainingReport.Load(Path.Combine(reference, TrainingReport.FileName));
        Assert.Equal(referenceReport.History.Select(h => h.TrainLoss), report.History.Select(h => h.TrainLoss));
        Assert.Equal(
            File.ReadAllBytes(Path.Combine(reference, "model", ModelArtifact.WeightsFileName)),
            File.ReadAllBytes(Path.Combine(_fixture.Artifacts("resume"), "model", ModelArtifact.WeightsFileName)));
    }
}
