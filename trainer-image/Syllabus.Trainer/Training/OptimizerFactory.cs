using Syllabus.Api;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>A set of parameters trained with the learning rate scaled by <paramref name="LearningRateMultiplier"/>.</summary>
public sealed record ParameterGroup(string Name, IReadOnlyList<Parameter> Parameters, double LearningRateMultiplier = 1.0);

/// <summary>Builds SGD (momentum, Nesterov), Adam or AdamW with one param group per <see cref="ParameterGroup"/>.</summary>
public static class OptimizerFactory
{
    public static optim.Optimizer Create(OptimizerSpec spec, IReadOnlyList<ParameterGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(groups);
        var used = groups.Where(g => g.Parameters.Count > 0).ToList();
        if (used.Count == 0)
        {
            throw new ArgumentException("baseModel.freeze: every parameter is frozen, nothing is left to train");
        }

        var lr = spec.LearningRate;
        return spec.Type switch
        {
            OptimizerTypes.Sgd => optim.SGD(
                used.Select(g => new SGD.ParamGroup(g.Parameters, lr * g.LearningRateMultiplier, spec.Momentum, 0, spec.WeightDecay, spec.Nesterov, false)),
                lr, spec.Momentum, 0, spec.WeightDecay, spec.Nesterov, false),
            OptimizerTypes.Adam => optim.Adam(
                used.Select(g => new Adam.ParamGroup(g.Parameters, lr * g.LearningRateMultiplier, spec.Beta1, spec.Beta2, spec.Epsilon, spec.WeightDecay, false, false)),
                lr, spec.Beta1, spec.Beta2, spec.Epsilon, spec.WeightDecay, false, false),
            OptimizerTypes.AdamW => optim.AdamW(
                used.Select(g => new AdamW.ParamGroup(g.Parameters, lr * g.LearningRateMultiplier, spec.Beta1, spec.Beta2, spec.Epsilon, spec.WeightDecay, false, false)),
                lr, spec.Beta1, spec.Beta2, spec.Epsilon, spec.WeightDecay, false, false),
            _ => throw new ArgumentException($"optimizer.type: unknown optimizer '{spec.Type}' (SGD, Adam or AdamW)"),
        };
    }
}
