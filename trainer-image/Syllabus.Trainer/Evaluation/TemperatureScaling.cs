using MathNet.Numerics;
using MathNet.Numerics.Optimization;
using MathNet.Numerics.Optimization.ObjectiveFunctions;

namespace Syllabus.Trainer.Evaluation;

/// <summary>A fitted temperature and the mean negative log-likelihood on the fit rows before (T = 1) and after.</summary>
public sealed record TemperatureFit(double Temperature, double NllBefore, double NllAfter, long Rows);

/// <summary>
/// Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one scalar T &gt; 0 dividing
/// the logits, fitted on held-out logits by minimising the negative log-likelihood of softmax(logits / T). It leaves
/// the arg-max (and so accuracy) unchanged and only moves the confidences.
/// </summary>
public static class TemperatureScaling
{
    /// <summary>The search interval of log T: T in [e^-3, e^3] ≈ [0.05, 20].</summary>
    public const double MinLogTemperature = -3;

    public const double MaxLogTemperature = 3;

    /// <summary>Grid step over log T that brackets the minimum before the golden-section search refines it.</summary>
    private const double GridStep = 0.1;

    /// <summary>
    /// Fits T on <paramref name="logits"/> (rows x <paramref name="classes"/>, row-major) against
    /// <paramref name="labels"/> (−1 unlabelled rows are left out).
    /// </summary>
    /// <exception cref="ArgumentException">Sizes that do not match, a label out of range, no labelled row, or a non-finite logit.</exception>
    public static TemperatureFit Fit(float[] logits, IReadOnlyList<long> labels, int classes)
    {
        Check(logits, labels, classes);
        var rows = Enumerable.Range(0, labels.Count).Where(i => labels[i] >= 0).ToArray();
        if (rows.Length == 0)
        {
            throw new ArgumentException("no labelled rows to fit a temperature on", nameof(labels));
        }

        if (rows.Any(r => !AllFinite(logits.AsSpan(r * classes, classes))))
        {
            throw new ArgumentException("a logit is NaN or infinite; cannot fit a temperature", nameof(logits));
        }

        double Objective(double logTemperature) => MeanNll(logits, labels, rows, classes, Math.Exp(logTemperature));

        // NLL is convex in 1/T, so unimodal in log T. MathNet's golden-section search needs a bracket (a middle point no
        // higher than either end) and widens the interval otherwise: a grid over [-3, 3] finds the best point g first.
        // The true minimum lies within one step of g; [g - step, g + step x golden ratio] has g as its golden-section
        // middle and both ends no lower than g (the right end is past the minimum), so it always brackets.
        var steps = (int)Math.Round((MaxLogTemperature - MinLogTemperature) / GridStep);
        var grid = Enumerable.Range(0, steps + 1).Select(i => MinLogTemperature + (i * GridStep)).ToArray();
        var values = grid.Select(Objective).ToArray();
        var best = Array.IndexOf(values, values.Min());
        var (bestLog, bestValue) = (grid[best], values[best]);
        try
        {
            var refined = GoldenSectionMinimizer.Minimum(
                ObjectiveFunction.ScalarValue(Objective), grid[best] - GridStep, grid[best] + (GridStep * Constants.GoldenRatio), xTolerance: 1e-7, maxIterations: 200, maxExpansionSteps: 0);
            if (refined.FunctionInfoAtMinimum.Value < bestValue && refined.MinimizingPoint is >= MinLogTemperature and <= MaxLogTemperature)
            {
                (bestLog, bestValue) = (refined.MinimizingPoint, refined.FunctionInfoAtMinimum.Value);
            }
        }
        catch (OptimizationException)
        {
            // Only when values tie to rounding at the bracket's ends: the grid point is as good as the search could do.
        }

        return new TemperatureFit(Math.Exp(bestLog), Objective(0), bestValue, rows.Length);
    }

    /// <summary>Mean negative log-likelihood of softmax(logits / T) over the labelled rows.</summary>
    public static double NegativeLogLikelihood(float[] logits, IReadOnlyList<long> labels, int classes, double temperature)
    {
        Check(logits, labels, classes);
        CheckTemperature(temperature);
        var rows = Enumerable.Range(0, labels.Count).Where(i => labels[i] >= 0).ToArray();
        return rows.Length == 0 ? double.NaN : MeanNll(logits, labels, rows, classes, temperature);
    }

    /// <summary>softmax(logits / T) row by row (rows x classes, row-major).</summary>
    public static float[] Probabilities(float[] logits, int classes, double temperature)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        CheckTemperature(temperature);
        if (logits.Length % classes != 0)
        {
            throw new ArgumentException($"{logits.Length} logits are not rows of {classes} classes", nameof(logits));
        }

        var probabilities = new float[logits.Length];
        for (var start = 0; start < logits.Length; start += classes)
        {
            var row = logits.AsSpan(start, classes);
            var logNormaliser = LogSumExp(row, temperature);
            for (var c = 0; c < classes; c++)
            {
                probabilities[start + c] = (float)Math.Exp((row[c] / temperature) - logNormaliser);
            }
        }

        return probabilities;
    }

    private static double MeanNll(float[] logits, IReadOnlyList<long> labels, int[] rows, int classes, double temperature)
    {
        double total = 0;
        foreach (var r in rows)
        {
            var row = logits.AsSpan(r * classes, classes);
            // −log softmax_y = log Σ exp(z/T) − z_y/T.
            total += LogSumExp(row, temperature) - (row[(int)labels[r]] / temperature);
        }

        return total / rows.Length;
    }

    /// <summary>log Σ exp(z/T) over a row, with the maximum taken out so that no exponential overflows.</summary>
    private static double LogSumExp(ReadOnlySpan<float> row, double temperature)
    {
        var max = double.NegativeInfinity;
        foreach (var z in row)
        {
            max = Math.Max(max, z / temperature);
        }

        double sum = 0;
        foreach (var z in row)
        {
            sum += Math.Exp((z / temperature) - max);
        }

        return max + Math.Log(sum);
    }

    private static void Check(float[] logits, IReadOnlyList<long> labels, int classes)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 1);
        if ((long)labels.Count * classes != logits.Length)
        {
            throw new ArgumentException($"{logits.Length} logits are not {labels.Count} rows of {classes} classes", nameof(logits));
        }

        foreach (var label in labels)
        {
            if (label < -1 || label >= classes)
            {
                throw new ArgumentException($"label {label} is outside 0..{classes - 1} (or -1 for unlabelled)", nameof(labels));
            }
        }
    }

    private static void CheckTemperature(double temperature)
    {
        if (!double.IsFinite(temperature) || temperature <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "the temperature must be a finite number > 0");
        }
    }

    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }

        return true;
    }
}
