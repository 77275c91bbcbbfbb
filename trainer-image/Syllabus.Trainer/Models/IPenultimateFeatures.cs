using static TorchSharp.torch;

namespace Syllabus.Trainer.Models;

/// <summary>
/// A network that can stop before its output layer: the activations the head reads, used by the score mode's
/// diversity selection (k-center greedy in the model's own feature space rather than in raw pixels).
/// </summary>
internal interface IPenultimateFeatures
{
    /// <summary>Rows x width of the layer before <c>head</c>, for rows of input features.</summary>
    Tensor Penultimate(Tensor input);
}
