using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Syllabus.Trainer.Models;

/// <summary>
/// The architecture half of model.json: enough to rebuild the network (here or in PyTorch) and to
/// load model.safetensors into it. The feature schema is stored beside it in the same file.
/// </summary>
public sealed class ModelConfig
{
    [JsonPropertyName("architecture")]
    public string Architecture { get; init; } = "MLP";

    [JsonPropertyName("inputFeatures")]
    public int InputFeatures { get; init; }

    /// <summary>Channels, height, width of one example (CNN only).</summary>
    [JsonPropertyName("inputShape")]
    public IReadOnlyList<int>? InputShape { get; init; }

    [JsonPropertyName("channels")]
    public IReadOnlyList<int> Channels { get; init; } = [];

    [JsonPropertyName("hiddenLayers")]
    public IReadOnlyList<int> HiddenLayers { get; init; } = [];

    [JsonPropertyName("dropout")]
    public double Dropout { get; init; }

    [JsonPropertyName("numClasses")]
    public int NumClasses { get; init; }

    [JsonPropertyName("classNames")]
    public IReadOnlyList<string> ClassNames { get; init; } = [];

    /// <summary>Every layer with its parameter names and shapes, in forward order, so other frameworks can rebuild it.</summary>
    [JsonPropertyName("layers")]
    public IReadOnlyList<LayerInfo> Layers { get; init; } = [];
}

/// <summary>One layer of the network as stored in model.json.</summary>
public sealed record LayerInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("parameters")] IReadOnlyDictionary<string, long[]>? Parameters = null,
    [property: JsonPropertyName("options")] IReadOnlyDictionary<string, double>? Options = null);

/// <summary>model.json: the architecture, the feature schema and provenance.</summary>
public sealed class ModelDocument
{
    public const string FileName = "model.json";

    [JsonPropertyName("format")]
    public string Format { get; init; } = "syllabus-model/v1";

    [JsonPropertyName("weights")]
    public string Weights { get; init; } = "model.safetensors";

    [JsonPropertyName("framework")]
    public string Framework { get; init; } = "torchsharp";

    [JsonPropertyName("config")]
    public ModelConfig Config { get; init; } = new();

    /// <summary>The data helper's FeatureSchema as JSON, kept verbatim so score/serve apply it identically.</summary>
    [JsonPropertyName("featureSchema")]
    public JsonNode? FeatureSchema { get; init; }

    /// <summary>SHA-256 of the feature schema (FeatureSchema.Fingerprint); checked when the model is loaded.</summary>
    [JsonPropertyName("schemaFingerprint")]
    public string? SchemaFingerprint { get; init; }

    /// <summary>Temperature scaling of the logits; null (temperature 1) in a model.json from before calibration.</summary>
    [JsonPropertyName("calibration")]
    public ModelCalibration? Calibration { get; init; }

    [JsonPropertyName("trainingRun")]
    public string? TrainingRun { get; init; }

    [JsonPropertyName("createdAt")]
    public DateTimeOffset CreatedAt { get; init; }

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));

    public static ModelDocument Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<ModelDocument>(File.ReadAllText(path), JsonOptions)
                ?? throw new InvalidDataException($"{path}: empty model.json");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid model.json: {e.Message}", e);
        }
    }
}
