using System.Globalization;

namespace Syllabus.Trainer.Data;

/// <summary>
/// One cell as a file holds it: text (CSV, Parquet strings), a number (Parquet numeric types) or nothing; which
/// texts mean missing is <see cref="MissingValueTokens"/>' decision.
/// </summary>
internal readonly record struct RawCell(string? Text, double Number, bool IsNumber)
{
    public static RawCell Missing => default;

    public static RawCell OfText(string? text) => new(text, 0, false);

    public static RawCell OfNumber(double number) => new(null, number, true);

    public bool TryGetNumber(out double value)
    {
        if (IsNumber)
        {
            value = Number;
            return true;
        }

        return double.TryParse(Text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The cell as text: numbers in their shortest round-trip form, so 3 and "3" name the same category or class.</summary>
    public string AsText() => IsNumber ? Number.ToString("R", CultureInfo.InvariantCulture) : (Text ?? "").Trim();
}

/// <summary>A forward-only reader of the records of one data file.</summary>
internal interface IRecordReader : IDisposable
{
    string File { get; }

    IReadOnlyList<string> Columns { get; }

    /// <summary>1-based line (CSV: where the record starts) or row (Parquet) of the current record.</summary>
    long Line { get; }

    /// <summary>Cells in the current record (a CSV record may have too few or too many).</summary>
    int FieldCount { get; }

    RawCell this[int index] { get; }

    /// <summary>A CSV quoting problem in the current record, if any.</summary>
    string? Malformation { get; }

    bool Read();

    /// <summary>Cell <paramref name="index"/> as a number, without materialising it where the format allows.</summary>
    bool TryGetNumber(int index, out double value) => this[index].TryGetNumber(out value);
}

internal static class RecordReaders
{
    public static IRecordReader Open(string path, string format) => format switch
    {
        Syllabus.Api.DataFormats.Csv => new CsvRecordReader(path),
        Syllabus.Api.DataFormats.Parquet => new ParquetRecordReader(path),
        _ => throw new DataException($"{path}: unsupported data format '{format}' (expected Csv or Parquet).", path),
    };
}
