using Syllabus.Api;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class ElasticWeightConsolidationTests
{
    /// <summary>A softmax regression (an MLP without hidden layers: one linear layer, "head").</summary>
    private static (nn.Module<Tensor, Tensor> Model, TabularData Data) SoftmaxRegression(int features, int classes, int rows, int seed)
    {
        var config = ModelFactory.Describe(new ModelSpec { HiddenLayers = [] }, features, [.. Enumerable.Range(0, classes).Select(c => $"c{c}")]);
        random.manual_seed(seed);
        var model = ModelFactory.Create(config);
        var random_ = new Random(seed);
        var x = Enumerable.Range(0, rows * features).Select(_ => (float)((random_.NextDouble() * 4) - 2)).ToArray();
        // Labels are irrelevant to the Fisher (y is taken from the model), so they are deliberately all one class.
        return (model, new TabularData(features, x, new long[rows]));
    }

    /// <summary>
    /// For p = softmax(Wx + b), ∂ log p_y/∂W_kj = (1[k=y] − p_k) x_j, so Σ_y p_y (∂ log p_y/∂W_kj)² = p_k (1 − p_k) x_j²
    /// and for the bias p_k (1 − p_k): the diagonal Fisher is their mean over the rows.
    /// </summary>
    private static (float[] Weight, float[] Bias) ClosedFormFisher(nn.Module<Tensor, Tensor> model, TabularData data)
    {
        using var noGrad = no_grad();
        using var x = tensor(data.Features, [data.Count, data.FeatureCount]);
        using var p = nn.functional.softmax(model.forward(x), 1);
        using var v = p * (1 - p);
        using var weight = v.t().matmul(x.square()) / data.Count;
        using var bias = v.mean([0]);
        return (weight.data<float>().ToArray(), bias.data<float>().ToArray());
    }

    [Fact]
    public void Fisher_is_the_exact_expectation_over_classes_for_up_to_ten_classes()
    {
        var (model, data) = SoftmaxRegression(features: 3, classes: 4, rows: 40, seed: 11);
        using var _ = model;
        var (weight, bias) = ClosedFormFisher(model, data);

        var fisher = ElasticWeightConsolidation.FisherDiagonal(model, data, samples: data.Count, seed: 1);

        Assert.Equal(weight.Length, fisher["head.weight"].numel());
        Assert.All(weight.Zip(fisher["head.weight"].data<float>().ToArray()), p => Assert.Equal(p.First, p.Second, 5e-6));
        Assert.All(bias.Zip(fisher["head.bias"].data<float>().ToArray()), p => Assert.Equal(p.First, p.Second, 5e-6));
        Assert.True(weight.Max() > 0.01);
        foreach (var t in fisher.Values)
        {
            t.Dispose();
        }
    }

    [Fact]
    public void Fisher_samples_the_class_from_the_model_above_ten_classes_and_converges_to_the_closed_form()
    {
        var (model, data) = SoftmaxRegression(features: 2, classes: 12, rows: 4000, seed: 5);
        using var _ = model;
        var (_, bias) = ClosedFormFisher(model, data);

        var fisher = ElasticWeightConsolidation.FisherDiagonal(model, data, samples: data.Count, seed: 2);
        var estimate = fisher["head.bias"].data<float>().ToArray();

        // One sampled y per row: an unbiased, not exact, estimate (the sum over classes is exact to within sampling noise).
        Assert.NotEqual(bias, estimate);
        Assert.Equal(bias.Sum(), estimate.Sum(), 0.05 * bias.Sum());
        // Per class the sampled estimate's standard error is below 0.004 here.
        Assert.All(bias.Zip(estimate), p => Assert.Equal(p.First, p.Second, 0.015));
        foreach (var t in fisher.Values)
        {
            t.Dispose();
        }
    }

    [Fact]
    public void Penalty_is_lambda_half_fisher_squared_distance_and_adds_the_earlier_tasks_penalty()
    {
        var config = ModelFactory.Describe(new ModelSpec { HiddenLayers = [] }, 2, ["a", "b"]);
        using var model = ModelFactory.Create(config);
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Tensor Filled(string name, double value) => full(shapes[name], value);
        var anchors = shapes.Keys.ToDictionary(n => n, n => Filled(n, 1.0));
        var fisher = shapes.Keys.ToDictionary(n => n, n => Filled(n, 2.0));
        var earlier = new ConsolidatedPenalty(shapes.Keys.ToDictionary(n => n, n => Filled(n, 3.0)), shapes.Keys.ToDictionary(n => n, n => Filled(n, -1.0)), Tasks: 1);
        using (no_grad())
        {
            foreach (var p in model.parameters())
            {
                p.fill_(0.5);
            }
        }

        using var single = ElasticWeightConsolidation.Create(model, anchors, fisher, lambda: 4.0);
        using var both = ElasticWeightConsolidation.Create(model, anchors, fisher, lambda: 4.0, earlier);
        var parameters = shapes.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b));

        // λ/2 F (θ − θ*)² = 4/2 · 2 · 0.25 per parameter.
        Assert.Equal(parameters * 1.0, single.Penalty().item<float>(), 5);
        Assert.Equal(2, both.Tasks);
        // The sum of the two tasks' penalties, 2·2·0.25 + ½·3·2.25, differs from the consolidated one by a constant
        // only: the gradients agree exactly.
        model.zero_grad();
        both.Penalty().backward();
        var consolidated = model.parameters().Select(p => p.grad!.data<float>().ToArray()).ToList();
        model.zero_grad();
        var separate = model.named_parameters().Select(p => (0.5 * 4.0 * 2.0 * (p.parameter - 1.0).square().sum()) + (0.5 * 3.0 * (p.parameter + 1.0).square().sum()))
            .Aggregate((a, b) => a + b);
        separate.backward();
        var expected = model.parameters().Select(p => p.grad!.data<float>().ToArray()).ToList();
        Assert.All(expected.SelectMany(g => g).Zip(consolidated.SelectMany(g => g)), p => Assert.Equal(p.First, p.Second, 1e-5));
        Assert.All(consolidated.SelectMany(g => g), g => Assert.Equal((4.0 * 2.0 * -0.5) + (3.0 * 1.5), g, 5));
    }

    [Fact]
    public void Penalty_and_terms_survive_saving_and_loading()
    {
        var config = ModelFactory.Describe(new ModelSpec { HiddenLayers = [3] }, 2, ["a", "b"]);
        random.manual_seed(3);
        using var model = ModelFactory.Create(config);
        var anchors = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var fisher = model.named_parameters().ToDictionary(p => p.name, p => rand_like(p.parameter));
        using var ewc = ElasticWeightConsolidation.Create(model, anchors, fisher, lambda: 2.5);
        var folder = Directory.CreateTempSubdirectory("syllabus-ewc-").FullName;
        try
        {
            ewc.Save(folder);
            using var loaded = ElasticWeightConsolidation.LoadConsolidated(folder)!;

            Assert.Equal(1, loaded.Tasks);
            foreach (var (name, f) in fisher)
            {
                Assert.Equal((f * 2.5).data<float>().ToArray(), loaded.Precision[name].data<float>().ToArray());
                Assert.Equal(anchors[name].data<float>().ToArray(), loaded.Anchor[name].data<float>().ToArray());
            }

            Assert.Null(ElasticWeightConsolidation.LoadConsolidated(Path.Combine(folder, "nothing-here")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
