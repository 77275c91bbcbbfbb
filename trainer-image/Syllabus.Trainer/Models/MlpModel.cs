using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Models;

/// <summary>
/// Multi-layer perceptron. Parameters are named as PyTorch would name
/// <c>features = nn.Sequential(Linear, ReLU, Dropout, ...)</c> and <c>head = nn.Linear</c>,
/// so <c>^features\.</c> freezes the body and "head" is the output layer.
/// </summary>
internal sealed class MlpModel : nn.Module<Tensor, Tensor>, IPenultimateFeatures
{
    private readonly Sequential _features;
    private readonly Linear _head;

    public MlpModel(int inputFeatures, IReadOnlyList<int> hiddenLayers, double dropout, int numClasses) : base("MLP")
    {
        var layers = new List<nn.Module<Tensor, Tensor>>();
        var width = inputFeatures;
        foreach (var hidden in hiddenLayers)
        {
            layers.Add(nn.Linear(width, hidden));
            layers.Add(nn.ReLU());
            if (dropout > 0)
            {
                layers.Add(nn.Dropout(dropout));
            }

            width = hidden;
        }

        _features = nn.Sequential(layers);
        _head = nn.Linear(width, numClasses);
        register_module("features", _features);
        register_module("head", _head);
    }

    public override Tensor forward(Tensor input) => _head.forward(_features.forward(input));

    public Tensor Penultimate(Tensor input) => _features.forward(input);
}
