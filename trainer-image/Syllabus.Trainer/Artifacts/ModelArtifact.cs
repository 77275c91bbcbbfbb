using System.Text.Json;
using Syllabus.Trainer.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Artifacts;

/// <summary>A model folder: model.safetensors with model.json beside it.</summary>
public static class ModelArtifact
{
    public const string WeightsFileName = "model.safetensors";

    /// <summary>Writes the weights and model.json into <paramref name="folder"/>.</summary>
    public static void Save(string folder, nn.Module<Tensor, Tensor> model, ModelDocument document)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(document);
        Directory.CreateDirectory(folder);
        SaveWeights(Path.Combine(folder, WeightsFileName), model);
        document.Save(Path.Combine(folder, ModelDocument.FileName));
    }

    /// <summary>Every parameter (and buffer) of the model under its stable name.</summary>
    public static void SaveWeights(string path, nn.Module<Tensor, Tensor> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        SafeTensors.Save(path, model.state_dict().Select(kv => (kv.Key, kv.Value)), new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>Reads model.json of a model folder.</summary>
    /// <exception cref="InvalidDataException">The folder has no model.json or it is invalid.</exception>
    public static ModelDocument LoadDocument(string folder)
    {
        var path = Path.Combine(folder, ModelDocument.FileName);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{folder}: no {ModelDocument.FileName} (not a model artifact folder)");
        }

        return ModelDocument.Load(path);
    }

    /// <summary>Builds the network model.json describes and loads its weights.</summary>
    public static nn.Module<Tensor, Tensor> Load(string folder, out ModelDocument document)
    {
        document = LoadDocument(folder);
        var model = ModelFactory.Create(document.Config);
        LoadWeights(Path.Combine(folder, WeightsFileName), model, _ => true);
        return model;
    }

    /// <summary>
    /// Copies weights from a safetensors file into the model's parameters whose names <paramref name="include"/>
    /// accepts. Every included parameter must be in the file with the same shape.
    /// </summary>
    /// <returns>The names loaded.</returns>
    public static IReadOnlyList<string> LoadWeights(string path, nn.Module<Tensor, Tensor> model, Func<string, bool> include)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(include);
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path}: weights file not found");
        }

        var tensors = SafeTensors.Load(path, out _);
        var loaded = new List<string>();
        try
        {
            using var noGrad = no_grad();
            foreach (var (name, target) in model.state_dict())
            {
                if (!include(name))
                {
                    continue;
                }

                if (!tensors.TryGetValue(name, out var source))
                {
                    throw new InvalidDataException($"{path}: no tensor named {name}");
                }

                if (!source.shape.SequenceEqual(target.shape))
                {
                    throw new InvalidDataException(
                        $"{path}: tensor {name} has shape [{string.Join(", ", source.shape)}], the model expects [{string.Join(", ", target.shape)}]");
                }

                target.copy_(source);
                loaded.Add(name);
            }
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }

        return loaded;
    }

    /// <summary>The FeatureSchema as stored in model.json, if the type can be read back.</summary>
    public static T? ReadSchema<T>(ModelDocument document) where T : class =>
        document?.FeatureSchema is null ? null : document.FeatureSchema.Deserialize<T>();
}
