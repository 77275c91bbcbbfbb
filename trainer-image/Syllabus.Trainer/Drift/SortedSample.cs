namespace Syllabus.Trainer.Drift;

/// <summary>
/// A reference sample prepared once for the KS and Wasserstein tests, which both walk it in order: its values sorted
/// ascending and its population standard deviation (the Wasserstein norm). A model's reference does not change
/// between windows, so a caller that tests many windows against it sorts it once.
/// </summary>
public sealed class SortedSample
{
    private readonly float[] values;

    private SortedSample(float[] values, double std)
    {
        this.values = values;
        Std = std;
    }

    /// <summary>The values, ascending.</summary>
    public ReadOnlySpan<float> Values => values;

    /// <summary>numpy.std(values) (ddof = 0), summed in ascending order.</summary>
    public double Std { get; }

    public int Count => values.Length;

    /// <summary>Copies and sorts <paramref name="values"/>; empty or NaN-holding samples are refused.</summary>
    public static SortedSample Of(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            throw new ArgumentException("a reference sample needs at least one value", nameof(values));
        }

        var sorted = values.ToArray();
        FloatRadixSort.Sort(sorted);
        return new SortedSample(sorted, DriftStatistics.PopulationStd<float>(sorted));
    }
}
