using Syllabus.Api;
using Syllabus.Trainer.Models;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Models;

public sealed class ModelTests
{
    private static readonly string[] ThreeClasses = ["a", "b", "c"];

    [Fact]
    public void Mlp_has_stable_PyTorch_style_parameter_names_and_shapes()
    {
        var config = ModelFactory.Describe(new ModelSpec { Architecture = "MLP", HiddenLayers = [32, 16], Dropout = 0.1 }, 10, ThreeClasses);
        using var model = ModelFactory.Create(config);

        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        // Linear, ReLU, Dropout per hidden layer: the second Linear is features.3.
        string[] expected = ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias", "head.weight", "head.bias"];
        Assert.Equal(expected.Order(StringComparer.Ordinal), shapes.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([32L, 10L], shapes["features.0.weight"]);
        Assert.Equal([16L, 32L], shapes["features.3.weight"]);
        Assert.Equal([3L, 16L], shapes["head.weight"]);
        using var output = model.forward(randn(5, 10));
        Assert.Equal([5L, 3L], output.shape);
    }

    [Fact]
    public void Cnn_reshapes_flat_rows_and_names_its_blocks()
    {
        var config = ModelFactory.Describe(
            new ModelSpec { Architecture = "CNN", InputShape = [1, 8, 8], Channels = [4, 6], HiddenLayers = [12] }, 64, ThreeClasses);
        using var model = ModelFactory.Create(config);

        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);

        Assert.Equal([4L, 1L, 3L, 3L], shapes["features.0.weight"]);
        Assert.Equal([6L, 4L, 3L, 3L], shapes["features.3.weight"]);
        // Two 2x2 pools: 8x8 -> 2x2 with 6 channels = 24 inputs to the classifier.
        Assert.Equal([12L, 24L], shapes["classifier.0.weight"]);
        Assert.Equal([3L, 12L], shapes["head.weight"]);
        using var output = model.forward(randn(2, 64));
        Assert.Equal([2L, 3L], output.shape);
    }

    [Fact]
    public void Layers_in_model_json_follow_the_forward_order()
    {
        var config = ModelFactory.Describe(new ModelSpec { Architecture = "MLP", HiddenLayers = [8], Dropout = 0.2 }, 4, ThreeClasses);
        using var model = ModelFactory.Create(config);

        var layers = ModelFactory.WithLayers(config, model).Layers;

        Assert.Equal(["features.0", "features.1", "features.2", "head"], layers.Select(l => l.Name));
        Assert.Equal(["Linear", "ReLU", "Dropout", "Linear"], layers.Select(l => l.Type));
        Assert.Equal([8L, 4L], layers[0].Parameters!["features.0.weight"]);
        Assert.Equal(0.2, layers[2].Options!["p"]);
    }

    [Theory]
    [InlineData("CNN", null, "model.inputShape")]
    [InlineData("CNN", "1,5,5", "model.inputShape")]
    [InlineData("Custom", null, "model.architecture")]
    [InlineData("RNN", null, "model.architecture")]
    public void Specs_that_cannot_be_built_name_the_field(string architecture, string? shape, string field)
    {
        var spec = new ModelSpec { Architecture = architecture, Channels = [4], InputShape = shape?.Split(',').Select(int.Parse).ToList() };

        var error = Assert.Throws<ArgumentException>(() => ModelFactory.Describe(spec, 16, ThreeClasses));

        Assert.StartsWith(field, error.Message, StringComparison.Ordinal);
    }
}
