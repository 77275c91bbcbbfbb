using Syllabus.Api;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Training;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Tests.Training;

[Collection(TorchCollection.Name)]
public sealed class ElasticWeightConsolidationTests
{
    [Fact]
    public void Penalty_is_zero_at_the_base_weights_and_grows_as_they_move()
    {
        var config = ModelFactory.Describe(new ModelSpec { HiddenLayers = [4] }, 3, ["a", "b"]);
        random.manual_seed(5);
        using var baseModel = ModelFactory.Create(config);
        using var model = ModelFactory.Create(config);
        model.load_state_dict(baseModel.state_dict());
        var features = Enumerable.Range(0, 60).Select(i => (float)Math.Sin(i)).ToArray();
        var data = new TabularData(3, features, [.. Enumerable.Range(0, 20).Select(i => (long)(i % 2))]);

        using var ewc = ElasticWeightConsolidation.Create(baseModel, model, data, samples: 20, lambda: 2.0, seed: 1);
        using var atAnchor = ewc.Penalty();
        using (no_grad())
        {
            model.named_parameters().First(p => p.name == "features.0.weight").parameter.add_(0.5);
        }

        using var moved = ewc.Penalty();

        Assert.Equal(["features.0.bias", "features.0.weight", "head.bias", "head.weight"], ewc.Names.Order(StringComparer.Ordinal));
        Assert.Equal(0f, atAnchor.item<float>());
        Assert.True(moved.item<float>() > 0f);
        Assert.True(moved.requires_grad);
    }
}
