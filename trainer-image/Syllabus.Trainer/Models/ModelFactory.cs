using Syllabus.Api;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Models;

/// <summary>Builds the built-in networks from a ModelSpec and describes them for model.json.</summary>
public static class ModelFactory
{
    /// <summary>The output layer's parameter prefix; transfer learning re-initialises it.</summary>
    public const string HeadPrefix = "head.";

    /// <summary>The model.json config for a spec and the data's feature count and classes.</summary>
    /// <exception cref="ArgumentException">The spec cannot be built; the message names the field.</exception>
    public static ModelConfig Describe(ModelSpec spec, int inputFeatures, IReadOnlyList<string> classNames)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(classNames);
        var hidden = spec.HiddenLayers ?? [];
        if (hidden.Any(h => h < 1))
        {
            throw new ArgumentException("model.hiddenLayers: every width must be at least 1");
        }

        if (classNames.Count < 2)
        {
            throw new ArgumentException($"data: a classifier needs at least 2 classes, the data has {classNames.Count}");
        }

        switch (spec.Architecture)
        {
            case ModelArchitectures.Mlp:
                return new ModelConfig
                {
                    Architecture = ModelArchitectures.Mlp, InputFeatures = inputFeatures, HiddenLayers = [.. hidden],
                    Dropout = spec.Dropout, NumClasses = classNames.Count, ClassNames = [.. classNames],
                };
            case ModelArchitectures.Cnn:
                if (spec.InputShape is not { Count: 3 } shape || shape.Any(d => d < 1))
                {
                    throw new ArgumentException("model.inputShape: a CNN needs [channels, height, width], each at least 1");
                }

                if ((long)shape[0] * shape[1] * shape[2] != inputFeatures)
                {
                    throw new ArgumentException(
                        $"model.inputShape: [{string.Join(", ", shape)}] holds {(long)shape[0] * shape[1] * shape[2]} values but the data has {inputFeatures} features");
                }

                var channels = spec.Channels ?? [];
                if (channels.Count == 0 || channels.Any(c => c < 1))
                {
                    throw new ArgumentException("model.channels: a CNN needs at least one convolution block, each with at least 1 channel");
                }

                return new ModelConfig
                {
                    Architecture = ModelArchitectures.Cnn, InputFeatures = inputFeatures, InputShape = [.. shape], Channels = [.. channels],
                    HiddenLayers = [.. hidden], Dropout = spec.Dropout, NumClasses = classNames.Count, ClassNames = [.. classNames],
                };
            case ModelArchitectures.Custom:
                throw new ArgumentException("model.architecture: Custom models run in their own image (model.image), not in the built-in trainer");
            default:
                throw new ArgumentException($"model.architecture: unknown architecture '{spec.Architecture}' (MLP, CNN or Custom)");
        }
    }

    /// <summary>A freshly initialised network (initialisation draws from torch's global generator: seed it first).</summary>
    public static nn.Module<Tensor, Tensor> Create(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.Architecture switch
        {
            ModelArchitectures.Mlp => new MlpModel(config.InputFeatures, config.HiddenLayers, config.Dropout, config.NumClasses),
            ModelArchitectures.Cnn => new CnnModel(config.InputShape!, config.Channels, config.HiddenLayers, config.Dropout, config.NumClasses),
            _ => throw new ArgumentException($"model.architecture: unknown architecture '{config.Architecture}'"),
        };
    }

    /// <summary>The config with its layer list filled in from the built module (names and shapes as in the weights file).</summary>
    public static ModelConfig WithLayers(ModelConfig config, nn.Module<Tensor, Tensor> model)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(model);
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        var layers = new List<LayerInfo>();
        // Forward order: features, classifier, head; numeric indices inside a Sequential.
        string[] blocks = ["features", "classifier", "head"];
        var ordered = model.named_modules()
            .OrderBy(m => Array.IndexOf(blocks, m.name.Split('.')[0]))
            .ThenBy(m => m.name.Contains('.', StringComparison.Ordinal) ? int.Parse(m.name[(m.name.IndexOf('.', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture) : -1);
        foreach (var (name, module) in ordered)
        {
            if (name.Length == 0 || module is TorchSharp.Modules.Sequential)
            {
                continue;
            }

            var type = module.GetType().Name;
            var parameters = shapes.Where(s => s.Key.StartsWith(name + ".", StringComparison.Ordinal) && s.Key.IndexOf('.', name.Length + 1) < 0)
                .ToDictionary(s => s.Key, s => s.Value);
            Dictionary<string, double>? options = type switch
            {
                "Dropout" => new() { ["p"] = config.Dropout },
                "Conv2d" => new() { ["kernel_size"] = 3, ["padding"] = 1, ["stride"] = 1 },
                "MaxPool2d" => new() { ["kernel_size"] = 2, ["stride"] = 2 },
                _ => null,
            };
            layers.Add(new LayerInfo(name, type, parameters.Count > 0 ? parameters : null, options));
        }

        return new ModelConfig
        {
            Architecture = config.Architecture, InputFeatures = config.InputFeatures, InputShape = config.InputShape,
            Channels = config.Channels, HiddenLayers = config.HiddenLayers, Dropout = config.Dropout,
            NumClasses = config.NumClasses, ClassNames = config.ClassNames, Layers = layers,
        };
    }
}
