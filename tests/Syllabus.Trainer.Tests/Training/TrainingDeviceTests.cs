using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class TrainingDeviceTests : IDisposable
{
    private readonly TrainerFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    [Theory]
    [InlineData(null, false, 0, DeviceType.CPU, 0)]
    [InlineData("auto", false, 0, DeviceType.CPU, 0)]
    [InlineData("auto", true, 2, DeviceType.CUDA, 0)]
    [InlineData("cpu", true, 2, DeviceType.CPU, 0)]
    [InlineData("CUDA", true, 1, DeviceType.CUDA, 0)]
    [InlineData("cuda:1", true, 2, DeviceType.CUDA, 1)]
    public void Resolves_the_requested_device(string? requested, bool cudaAvailable, int devices, DeviceType type, int index)
    {
        var device = TrainingDevice.Resolve(requested, cudaAvailable, devices);
        Assert.Equal(type, device.type);
        if (type == DeviceType.CUDA)
        {
            Assert.Equal(index, device.index);
        }
    }

    [Theory]
    [InlineData("cuda", false, 0, "libtorch sees no CUDA device")]
    [InlineData("cuda:2", true, 2, "only 2 CUDA device(s)")]
    [InlineData("cuda:x", true, 1, "expected auto, cpu, cuda or cuda:N")]
    [InlineData("tpu", true, 1, "expected auto, cpu, cuda or cuda:N")]
    public void An_impossible_device_is_bad_input_naming_it(string requested, bool cudaAvailable, int devices, string message)
    {
        var error = Assert.Throws<InputException>(() => TrainingDevice.Resolve(requested, cudaAvailable, devices));
        Assert.Contains(requested, error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_that_requires_cuda_fails_as_bad_input_where_libtorch_has_none()
    {
        if (cuda.is_available())
        {
            Assert.Skip("this machine has a CUDA device; the GPU test below covers it");
        }

        var job = new TrainingJob(_fixture.Resolve(_fixture.Manifest("needs-gpu")), TimeProvider.System) { Device = "cuda" };
        var error = Assert.Throws<InputException>(() => job.Run(TestContext.Current.CancellationToken));
        Assert.Contains("no CUDA device", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trains_on_a_gpu_and_matches_the_cpu_run_closely()
    {
        if (!cuda.is_available())
        {
            Assert.Skip("no CUDA device visible to libtorch (this build restores the CPU libtorch; a GPU run needs -p:TorchVariant=cuda and an NVIDIA GPU)");
        }

        var onCpu = new TrainingJob(_fixture.Resolve(_fixture.Manifest("cpu-run", file: "cpu.yaml")), TimeProvider.System) { Device = "cpu" }
            .Run(TestContext.Current.CancellationToken);
        var onGpu = new TrainingJob(_fixture.Resolve(_fixture.Manifest("gpu-run", file: "gpu.yaml")), TimeProvider.System) { Device = "cuda" }
            .Run(TestContext.Current.CancellationToken);

        Assert.True(File.Exists(Path.Combine(onGpu.ModelFolder, ModelArtifact.WeightsFileName)));
        Assert.InRange(onGpu.Report.Metrics!["accuracy"], onCpu.Report.Metrics!["accuracy"] - 0.05, 1.0);
    }
}
