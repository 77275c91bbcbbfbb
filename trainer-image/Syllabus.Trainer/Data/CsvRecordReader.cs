using System.Globalization;
using CsvHelper;

namespace Syllabus.Trainer.Data;

/// <summary>RFC 4180 records through CsvHelper's reader; the first record is the header, line numbers are tracked.</summary>
internal sealed class CsvRecordReader : IRecordReader
{
    private readonly CsvReader reader;
    // Malformed quoting found while scanning, by the line its record starts on; the scanner may run ahead of Read().
    private readonly Dictionary<long, string> malformed = [];

    public CsvRecordReader(string path)
    {
        File = path;
        var options = new CsvReaderOptions
        {
            Separator = ',',
            FormatProvider = CultureInfo.InvariantCulture,
            HasHeader = true,
            TrackLineNumbers = true,
            SkipEmptyLines = true,
            TrimWhitespace = true,
            MalformedData = CsvMalformedDataHandling.Recover,
            FieldCountMismatch = CsvFieldCountHandling.Allow,
            OnMalformedRecord = record => malformed.TryAdd(record.LineNumber, Describe(record.Reason)),
        };
        Stream? stream = null;
        try
        {
            stream = System.IO.File.OpenRead(path);
            reader = CsvReader.Create(stream, options, false);
            Columns = [.. reader.Headers];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CsvFormatException)
        {
            stream?.Dispose();
            throw new DataException($"{path}: cannot read as CSV: {e.Message}", path, innerException: e);
        }

        if (Columns.Count == 0 || Columns.All(string.IsNullOrWhiteSpace))
        {
            Dispose();
            throw new DataException($"{path}: the file is empty (expected a header line).", path, 1);
        }

        var duplicate = Columns.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            Dispose();
            throw new DataException($"{path}:1: column '{duplicate.Key}' appears more than once in the header.", path, 1, duplicate.Key);
        }
    }

    public string File { get; }

    public IReadOnlyList<string> Columns { get; }

    public long Line { get; private set; }

    public int FieldCount => reader.FieldCount;

    public string? Malformation { get; private set; }

    public RawCell this[int index] => RawCell.OfText(reader.GetString(index));

    // Numbers parse straight from the UTF-8 field, skipping a string per field.
    public bool TryGetNumber(int index, out double value) => reader.TryParse(index, out value);

    public bool Read()
    {
        try
        {
            if (!reader.Read())
            {
                return false;
            }
        }
        catch (CsvFormatException e)
        {
            throw new DataException($"{File}:{Line + 1}: cannot parse CSV: {e.Message}", File, Line + 1, innerException: e);
        }

        Line = reader.LineNumber;
        Malformation = malformed.Remove(Line, out var reason) ? reason : null;
        return true;
    }

    public void Dispose() => reader?.Dispose();

    private static string Describe(CsvMalformedReason reason) => reason switch
    {
        CsvMalformedReason.StrayQuote => "malformed CSV: a quote inside an unquoted field",
        CsvMalformedReason.TextAfterClosingQuote => "malformed CSV: text after a closing quote",
        CsvMalformedReason.UnterminatedQuote => "malformed CSV: a quoted field is never closed",
        CsvMalformedReason.LineBreakInQuotes => "malformed CSV: a line break inside quotes",
        _ => $"malformed CSV: {reason}",
    };
}
