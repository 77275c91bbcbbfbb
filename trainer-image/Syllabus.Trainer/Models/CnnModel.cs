using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Models;

/// <summary>
/// Small CNN: per entry of <c>channels</c> a 3x3 convolution (same padding), ReLU and 2x2 max-pool in
/// <c>features</c>; then the fully connected <c>classifier</c> (hiddenLayers, ReLU, dropout) and the output layer <c>head</c>.
/// Rows arrive flattened (C*H*W features, channel-major as PyTorch flattens) and are reshaped here.
/// </summary>
internal sealed class CnnModel : nn.Module<Tensor, Tensor>, IPenultimateFeatures
{
    private readonly Sequential _features;
    private readonly Sequential _classifier;
    private readonly Linear _head;
    private readonly long[] _shape;

    public CnnModel(IReadOnlyList<int> inputShape, IReadOnlyList<int> channels, IReadOnlyList<int> hiddenLayers, double dropout, int numClasses)
        : base("CNN")
    {
        _shape = [-1, inputShape[0], inputShape[1], inputShape[2]];
        var conv = new List<nn.Module<Tensor, Tensor>>();
        long inChannels = inputShape[0], height = inputShape[1], width = inputShape[2];
        foreach (var outChannels in channels)
        {
            conv.Add(nn.Conv2d(inChannels, outChannels, kernel_size: 3, padding: 1));
            conv.Add(nn.ReLU());
            conv.Add(nn.MaxPool2d(kernel_size: 2));
            inChannels = outChannels;
            height /= 2;
            width /= 2;
        }

        if (height < 1 || width < 1)
        {
            throw new ArgumentException($"model.channels: {channels.Count} pooling blocks shrink a {inputShape[1]}x{inputShape[2]} input to nothing");
        }

        conv.Add(nn.Flatten());
        _features = nn.Sequential(conv);
        var dense = new List<nn.Module<Tensor, Tensor>>();
        var features = (int)(inChannels * height * width);
        foreach (var hidden in hiddenLayers)
        {
            dense.Add(nn.Linear(features, hidden));
            dense.Add(nn.ReLU());
            if (dropout > 0)
            {
                dense.Add(nn.Dropout(dropout));
            }

            features = hidden;
        }

        _classifier = nn.Sequential(dense);
        _head = nn.Linear(features, numClasses);
        register_module("features", _features);
        register_module("classifier", _classifier);
        register_module("head", _head);
    }

    public override Tensor forward(Tensor input)
    {
        using var x = input.reshape(_shape);
        using var features = _features.forward(x);
        using var hidden = _classifier.forward(features);
        return _head.forward(hidden);
    }

    public Tensor Penultimate(Tensor input)
    {
        using var x = input.reshape(_shape);
        using var features = _features.forward(x);
        return _classifier.forward(features);
    }
}
