using Syllabus.Api;

namespace Syllabus.Trainer.Curriculum;

/// <summary>
/// Pacing functions: the share of the (easiest-first) training data in use at an epoch. With s = startFraction,
/// F = fullDataAt * totalEpochs and p = epoch / F, every function starts at s for epoch 0, reaches 1 at epoch F and
/// stays 1 after it:
/// <list type="bullet">
/// <item>Linear (Platanios et al. 2019, competence-based, linear): s + (1 - s) p.</item>
/// <item>Root (Platanios et al. 2019, square-root competence): sqrt(s^2 + (1 - s^2) p) - fast early growth.</item>
/// <item>Step (Hacohen and Weinshall 2019, staircase pacing): s + (1 - s) floor(p K) / K for K = steps equal increments.</item>
/// <item>Exponential (the exp family of Wu et al. 2021 "When do curricula work?"): s + (1 - s)(e^(10 p) - 1)/(e^10 - 1)
///   - slow early, fast late.</item>
/// <item>Geometric (Hacohen and Weinshall 2019, fixed exponential pacing: a constant multiplicative increase per epoch):
///   s (1/s)^p = s^(1 - p).</item>
/// </list>
/// </summary>
public static class Pacing
{
    private const double ExponentialRate = 10.0;

    public static double DataFraction(PacingSpec spec, int epoch /*0-based*/, int totalEpochs)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfLessThan(totalEpochs, 1);
        var s = spec.StartFraction;
        if (s is <= 0 or > 1 || double.IsNaN(s))
        {
            throw new ArgumentException($"curriculum.pacing.startFraction: must be in (0, 1], got {s}");
        }

        if (spec.FullDataAt is <= 0 or > 1 || double.IsNaN(spec.FullDataAt))
        {
            throw new ArgumentException($"curriculum.pacing.fullDataAt: must be in (0, 1], got {spec.FullDataAt}");
        }

        var full = spec.FullDataAt * totalEpochs;
        if (epoch >= full)
        {
            return 1.0;
        }

        var p = epoch / full;
        var fraction = spec.Function switch
        {
            PacingFunctions.Linear => s + ((1 - s) * p),
            PacingFunctions.Root => Math.Sqrt((s * s) + ((1 - (s * s)) * p)),
            PacingFunctions.Step => s + ((1 - s) * Math.Floor(p * Steps(spec)) / Steps(spec)),
            PacingFunctions.Exponential => s + ((1 - s) * (Math.Exp(ExponentialRate * p) - 1) / (Math.Exp(ExponentialRate) - 1)),
            PacingFunctions.Geometric => Math.Pow(s, 1 - p),
            _ => throw new ArgumentException($"curriculum.pacing.function: unknown function '{spec.Function}' (Linear, Root, Step, Exponential, Geometric)"),
        };
        return Math.Clamp(fraction, s, 1.0);
    }

    private static int Steps(PacingSpec spec)
        => spec.Steps is { } k and >= 1 ? k : throw new ArgumentException("curriculum.pacing.steps: required (>= 1) for the Step function");
}
