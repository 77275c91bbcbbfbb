using Syllabus.Trainer.Evaluation;

namespace Syllabus.Trainer.Tests.Evaluation;

public sealed class TemperatureScalingTests
{
    private const int Classes = 5;

    /// <summary>
    /// Logits of a perfectly calibrated model: random logits, and each label drawn from softmax(logits) itself, so the
    /// best temperature for them is 1.
    /// </summary>
    private static (float[] Logits, long[] Labels) CalibratedLogits(int rows, int seed)
    {
        var random = new Random(seed);
        var logits = new float[rows * Classes];
        var labels = new long[rows];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < Classes; c++)
            {
                logits[(r * Classes) + c] = (float)(random.NextDouble() * 4 - 2);
            }

            var probabilities = TemperatureScaling.Probabilities(logits[(r * Classes)..((r + 1) * Classes)], Classes, 1);
            var u = random.NextDouble();
            var label = 0;
            double cumulative = probabilities[0];
            while (label < Classes - 1 && u > cumulative)
            {
                label++;
                cumulative += probabilities[label];
            }

            labels[r] = label;
        }

        return (logits, labels);
    }

    [Fact]
    public void Logits_of_a_calibrated_model_scaled_by_three_fit_a_temperature_of_three()
    {
        var (logits, labels) = CalibratedLogits(20_000, seed: 11);
        var overconfident = logits.Select(z => z * 3).ToArray();

        var fit = TemperatureScaling.Fit(overconfident, labels, Classes);

        Assert.InRange(fit.Temperature, 2.85, 3.15);
        Assert.Equal(20_000, fit.Rows);
        Assert.True(fit.NllAfter < fit.NllBefore, $"NLL {fit.NllBefore} -> {fit.NllAfter}");
        // Dividing by the fitted T gives back the calibrated model's likelihood.
        Assert.Equal(TemperatureScaling.NegativeLogLikelihood(logits, labels, Classes, 1), fit.NllAfter, 2);
    }

    [Fact]
    public void Logits_of_a_calibrated_model_fit_a_temperature_of_one()
    {
        var (logits, labels) = CalibratedLogits(20_000, seed: 5);

        var fit = TemperatureScaling.Fit(logits, labels, Classes);

        Assert.InRange(fit.Temperature, 0.95, 1.05);
    }

    [Fact]
    public void The_fitted_temperature_is_the_minimum_of_the_likelihood_and_never_worse_than_one()
    {
        var (logits, labels) = CalibratedLogits(3_000, seed: 2);
        var underconfident = logits.Select(z => z * 0.4f).ToArray();

        var fit = TemperatureScaling.Fit(underconfident, labels, Classes);

        Assert.InRange(fit.Temperature, 0.3, 0.5);
        Assert.True(fit.NllAfter <= fit.NllBefore);
        Assert.Equal(TemperatureScaling.NegativeLogLikelihood(underconfident, labels, Classes, 1), fit.NllBefore, 12);
        Assert.Equal(TemperatureScaling.NegativeLogLikelihood(underconfident, labels, Classes, fit.Temperature), fit.NllAfter, 12);
        // Within 0.1 % of the minimum: finer than the bracketing grid's 10 % steps, so the search refined it.
        foreach (var factor in new[] { 0.999, 1.001 })
        {
            Assert.True(TemperatureScaling.NegativeLogLikelihood(underconfident, labels, Classes, fit.Temperature * factor) > fit.NllAfter, $"T x {factor}");
        }
    }

    [Theory]
    [InlineData(0.6f)]
    [InlineData(1.05f)]
    [InlineData(1.13f)]
    [InlineData(1.3f)]
    [InlineData(2.2f)]
    [InlineData(7.5f)]
    public void The_fit_is_the_minimum_to_within_a_thousandth_wherever_it_falls_between_grid_points(float scale)
    {
        var (logits, labels) = CalibratedLogits(2_000, seed: 9);
        var scaled = logits.Select(z => z * scale).ToArray();

        var fit = TemperatureScaling.Fit(scaled, labels, Classes);

        foreach (var factor in new[] { 0.999, 1.001 })
        {
            Assert.True(TemperatureScaling.NegativeLogLikelihood(scaled, labels, Classes, fit.Temperature * factor) >= fit.NllAfter, $"T = {fit.Temperature} x {factor}");
        }
    }

    [Fact]
    public void Unlabelled_rows_are_left_out_of_the_fit()
    {
        var (logits, labels) = CalibratedLogits(4_000, seed: 3);
        var scaled = logits.Select(z => z * 2).ToArray();
        var halfUnlabelled = labels.Select((l, i) => i % 2 == 0 ? l : -1).ToArray();
        var evenRows = Enumerable.Range(0, labels.Length).Where(i => i % 2 == 0).ToArray();

        var fit = TemperatureScaling.Fit(scaled, halfUnlabelled, Classes);
        var onEvenRows = TemperatureScaling.Fit([.. evenRows.SelectMany(i => scaled[(i * Classes)..((i + 1) * Classes)])], [.. evenRows.Select(i => labels[i])], Classes);

        Assert.Equal(2_000, fit.Rows);
        Assert.Equal(onEvenRows.Temperature, fit.Temperature, 9);
    }

    [Fact]
    public void A_minimum_beyond_the_search_interval_stops_at_its_bound()
    {
        // Every row right with a margin of 2: the likelihood keeps improving as T shrinks, down to e^-3.
        long[] labels = [0, 1, 2, 0];
        float[] logits = [2, 0, 0, 0, 2, 0, 0, 0, 2, 2, 0, 0];

        var fit = TemperatureScaling.Fit(logits, labels, 3);

        Assert.Equal(Math.Exp(TemperatureScaling.MinLogTemperature), fit.Temperature, 9);
        Assert.True(fit.NllAfter < fit.NllBefore);
    }

    [Fact]
    public void Probabilities_are_the_softmax_of_the_logits_over_the_temperature()
    {
        float[] logits = [1, 2, 3, -1, 0, 4];

        var probabilities = TemperatureScaling.Probabilities(logits, 3, 2);

        var z = 1 + Math.Exp(0.5) + Math.Exp(1);
        Assert.Equal(1 / z, probabilities[0], 6);
        Assert.Equal(Math.Exp(0.5) / z, probabilities[1], 6);
        Assert.Equal(Math.Exp(1) / z, probabilities[2], 6);
        var z2 = Math.Exp(-0.5) + 1 + Math.Exp(2);
        Assert.Equal(Math.Exp(2) / z2, probabilities[5], 6);
    }

    [Fact]
    public void Bad_input_is_refused_naming_the_problem()
    {
        Assert.Contains("no labelled rows", Assert.Throws<ArgumentException>(() => TemperatureScaling.Fit([1, 2, 3, 4], [-1, -1], 2)).Message, StringComparison.Ordinal);
        Assert.Contains("label 2 is outside 0..1", Assert.Throws<ArgumentException>(() => TemperatureScaling.Fit([1, 2, 3, 4], [0, 2], 2)).Message, StringComparison.Ordinal);
        Assert.Contains("are not 2 rows of 3 classes", Assert.Throws<ArgumentException>(() => TemperatureScaling.Fit([1, 2, 3, 4], [0, 1], 3)).Message, StringComparison.Ordinal);
        Assert.Contains("NaN or infinite", Assert.Throws<ArgumentException>(() => TemperatureScaling.Fit([1, float.NaN, 3, 4], [0, 1], 2)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => TemperatureScaling.Probabilities([1, 2], 2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => TemperatureScaling.NegativeLogLikelihood([1, 2], [0], 2, double.NaN));
    }
}
