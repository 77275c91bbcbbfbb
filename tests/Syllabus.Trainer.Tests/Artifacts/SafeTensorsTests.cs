using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Models;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Artifacts;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("syllabus-st-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>An independent minimal reader of the format, as a PyTorch user's would be.</summary>
    private static Dictionary<string, (string Dtype, long[] Shape, float[] Values)> ReadIndependently(string path, out JsonElement header)
    {
        var bytes = File.ReadAllBytes(path);
        var length = (int)BitConverter.ToUInt64(bytes, 0);
        Assert.True(BitConverter.IsLittleEndian);
        Assert.Equal(0, (8 + length) % 8);
        using var document = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, length).TrimEnd(' '));
        header = document.RootElement.Clone();
        var result = new Dictionary<string, (string, long[], float[])>();
        foreach (var entry in header.EnumerateObject().Where(e => e.Name != "__metadata__"))
        {
            var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var values = new float[(offsets[1] - offsets[0]) / 4];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + length + offsets[0] + (i * 4)));
            }

            result[entry.Name] = (entry.Value.GetProperty("dtype").GetString()!, shape, values);
        }

        return result;
    }

    [Fact]
    public void Weights_file_is_valid_safetensors_with_the_models_shapes_and_values()
    {
        var config = ModelFactory.Describe(new ModelSpec { HiddenLayers = [5] }, 3, ["x", "y"]);
        using var model = ModelFactory.Create(config);
        var path = Path.Combine(_folder, "model.safetensors");

        ModelArtifact.SaveWeights(path, model);
        var tensors = ReadIndependently(path, out var header);

        Assert.Equal("pt", header.GetProperty("__metadata__").GetProperty("format").GetString());
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(parameters.Keys.Order(StringComparer.Ordinal), tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, parameter) in parameters)
        {
            Assert.Equal("F32", tensors[name].Dtype);
            Assert.Equal(parameter.shape, tensors[name].Shape);
            Assert.Equal(parameter.detach().contiguous().data<float>().ToArray(), tensors[name].Values);
        }
    }

    [Fact]
    public void Model_folder_round_trips_to_identical_predictions()
    {
        var config = ModelFactory.Describe(new ModelSpec { Architecture = "CNN", InputShape = [1, 4, 4], Channels = [2], HiddenLayers = [6] }, 16, ["p", "q", "r"]);
        using var model = ModelFactory.Create(config);
        model.eval();
        ModelArtifact.Save(_folder, model, new ModelDocument { Config = ModelFactory.WithLayers(config, model), TrainingRun = "t" });

        using var loaded = ModelArtifact.Load(_folder, out var document);
        loaded.eval();
        using var input = randn(3, 16);

        Assert.Equal("CNN", document.Config.Architecture);
        Assert.Equal(["p", "q", "r"], document.Config.ClassNames);
        Assert.Equal(model.forward(input).data<float>().ToArray(), loaded.forward(input).data<float>().ToArray());
    }

    [Fact]
    public void Loading_into_a_model_of_another_shape_names_the_tensor()
    {
        using var small = ModelFactory.Create(ModelFactory.Describe(new ModelSpec { HiddenLayers = [4] }, 3, ["a", "b"]));
        using var large = ModelFactory.Create(ModelFactory.Describe(new ModelSpec { HiddenLayers = [7] }, 3, ["a", "b"]));
        var path = Path.Combine(_folder, "small.safetensors");
        ModelArtifact.SaveWeights(path, small);

        var error = Assert.Throws<InvalidDataException>(() => ModelArtifact.LoadWeights(path, large, _ => true));

        Assert.Contains("features.0.", error.Message, StringComparison.Ordinal);
        Assert.Contains("shape", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_file_is_rejected()
    {
        var path = Path.Combine(_folder, "bad.safetensors");
        File.WriteAllBytes(path, [200, 0, 0, 0, 0, 0, 0, 0, (byte)'{']);

        Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path, out _));
    }
}
