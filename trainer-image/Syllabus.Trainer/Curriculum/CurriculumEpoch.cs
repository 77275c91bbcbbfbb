namespace Syllabus.Trainer.Curriculum;

/// <summary>
/// What one epoch trains on: its stage (for progress reporting) and the example indices, easiest first in curriculum
/// order (hardest first for an anti-curriculum); the loop shuffles within them.
/// </summary>
public sealed record CurriculumEpoch(int Epoch, string Stage, int StageIndex, double DataFraction, int[] Indices);
