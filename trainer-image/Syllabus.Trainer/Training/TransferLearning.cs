using System.Text.RegularExpressions;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Models;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>What transfer learning did to the model, for the report.</summary>
public sealed record TransferSummary(string BaseModelFolder, IReadOnlyList<string> Loaded, IReadOnlyList<string> Frozen, bool HeadReset, double BaseLearningRateMultiplier);

/// <summary>Starts a model from a base model artifact: load, freeze, reset the head, split the learning rates.</summary>
public static class TransferLearning
{
    /// <summary>
    /// Loads the base weights into <paramref name="model"/> (all but the head when <c>resetHead</c>), freezes
    /// parameters matching <c>freeze</c>, and returns the optimiser's param groups: the head at the full learning
    /// rate and the other unfrozen parameters at <c>baseLearningRateMultiplier</c> times it.
    /// </summary>
    /// <exception cref="ArgumentException">The spec does not fit the base model; the message names the field.</exception>
    public static IReadOnlyList<ParameterGroup> Apply(
        nn.Module<Tensor, Tensor> model, ModelConfig config, string baseModelFolder, BaseModelSpec spec, out TransferSummary summary)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(spec);
        ModelDocument baseDocument;
        try
        {
            baseDocument = ModelArtifact.LoadDocument(baseModelFolder);
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"baseModel: {e.Message}", e);
        }

        var baseConfig = baseDocument.Config;
        if (baseConfig.Architecture != config.Architecture)
        {
            throw new ArgumentException($"model.architecture: {config.Architecture} cannot start from a {baseConfig.Architecture} base model");
        }

        if (!spec.ResetHead && baseConfig.NumClasses != config.NumClasses)
        {
            throw new ArgumentException(
                $"baseModel.resetHead: the base model has {baseConfig.NumClasses} classes and this run {config.NumClasses}; set resetHead: true");
        }

        IReadOnlyList<string> loaded;
        try
        {
            loaded = ModelArtifact.LoadWeights(Path.Combine(baseModelFolder, ModelArtifact.WeightsFileName), model,
                name => !spec.ResetHead || !name.StartsWith(ModelFactory.HeadPrefix, StringComparison.Ordinal));
        }
        catch (InvalidDataException e)
        {
            throw new ArgumentException($"baseModel: the base model does not fit model ({e.Message})", e);
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

        summary = new TransferSummary(baseModelFolder, loaded, frozen, spec.ResetHead, spec.BaseLearningRateMultiplier);
        return [new ParameterGroup("head", head), new ParameterGroup("base", body, spec.BaseLearningRateMultiplier)];
    }
}
