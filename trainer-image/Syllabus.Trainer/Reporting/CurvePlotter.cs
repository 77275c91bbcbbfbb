using ScottPlot;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Reporting;

/// <summary>curves.png: loss, accuracy, learning rate and curriculum data fraction by epoch (ScottPlot).</summary>
public static class CurvePlotter
{
    public const string FileName = "curves.png";

    public static void Save(string path, IReadOnlyList<EpochRecord> history, string title)
    {
        ArgumentNullException.ThrowIfNull(history);
        var epochs = history.Select(h => (double)h.Epoch).ToArray();
        var multiplot = new Multiplot();
        multiplot.AddPlots(4);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(2, 2);

        var loss = multiplot.GetPlot(0);
        Line(loss, epochs, history.Select(h => h.TrainLoss), "train");
        Line(loss, epochs, history.Select(h => Get(h, "loss")), "validation");
        Finish(loss, $"{title}: loss", "loss");

        var accuracy = multiplot.GetPlot(1);
        Line(accuracy, epochs, history.Select(h => h.TrainAccuracy), "train");
        Line(accuracy, epochs, history.Select(h => Get(h, "accuracy")), "validation");
        Finish(accuracy, "accuracy", "accuracy");

        var learningRate = multiplot.GetPlot(2);
        Line(learningRate, epochs, history.Select(h => h.LearningRate), "learning rate");
        Finish(learningRate, "learning rate", "learning rate");

        var fraction = multiplot.GetPlot(3);
        Line(fraction, epochs, history.Select(h => h.DataFraction), "data fraction");
        fraction.Axes.SetLimitsY(0, 1.05);
        Finish(fraction, "curriculum data fraction", "fraction");

        multiplot.SavePng(path, 1200, 800);
    }

    private static double Get(EpochRecord record, string metric) =>
        record.Validation.TryGetValue(metric, out var value) ? value : double.NaN;

    private static void Line(Plot plot, double[] xs, IEnumerable<double> ys, string label)
    {
        var values = ys.ToArray();
        if (xs.Length == 0 || values.All(double.IsNaN))
        {
            return;
        }

        var scatter = plot.Add.Scatter(xs, values);
        scatter.LegendText = label;
    }

    private static void Finish(Plot plot, string title, string yLabel)
    {
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel(yLabel);
        plot.ShowLegend();
    }
}
