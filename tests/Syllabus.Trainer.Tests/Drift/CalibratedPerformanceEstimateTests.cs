using Syllabus.Trainer.Drift;
using Syllabus.Trainer.Profiling;

namespace Syllabus.Trainer.Tests.Drift;

/// <summary>CBPE's expected accuracy is marked calibrated only when the profile and the window share the fitted temperature.</summary>
public sealed class CalibratedPerformanceEstimateTests
{
    private static readonly long[] Labels = [.. Enumerable.Range(0, 100).Select(i => (long)(i % 2))];

    private static readonly float[] Probabilities = [.. Enumerable.Range(0, 100).SelectMany(i => i % 2 == 0 ? new[] { 0.9f, 0.1f } : [0.2f, 0.8f])];

    private static DataProfile Profile(double? temperature)
    {
        var x = Enumerable.Range(0, 100).Select(i => (float)i).ToArray();
        return DataProfile.Build(["x"], [x], [], [], ["a", "b"], Labels, seed: 3)
            .WithModel("fingerprint", PredictionProfile.Build("validation", Probabilities, ["a", "b"], Labels, temperature));
    }

    private static DriftWindow Window(double? temperature) =>
        new(["x"], [Enumerable.Range(0, 100).Select(i => (float)i).ToArray()], [], [], 100) { Probabilities = Probabilities, Temperature = temperature };

    [Theory]
    [InlineData(1.7, true)]
    [InlineData(null, false)]
    public void The_estimate_is_calibrated_when_both_sides_are_at_the_fitted_temperature(double? temperature, bool calibrated)
    {
        var report = DriftEvaluator.Evaluate(Profile(temperature), Window(temperature), new DriftOptions(), "m", DateTimeOffset.UnixEpoch).Report;

        Assert.Equal(calibrated, report.Performance!.Calibrated);
        Assert.Equal(0.85, report.Performance.ExpectedAccuracy, 6);
        Assert.Equal(0.85, report.Performance.BaselineExpectedAccuracy, 6);
    }

    [Theory]
    [InlineData(1.7, null, "temperature 1.7, the window's at the raw softmax (not calibrated)")]
    [InlineData(null, 1.7, "the raw softmax (not calibrated), the window's at temperature 1.7")]
    [InlineData(1.7, 2.0, "temperature 1.7, the window's at temperature 2")]
    public void Confidences_at_different_temperatures_are_not_compared(double? profileTemperature, double? windowTemperature, string message)
    {
        var error = Assert.Throws<DriftInputException>(() =>
            DriftEvaluator.Evaluate(Profile(profileTemperature), Window(windowTemperature), new DriftOptions(), "m", DateTimeOffset.UnixEpoch));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
