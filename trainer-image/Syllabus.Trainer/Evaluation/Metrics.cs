namespace Syllabus.Trainer.Evaluation;

/// <summary>Classification metrics from labels and predicted probabilities.</summary>
public static class Metrics
{
    /// <summary>
    /// Evaluates n examples: <paramref name="probabilities"/> is n x k row-major. Examples labelled -1 (unlabelled)
    /// are left out. The prediction is the most probable class (the first on ties).
    /// </summary>
    public static EvaluationResult Evaluate(
        long[] labels,
        float[] probabilities,
        IReadOnlyList<string> classNames,
        string?[]? slices,
        double? loss = null,
        int calibrationBins = 15)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(probabilities);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentOutOfRangeException.ThrowIfLessThan(calibrationBins, 1);
        var k = classNames.Count;
        if (k == 0)
        {
            throw new ArgumentException("No class names.", nameof(classNames));
        }

        if ((long)labels.Length * k != probabilities.Length)
        {
            throw new ArgumentException($"{probabilities.Length} probabilities do not make {labels.Length} rows of {k} classes.", nameof(probabilities));
        }

        if (slices is not null && slices.Length != labels.Length)
        {
            throw new ArgumentException($"{slices.Length} slice values for {labels.Length} examples.", nameof(slices));
        }

        foreach (var label in labels)
        {
            if (label < -1 || label >= k)
            {
                throw new ArgumentException($"Label {label} is outside 0..{k - 1} (or -1 for unlabelled).", nameof(labels));
            }
        }

        var all = Enumerable.Range(0, labels.Length).Where(i => labels[i] >= 0).ToArray();
        var result = Compute(all, labels, probabilities, classNames, loss, calibrationBins);
        if (slices is null)
        {
            return result;
        }

        var bySlice = new SortedDictionary<string, EvaluationResult>(StringComparer.Ordinal);
        foreach (var group in all.Where(i => slices[i] is not null).GroupBy(i => slices[i]!, StringComparer.Ordinal))
        {
            bySlice[group.Key] = Compute([.. group], labels, probabilities, classNames, null, calibrationBins);
        }

        return new EvaluationResult
        {
            Count = result.Count,
            Accuracy = result.Accuracy,
            MacroF1 = result.MacroF1,
            WeightedF1 = result.WeightedF1,
            ExpectedCalibrationError = result.ExpectedCalibrationError,
            Loss = result.Loss,
            Classes = result.Classes,
            ConfusionMatrix = result.ConfusionMatrix,
            Calibration = result.Calibration,
            Slices = bySlice,
        };
    }

    private static EvaluationResult Compute(int[] rows, long[] labels, float[] probabilities, IReadOnlyList<string> classNames, double? loss, int bins)
    {
        var k = classNames.Count;
        var confusion = new int[k][];
        for (var c = 0; c < k; c++)
        {
            confusion[c] = new int[k];
        }

        var binCount = new int[bins];
        var binConfidence = new double[bins];
        var binCorrect = new int[bins];
        var correct = 0;
        var crossEntropy = 0.0;
        foreach (var i in rows)
        {
            var p = probabilities.AsSpan(i * k, k);
            var predicted = 0;
            for (var c = 1; c < k; c++)
            {
                if (p[c] > p[predicted])
                {
                    predicted = c;
                }
            }

            var truth = (int)labels[i];
            confusion[truth][predicted]++;
            var hit = predicted == truth;
            if (hit)
            {
                correct++;
            }

            // Bin m holds confidences in (m/M, (m+1)/M]; a confidence of exactly 0 goes to the first bin.
            double confidence = Math.Clamp(p[predicted], 0f, 1f);
            var bin = Math.Clamp((int)Math.Ceiling(confidence * bins) - 1, 0, bins - 1);
            binCount[bin]++;
            binConfidence[bin] += confidence;
            if (hit)
            {
                binCorrect[bin]++;
            }

            crossEntropy -= Math.Log(Math.Max(p[truth], 1e-12));
        }

        var n = rows.Length;
        var classes = new ClassMetrics[k];
        double macroSum = 0, weightedSum = 0;
        var macroClasses = 0;
        for (var c = 0; c < k; c++)
        {
            var tp = confusion[c][c];
            var support = confusion[c].Sum();
            var predictedCount = 0;
            for (var t = 0; t < k; t++)
            {
                predictedCount += confusion[t][c];
            }

            var precision = predictedCount == 0 ? 0 : (double)tp / predictedCount;
            var recall = support == 0 ? 0 : (double)tp / support;
            var f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            classes[c] = new ClassMetrics { Class = classNames[c], Precision = precision, Recall = recall, F1 = f1, Support = support };
            if (support > 0 || predictedCount > 0)
            {
                macroSum += f1;
                macroClasses++;
            }

            weightedSum += f1 * support;
        }

        var calibration = new CalibrationBin[bins];
        var ece = 0.0;
        for (var b = 0; b < bins; b++)
        {
            var meanConfidence = binCount[b] == 0 ? 0 : binConfidence[b] / binCount[b];
            var accuracy = binCount[b] == 0 ? 0 : (double)binCorrect[b] / binCount[b];
            calibration[b] = new CalibrationBin { Lower = (double)b / bins, Upper = (double)(b + 1) / bins, Count = binCount[b], Confidence = meanConfidence, Accuracy = accuracy };
            if (n > 0)
            {
                ece += (double)binCount[b] / n * Math.Abs(accuracy - meanConfidence);
            }
        }

        return new EvaluationResult
        {
            Count = n,
            Accuracy = n == 0 ? 0 : (double)correct / n,
            MacroF1 = macroClasses == 0 ? 0 : macroSum / macroClasses,
            WeightedF1 = n == 0 ? 0 : weightedSum / n,
            ExpectedCalibrationError = ece,
            Loss = loss ?? (n == 0 ? null : crossEntropy / n),
            Classes = classes,
            ConfusionMatrix = confusion,
            Calibration = calibration,
        };
    }
}
