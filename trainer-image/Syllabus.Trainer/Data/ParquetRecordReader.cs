using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace Syllabus.Trainer.Data;

/// <summary>Rows of a Parquet file through Parquet.Net, one row group in memory at a time, column by column.</summary>
internal sealed class ParquetRecordReader : IRecordReader
{
    private readonly FileStream stream;
    private readonly ParquetReader reader;
    private readonly DataField[] fields;
    private ParquetColumn[] group = [];
    private int groupIndex = -1;
    private long groupRows;
    private long rowInGroup = -1;

    public ParquetRecordReader(string path)
    {
        File = path;
        try
        {
            stream = System.IO.File.OpenRead(path);
            reader = ParquetReader.CreateAsync(stream).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or InvalidOperationException or NotSupportedException)
        {
            stream?.Dispose();
            throw new DataException($"{path}: cannot read as Parquet: {e.Message}", path, innerException: e);
        }

        fields = reader.Schema.GetDataFields();
        foreach (var f in fields)
        {
            if (f.IsArray || f.Path.Length > 1)
            {
                Dispose();
                throw new DataException($"{path}: column '{f.Path}' is nested or repeated; only flat columns are supported.", path, column: f.Name);
            }
        }

        Columns = fields.Select(f => f.Name).ToArray();
    }

    public string File { get; }

    public IReadOnlyList<string> Columns { get; }

    public long Line { get; private set; }

    public int FieldCount => fields.Length;

    public string? Malformation => null;

    public RawCell this[int index] => group[index].Cell((int)rowInGroup);

    public bool Read()
    {
        while (rowInGroup + 1 >= groupRows)
        {
            if (groupIndex + 1 >= reader.RowGroupCount)
            {
                return false;
            }

            groupIndex++;
            LoadGroup();
        }

        rowInGroup++;
        Line++;
        return true;
    }

    public void Dispose()
    {
        reader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        stream?.Dispose();
    }

    private void LoadGroup()
    {
        using var rg = reader.OpenRowGroupReader(groupIndex);
        groupRows = rg.RowCount;
        rowInGroup = -1;
        group = new ParquetColumn[fields.Length];
        for (var i = 0; i < fields.Length; i++)
        {
            try
            {
                group[i] = ReadColumn(rg, fields[i], checked((int)groupRows)).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or NotSupportedException or ArgumentException)
            {
                throw new DataException($"{File}: row group {groupIndex}: cannot read column '{fields[i].Name}': {e.Message}", File, Line + 1, fields[i].Name, e);
            }
        }
    }

    private async Task<ParquetColumn> ReadColumn(ParquetRowGroupReader rg, DataField field, int rows)
    {
        var type = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        // Parquet.Net reports UTF-8 string columns as ReadOnlyMemory<char>; read them as strings.
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var values = new string?[rows];
            await rg.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
            return ParquetColumn.OfText(values);
        }

        return type switch
        {
            _ when type == typeof(double) => await Numbers<double>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(float) => await Numbers<float>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(int) => await Numbers<int>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(long) => await Numbers<long>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(short) => await Numbers<short>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(sbyte) => await Numbers<sbyte>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(byte) => await Numbers<byte>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(ushort) => await Numbers<ushort>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(uint) => await Numbers<uint>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(ulong) => await Numbers<ulong>(rg, field, rows, v => v).ConfigureAwait(false),
            _ when type == typeof(decimal) => await Numbers<decimal>(rg, field, rows, v => (double)v).ConfigureAwait(false),
            _ when type == typeof(bool) => await Numbers<bool>(rg, field, rows, v => v ? 1 : 0).ConfigureAwait(false),
            _ when type == typeof(DateTime) => await Texts<DateTime>(rg, field, rows, v => new DateTimeOffset(DateTime.SpecifyKind(v, v.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : v.Kind)).ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(DateTimeOffset) => await Texts<DateTimeOffset>(rg, field, rows, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ when type == typeof(DateOnly) => await Texts<DateOnly>(rg, field, rows, v => v.ToString("O", CultureInfo.InvariantCulture)).ConfigureAwait(false),
            _ => throw new DataException($"{File}: column '{field.Name}' has unsupported Parquet type {type.Name}.", File, column: field.Name),
        };
    }

    private static async Task<ParquetColumn> Numbers<T>(ParquetRowGroupReader rg, DataField field, int rows, Func<T, double> convert)
        where T : struct
    {
        var numbers = new double[rows];
        if (field.IsNullable)
        {
            var values = new T?[rows];
            await rg.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
            var missing = new bool[rows];
            for (var i = 0; i < rows; i++)
            {
                if (values[i] is { } v)
                {
                    numbers[i] = convert(v);
                }
                else
                {
                    missing[i] = true;
                }
            }

            return ParquetColumn.OfNumbers(numbers, missing);
        }
        else
        {
            var values = new T[rows];
            await rg.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
            for (var i = 0; i < rows; i++)
            {
                numbers[i] = convert(values[i]);
            }

            return ParquetColumn.OfNumbers(numbers, null);
        }
    }

    private static async Task<ParquetColumn> Texts<T>(ParquetRowGroupReader rg, DataField field, int rows, Func<T, string> convert)
        where T : struct
    {
        var values = new T?[rows];
        if (field.IsNullable)
        {
            await rg.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
        }
        else
        {
            var plain = new T[rows];
            await rg.ReadAsync(field, plain.AsMemory()).ConfigureAwait(false);
            for (var i = 0; i < rows; i++)
            {
                values[i] = plain[i];
            }
        }

        return ParquetColumn.OfText(values.Select(v => v is { } x ? convert(x) : null).ToArray());
    }

    private sealed class ParquetColumn
    {
        private string?[]? texts;
        private double[]? numbers;
        private bool[]? missing;

        public static ParquetColumn OfText(string?[] values) => new() { texts = values };

        public static ParquetColumn OfNumbers(double[] values, bool[]? missing) => new() { numbers = values, missing = missing };

        public RawCell Cell(int row) =>
            texts is not null ? RawCell.OfText(texts[row])
            : missing is not null && missing[row] ? RawCell.Missing
            : RawCell.OfNumber(numbers![row]);
    }
}
