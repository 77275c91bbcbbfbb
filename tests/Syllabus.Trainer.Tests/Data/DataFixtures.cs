using Parquet;
using Parquet.Schema;
using Syllabus.Api;

namespace Syllabus.Trainer.Tests.Data;

/// <summary>A temporary folder for data files, removed afterwards.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = Directory.CreateTempSubdirectory("syllabus-data-").FullName;
    }

    public string Path { get; }

    /// <summary>Writes a CSV file from its lines and returns its name (relative to the folder).</summary>
    public string Csv(string name, params string[] lines)
    {
        var full = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, string.Join("\n", lines) + "\n");
        return name;
    }

    public string Full(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Writes small Parquet files for the reader tests.</summary>
internal static class ParquetFixture
{
    /// <summary>One column of a Parquet fixture.</summary>
    internal abstract record Column(string Name)
    {
        public abstract Task WriteAsync(ParquetRowGroupWriter group, DataField field);

        public abstract DataField Field();
    }

    internal sealed record Doubles(string Name, double?[] Values) : Column(Name)
    {
        public override DataField Field() => new DataField<double?>(Name);

        public override Task WriteAsync(ParquetRowGroupWriter group, DataField field) =>
            group.WriteAsync<double>(field, Values.AsMemory());
    }

    internal sealed record Ints(string Name, int[] Values) : Column(Name)
    {
        public override DataField Field() => new DataField<int>(Name);

        public override Task WriteAsync(ParquetRowGroupWriter group, DataField field) =>
            group.WriteAsync<int>(field, Values.AsMemory());
    }

    internal sealed record Strings(string Name, string?[] Values) : Column(Name)
    {
        public override DataField Field() => new DataField<string>(Name, nullable: true);

        public override Task WriteAsync(ParquetRowGroupWriter group, DataField field) =>
            group.WriteAsync(field, Values!);
    }

    public static async Task WriteAsync(string path, params Column[] columns)
    {
        var fields = columns.Select(c => c.Field()).ToArray();
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream);
        using var group = writer.CreateRowGroup();
        for (var i = 0; i < columns.Length; i++)
        {
            await columns[i].WriteAsync(group, fields[i]);
        }
    }
}

internal static class Specs
{
    public static DataSpec Csv(string train, string? validation = null, string normalization = Normalizations.None) => new()
    {
        Train = new DatasetSource { Uri = train },
        Validation = validation is null ? null : new DatasetSource { Uri = validation },
        Normalization = normalization,
    };
}
