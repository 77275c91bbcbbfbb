using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Syllabus.Trainer.Drift;

/// <summary>What a walk over two sorted samples in pooled order does with each value (the KS statistic, the Wasserstein integral).</summary>
internal interface IPooledVisitor<TSelf, T>
    where TSelf : struct, IPooledVisitor<TSelf, T>
    where T : struct, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Called once per pooled value, before it is taken: <paramref name="difference"/> = i·n2 − j·n1 for the i values
    /// of a and j of b taken so far, <paramref name="previous"/> the value taken last (at the first call the value
    /// itself), <paramref name="value"/> the one taken now. Static and by value, so that the walk keeps the state in
    /// registers.
    /// </summary>
    static abstract TSelf Visit(TSelf state, long difference, T previous, T value);
}

/// <summary>
/// One merge of two sorted samples (a taken first on ties), calling a visitor per value. Each step of a merge waits on
/// a load that the step before chose, and a branch on the data mispredicts every other value, so the merge steps
/// without a branch (the comparison picks the side arithmetically) and runs as two merges at once: the first half of
/// the pooled values and the second, which starts where a binary search on the merge path puts the middle.
/// </summary>
internal static class PooledMerge
{
    /// <summary>Walks every pooled value; returns the visitors of the first and of the second half.</summary>
    public static (TVisitor First, TVisitor Second) Walk<T, TVisitor>(ReadOnlySpan<T> sortedA, ReadOnlySpan<T> sortedB)
        where T : struct, IFloatingPointIeee754<T>
        where TVisitor : struct, IPooledVisitor<TVisitor, T>
    {
        int n1 = sortedA.Length, n2 = sortedB.Length;
        ref var a = ref MemoryMarshal.GetReference(sortedA);
        ref var b = ref MemoryMarshal.GetReference(sortedB);
        long total = (long)n1 + n2;
        var (iSplit, jSplit) = Split(sortedA, sortedB, (int)(total / 2));
        TVisitor first = default, second = default;
        int i = 0, j = 0;
        long difference = 0;
        var previous = T.Min(sortedA[0], sortedB[0]);
        int i2 = iSplit, j2 = jSplit;
        long difference2 = ((long)i2 * n2) - ((long)j2 * n1);
        var previous2 = i2 == 0 ? sortedB[j2 - 1] : j2 == 0 ? sortedA[i2 - 1] : T.Max(sortedA[i2 - 1], sortedB[j2 - 1]);
        // Each step moves i or j by one, so neither merge can pass its ends within the smallest distance to them:
        // that many steps run without a bounds test.
        for (var safe = Math.Min(Math.Min(iSplit - i, jSplit - j), Math.Min(n1 - i2, n2 - j2)); safe > 0;
             safe = Math.Min(Math.Min(iSplit - i, jSplit - j), Math.Min(n1 - i2, n2 - j2)))
        {
            for (var t = 0; t < safe; t++)
            {
                var x = Unsafe.Add(ref a, i);
                var y = Unsafe.Add(ref b, j);
                var x2 = Unsafe.Add(ref a, i2);
                var y2 = Unsafe.Add(ref b, j2);
                var step = x <= y ? 1 : 0;
                var step2 = x2 <= y2 ? 1 : 0;
                var v = Vector128.MinNative(Vector128.CreateScalarUnsafe(x), Vector128.CreateScalarUnsafe(y)).ToScalar();
                var v2 = Vector128.MinNative(Vector128.CreateScalarUnsafe(x2), Vector128.CreateScalarUnsafe(y2)).ToScalar();
                first = TVisitor.Visit(first, difference, previous, v);
                second = TVisitor.Visit(second, difference2, previous2, v2);
                difference += (step * total) - n1;
                difference2 += (step2 * total) - n1;
                i += step;
                j += 1 - step;
                i2 += step2;
                j2 += 1 - step2;
                previous = v;
                previous2 = v2;
            }
        }

        // The rest of the first half (one side may be used up within it), then of the second.
        return (Finish(sortedA, sortedB, first, i, j, iSplit, jSplit, difference, previous),
            Finish(sortedA, sortedB, second, i2, j2, n1, n2, difference2, previous2));
    }

    /// <summary>The values from (i, j) up to (<paramref name="iEnd"/>, <paramref name="jEnd"/>), one at a time.</summary>
    private static TVisitor Finish<T, TVisitor>(ReadOnlySpan<T> sortedA, ReadOnlySpan<T> sortedB, TVisitor visitor, int i, int j, int iEnd, int jEnd, long difference, T previous)
        where T : struct, IFloatingPointIeee754<T>
        where TVisitor : struct, IPooledVisitor<TVisitor, T>
    {
        int n1 = sortedA.Length, n2 = sortedB.Length;
        while (i < iEnd || j < jEnd)
        {
            var takeA = j >= jEnd || (i < iEnd && sortedA[i] <= sortedB[j]);
            var v = takeA ? sortedA[i] : sortedB[j];
            visitor = TVisitor.Visit(visitor, difference, previous, v);
            difference += takeA ? n2 : -n1;
            i += takeA ? 1 : 0;
            j += takeA ? 0 : 1;
            previous = v;
        }

        return visitor;
    }

    /// <summary>
    /// Where the merge stands after <paramref name="steps"/> values: (values taken from a, values taken from b), by
    /// binary search on the merge path.
    /// </summary>
    internal static (int I, int J) Split<T>(ReadOnlySpan<T> sortedA, ReadOnlySpan<T> sortedB, int steps)
        where T : struct, IFloatingPointIeee754<T>
    {
        int lo = Math.Max(0, steps - sortedB.Length), hi = Math.Min(steps, sortedA.Length);
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            // a[mid] comes before b[steps − mid − 1]: more than mid values of a are among the first steps.
            if (sortedA[mid] <= sortedB[steps - mid - 1])
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return (lo, steps - lo);
    }
}
