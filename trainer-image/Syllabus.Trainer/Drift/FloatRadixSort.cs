using System.Buffers;

namespace Syllabus.Trainer.Drift;

/// <summary>
/// Sorts float32 values ascending by an LSD radix sort on their order-preserving 32-bit keys: one pass that makes the
/// keys and counts all three digits, then up to three 11/11/10-bit scatter passes (a digit that every key shares is
/// skipped). About ten times faster than <see cref="MemoryExtensions.Sort{T}(Span{T})"/> on 100,000 values, which is
/// what the KS and Wasserstein tests spend most of their time on. Written here because no package on the project's
/// NuGet mirror sorts floats by radix (HPCsharp, which does, is not served).
/// </summary>
public static class FloatRadixSort
{
    private const int DigitBits = 11;
    private const int Buckets = 1 << DigitBits;
    private const uint DigitMask = Buckets - 1;

    /// <summary>Below this many values the comparison sort is as fast and needs no buffers.</summary>
    private const int SmallSort = 512;

    /// <summary>Sorts <paramref name="values"/> in place. A NaN has no place in the order and is refused.</summary>
    public static void Sort(Span<float> values)
    {
        var n = values.Length;
        if (n < SmallSort)
        {
            foreach (var v in values)
            {
                if (float.IsNaN(v))
                {
                    throw new ArgumentException("a NaN cannot be sorted with the other values; remove missing values first", nameof(values));
                }
            }

            values.Sort();
            return;
        }

        var keys = ArrayPool<uint>.Shared.Rent(n);
        var scratch = ArrayPool<uint>.Shared.Rent(n);
        try
        {
            Span<int> counts = stackalloc int[3 * Buckets];
            counts.Clear();
            var nan = false;
            for (var i = 0; i < n; i++)
            {
                var bits = BitConverter.SingleToUInt32Bits(values[i]);
                nan |= (bits & 0x7FFF_FFFFu) > 0x7F80_0000u;
                // Negative floats: all bits flipped (larger magnitude sorts first); positive: the sign bit set.
                var key = bits ^ ((uint)((int)bits >> 31) | 0x8000_0000u);
                keys[i] = key;
                counts[(int)(key & DigitMask)]++;
                counts[Buckets + (int)((key >> DigitBits) & DigitMask)]++;
                counts[(2 * Buckets) + (int)(key >> (2 * DigitBits))]++;
            }

            if (nan)
            {
                throw new ArgumentException("a NaN cannot be sorted with the other values; remove missing values first", nameof(values));
            }

            Span<int> passes = stackalloc int[3];
            var passCount = 0;
            for (var digit = 0; digit < 3; digit++)
            {
                var histogram = counts.Slice(digit * Buckets, Buckets);
                // A digit that every key shares would move nothing.
                if (histogram.IndexOf(n) < 0)
                {
                    passes[passCount++] = digit;
                }

                var offset = 0;
                for (var b = 0; b < Buckets; b++)
                {
                    var c = histogram[b];
                    histogram[b] = offset;
                    offset += c;
                }
            }

            if (passCount == 0)
            {
                // Every key has the same digits: all values are one bit pattern, already in order.
                return;
            }

            var source = keys;
            var target = scratch;
            for (var p = 0; p < passCount; p++)
            {
                var digit = passes[p];
                var shift = digit * DigitBits;
                var offsets = counts.Slice(digit * Buckets, Buckets);
                if (p == passCount - 1)
                {
                    // The last pass writes the floats themselves.
                    for (var i = 0; i < n; i++)
                    {
                        var key = source[i];
                        var bits = key ^ (((key >> 31) - 1) | 0x8000_0000u);
                        values[offsets[(int)((key >> shift) & DigitMask)]++] = BitConverter.UInt32BitsToSingle(bits);
                    }
                }
                else
                {
                    for (var i = 0; i < n; i++)
                    {
                        var key = source[i];
                        target[offsets[(int)((key >> shift) & DigitMask)]++] = key;
                    }

                    (source, target) = (target, source);
                }
            }
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(keys);
            ArrayPool<uint>.Shared.Return(scratch);
        }
    }
}
