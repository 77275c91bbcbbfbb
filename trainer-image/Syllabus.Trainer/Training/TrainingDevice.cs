using Syllabus.Trainer.Cli;
using TorchSharp;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>Where the model trains: the CPU or a CUDA device, chosen by --device / SYLLABUS_DEVICE.</summary>
public static class TrainingDevice
{
    public const string Auto = "auto";
    public const string EnvironmentVariable = "SYLLABUS_DEVICE";

    /// <summary>
    /// auto: the first CUDA device when libtorch sees one, else the CPU; cpu; cuda or cuda:N, which fail (bad input)
    /// when libtorch has no CUDA device — a GPU pod must not quietly train on its CPU.
    /// </summary>
    public static Device Resolve(string? requested) => Resolve(requested, cuda.is_available(), cuda.is_available() ? cuda.device_count() : 0);

    /// <summary><see cref="Resolve(string?)"/> with the CUDA facts given (testable without a GPU).</summary>
    public static Device Resolve(string? requested, bool cudaAvailable, int cudaDevices)
    {
        var text = string.IsNullOrWhiteSpace(requested) ? Auto : requested.Trim().ToLowerInvariant();
        if (text == Auto)
        {
            return cudaAvailable ? new Device(DeviceType.CUDA, 0) : CPU;
        }

        if (text == "cpu")
        {
            return CPU;
        }

        if (text == "cuda" || text.StartsWith("cuda:", StringComparison.Ordinal))
        {
            var index = 0;
            if (text.Length > 5 && (!int.TryParse(text[5..], out index) || index < 0))
            {
                throw new InputException($"device '{requested}': expected auto, cpu, cuda or cuda:N");
            }

            if (!cudaAvailable)
            {
                throw new InputException($"device '{requested}' was requested but libtorch sees no CUDA device: the trainer needs the cuda image variant (TorchVariant=cuda) and a GPU on the node");
            }

            if (index >= cudaDevices)
            {
                throw new InputException($"device '{requested}': only {cudaDevices} CUDA device(s) are visible");
            }

            return new Device(DeviceType.CUDA, index);
        }

        throw new InputException($"device '{requested}': expected auto, cpu, cuda or cuda:N");
    }

    /// <summary>The device a model's parameters live on (the CPU for a model without parameters).</summary>
    public static Device Of(nn.Module model) => model.parameters().FirstOrDefault()?.device ?? CPU;
}
