using Syllabus.Trainer.Curriculum;

namespace Syllabus.Trainer.Training;

/// <summary>Ordered hooks around the loop; each may set flags on <see cref="TrainerControl"/>.</summary>
public interface ITrainerCallback
{
    void OnTrainBegin(TrainerState state, TrainerControl control)
    {
    }

    void OnEpochBegin(TrainerState state, TrainerControl control, CurriculumEpoch epoch)
    {
    }

    void OnStepEnd(TrainerState state, TrainerControl control, in StepInfo step)
    {
    }

    void OnEpochEnd(TrainerState state, TrainerControl control, EpochRecord record)
    {
    }

    void OnSave(TrainerState state, TrainerControl control, string checkpointFolder)
    {
    }

    void OnTrainEnd(TrainerState state, TrainerControl control)
    {
    }
}
