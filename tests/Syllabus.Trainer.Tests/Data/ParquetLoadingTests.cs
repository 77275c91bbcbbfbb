using Syllabus.Api;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Tests.Data;

public sealed class ParquetLoadingTests : IDisposable
{
    private readonly TempFolder dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task Parquet_round_trip_gives_the_same_data_as_the_equivalent_csv()
    {
        await ParquetFixture.WriteAsync(
            dir.Full("train.parquet"),
            new ParquetFixture.Doubles("x", [1.5, 2.5, null, 4]),
            new ParquetFixture.Strings("colour", ["red", "blue", "red", null]),
            new ParquetFixture.Ints("label", [0, 1, 0, 1]),
            new ParquetFixture.Strings("s", ["a", "b", null, "a"]));
        dir.Csv("train.csv", "x,colour,label,s", "1.5,red,0,a", "2.5,blue,1,b", ",red,0,", "4,,1,a");

        DataSpec Spec(string uri, string format) => new()
        {
            Train = new DatasetSource { Uri = uri, Format = format },
            Validation = new DatasetSource { Uri = uri, Format = format },
            CategoricalColumns = ["colour"],
            SliceColumn = "s",
            MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Impute, Impute = ImputeStrategies.Mean },
            Normalization = Normalizations.None,
        };

        var parquet = DataLoader.Load(Spec("train.parquet", DataFormats.Parquet), dir.Path, 1);
        var csv = DataLoader.Load(Spec("train.csv", DataFormats.Csv), dir.Path, 1);

        Assert.Equal(["x", "colour=blue", "colour=red"], parquet.Schema.FeatureNames);
        // x missing -> mean of 1.5, 2.5, 4 = 8/3; colour missing -> the most frequent, red.
        Assert.Equal([1.5f, 0f, 1f, 2.5f, 1f, 0f, 8f / 3, 0f, 1f, 4f, 0f, 1f], parquet.Train.Features);
        Assert.Equal([0L, 1, 0, 1], parquet.Train.Labels);
        Assert.Equal(["a", "b", null, "a"], parquet.Train.Slices!);
        Assert.Equal(csv.Train.Features, parquet.Train.Features);
        Assert.Equal(csv.Schema.Classes, parquet.Schema.Classes);
        Assert.Equal(2, parquet.Report.Imputed["x"]); // once in train, once in validation (the same file)
    }

    [Fact]
    public async Task Parquet_rows_are_reported_by_row_number()
    {
        await ParquetFixture.WriteAsync(
            dir.Full("d.parquet"),
            new ParquetFixture.Strings("x", ["1", "two", "3"]),
            new ParquetFixture.Ints("label", [0, 1, 0]));
        var spec = new DataSpec
        {
            Train = new DatasetSource { Uri = "d.parquet", Format = DataFormats.Parquet },
            Validation = new DatasetSource { Uri = "d.parquet", Format = DataFormats.Parquet },
            Normalization = Normalizations.None,
            MaxBadRows = 5,
        };

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal([1f, 3f], data.Train.Features);
        var bad = data.Report.BadRows[0];
        Assert.Equal(2, bad.Line);
        Assert.Equal("x", bad.Column);
    }

    [Fact]
    public async Task A_folder_of_parquet_files_is_read_in_name_order()
    {
        Directory.CreateDirectory(dir.Full("p"));
        await ParquetFixture.WriteAsync(dir.Full("p/2.parquet"), new ParquetFixture.Doubles("x", [3]), new ParquetFixture.Ints("label", [1]));
        await ParquetFixture.WriteAsync(dir.Full("p/1.parquet"), new ParquetFixture.Doubles("x", [1, 2]), new ParquetFixture.Ints("label", [0, 1]));
        dir.Csv("p/ignored.csv", "x,label", "9,0");
        var source = new DatasetSource { Uri = "p", Format = DataFormats.Parquet };

        var data = DataLoader.Load(new DataSpec { Train = source, Validation = source, Normalization = Normalizations.None }, dir.Path, 1);

        Assert.Equal([1f, 2f, 3f], data.Train.Features);
    }

    [Fact]
    public void A_file_that_is_not_parquet_is_a_data_error()
    {
        File.WriteAllText(dir.Full("bad.parquet"), "x,label\n1,0\n");
        var source = new DatasetSource { Uri = "bad.parquet", Format = DataFormats.Parquet };

        var e = Assert.Throws<DataException>(() => DataLoader.Load(new DataSpec { Train = source, Validation = source }, dir.Path, 1));

        Assert.Contains("bad.parquet: cannot read as Parquet", e.Message, StringComparison.Ordinal);
    }
}
