namespace Syllabus.Trainer.Tests.Training;

/// <summary>
/// Tests that seed torch's global generator and train: run alone, so no other test draws from the generator
/// between a seed and a model's initialisation.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchCollection
{
    public const string Name = "torch global generator";
}
