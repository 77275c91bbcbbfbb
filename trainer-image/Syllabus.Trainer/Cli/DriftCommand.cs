using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Syllabus.Api;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Drift;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Storage;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Cli;

/// <summary>
/// `syllabus-trainer drift --model URI --current FILE`: compares a CSV/Parquet window with the model's training profile
/// as a DriftPolicy does, prints every detector, writes drift.json and drift.png. Exit 0 when evaluated (3 with
/// --fail-on-drift and dataset drift), 1 on an unexpected error, 2 on bad input.
/// </summary>
public static class DriftCommand
{
    public const int DatasetDrifted = 3;
    public const string ReportFileName = "drift.json";

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Create(TextWriter output, TextWriter error, Func<string, string?> environment, TimeProvider time)
    {
        var model = new Option<string>("--model", "-m") { Description = "The model artifact: its folder or URI (file://, pvc://CLAIM/path, a relative path)", Required = true };
        var current = new Option<string>("--current", "-c") { Description = "The window to compare: a CSV or Parquet file with the model's feature columns (and optionally its label column)", Required = true };
        var format = new Option<string?>("--format") { Description = "Csv or Parquet (default: from the file extension)" };
        var profile = new Option<string?>("--profile") { Description = "The training profile (default: profile.json beside the model folder, where `train` writes it)" };
        var outDirectory = new Option<string>("--out", "-o") { Description = $"Folder for {ReportFileName} and {DriftPlotter.FileName}", DefaultValueFactory = _ => "drift" };
        var detector = new Option<string>("--detector") { Description = $"Feature detector: {string.Join(", ", DriftDetectorNames.All)} (auto: Evidently's choice per feature)", DefaultValueFactory = _ => DriftDetectorNames.Auto };
        var threshold = new Option<double?>("--threshold") { Description = "Threshold for every feature test (default: 0.05 for p-values, 0.1 for distances)" };
        var driftShare = new Option<double>("--drift-share") { Description = "Dataset drift when at least this share of features drifted", DefaultValueFactory = _ => 0.5 };
        var correction = new Option<string>("--correction") { Description = "Multiple-test correction of p-values: none, bonferroni, bh (Benjamini–Hochberg)", DefaultValueFactory = _ => "none" };
        var confidenceDrop = new Option<double>("--confidence-drop") { Description = "A fall of the mean confidence by at least this much (absolute) is drift", DefaultValueFactory = _ => 0.05 };
        var failOnDrift = new Option<bool>("--fail-on-drift") { Description = $"Exit {DatasetDrifted} when the dataset drifted" };
        var device = new Option<string?>("--device") { Description = $"auto, cpu, cuda or cuda:N for running the model on the window; default ${TrainingDevice.EnvironmentVariable} or auto" };

        var command = new Command("drift", "Compare a data window with a model's training profile: per-feature drift, prediction drift, confidence drop, expected accuracy");
        foreach (var option in new Option[] { model, current, format, profile, outDirectory, detector, threshold, driftShare, correction, confidenceDrop, failOnDrift, device })
        {
            command.Add(option);
        }

        command.SetAction((parse, _) => Task.FromResult(Run(
            new DriftArguments(parse.GetValue(model)!, parse.GetValue(current)!)
            {
                Format = parse.GetValue(format),
                Profile = parse.GetValue(profile),
                Out = parse.GetValue(outDirectory)!,
                Detector = parse.GetValue(detector)!,
                Threshold = parse.GetValue(threshold),
                DriftShare = parse.GetValue(driftShare),
                Correction = parse.GetValue(correction)!,
                ConfidenceDrop = parse.GetValue(confidenceDrop),
                FailOnDrift = parse.GetValue(failOnDrift),
                Device = parse.GetValue(device) ?? environment(TrainingDevice.EnvironmentVariable),
            },
            output, error, time)));
        return command;
    }

    public static int Run(DriftArguments arguments, TextWriter output, TextWriter error, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(time);
        try
        {
            var report = Evaluate(arguments, output, time);
            return arguments.FailOnDrift && report.DatasetDrift ? DatasetDrifted : TrainCommand.Success;
        }
        catch (Exception e) when (e is InputException or DriftInputException or DataException)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainCommand.BadInput;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine($"drift failed: {e}");
            return TrainCommand.TrainingError;
        }
    }

    private static DriftReport Evaluate(DriftArguments arguments, TextWriter output, TimeProvider time)
    {
        var correction = arguments.Correction.ToLowerInvariant() switch
        {
            "none" => MultipleTestCorrections.None,
            "bonferroni" => MultipleTestCorrections.Bonferroni,
            "bh" or "benjamini-hochberg" or "benjaminihochberg" => MultipleTestCorrections.BenjaminiHochberg,
            _ => throw new InputException($"--correction: '{arguments.Correction}' is not one of none, bonferroni, bh"),
        };
        if (!DriftDetectorNames.All.Contains(arguments.Detector))
        {
            throw new InputException($"--detector: '{arguments.Detector}' is not one of {string.Join(", ", DriftDetectorNames.All)}");
        }

        if (arguments.DriftShare is <= 0 or > 1 || !double.IsFinite(arguments.DriftShare))
        {
            throw new InputException($"--drift-share: {arguments.DriftShare} is not in (0, 1]");
        }

        if (arguments.Threshold is { } t && (t <= 0 || !double.IsFinite(t)))
        {
            throw new InputException($"--threshold: {t} is not a positive number");
        }

        var device = TrainingDevice.Resolve(arguments.Device);
        ModelBundle bundle;
        try
        {
            bundle = ModelBundle.Load(arguments.Model, device);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new InputException($"--model: {e.Message}", e);
        }

        using (bundle)
        {
            var profile = LoadProfile(arguments.Profile, bundle.Folder!);
            if (profile.SchemaFingerprint is { } recorded && recorded != bundle.SchemaFingerprint)
            {
                throw new InputException($"the profile was written for schema fingerprint {recorded}, the model has {bundle.SchemaFingerprint} (give this model's profile with --profile)");
            }

            var path = ResolveCurrent(arguments.Current);
            var format = arguments.Format switch
            {
                null => path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? DataFormats.Parquet : DataFormats.Csv,
                var f when f.Equals(DataFormats.Csv, StringComparison.OrdinalIgnoreCase) => DataFormats.Csv,
                var f when f.Equals(DataFormats.Parquet, StringComparison.OrdinalIgnoreCase) => DataFormats.Parquet,
                var f => throw new InputException($"--format: '{f}' is not Csv or Parquet"),
            };
            var load = new DataLoadReport();
            var data = DataLoader.LoadWindow(path, format, bundle.Schema, load);
            var probabilities = bundle.PredictProbabilities(data.Encoded, out _);
            var window = DriftWindow.Of(data) with { Probabilities = probabilities, Temperature = bundle.Calibrated ? bundle.Temperature : null };
            var options = new DriftOptions
            {
                Detector = arguments.Detector,
                Threshold = arguments.Threshold,
                Correction = correction,
                DriftShare = arguments.DriftShare,
                ConfidenceDropThreshold = arguments.ConfidenceDrop,
            };
            var outcome = DriftEvaluator.Evaluate(profile, window, options, arguments.Model, time.GetUtcNow());
            var report = outcome.Report;

            var outDirectory = Path.GetFullPath(arguments.Out);
            Directory.CreateDirectory(outDirectory);
            var reportPath = Path.Combine(outDirectory, ReportFileName);
            File.WriteAllText(reportPath, JsonSerializer.Serialize(report, JsonOptions));
            var plotPath = Path.Combine(outDirectory, DriftPlotter.FileName);
            DriftPlotter.Save(plotPath, outcome.Histograms, Path.GetFileName(path));

            Print(output, report, load, path);
            output.WriteLine($"report: {reportPath}");
            output.WriteLine($"plot:   {plotPath}{(outcome.Histograms.Count > DriftPlotter.MaxPanels ? $" (the {DriftPlotter.MaxPanels} most drifted of {outcome.Histograms.Count})" : "")}");
            return report;
        }
    }

    private static DataProfile LoadProfile(string? option, string modelFolder)
    {
        string path;
        try
        {
            path = option is not null
                ? ArtifactLocation.ResolvePath(option, Directory.GetCurrentDirectory())
                : Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(modelFolder)) ?? modelFolder, "profile.json");
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--profile: {e.Message}", e);
        }

        if (!File.Exists(path))
        {
            throw new InputException($"no data profile at {path} (train writes profile.json beside the model folder; give --profile)");
        }

        try
        {
            return DataProfile.Load(path);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw new InputException($"--profile: {e.Message}", e);
        }
    }

    private static string ResolveCurrent(string current)
    {
        try
        {
            var path = ArtifactLocation.ResolvePath(current, Directory.GetCurrentDirectory());
            return File.Exists(path) ? path : throw new InputException($"--current: {path} does not exist");
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--current: {e.Message}", e);
        }
    }

    private static void Print(TextWriter output, DriftReport report, DataLoadReport load, string path)
    {
        var c = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(c, $"window {path}: {report.CurrentRows} rows against a profile of {report.ReferenceRows} training rows (schema {report.SchemaFingerprint[..12]})"));
        foreach (var note in load.Files.Where(f => f.SkippedMissing > 0))
        {
            output.WriteLine(string.Create(c, $"note: {note.SkippedMissing} rows skipped for missing values (the model was fitted with missingValues.policy Skip)"));
        }

        output.WriteLine($"{"feature",-24} {"kind",-11} {"detector",-13} {"statistic",12} {"p-value",12} {"adjusted",12} {"threshold",9}  verdict");
        foreach (var test in report.Features.Append(report.PredictionDrift).OfType<DriftTest>())
        {
            output.WriteLine(string.Create(c,
                $"{Truncate(test.Feature, 24),-24} {test.Kind,-11} {test.Detector + (test.Method is null ? "" : $"/{test.Method}"),-13} {test.Statistic,12:G6} {Number(test.PValue),12} {Number(test.AdjustedPValue),12} {test.Threshold,9:G3}  {(test.Drifted ? "DRIFT" : "ok")}"));
        }

        output.WriteLine(string.Create(c,
            $"dataset drift: {(report.DatasetDrift ? "YES" : "no")} — {report.DriftedFeatures} of {report.FeatureCount} features drifted ({report.DriftedShare:P1}; threshold {report.DriftShare:P0}; detector {report.Detector}; correction {report.Correction})"));
        if (report.PredictionDrift is { } prediction)
        {
            output.WriteLine(string.Create(c, $"prediction drift: {(prediction.Drifted ? "YES" : "no")} ({prediction.Detector} {prediction.Score:G4}, threshold {prediction.Threshold:G3})"));
        }

        if (report.Confidence is { } confidence)
        {
            output.WriteLine(string.Create(c,
                $"confidence: mean {confidence.CurrentMean:F4} vs {confidence.BaselineMean:F4} held out; drop {confidence.Drop:F4} (threshold {confidence.Threshold:G3}): {(confidence.Drifted ? "DRIFT" : "ok")}"));
        }

        if (report.Performance is { } performance)
        {
            var actual = performance.Accuracy is { } accuracy
                ? string.Create(c, $"; actual on the window's {performance.LabelledRows} labelled rows {accuracy:F4}")
                : "";
            output.WriteLine(string.Create(c,
                $"expected accuracy (CBPE, {(performance.Calibrated ? "temperature-scaled softmax" : "uncalibrated softmax")}): {performance.ExpectedAccuracy:F4} (held out: expected {performance.BaselineExpectedAccuracy:F4}, actual {performance.BaselineAccuracy:F4}){actual}"));
        }
    }

    private static string Number(double? value) => value is { } v ? v.ToString("G4", CultureInfo.InvariantCulture) : "-";

    private static string Truncate(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "…";
}

/// <summary>The parsed `drift` options.</summary>
public sealed record DriftArguments(string Model, string Current)
{
    public string? Format { get; init; }

    public string? Profile { get; init; }

    public string Out { get; init; } = "drift";

    public string Detector { get; init; } = DriftDetectorNames.Auto;

    public double? Threshold { get; init; }

    public double DriftShare { get; init; } = 0.5;

    public string Correction { get; init; } = "none";

    public double ConfidenceDrop { get; init; } = 0.05;

    public bool FailOnDrift { get; init; }

    public string? Device { get; init; }
}
