using Syllabus.Api;
using Syllabus.Trainer.Curriculum;

namespace Syllabus.Trainer.Tests.Curriculum;

public sealed class PacingTests
{
    private const double S = 0.2;

    // totalEpochs 10, fullDataAt 0.5: all data from epoch 5; p = epoch / 5.
    [Theory]
    [InlineData(PacingFunctions.Linear, 0, 0.2)]
    [InlineData(PacingFunctions.Linear, 1, 0.36)]
    [InlineData(PacingFunctions.Linear, 4, 0.84)]
    [InlineData(PacingFunctions.Step, 1, 0.2)] // floor(0.2 * 4) = 0 increments
    [InlineData(PacingFunctions.Step, 2, 0.4)] // floor(0.4 * 4) = 1 of 4 increments of 0.2
    [InlineData(PacingFunctions.Step, 4, 0.8)] // floor(0.8 * 4) = 3
    public void HandComputedValues(string function, int epoch, double expected)
        => Assert.Equal(expected, Pacing.DataFraction(Spec(function), epoch, 10), 12);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void FormulasBeforeFullData(int epoch)
    {
        var p = epoch / 5.0;
        Assert.Equal(Math.Sqrt((S * S) + ((1 - (S * S)) * p)), Pacing.DataFraction(Spec(PacingFunctions.Root), epoch, 10), 12);
        Assert.Equal(S + ((1 - S) * (Math.Exp(10 * p) - 1) / (Math.Exp(10) - 1)), Pacing.DataFraction(Spec(PacingFunctions.Exponential), epoch, 10), 12);
        Assert.Equal(Math.Pow(S, 1 - p), Pacing.DataFraction(Spec(PacingFunctions.Geometric), epoch, 10), 12);
    }

    [Fact]
    public void RootGrowsFastestEarlyAndExponentialSlowest()
    {
        var root = Pacing.DataFraction(Spec(PacingFunctions.Root), 1, 10);
        var linear = Pacing.DataFraction(Spec(PacingFunctions.Linear), 1, 10);
        var geometric = Pacing.DataFraction(Spec(PacingFunctions.Geometric), 1, 10);
        var exponential = Pacing.DataFraction(Spec(PacingFunctions.Exponential), 1, 10);
        Assert.True(root > linear && linear > geometric && geometric > exponential, $"{root} {linear} {geometric} {exponential}");
    }

    [Theory]
    [InlineData(PacingFunctions.Linear)]
    [InlineData(PacingFunctions.Root)]
    [InlineData(PacingFunctions.Step)]
    [InlineData(PacingFunctions.Exponential)]
    [InlineData(PacingFunctions.Geometric)]
    public void StartsAtStartFractionReachesOneAtFullDataAtAndStays(string function)
    {
        // fullDataAt 0.5 of 7 epochs = 3.5: epoch 3 still ramps, epoch 4 on is all data.
        var fractions = Enumerable.Range(0, 7).Select(e => Pacing.DataFraction(Spec(function), e, 7)).ToArray();
        Assert.Equal(S, fractions[0], 12);
        Assert.True(fractions[3] < 1.0, $"{function} epoch 3: {fractions[3]}");
        Assert.All(fractions[4..], f => Assert.Equal(1.0, f));
        for (var e = 1; e < fractions.Length; e++)
        {
            Assert.True(fractions[e] >= fractions[e - 1], $"{function} not monotone at {e}");
        }
    }

    [Fact]
    public void BadSpecsAreNamed()
    {
        Assert.Contains("steps", Assert.Throws<ArgumentException>(() => Pacing.DataFraction(new PacingSpec { Function = PacingFunctions.Step }, 0, 10)).Message, StringComparison.Ordinal);
        Assert.Contains("Cubic", Assert.Throws<ArgumentException>(() => Pacing.DataFraction(new PacingSpec { Function = "Cubic" }, 0, 10)).Message, StringComparison.Ordinal);
        Assert.Contains("startFraction", Assert.Throws<ArgumentException>(() => Pacing.DataFraction(new PacingSpec { StartFraction = 0 }, 0, 10)).Message, StringComparison.Ordinal);
    }

    private static PacingSpec Spec(string function) => new()
    {
        Function = function, StartFraction = S, FullDataAt = 0.5, Steps = function == PacingFunctions.Step ? 4 : null,
    };
}
