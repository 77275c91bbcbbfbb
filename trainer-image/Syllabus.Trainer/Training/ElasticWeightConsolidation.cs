using Syllabus.Trainer.Data;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>
/// Elastic weight consolidation (Kirkpatrick et al. 2017): penalty lambda/2 * sum_i F_i (theta_i - theta*_i)^2 with
/// the diagonal Fisher F of the base model. F is estimated with labels sampled from the base model's own
/// predictions (the "true" Fisher), so it needs no labels in the base model's class space.
/// </summary>
public sealed class ElasticWeightConsolidation : IDisposable
{
    private readonly List<(Parameter Parameter, Tensor Anchor, Tensor Fisher)> _terms = [];
    private readonly double _lambda;

    private ElasticWeightConsolidation(double lambda) => _lambda = lambda;

    /// <summary>Parameter names the penalty covers.</summary>
    public IReadOnlyList<string> Names { get; private set; } = [];

    /// <summary>
    /// Estimates the Fisher on <paramref name="baseModel"/> over up to <paramref name="samples"/> rows of
    /// <paramref name="data"/> and anchors the trainable parameters of <paramref name="model"/> that have the same
    /// name and shape in the base model (and that <paramref name="include"/> accepts).
    /// </summary>
    public static ElasticWeightConsolidation Create(
        nn.Module<Tensor, Tensor> baseModel, nn.Module<Tensor, Tensor> model, TabularData data, int samples, double lambda, int seed,
        Func<string, bool>? include = null)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        var baseParameters = baseModel.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var fisher = baseParameters.ToDictionary(p => p.Key, p => zeros_like(p.Value));
        var rows = Enumerable.Range(0, data.Count).ToArray();
        new Random(seed).Shuffle(rows);
        var count = Math.Min(samples, rows.Length);
        var generator = new Generator((ulong)seed);
        baseModel.eval();
        for (var k = 0; k < count; k++)
        {
            using var scope = NewDisposeScope();
            var x = tensor(data.Features.AsSpan(rows[k] * data.FeatureCount, data.FeatureCount).ToArray(), [1, data.FeatureCount]);
            var logProbabilities = nn.functional.log_softmax(baseModel.forward(x), 1);
            Tensor sampled;
            using (no_grad())
            {
                sampled = multinomial(logProbabilities.exp(), 1, generator: generator).reshape(1);
            }

            baseModel.zero_grad();
            nn.functional.nll_loss(logProbabilities, sampled).backward();
            using (no_grad())
            {
                foreach (var (name, parameter) in baseParameters)
                {
                    if (parameter.grad is { } grad)
                    {
                        fisher[name].add_(grad.square());
                    }
                }
            }
        }

        var ewc = new ElasticWeightConsolidation(lambda);
        var names = new List<string>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!parameter.requires_grad || include?.Invoke(name) == false || !baseParameters.TryGetValue(name, out var anchor) || !anchor.shape.SequenceEqual(parameter.shape))
            {
                continue;
            }

            // The base model is scored on the CPU; its anchors and Fisher terms go where the trained parameters live.
            ewc._terms.Add((parameter, anchor.detach().clone().to(parameter.device), fisher[name].div(Math.Max(count, 1)).to(parameter.device)));
            names.Add(name);
        }

        foreach (var f in fisher.Values)
        {
            f.Dispose();
        }

        generator.Dispose();
        ewc.Names = names;
        return ewc;
    }

    /// <summary>The penalty for the current parameters (part of the autograd graph).</summary>
    public Tensor Penalty()
    {
        var total = zeros(1, device: _terms.Count > 0 ? _terms[0].Parameter.device : CPU);
        foreach (var (parameter, anchor, fisher) in _terms)
        {
            total = total + (fisher * (parameter - anchor).square()).sum();
        }

        return total.squeeze() * (_lambda / 2);
    }

    public void Dispose()
    {
        foreach (var (_, anchor, fisher) in _terms)
        {
            anchor.Dispose();
            fisher.Dispose();
        }
    }
}
