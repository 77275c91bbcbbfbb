using System.Text.Json;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Evaluation;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Storage;
using Syllabus.Trainer.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Bundles;

/// <summary>
/// A trained model with everything needed to use it on raw data: the network on a device, its fitted preprocessing
/// (<see cref="FeatureSchema"/>: feature names and order, normalisation statistics, categories in order, imputation
/// values, class names) and the schema's fingerprint. Evaluation, curriculum teachers, base models, EWC and the
/// serve/score modes all go through it, so a model takes raw input one way everywhere.
/// </summary>
public sealed class ModelBundle : IDisposable
{
    private readonly bool _ownsNetwork;

    private ModelBundle(nn.Module<Tensor, Tensor> network, ModelDocument document, FeatureSchema schema, string? folder, bool ownsNetwork)
    {
        Network = network;
        Document = document;
        Schema = schema;
        Folder = folder;
        SchemaFingerprint = schema.Fingerprint();
        Temperature = ModelCalibration.TemperatureOf(document.Calibration);
        _ownsNetwork = ownsNetwork;
    }

    /// <summary>The network (in evaluation mode whenever the bundle predicts).</summary>
    public nn.Module<Tensor, Tensor> Network { get; }

    /// <summary>model.json as loaded (or as it will be written).</summary>
    public ModelDocument Document { get; }

    public ModelConfig Config => Document.Config;

    /// <summary>The fitted preprocessing.</summary>
    public FeatureSchema Schema { get; }

    /// <summary>SHA-256 of <see cref="Schema"/> (<see cref="FeatureSchema.Fingerprint"/>).</summary>
    public string SchemaFingerprint { get; }

    /// <summary>Class names in output order.</summary>
    public IReadOnlyList<string> Classes => Schema.Classes;

    /// <summary>
    /// The temperature every probability of this bundle is computed at, softmax(logits / T): the fitted one from
    /// model.json's calibration, 1 for a model without one (trained before calibration, or without a validation split).
    /// </summary>
    public double Temperature { get; }

    /// <summary>Whether <see cref="Temperature"/> was fitted (temperature scaling) rather than left at 1.</summary>
    public bool Calibrated => Document.Calibration?.Calibrated == true;

    /// <summary>Where the network's parameters live.</summary>
    public Device Device => TrainingDevice.Of(Network);

    /// <summary>The artifact folder it was loaded from; null for a bundle around a network in memory.</summary>
    public string? Folder { get; }

    /// <summary>
    /// Loads a model artifact (model.json + model.safetensors) from a folder or a URI (file://, pvc://, a path
    /// relative to <paramref name="baseDirectory"/>) onto <paramref name="device"/> (the CPU when null).
    /// </summary>
    /// <exception cref="InvalidDataException">Not a model folder, weights that do not fit model.json, no feature
    /// schema, a schema inconsistent with the network, or a schema that does not match its recorded fingerprint.</exception>
    public static ModelBundle Load(string uriOrFolder, Device? device = null, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(uriOrFolder);
        string folder;
        try
        {
            folder = ArtifactLocation.ResolvePath(uriOrFolder, baseDirectory ?? Directory.GetCurrentDirectory());
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"model '{uriOrFolder}': {e.Message}", e);
        }

        var document = ModelArtifact.LoadDocument(folder);
        FeatureSchema schema;
        try
        {
            schema = document.FeatureSchema?.Deserialize<FeatureSchema>()
                ?? throw new InvalidDataException($"{folder}: model.json has no featureSchema (the model's preprocessing), so raw data cannot be fed to it");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{folder}: model.json has an unreadable featureSchema: {e.Message}", e);
        }

        if (document.SchemaFingerprint is { } recorded && recorded != schema.Fingerprint())
        {
            throw new InvalidDataException($"{folder}: the featureSchema in model.json does not match its schemaFingerprint {recorded} (edited by hand?)");
        }

        Check(document.Config, schema, folder);
        document.Calibration?.Validate($"{folder}: model.json");
        var network = ModelFactory.Create(document.Config);
        try
        {
            ModelArtifact.LoadWeights(Path.Combine(folder, ModelArtifact.WeightsFileName), network, _ => true);
            network.to(device ?? CPU);
            network.eval();
        }
        catch
        {
            network.Dispose();
            throw;
        }

        return new ModelBundle(network, document, schema, folder, ownsNetwork: true);
    }

    /// <summary>
    /// A bundle around a network in memory (not disposed with the bundle), e.g. the model being trained; its
    /// probabilities use <paramref name="calibration"/>'s temperature (1 without one).
    /// </summary>
    public static ModelBundle Of(nn.Module<Tensor, Tensor> network, ModelConfig config, FeatureSchema schema, ModelCalibration? calibration = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(schema);
        Check(config, schema, "model");
        try
        {
            calibration?.Validate("model");
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException(e.Message, nameof(calibration), e);
        }

        var document = new ModelDocument { Config = config, FeatureSchema = JsonSerializer.SerializeToNode(schema), SchemaFingerprint = schema.Fingerprint(), Calibration = calibration };
        return new ModelBundle(network, document, schema, null, ownsNetwork: false);
    }

    /// <summary>Raw rows (column name -> text) to features, strictly (<see cref="FeatureSchema.Encode(IReadOnlyList{IReadOnlyDictionary{string, string?}})"/>), as a rows x features tensor on the model's device.</summary>
    /// <exception cref="DataException">A row with an unknown or absent column, or a value that cannot be encoded.</exception>
    public Tensor Encode(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return tensor(Schema.Encode(rows), [rows.Count, Schema.FeatureCount], device: Device);
    }

    /// <summary>Class probabilities softmax(logits / <see cref="Temperature"/>) (rows x classes, on the model's device) for encoded features.</summary>
    public Tensor PredictProbabilities(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.dim() != 2 || features.shape[1] != Schema.FeatureCount)
        {
            throw new ArgumentException($"expected rows x {Schema.FeatureCount} features, got [{string.Join(", ", features.shape)}]", nameof(features));
        }

        var wasTraining = Network.training;
        Network.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            return nn.functional.softmax(Network.forward(features.to(Device)).div(Temperature), 1).MoveToOuterDisposeScope();
        }
        finally
        {
            Network.train(wasTraining);
        }
    }

    /// <summary>Class probabilities (rows x classes, on the model's device) for raw rows.</summary>
    public Tensor PredictProbabilities(IReadOnlyList<IReadOnlyDictionary<string, string?>> rows)
    {
        using var features = Encode(rows);
        return PredictProbabilities(features);
    }

    /// <summary>Class probabilities at <see cref="Temperature"/> (Count x classes, row-major) for a split encoded with this schema, and their mean cross-entropy over its labelled rows.</summary>
    public float[] PredictProbabilities(TabularData data, out double loss, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(data);
        RequireWidth(data);
        return Predictor.Predict(Network, data, out loss, batchSize, Temperature);
    }

    /// <summary>The network's outputs before softmax and temperature (Count x classes, row-major) for a split encoded with this schema.</summary>
    public float[] PredictLogits(TabularData data, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(data);
        RequireWidth(data);
        return Predictor.Logits(Network, data, batchSize);
    }

    /// <summary>Predicts (at <see cref="Temperature"/>) and scores a labelled split encoded with this schema.</summary>
    public EvaluationResult Evaluate(TabularData data, int batchSize = 1024)
    {
        ArgumentNullException.ThrowIfNull(data);
        RequireWidth(data);
        return Predictor.Evaluate(Network, data, Classes, batchSize, Temperature);
    }

    /// <summary>
    /// For each of <paramref name="classes"/>, this model's output index of the class of the same name.
    /// </summary>
    /// <exception cref="InvalidDataException">A class this model does not predict, named.</exception>
    public int[] ClassIndices(IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var index = Classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        return [.. classes.Select(c => index.TryGetValue(c, out var i)
            ? i
            : throw new InvalidDataException($"class '{c}' is not one of the model's classes ({string.Join(", ", Classes)})"))];
    }

    public void Dispose()
    {
        if (_ownsNetwork)
        {
            Network.Dispose();
        }
    }

    private void RequireWidth(TabularData data)
    {
        if (data.FeatureCount != Schema.FeatureCount)
        {
            throw new ArgumentException($"the data has {data.FeatureCount} features, the model's schema {Schema.FeatureCount}", nameof(data));
        }
    }

    private static void Check(ModelConfig config, FeatureSchema schema, string where)
    {
        if (schema.FeatureCount != config.InputFeatures)
        {
            throw new InvalidDataException($"{where}: the feature schema makes {schema.FeatureCount} features, the network takes {config.InputFeatures}");
        }

        if (schema.Classes.Count != config.NumClasses)
        {
            throw new InvalidDataException($"{where}: the feature schema lists {schema.Classes.Count} classes, the network predicts {config.NumClasses}");
        }
    }
}
