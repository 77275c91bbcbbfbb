using System.Globalization;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Data;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Training;

/// <summary>
/// Elastic weight consolidation (Kirkpatrick et al. 2017). For an old task with weights θ* and diagonal Fisher F,
/// estimated on the old task's data, the new task's loss gains λ/2 Σ_i F_i (θ_i − θ*_i)². Tasks accumulate: a model
/// trained with EWC saves its penalty (<see cref="FileName"/> beside the weights) and a later task adds its own to
/// it. A sum of quadratics Σ_k λ_k F_k (θ − θ*_k)² is, up to a constant that changes no gradient, one quadratic
/// P (θ − ā)² with precision P = Σ_k λ_k F_k and anchor ā = Σ_k λ_k F_k θ*_k / P, which is what is kept, so the
/// penalty of every earlier task is applied exactly at a fixed size.
/// </summary>
public sealed class ElasticWeightConsolidation : IDisposable
{
    /// <summary>Written into the model folder of a run trained with EWC.</summary>
    public const string FileName = "ewc.safetensors";

    /// <summary>Up to this many classes the Fisher takes the exact expectation over y; above it, y is sampled.</summary>
    public const int ExactExpectationClassLimit = 10;

    private const string PrecisionPrefix = "precision.";
    private const string AnchorPrefix = "anchor.";
    private const string FisherPrefix = "fisher.";

    private readonly List<Term> _terms;

    private ElasticWeightConsolidation(List<Term> terms, int tasks, double lambda)
    {
        _terms = terms;
        Tasks = tasks;
        Lambda = lambda;
        Names = [.. terms.Where(t => t.Parameter.requires_grad).Select(t => t.Name)];
    }

    /// <summary>Trainable parameter names the penalty covers.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>Old tasks the penalty protects (this run's base model's task and those before it).</summary>
    public int Tasks { get; }

    /// <summary>λ of this run's task.</summary>
    public double Lambda { get; }

    /// <summary>
    /// The diagonal empirical-input Fisher of <paramref name="network"/>: F = E_x Σ_y p(y|x) (∂ log p(y|x)/∂θ)² over up
    /// to <paramref name="samples"/> rows of <paramref name="data"/> (the old task's data, chosen with
    /// <paramref name="seed"/>). The expectation over y is exact for up to <see cref="ExactExpectationClassLimit"/>
    /// classes; with more, one y per row is drawn from p(·|x). Labels of the data are not used.
    /// </summary>
    /// <returns>Per parameter name, a tensor of its shape on the network's device (the caller disposes them).</returns>
    public static Dictionary<string, Tensor> FisherDiagonal(nn.Module<Tensor, Tensor> network, TabularData data, int samples, int seed)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        if (data.Count == 0)
        {
            throw new ArgumentException("continual.ewc: the old task's data has no rows to estimate the Fisher information on");
        }

        var parameters = network.named_parameters().ToList();
        var fisher = parameters.ToDictionary(p => p.name, p => zeros_like(p.parameter).detach());
        var rows = Enumerable.Range(0, data.Count).ToArray();
        new Random(seed).Shuffle(rows);
        var count = Math.Min(samples, rows.Length);
        var device = TrainingDevice.Of(network);
        using var generator = new Generator((ulong)seed);
        var wasTraining = network.training;
        var requiresGrad = parameters.Select(p => p.parameter.requires_grad).ToArray();
        // Fisher of the whole network, frozen parameters included: a later task may unfreeze them.
        foreach (var (_, parameter) in parameters)
        {
            parameter.requires_grad = true;
        }

        network.eval();
        try
        {
            for (var k = 0; k < count; k++)
            {
                using var scope = NewDisposeScope();
                var x = tensor(data.Row(rows[k]).ToArray(), [1, data.FeatureCount], device: device);
                var logProbabilities = nn.functional.log_softmax(network.forward(x), 1)[0];
                var classes = (int)logProbabilities.shape[0];
                var p = logProbabilities.detach().exp().cpu().data<float>().ToArray();
                if (classes <= ExactExpectationClassLimit)
                {
                    for (var y = 0; y < classes; y++)
                    {
                        network.zero_grad();
                        logProbabilities[y].backward(retain_graph: y < classes - 1);
                        Accumulate(parameters, fisher, p[y]);
                    }
                }
                else
                {
                    long y;
                    using (no_grad())
                    {
                        y = multinomial(logProbabilities.detach().exp().cpu(), 1, generator: generator).item<long>();
                    }

                    network.zero_grad();
                    logProbabilities[y].backward();
                    Accumulate(parameters, fisher, 1.0);
                }
            }
        }
        finally
        {
            network.zero_grad();
            for (var i = 0; i < parameters.Count; i++)
            {
                parameters[i].parameter.requires_grad = requiresGrad[i];
            }

            network.train(wasTraining);
        }

        foreach (var f in fisher.Values)
        {
            f.div_(count);
        }

        return fisher;
    }

    /// <summary>
    /// The penalty for training <paramref name="model"/>: this task's λ/2 Σ F (θ − anchor)² plus the
    /// <paramref name="earlier"/> tasks' consolidated penalty, over the parameters of <paramref name="model"/> named in
    /// <paramref name="anchors"/> (already mapped to the model's names and shapes; the caller keeps ownership).
    /// </summary>
    /// <exception cref="ArgumentException">An anchor, Fisher or earlier term that does not fit the model's parameter.</exception>
    public static ElasticWeightConsolidation Create(
        nn.Module<Tensor, Tensor> model, IReadOnlyDictionary<string, Tensor> anchors, IReadOnlyDictionary<string, Tensor> fisher, double lambda,
        ConsolidatedPenalty? earlier = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(anchors);
        ArgumentNullException.ThrowIfNull(fisher);
        var terms = new List<Term>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!anchors.TryGetValue(name, out var anchor))
            {
                continue;
            }

            var f = fisher.TryGetValue(name, out var value) ? value : throw new ArgumentException($"continual.ewc: no Fisher information for parameter {name}");
            RequireShape(name, parameter, anchor, "anchor");
            RequireShape(name, parameter, f, "Fisher");
            using var scope = NewDisposeScope();
            var device = parameter.device;
            var currentAnchor = anchor.detach().to(device);
            var currentFisher = f.detach().to(device);
            var precision = currentFisher * lambda;
            var consolidatedAnchor = currentAnchor;
            if (earlier?.Precision.TryGetValue(name, out var earlierPrecision) == true)
            {
                var earlierAnchor = earlier.Anchor[name];
                RequireShape(name, parameter, earlierPrecision, "earlier precision");
                RequireShape(name, parameter, earlierAnchor, "earlier anchor");
                var p0 = earlierPrecision.to(device);
                var total = precision + p0;
                // Where no task holds the parameter (total 0) the anchor is irrelevant; keep the newest.
                consolidatedAnchor = where(total > 0, ((precision * currentAnchor) + (p0 * earlierAnchor.to(device))) / total.clamp_min(1e-30), currentAnchor);
                precision = total;
            }

            terms.Add(new Term(name, parameter, consolidatedAnchor.clone().MoveToOuterDisposeScope(), precision.clone().MoveToOuterDisposeScope(), currentFisher.clone().MoveToOuterDisposeScope()));
        }

        return new ElasticWeightConsolidation(terms, (earlier?.Tasks ?? 0) + 1, lambda);
    }

    /// <summary>½ Σ P (θ − ā)² over the trainable parameters (part of the autograd graph).</summary>
    public Tensor Penalty()
    {
        var total = zeros(1, device: _terms.Count > 0 ? _terms[0].Parameter.device : CPU);
        foreach (var term in _terms.Where(t => t.Parameter.requires_grad))
        {
            total = total + (term.Precision * (term.Parameter - term.Anchor).square()).sum();
        }

        return total.squeeze() * 0.5;
    }

    /// <summary>
    /// Writes <see cref="FileName"/> into a model folder: per parameter the consolidated precision and anchor (what
    /// the next task adds its penalty to) and this task's Fisher; the number of tasks and λ as metadata.
    /// </summary>
    public void Save(string modelFolder)
    {
        var tensors = new List<(string, Tensor)>();
        foreach (var term in _terms)
        {
            tensors.Add((PrecisionPrefix + term.Name, term.Precision));
            tensors.Add((AnchorPrefix + term.Name, term.Anchor));
            tensors.Add((FisherPrefix + term.Name, term.Fisher));
        }

        SafeTensors.Save(Path.Combine(modelFolder, FileName), tensors, new Dictionary<string, string>
        {
            ["format"] = "syllabus-ewc/v1",
            ["tasks"] = Tasks.ToString(CultureInfo.InvariantCulture),
            ["lambda"] = Lambda.ToString("R", CultureInfo.InvariantCulture),
        });
    }

    /// <summary>The consolidated penalty saved with a model trained with EWC, or null when it was trained without.</summary>
    /// <exception cref="InvalidDataException">The file is malformed.</exception>
    public static ConsolidatedPenalty? LoadConsolidated(string modelFolder)
    {
        var path = Path.Combine(modelFolder, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        var tensors = SafeTensors.Load(path, out var metadata);
        var precision = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var anchor = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, value) in tensors)
        {
            if (name.StartsWith(PrecisionPrefix, StringComparison.Ordinal))
            {
                precision[name[PrecisionPrefix.Length..]] = value;
            }
            else if (name.StartsWith(AnchorPrefix, StringComparison.Ordinal))
            {
                anchor[name[AnchorPrefix.Length..]] = value;
            }
            else
            {
                value.Dispose();
            }
        }

        var unpaired = precision.Keys.Except(anchor.Keys).Concat(anchor.Keys.Except(precision.Keys)).FirstOrDefault();
        if (unpaired is not null || !metadata.TryGetValue("tasks", out var text) || !int.TryParse(text, CultureInfo.InvariantCulture, out var tasks) || tasks < 1)
        {
            foreach (var t in precision.Values.Concat(anchor.Values))
            {
                t.Dispose();
            }

            throw new InvalidDataException(unpaired is null
                ? $"{path}: no valid 'tasks' in the metadata"
                : $"{path}: parameter {unpaired} lacks its precision or its anchor");
        }

        return new ConsolidatedPenalty(precision, anchor, tasks);
    }

    public void Dispose()
    {
        foreach (var term in _terms)
        {
            term.Anchor.Dispose();
            term.Precision.Dispose();
            term.Fisher.Dispose();
        }
    }

    private static void Accumulate(List<(string name, Parameter parameter)> parameters, Dictionary<string, Tensor> fisher, double weight)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in parameters)
        {
            if (parameter.grad is { } grad)
            {
                fisher[name].add_(grad.square(), alpha: weight);
            }
        }
    }

    private static void RequireShape(string name, Tensor parameter, Tensor value, string what)
    {
        if (!value.shape.SequenceEqual(parameter.shape))
        {
            throw new ArgumentException(
                $"continual.ewc: the {what} of parameter {name} has shape [{string.Join(", ", value.shape)}], the model's is [{string.Join(", ", parameter.shape)}]");
        }
    }

    private sealed record Term(string Name, Parameter Parameter, Tensor Anchor, Tensor Precision, Tensor Fisher);
}

/// <summary>The earlier tasks' EWC penalty as one quadratic per parameter: ½ Σ P (θ − anchor)².</summary>
public sealed record ConsolidatedPenalty(IReadOnlyDictionary<string, Tensor> Precision, IReadOnlyDictionary<string, Tensor> Anchor, int Tasks) : IDisposable
{
    public void Dispose()
    {
        foreach (var t in Precision.Values.Concat(Anchor.Values))
        {
            t.Dispose();
        }
    }
}
