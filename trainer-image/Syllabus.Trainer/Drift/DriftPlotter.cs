using ScottPlot;

namespace Syllabus.Trainer.Drift;

/// <summary>drift.png: reference-vs-current histograms (shares per bin) of the drifted features, most drifted first (ScottPlot).</summary>
public static class DriftPlotter
{
    public const string FileName = "drift.png";

    /// <summary>Features drawn at most; the report names every drifted feature.</summary>
    public const int MaxPanels = 12;

    /// <summary>Draws up to <see cref="MaxPanels"/> panels; with no drifted feature, one panel saying so.</summary>
    public static void Save(string path, IReadOnlyList<FeatureHistogram> drifted, string title)
    {
        ArgumentNullException.ThrowIfNull(drifted);
        var shown = drifted.Where(h => h.Bins.Count > 0).Take(MaxPanels).ToList();
        var multiplot = new Multiplot();
        var panels = Math.Max(1, shown.Count);
        var columns = Math.Min(3, panels);
        var rows = (panels + columns - 1) / columns;
        multiplot.AddPlots(panels);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        if (shown.Count == 0)
        {
            var empty = multiplot.GetPlot(0);
            empty.Title($"{title}: no feature drifted");
        }

        for (var i = 0; i < shown.Count; i++)
        {
            var histogram = shown[i];
            var plot = multiplot.GetPlot(i);
            var bars = new List<Bar>();
            for (var b = 0; b < histogram.Bins.Count; b++)
            {
                bars.Add(new Bar { Position = b - 0.2, Value = histogram.Reference[b], Size = 0.4, FillColor = Colors.SteelBlue });
                bars.Add(new Bar { Position = b + 0.2, Value = histogram.Current[b], Size = 0.4, FillColor = Colors.OrangeRed });
            }

            plot.Add.Bars(bars);
            var positions = Enumerable.Range(0, histogram.Bins.Count).Select(b => (double)b).ToArray();
            // Long bin lists (20 quantile bins) get every other label so they stay legible.
            var step = histogram.Bins.Count > 12 ? 2 : 1;
            var labels = histogram.Bins.Select((label, b) => b % step == 0 ? label : "").ToArray();
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, labels);
            plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
            plot.Axes.Margins(bottom: 0);
            plot.Title(i == 0 ? $"{title}: {histogram.Feature} ({histogram.Detector})" : $"{histogram.Feature} ({histogram.Detector})");
            plot.YLabel("share");
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = "reference (training)", FillColor = Colors.SteelBlue });
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = "current", FillColor = Colors.OrangeRed });
            plot.ShowLegend();
            plot.Legend.Alignment = Alignment.UpperRight;
        }

        multiplot.SavePng(path, 420 * columns, 340 * rows);
    }
}
