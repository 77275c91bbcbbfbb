using System.Globalization;
using Syllabus.Trainer.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Artifacts;

/// <summary>
/// Checkpoints under &lt;artifacts&gt;/checkpoints/epoch-NNNN/: model.safetensors, optimizer.bin (TorchSharp's
/// optimizer state format), trainer_state.json and, with early stopping, best.safetensors. A checkpoint is written
/// to a temporary folder and renamed into place, so a process killed mid-write never leaves a torn one.
/// </summary>
public sealed class CheckpointStore(string folder, int keep)
{
    public const string StateFileName = "trainer_state.json";
    public const string OptimizerFileName = "optimizer.bin";
    public const string BestWeightsFileName = "best.safetensors";
    private const string Prefix = "epoch-";

    public string Folder { get; } = folder;

    /// <summary>The newest complete checkpoint folder, or null.</summary>
    public string? Latest()
    {
        if (!Directory.Exists(Folder))
        {
            return null;
        }

        return Directory.GetDirectories(Folder, Prefix + "*")
            .Where(d => File.Exists(Path.Combine(d, StateFileName)) && !Path.GetFileName(d).EndsWith(".tmp", StringComparison.Ordinal))
            .OrderBy(d => d, StringComparer.Ordinal)
            .LastOrDefault();
    }

    public string Save(TrainerState state, nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer, IReadOnlyDictionary<string, Tensor>? bestWeights)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(model);
        var name = Prefix + state.Epoch.ToString("D4", CultureInfo.InvariantCulture);
        var target = Path.Combine(Folder, name);
        var temporary = target + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }

        Directory.CreateDirectory(temporary);
        ModelArtifact.SaveWeights(Path.Combine(temporary, ModelArtifact.WeightsFileName), model);
        ((OptimizerHelper)optimizer).save_state_dict(Path.Combine(temporary, OptimizerFileName));
        if (bestWeights is not null)
        {
            SafeTensors.Save(Path.Combine(temporary, BestWeightsFileName), bestWeights.Select(kv => (kv.Key, kv.Value)));
        }

        File.WriteAllText(Path.Combine(temporary, StateFileName), state.ToJson());
        if (Directory.Exists(target))
        {
            Directory.Delete(target, recursive: true);
        }

        Directory.Move(temporary, target);
        Prune();
        return target;
    }

    /// <summary>Loads the weights and optimizer state of a checkpoint and returns its trainer state.</summary>
    public static TrainerState Restore(string checkpoint, nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ModelArtifact.LoadWeights(Path.Combine(checkpoint, ModelArtifact.WeightsFileName), model, _ => true);
        ((OptimizerHelper)optimizer).load_state_dict(Path.Combine(checkpoint, OptimizerFileName));
        return TrainerState.FromJson(File.ReadAllText(Path.Combine(checkpoint, StateFileName)));
    }

    private void Prune()
    {
        var all = Directory.GetDirectories(Folder, Prefix + "*")
            .Where(d => !d.EndsWith(".tmp", StringComparison.Ordinal))
            .OrderBy(d => d, StringComparer.Ordinal)
            .ToList();
        foreach (var old in all.Take(Math.Max(0, all.Count - keep)))
        {
            Directory.Delete(old, recursive: true);
        }
    }
}
