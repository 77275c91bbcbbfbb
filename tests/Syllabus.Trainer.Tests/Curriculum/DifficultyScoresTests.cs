using Syllabus.Api;
using Syllabus.Trainer.Curriculum;

namespace Syllabus.Trainer.Tests.Curriculum;

public sealed class DifficultyScoresTests
{
    private static readonly float[] Probabilities =
    [
        0.7f, 0.2f, 0.1f,
        0.1f, 0.1f, 0.8f,
        0.25f, 0.5f, 0.25f,
        0f, 1f, 0f,
    ];

    private static readonly long[] Labels = [0, 0, -1, 0];

    [Fact]
    public void TeacherLossIsCrossEntropyOfTheTrueLabel()
    {
        var scores = DifficultyScores.FromTeacher(DifficultySources.TeacherLoss, Probabilities, Labels, 3);
        Assert.Equal(-Math.Log(0.7f), scores[0], 6);
        Assert.Equal(-Math.Log(0.1f), scores[1], 6);
        Assert.Equal(-Math.Log(0.5f), scores[2], 6); // unlabelled: against the teacher's own top class
        Assert.Equal(-Math.Log(1e-12), scores[3], 6); // a certain wrong answer stays finite
    }

    [Fact]
    public void TeacherConfidenceIsOneMinusTheTrueLabelProbability()
    {
        var scores = DifficultyScores.FromTeacher(DifficultySources.TeacherConfidence, Probabilities, Labels, 3);
        Assert.Equal([0.3, 0.9, 0.5, 1.0], scores.Select(s => Math.Round(s, 6)));
    }

    [Fact]
    public void BadInputsAreNamed()
    {
        Assert.Contains("12 values", Assert.Throws<ArgumentException>(() => DifficultyScores.FromTeacher(DifficultySources.TeacherLoss, Probabilities, Labels, 4)).Message, StringComparison.Ordinal);
        Assert.Contains("label 3", Assert.Throws<ArgumentException>(() => DifficultyScores.FromTeacher(DifficultySources.TeacherLoss, Probabilities, [0, 3, 0, 0], 3)).Message, StringComparison.Ordinal);
        Assert.Contains("Column", Assert.Throws<ArgumentException>(() => DifficultyScores.FromTeacher(DifficultySources.Column, Probabilities, Labels, 3)).Message, StringComparison.Ordinal);
    }
}
