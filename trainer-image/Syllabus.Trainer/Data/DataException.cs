namespace Syllabus.Trainer.Data;

/// <summary>Data that cannot be loaded; the message names the file, line, column and the problem.</summary>
public sealed class DataException : Exception
{
    public DataException()
    {
    }

    public DataException(string message)
        : base(message)
    {
    }

    public DataException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public DataException(string message, string? file, long? line = null, string? column = null, Exception? innerException = null)
        : base(message, innerException)
    {
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>The file at fault, when one is.</summary>
    public string? File { get; }

    /// <summary>The 1-based line (CSV) or row (Parquet) at fault, when one is.</summary>
    public long? Line { get; }

    /// <summary>The column at fault, when one is.</summary>
    public string? Column { get; }
}
