using Syllabus.Api;

namespace Syllabus.Trainer.Curriculum;

/// <summary>Per-example difficulty (higher is harder) from a teacher model's predicted class probabilities.</summary>
public static class DifficultyScores
{
    // Probabilities are clamped here before the log so a confidently wrong teacher gives a large finite loss.
    private const double MinProbability = 1e-12;

    /// <summary>
    /// TeacherLoss: the teacher's cross-entropy on the example, -ln p[y]. TeacherConfidence: 1 - p[y]. An unlabelled
    /// example (label -1) is scored against the teacher's own top class (-ln max p, 1 - max p).
    /// </summary>
    /// <param name="probabilities">n x <paramref name="classCount"/>, row-major.</param>
    public static double[] FromTeacher(string source, float[] probabilities, long[] labels, int classCount)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 1);
        if (source is not (DifficultySources.TeacherLoss or DifficultySources.TeacherConfidence))
        {
            throw new ArgumentException($"difficulty source '{source}' is not a teacher source ({DifficultySources.TeacherLoss} or {DifficultySources.TeacherConfidence})", nameof(source));
        }

        if (probabilities.Length != (long)labels.Length * classCount)
        {
            throw new ArgumentException(
                $"teacher probabilities hold {probabilities.Length} values; {labels.Length} examples x {classCount} classes needs {(long)labels.Length * classCount}", nameof(probabilities));
        }

        var scores = new double[labels.Length];
        for (var i = 0; i < labels.Length; i++)
        {
            var row = probabilities.AsSpan(i * classCount, classCount);
            var label = labels[i];
            double p;
            if (label < 0)
            {
                p = row[0];
                foreach (var v in row)
                {
                    p = Math.Max(p, v);
                }
            }
            else if (label < classCount)
            {
                p = row[(int)label];
            }
            else
            {
                throw new ArgumentException($"example {i} has label {label}, outside the teacher's {classCount} classes", nameof(labels));
            }

            if (double.IsNaN(p) || p < 0 || p > 1 + 1e-6)
            {
                throw new ArgumentException($"example {i}: teacher probability {p} is not in [0, 1]", nameof(probabilities));
            }

            scores[i] = source == DifficultySources.TeacherLoss
                ? -Math.Log(Math.Max(p, MinProbability))
                : 1.0 - Math.Min(p, 1.0);
        }

        return scores;
    }
}
