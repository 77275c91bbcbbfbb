using System.Text.RegularExpressions;
using Syllabus.Api;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Models;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>What transfer learning did to the model, for the report.</summary>
public sealed record TransferSummary(string BaseModelFolder, IReadOnlyList<string> Loaded, IReadOnlyList<string> Frozen, bool HeadReset, double BaseLearningRateMultiplier);

/// <summary>
/// Starts a model from a base model: keep its preprocessing and class list, load its weights (the head's rows mapped
/// by class name, or the head re-initialised), freeze, split the learning rates.
/// </summary>
public static class TransferLearning
{
    /// <summary>
    /// The base model's fitted preprocessing with the class list this run uses: without <c>resetHead</c> the base
    /// model's classes (data.classes may reorder them, but must name the same ones); with it, data.classes or (empty)
    /// the classes found in the data.
    /// </summary>
    /// <exception cref="ArgumentException">data.classes names other classes than a kept head predicts; the message names them.</exception>
    public static FeatureSchema KeptPreprocessing(ModelBundle baseModel, BaseModelSpec spec, IReadOnlyList<string>? declaredClasses)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(spec);
        var baseClasses = baseModel.Classes;
        IReadOnlyList<string> classes;
        if (spec.ResetHead)
        {
            classes = declaredClasses ?? [];
        }
        else if (declaredClasses is { Count: > 0 })
        {
            var missing = baseClasses.Except(declaredClasses, StringComparer.Ordinal).ToList();
            var added = declaredClasses.Except(baseClasses, StringComparer.Ordinal).ToList();
            if (missing.Count > 0 || added.Count > 0 || declaredClasses.Count != baseClasses.Count)
            {
                throw new ArgumentException(
                    $"baseModel.resetHead: data.classes differ from the base model's classes ({string.Join(", ", baseClasses)})"
                    + (added.Count > 0 ? $"; new: {string.Join(", ", added)}" : "")
                    + (missing.Count > 0 ? $"; absent: {string.Join(", ", missing)}" : "")
                    + "; a kept head predicts the base model's classes, so set resetHead: true for another class list");
            }

            classes = declaredClasses;
        }
        else
        {
            classes = baseClasses;
        }

        var schema = baseModel.Schema;
        return new FeatureSchema
        {
            LabelColumn = schema.LabelColumn,
            Classes = [.. classes],
            Columns = schema.Columns,
            Normalization = schema.Normalization,
            MissingValuePolicy = schema.MissingValuePolicy,
        };
    }

    /// <summary>
    /// Loads the base weights into <paramref name="model"/> (all but the head when <c>resetHead</c>; a kept head's
    /// rows are taken by class name), freezes parameters matching <c>freeze</c>, and returns the optimiser's param
    /// groups: the head at the full learning rate and the other unfrozen parameters at
    /// <c>baseLearningRateMultiplier</c> times it.
    /// </summary>
    /// <exception cref="ArgumentException">The spec does not fit the base model; the message names the field.</exception>
    public static IReadOnlyList<ParameterGroup> Apply(
        nn.Module<Tensor, Tensor> model, ModelConfig config, ModelBundle baseModel, BaseModelSpec spec, out TransferSummary summary)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(spec);
        var baseConfig = baseModel.Config;
        if (baseConfig.Architecture != config.Architecture)
        {
            throw new ArgumentException($"model.architecture: {config.Architecture} cannot start from a {baseConfig.Architecture} base model");
        }

        var mapping = Mapping(baseModel, config, spec);
        var loaded = new List<string>();
        var baseWeights = baseModel.Network.state_dict();
        using (no_grad())
        {
            foreach (var (name, target) in model.state_dict())
            {
                if (!baseWeights.TryGetValue(name, out var source))
                {
                    throw new ArgumentException($"baseModel: the base model does not fit model (it has no tensor named {name})");
                }

                using var mapped = mapping.Map(name, source);
                if (mapped is null)
                {
                    continue;
                }

                if (!mapped.shape.SequenceEqual(target.shape))
                {
                    throw new ArgumentException(
                        $"baseModel: the base model does not fit model (tensor {name} has shape [{string.Join(", ", source.shape)}], the model expects [{string.Join(", ", target.shape)}])");
                }

                target.copy_(mapped);
                loaded.Add(name);
            }
        }

        var patterns = new List<Regex>();
        for (var i = 0; i < (spec.Freeze?.Count ?? 0); i++)
        {
            try
            {
                patterns.Add(new Regex(spec.Freeze![i], RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"baseModel.freeze[{i}]: '{spec.Freeze![i]}' is not a valid regular expression: {e.Message}", e);
            }
        }

        var parameters = model.named_parameters().ToList();
        for (var i = 0; i < patterns.Count; i++)
        {
            if (!parameters.Any(p => patterns[i].IsMatch(p.name)))
            {
                throw new ArgumentException(
                    $"baseModel.freeze[{i}]: '{spec.Freeze![i]}' matches no parameter (names: {string.Join(", ", parameters.Select(p => p.name))})");
            }
        }

        var frozen = new List<string>();
        var head = new List<TorchSharp.Modules.Parameter>();
        var body = new List<TorchSharp.Modules.Parameter>();
        foreach (var (name, parameter) in parameters)
        {
            if (patterns.Any(p => p.IsMatch(name)))
            {
                parameter.requires_grad = false;
                frozen.Add(name);
            }
            else if (name.StartsWith(ModelFactory.HeadPrefix, StringComparison.Ordinal))
            {
                head.Add(parameter);
            }
            else
            {
                body.Add(parameter);
            }
        }

        summary = new TransferSummary(baseModel.Folder ?? "", loaded, frozen, spec.ResetHead, spec.BaseLearningRateMultiplier);
        return [new ParameterGroup("head", head), new ParameterGroup("base", body, spec.BaseLearningRateMultiplier)];
    }

    /// <summary>How the base model's tensors become this model's: the head's rows by class name, or no head.</summary>
    /// <exception cref="ArgumentException">A kept head whose classes differ from this run's.</exception>
    public static BaseToModel Mapping(ModelBundle baseModel, ModelConfig config, BaseModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.ResetHead)
        {
            return new BaseToModel(null);
        }

        if (config.ClassNames.Count != baseModel.Classes.Count || config.ClassNames.Except(baseModel.Classes, StringComparer.Ordinal).Any())
        {
            throw new ArgumentException(
                $"baseModel.resetHead: the base model predicts {string.Join(", ", baseModel.Classes)} and this run {string.Join(", ", config.ClassNames)}; set resetHead: true");
        }

        return new BaseToModel(baseModel.ClassIndices(config.ClassNames));
    }
}

/// <summary>Maps a base model's tensor to this model's parameter of the same name.</summary>
/// <param name="HeadRows">For each of this model's classes, the base model's output row of that class; null when the head is re-initialised.</param>
public sealed record BaseToModel(int[]? HeadRows)
{
    /// <summary>The tensor as this model holds it (a new tensor), or null for a re-initialised head's.</summary>
    public Tensor? Map(string name, Tensor baseTensor)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(baseTensor);
        if (!name.StartsWith(ModelFactory.HeadPrefix, StringComparison.Ordinal))
        {
            return baseTensor.detach().clone();
        }

        if (HeadRows is null)
        {
            return null;
        }

        using var rows = tensor(HeadRows.Select(r => (long)r).ToArray(), device: baseTensor.device);
        return baseTensor.detach().index_select(0, rows);
    }
}
