using System.Globalization;
using System.Text;
using Syllabus.Trainer.Curriculum;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Reporting;

/// <summary>
/// The live gauges the operator scrapes (names are a contract with the operator), updated by the loop's callbacks
/// and rendered in the Prometheus text exposition format.
/// </summary>
public sealed class ProgressGauges : ITrainerCallback
{
    private readonly Lock _lock = new();
    private int _epoch;
    private int _totalEpochs;
    private long _step;
    private double _loss = double.NaN;
    private double _learningRate = double.NaN;
    private string _stage = "";
    private int _stageIndex;
    private double _dataFraction = double.NaN;
    private double _samplesPerSecond = double.NaN;
    private double _validationAccuracy = double.NaN;

    public void OnTrainBegin(TrainerState state, TrainerControl control)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_lock)
        {
            _epoch = state.Epoch;
            _totalEpochs = state.TotalEpochs;
            _step = state.GlobalStep;
            if (state.History.Count > 0 && state.History[^1].Validation.TryGetValue("accuracy", out var accuracy))
            {
                _validationAccuracy = accuracy;
            }
        }
    }

    public void OnEpochBegin(TrainerState state, TrainerControl control, CurriculumEpoch epoch)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(epoch);
        lock (_lock)
        {
            _epoch = state.Epoch + 1;
            _stage = epoch.Stage;
            _stageIndex = epoch.StageIndex;
            _dataFraction = epoch.DataFraction;
        }
    }

    public void OnStepEnd(TrainerState state, TrainerControl control, in StepInfo step)
    {
        lock (_lock)
        {
            _step = step.Step;
            _loss = step.Loss;
            _learningRate = step.LearningRate;
            _samplesPerSecond = step.SamplesPerSecond;
        }
    }

    public void OnEpochEnd(TrainerState state, TrainerControl control, EpochRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        lock (_lock)
        {
            _samplesPerSecond = record.SamplesPerSecond;
            if (record.Validation.TryGetValue("accuracy", out var accuracy))
            {
                _validationAccuracy = accuracy;
            }
        }
    }

    /// <summary>The Prometheus text format (version 0.0.4).</summary>
    public string Render()
    {
        var text = new StringBuilder();
        lock (_lock)
        {
            Gauge(text, "syllabus_trainer_epoch", "Current epoch (1-based).", _epoch);
            Gauge(text, "syllabus_trainer_total_epochs", "Planned epochs.", _totalEpochs);
            Gauge(text, "syllabus_trainer_step", "Optimisation steps so far.", _step);
            Gauge(text, "syllabus_trainer_loss", "Latest training batch loss.", _loss);
            Gauge(text, "syllabus_trainer_learning_rate", "Current learning rate of the base parameter group.", _learningRate);
            text.Append("# HELP syllabus_trainer_stage_info Current curriculum stage (value is always 1).\n");
            text.Append("# TYPE syllabus_trainer_stage_info gauge\n");
            if (_stage.Length > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"syllabus_trainer_stage_info{{stage=\"{Escape(_stage)}\"}} 1\n");
            }

            Gauge(text, "syllabus_trainer_stage_index", "Index of the current curriculum stage (0-based).", _stageIndex);
            Gauge(text, "syllabus_trainer_data_fraction", "Share of the training data in use (curriculum).", _dataFraction);
            Gauge(text, "syllabus_trainer_samples_per_second", "Training throughput.", _samplesPerSecond);
            Gauge(text, "syllabus_trainer_validation_accuracy", "Latest validation accuracy.", _validationAccuracy);
        }

        return text.ToString();
    }

    private static void Gauge(StringBuilder text, string name, string help, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" gauge\n");
        text.Append(name).Append(' ').Append(Format(value)).Append('\n');
    }

    private static string Format(double value) => value switch
    {
        double.NaN => "NaN",
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static string Escape(string label) => label.Replace("\\", "\\\\", StringComparison.Ordinal)
        .Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
