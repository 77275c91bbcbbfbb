using Syllabus.Api;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Tests.Data;

public sealed class CsvLoadingTests : IDisposable
{
    private readonly TempFolder dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Loads_numeric_features_and_integer_labels_as_written()
    {
        var train = dir.Csv("train.csv", "x1,label,x2", "1.5,0,2", "2.5,1,-3", "\"4\",2,0.25");
        var val = dir.Csv("val.csv", "label,x2,x1", "1,7,6");

        var data = DataLoader.Load(Specs.Csv(train, val), dir.Path, seed: 1);

        Assert.Equal(["0", "1", "2"], data.Schema.Classes);
        Assert.Equal(["x1", "x2"], data.Schema.FeatureNames);
        Assert.Equal(3, data.Train.Count);
        Assert.Equal([1.5f, 2f, 2.5f, -3f, 4f, 0.25f], data.Train.Features);
        Assert.Equal([0L, 1, 2], data.Train.Labels);
        // Validation columns come in another order; they are matched by name.
        Assert.Equal([6f, 7f], data.Validation.Features);
        Assert.Equal([1L], data.Validation.Labels);
        Assert.Null(data.Test);
        Assert.Equal(3, data.Report.Files[0].RowsRead);
        Assert.Equal(0, data.Report.BadRowCount);
    }

    [Fact]
    public void Additional_training_sources_are_trained_on_with_train_and_fitted_with_it()
    {
        var train = dir.Csv("train.csv", "x,label", "1,a", "3,b");
        // Its columns in another order (matched by name), a class train lacks, and a bad row reported where it is.
        var more = dir.Csv("more/labels.csv", "label,x", "c,5", "a,oops");
        var val = dir.Csv("val.csv", "x,label", "2,a");
        var spec = Specs.Csv(train, val, Normalizations.MinMax);
        spec.AdditionalTrain = [new DatasetSource { Uri = more }];
        spec.MaxBadRows = 1;

        var data = DataLoader.Load(spec, dir.Path, seed: 1);

        Assert.Equal(["a", "b", "c"], data.Schema.Classes);
        Assert.Equal([0L, 1, 2], data.Train.Labels);
        // MinMax fitted on every training row (1..5), the additional one included.
        Assert.Equal([0f, 0.5f, 1f], data.Train.Features);
        Assert.Equal([0.25f], data.Validation.Features);
        Assert.Equal([(dir.Full(train), "train", 2L), (dir.Full(more), "train", 1L)], data.Report.Files.Where(f => f.Split == "train").Select(f => (f.Path, f.Split, f.RowsUsed)));
        var bad = Assert.Single(data.Report.BadRows);
        Assert.Equal((dir.Full(more), 3L, "x"), (bad.File, bad.Line, bad.Column));

        // Without a validation file the hold-out is drawn from train's and the additional rows together.
        spec.Validation = null;
        spec.ValidationFraction = 0.5;
        spec.MaxBadRows = 1;
        var split = DataLoader.Load(spec, dir.Path, seed: 1);
        Assert.Equal(3, split.Train.Count + split.Validation.Count);
    }

    [Theory]
    [InlineData("x,label,y", "1,a,2", "has column 'y', which data.train")]
    [InlineData("x", "1", "has no column 'label'")]
    public void An_additional_training_source_with_other_columns_is_an_error_naming_file_and_column(string header, string row, string expected)
    {
        var train = dir.Csv("train.csv", "x,label", "1,a", "3,b");
        var more = dir.Csv("more.csv", header, row);
        var spec = Specs.Csv(train, dir.Csv("val.csv", "x,label", "2,a"));
        spec.AdditionalTrain = [new DatasetSource { Uri = train }, new DatasetSource { Uri = more }];

        var error = Assert.Throws<DataException>(() => DataLoader.Load(spec, dir.Path, seed: 1));

        Assert.Contains("data.additionalTrain[1]", error.Message, StringComparison.Ordinal);
        Assert.Contains(dir.Full(more), error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_labels_become_sorted_class_names()
    {
        var train = dir.Csv("train.csv", "x,label", "1,dog", "2,cat", "3,emu", "4,cat");
        var val = dir.Csv("val.csv", "x,label", "5,emu");

        var data = DataLoader.Load(Specs.Csv(train, val), dir.Path, 1);

        Assert.Equal(["cat", "dog", "emu"], data.Schema.Classes);
        Assert.Equal([1L, 0, 2, 0], data.Train.Labels);
        Assert.Equal([2L], data.Validation.Labels);
    }

    [Fact]
    public void Given_classes_match_names_only_never_indices()
    {
        // Digits 5..9 with classes ["5".."9"]: the label 7 is the class named "7" (index 2), not index 7.
        var train = dir.Csv("train.csv", "x,label", "1,5", "2,7", "3,9", "4,1");
        var val = dir.Csv("val.csv", "x,label", "1,8");
        var spec = Specs.Csv(train, val);
        spec.Classes = ["5", "6", "7", "8", "9"];
        spec.MaxBadRows = 1;

        var data = DataLoader.Load(spec, dir.Path, 1);

        // "1" is no class name: a bad row, not index 1 ("6").
        Assert.Equal([0L, 2, 4], data.Train.Labels);
        Assert.Equal([3L], data.Validation.Labels);
        var bad = Assert.Single(data.Report.BadRows);
        Assert.Equal(5, bad.Line);
        Assert.Contains("unknown label '1'", bad.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_rows_are_skipped_and_reported_with_file_and_line()
    {
        var train = dir.Csv(
            "train.csv",
            "x,y,label",
            "1,2,a",
            "1,2",          // line 3: too few fields
            "1,zz,a",       // line 4: not a number
            "3,4,b",
            "5,6,c");       // line 6: unknown label
        var val = dir.Csv("val.csv", "x,y,label", "1,1,a");
        var spec = Specs.Csv(train, val);
        spec.Classes = ["a", "b"];
        spec.MaxBadRows = 3;

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal(2, data.Train.Count);
        Assert.Equal(3, data.Report.BadRowCount);
        var bad = data.Report.BadRows;
        Assert.Equal([3L, 4, 6], bad.Select(b => b.Line));
        Assert.All(bad, b => Assert.Equal(dir.Full(train), b.File));
        Assert.Contains("expected 3 fields, found 2", bad[0].Reason, StringComparison.Ordinal);
        Assert.Equal("y", bad[1].Column);
        Assert.Contains("'zz' is not a finite number", bad[1].Reason, StringComparison.Ordinal);
        Assert.Contains("unknown label 'c'", bad[2].Reason, StringComparison.Ordinal);
        Assert.Equal(3, data.Report.Files[0].BadRows);
        Assert.Equal(5, data.Report.Files[0].RowsRead);
        Assert.Equal(2, data.Report.Files[0].RowsUsed);
    }

    [Fact]
    public void Too_many_bad_rows_fail_naming_the_first_ones()
    {
        var train = dir.Csv("train.csv", "x,label", "1,0", "oops,1", "2,0", "3", "4,1");
        var spec = Specs.Csv(train, train);
        spec.MaxBadRows = 1;

        var e = Assert.Throws<DataException>(() => DataLoader.Load(spec, dir.Path, 1));

        Assert.Contains("maxBadRows (1)", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{dir.Full(train)}:3: column 'x': 'oops' is not a finite number", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{dir.Full(train)}:5: expected 2 fields, found 1", e.Message, StringComparison.Ordinal);
        Assert.Equal(5, e.Line);
    }

    [Fact]
    public void Quoted_fields_with_commas_and_line_breaks_keep_line_numbers_right()
    {
        var train = dir.Csv("train.csv", "x,note,label", "1,\"a, b\",0", "2,\"two\nlines\",1", "bad,x,0", "3,c,1");
        var spec = Specs.Csv(train, train);
        spec.FeatureColumns = ["x"];
        spec.MaxBadRows = 10;

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal([1f, 2f, 3f], data.Train.Features);
        // The record after the two-line one starts on line 5.
        Assert.Equal(5L, data.Report.BadRows[0].Line);
        Assert.Equal("x", data.Report.BadRows[0].Column);
    }

    [Fact]
    public void Malformed_quoting_is_a_bad_row()
    {
        var train = dir.Csv("train.csv", "x,note,label", "1,ok,0", "2,a\"b,1", "3,\"fine\",0");
        var spec = Specs.Csv(train, train);
        spec.FeatureColumns = ["x"];
        spec.MaxBadRows = 2;

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal([1f, 3f], data.Train.Features);
        var bad = data.Report.BadRows[0];
        Assert.Equal(3, bad.Line);
        Assert.Contains("quote inside an unquoted field", bad.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_value_policy_fail_names_file_line_and_column()
    {
        var train = dir.Csv("train.csv", "a,b,label", "1,2,0", "3,,1");

        var e = Assert.Throws<DataException>(() => DataLoader.Load(Specs.Csv(train, train), dir.Path, 1));

        Assert.StartsWith($"{dir.Full(train)}:3:2: column 'b': missing value", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, e.Line);
        Assert.Equal("b", e.Column);
    }

    [Fact]
    public void Missing_value_policy_skip_drops_and_counts_rows()
    {
        var train = dir.Csv("train.csv", "a,b,label", "1,2,0", "3,,1", " ,5,0", "7,8,1");
        var spec = Specs.Csv(train, train);
        spec.MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Skip };

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal([1f, 2f, 7f, 8f], data.Train.Features);
        Assert.Equal(4, data.Report.SkippedMissingCount); // 2 in train + 2 in validation (the same file)
        Assert.Equal(2, data.Report.Files[0].SkippedMissing);
        Assert.Equal(0, data.Report.BadRowCount);
    }

    [Theory]
    [InlineData(ImputeStrategies.Mean, 4.0)]          // (1 + 2 + 9) / 3
    [InlineData(ImputeStrategies.Median, 2.0)]
    [InlineData(ImputeStrategies.Zero, 0.0)]
    [InlineData(ImputeStrategies.MostFrequent, 9.0)] // 9 appears twice below
    public void Missing_values_are_imputed_from_training_data(string strategy, double expected)
    {
        var values = strategy == ImputeStrategies.MostFrequent ? new[] { "1", "9", "9" } : ["1", "2", "9"];
        var train = dir.Csv("train.csv", "a,label", $"{values[0]},0", $"{values[1]},1", ",0", $"{values[2]},1");
        var val = dir.Csv("val.csv", "a,label", ",1");
        var spec = Specs.Csv(train, val);
        spec.MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Impute, Impute = strategy };

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal((float)expected, data.Train.Features[2]);
        Assert.Equal((float)expected, data.Validation.Features[0]);
        Assert.Equal(expected, data.Schema.Columns[0].ImputeValue);
        Assert.Equal(2, data.Report.Imputed["a"]);
        // The profile sees the raw data: one value missing.
        Assert.Equal(1, data.Profile.Numeric[0].Missing);
    }

    [Fact]
    public void Categorical_columns_are_one_hot_encoded_and_unknown_categories_are_zero()
    {
        var train = dir.Csv("train.csv", "colour,x,label", "red,1,0", "blue,2,1", "red,3,0", "green,4,1");
        var val = dir.Csv("val.csv", "colour,x,label", "blue,5,1", "purple,6,0");
        var spec = Specs.Csv(train, val);
        spec.CategoricalColumns = ["colour"];

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal(["colour=blue", "colour=green", "colour=red", "x"], data.Schema.FeatureNames);
        Assert.Equal(4, data.Train.FeatureCount);
        Assert.Equal([0f, 0f, 1f, 1f, 1f, 0f, 0f, 2f, 0f, 0f, 1f, 3f, 0f, 1f, 0f, 4f], data.Train.Features);
        Assert.Equal([1f, 0f, 0f, 5f, 0f, 0f, 0f, 6f], data.Validation.Features);
        Assert.Equal(1, data.Report.UnknownCategories["colour"]);
        Assert.Equal("red", data.Profile.Categorical[0].Categories[0].Value);
        Assert.Equal(2, data.Profile.Categorical[0].Categories[0].Count);
    }

    [Fact]
    public void Standard_normalisation_uses_training_mean_and_population_std()
    {
        // x: 2, 4, 4, 4, 5, 5, 7, 9 -> mean 5, std 2. Constant c keeps divisor 1.
        var train = dir.Csv("train.csv", "x,c,label", "2,3,0", "4,3,1", "4,3,0", "4,3,1", "5,3,0", "5,3,1", "7,3,0", "9,3,1");
        var val = dir.Csv("val.csv", "x,c,label", "11,3,0");

        var data = DataLoader.Load(Specs.Csv(train, val, Normalizations.Standard), dir.Path, 1);

        Assert.Equal([-1.5f, 0f], data.Train.Row(0).ToArray());
        Assert.Equal([2f, 0f], data.Train.Row(7).ToArray());
        Assert.Equal([3f, 0f], data.Validation.Row(0).ToArray());
        Assert.Equal(5.0, data.Schema.Columns[0].Shift);
        Assert.Equal(2.0, data.Schema.Columns[0].Divisor);
        Assert.Equal(1.0, data.Schema.Columns[1].Divisor);
        // The profile keeps raw values.
        Assert.Equal(5.0, data.Profile.Numeric[0].Mean, 9);
        Assert.Equal(9.0, data.Profile.Numeric[0].Max);
    }

    [Fact]
    public void MinMax_and_Scale_normalisation()
    {
        var train = dir.Csv("train.csv", "x,label", "10,0", "20,1", "50,0");
        var val = dir.Csv("val.csv", "x,label", "60,0");

        var minMax = DataLoader.Load(Specs.Csv(train, val, Normalizations.MinMax), dir.Path, 1);
        Assert.Equal([0f, 0.25f, 1f], minMax.Train.Features);
        Assert.Equal([1.25f], minMax.Validation.Features);

        var scaleSpec = Specs.Csv(train, val, Normalizations.Scale);
        scaleSpec.Scale = 10;
        var scaled = DataLoader.Load(scaleSpec, dir.Path, 1);
        Assert.Equal([1f, 2f, 5f], scaled.Train.Features);
        Assert.Equal([6f], scaled.Validation.Features);

        var noScale = Specs.Csv(train, val, Normalizations.Scale);
        Assert.Contains("data.scale", Assert.Throws<DataException>(() => DataLoader.Load(noScale, dir.Path, 1)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validation_fraction_split_is_stratified_and_seeded()
    {
        var lines = new List<string> { "x,label" };
        for (var i = 0; i < 100; i++)
        {
            lines.Add($"{i},{(i < 80 ? 0 : 1)}");
        }

        var train = dir.Csv("train.csv", [.. lines]);
        var spec = new DataSpec { Train = new DatasetSource { Uri = train }, ValidationFraction = 0.2, Normalization = Normalizations.None };

        var a = DataLoader.Load(spec, dir.Path, seed: 7);
        var b = DataLoader.Load(spec, dir.Path, seed: 7);
        var c = DataLoader.Load(spec, dir.Path, seed: 8);

        Assert.Equal(80, a.Train.Count);
        Assert.Equal(20, a.Validation.Count);
        Assert.Equal(16, a.Validation.Labels.Count(l => l == 0));
        Assert.Equal(4, a.Validation.Labels.Count(l => l == 1));
        Assert.Equal(a.Validation.Features, b.Validation.Features);
        Assert.NotEqual(a.Validation.Features, c.Validation.Features);
        Assert.Empty(a.Train.Features.Intersect(a.Validation.Features));
    }

    [Fact]
    public void Without_validation_a_default_fraction_is_held_out_and_noted()
    {
        var lines = new List<string> { "x,label" };
        lines.AddRange(Enumerable.Range(0, 30).Select(i => $"{i},{i % 3}"));
        var train = dir.Csv("train.csv", [.. lines]);

        var data = DataLoader.Load(new DataSpec { Train = new DatasetSource { Uri = train } }, dir.Path, 1);

        Assert.Equal(3, data.Validation.Count);
        Assert.Equal([0L, 1, 2], data.Validation.Labels.Order());
        Assert.Contains(data.Report.Notes, n => n.Contains("held out 0.1", StringComparison.Ordinal));
    }

    [Fact]
    public void Limit_takes_a_seeded_stratified_sample_of_the_training_rows()
    {
        var lines = new List<string> { "x,label" };
        lines.AddRange(Enumerable.Range(0, 40).Select(i => $"{i},{(i < 30 ? "a" : "b")}"));
        var train = dir.Csv("train.csv", [.. lines]);
        var val = dir.Csv("val.csv", "x,label", "0,a");
        var spec = Specs.Csv(train, val);
        spec.Limit = 8;

        var a = DataLoader.Load(spec, dir.Path, 3);
        var b = DataLoader.Load(spec, dir.Path, 3);

        Assert.Equal(8, a.Train.Count);
        Assert.Equal(6, a.Train.Labels.Count(l => l == 0));
        Assert.Equal(2, a.Train.Labels.Count(l => l == 1));
        Assert.Equal(a.Train.Features, b.Train.Features);
        Assert.Equal(8, a.Profile.RowCount);
    }

    [Fact]
    public void Limit_bounds_the_held_out_validation_rows_too()
    {
        // A label budget of 10 with validationFraction 0.2: 8 rows train and 2 validate, all 10 from the budget (the
        // hold-out is not taken from the whole file first).
        var lines = new List<string> { "x,label" };
        lines.AddRange(Enumerable.Range(0, 100).Select(i => $"{i},{(i % 2 == 0 ? "a" : "b")}"));
        var train = dir.Csv("train.csv", [.. lines]);
        var spec = Specs.Csv(train);
        spec.ValidationFraction = 0.2;
        spec.Limit = 10;

        var data = DataLoader.Load(spec, dir.Path, 5);

        Assert.Equal(8, data.Train.Count);
        Assert.Equal(2, data.Validation.Count);
        Assert.Equal([0L, 1], data.Validation.Labels.Order());
        var used = data.Train.Features.Concat(data.Validation.Features).ToArray();
        Assert.Equal(10, used.Distinct().Count());
        Assert.Contains(data.Report.Notes, n => n.Contains("validation hold-out comes out of these 10", StringComparison.Ordinal));
    }

    [Fact]
    public void Limit_samples_data_train_only_and_every_additional_training_row_is_used()
    {
        // A template's label budget of 10 over 100 rows, and 6 labels a LabelingQueue added: all 6 are trained on.
        var lines = new List<string> { "x,label" };
        lines.AddRange(Enumerable.Range(0, 100).Select(i => $"{i},{(i % 2 == 0 ? "a" : "b")}"));
        var train = dir.Csv("train.csv", [.. lines]);
        var more = dir.Csv("labels.csv", "x,label", "1000,a", "1001,b", "1002,a", "1003,b", "1004,a", "1005,b");
        var spec = Specs.Csv(train, dir.Csv("val.csv", "x,label", "0,a"));
        spec.AdditionalTrain = [new DatasetSource { Uri = more }];
        spec.Limit = 10;

        var data = DataLoader.Load(spec, dir.Path, 5);

        Assert.Equal(16, data.Train.Count);
        Assert.Equal(6, data.Train.Features.Count(x => x >= 1000));
        Assert.Contains(data.Report.Notes, n => n.Contains("10 of 100", StringComparison.Ordinal) && n.Contains("all 6 rows of data.additionalTrain", StringComparison.Ordinal));
    }

    [Fact]
    public void A_folder_means_every_csv_file_in_it_sorted()
    {
        dir.Csv("parts/b.csv", "x,label", "3,1");
        dir.Csv("parts/a.csv", "x,label", "1,0", "2,1");
        File.WriteAllText(dir.Full("parts/readme.txt"), "not data");
        var val = dir.Csv("val.csv", "x,label", "1,0");

        var data = DataLoader.Load(Specs.Csv("parts", val), dir.Path, 1);

        Assert.Equal([1f, 2f, 3f], data.Train.Features);
        Assert.Equal([dir.Full("parts/a.csv"), dir.Full("parts/b.csv")], data.Report.Files.Where(f => f.Split == "train").Select(f => f.Path));
    }

    [Fact]
    public void Missing_files_and_columns_are_named()
    {
        var e = Assert.Throws<DataException>(() => DataLoader.Load(Specs.Csv("nope.csv"), dir.Path, 1));
        Assert.Contains("nope.csv: no such file or folder", e.Message, StringComparison.Ordinal);

        var train = dir.Csv("train.csv", "x,label", "1,0");
        var val = dir.Csv("val.csv", "y,label", "1,0");
        var e2 = Assert.Throws<DataException>(() => DataLoader.Load(Specs.Csv(train, val), dir.Path, 1));
        Assert.Contains("val.csv: no feature column 'x'", e2.Message, StringComparison.Ordinal);

        var spec = Specs.Csv(train, train);
        spec.LabelColumn = "target";
        var e3 = Assert.Throws<DataException>(() => DataLoader.Load(spec, dir.Path, 1));
        Assert.Contains("no label column 'target'", e3.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Special_columns_are_read_and_not_used_as_features()
    {
        var train = dir.Csv(
            "train.csv",
            "x,label,w,d,s,t",
            "1,0,0.5,0.1,eu,2024-01-02T03:04:05Z",
            "2,1,2,0.9,us,1700000000",
            "3,0,1,0.5,,");
        var spec = Specs.Csv(train, train);
        spec.WeightColumn = "w";
        spec.DifficultyColumn = "d";
        spec.SliceColumn = "s";
        spec.TimestampColumn = "t";

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal(["x"], data.Schema.FeatureNames);
        Assert.Equal([0.5f, 2f, 1f], data.Train.Weights!);
        Assert.Equal([0.1, 0.9, 0.5], data.Train.Difficulty!);
        Assert.Equal(["eu", "us", null], data.Train.Slices!);
        Assert.Equal(new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero), data.Train.Timestamps![0]);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), data.Train.Timestamps[1]);
        Assert.Null(data.Train.Timestamps[2]);
    }

    [Fact]
    public void Test_and_replay_data_use_the_training_schema()
    {
        var train = dir.Csv("train.csv", "x,label", "0,a", "10,b");
        var test = dir.Csv("test.csv", "x,label", "5,b");
        var replay = dir.Csv("old.csv", "x,label", "20,a", "-10,b");
        var spec = Specs.Csv(train, train, Normalizations.MinMax);
        spec.Test = new DatasetSource { Uri = test };
        spec.Replay = new ReplaySpec { Data = new DatasetSource { Uri = replay } };

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal([0.5f], data.Test!.Features);
        Assert.Equal([1L], data.Test.Labels);
        Assert.Equal([2f, -1f], data.Replay!.Features);
        Assert.Equal([0L, 1], data.Replay.Labels);
        Assert.Contains(data.Report.Files, f => f.Split == "replay" && f.RowsUsed == 2);
    }

    [Fact]
    public void LoadWithSchema_reads_unlabelled_data_and_the_schema_survives_json()
    {
        var train = dir.Csv("train.csv", "colour,x,label", "red,1,0", "blue,3,1");
        var spec = Specs.Csv(train, train, Normalizations.Standard);
        spec.CategoricalColumns = ["colour"];
        var data = DataLoader.Load(spec, dir.Path, 1);
        var json = System.Text.Json.JsonSerializer.Serialize(data.Schema);
        var schema = System.Text.Json.JsonSerializer.Deserialize<FeatureSchema>(json)!;
        var pool = dir.Csv("pool.csv", "x,colour", "3,red", "1,pink");
        var report = new DataLoadReport();

        var scored = DataLoader.LoadWithSchema(new DatasetSource { Uri = pool }, spec, schema, dir.Path, report);

        Assert.Equal([-1L, -1], scored.Labels);
        Assert.Equal([0f, 1f, 1f, 0f, 0f, -1f], scored.Features);
        Assert.Equal(1, report.UnknownCategories["colour"]);
        Assert.Equal(schema.Encode(new Dictionary<string, string?> { ["x"] = "3", ["colour"] = "red" }), scored.Row(0).ToArray());
        Assert.Contains("\"classes\":[\"0\",\"1\"]", json, StringComparison.Ordinal);
        Assert.Contains("\"featureNames\":[\"colour=blue\",\"colour=red\",\"x\"]", json, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadWithSchema_tolerates_missing_training_only_columns_and_imputes_as_fitted()
    {
        var train = dir.Csv("train.csv", "x,label,w", "1,0,1", ",1,2", "5,1,1");
        var spec = Specs.Csv(train, train);
        spec.WeightColumn = "w";
        spec.MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Impute, Impute = ImputeStrategies.Median };
        var data = DataLoader.Load(spec, dir.Path, 1);
        var pool = dir.Csv("pool.csv", "id,x", "a,", "b,7");
        var report = new DataLoadReport();
        var failSpec = Specs.Csv(train); // the schema's policy applies, not this spec's Fail

        var scored = DataLoader.LoadWithSchema(new DatasetSource { Uri = pool }, failSpec, data.Schema, dir.Path, report);

        Assert.Equal([3f, 7f], scored.Features);
        Assert.Equal(1, report.Imputed["x"]);
    }
}
