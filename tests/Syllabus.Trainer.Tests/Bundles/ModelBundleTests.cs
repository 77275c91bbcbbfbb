using System.Text.Json.Nodes;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Bundles;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Tests.Data;
using Syllabus.Trainer.Tests.Training;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Bundles;

[Collection(TorchCollection.Name)]
public sealed class ModelBundleTests : IDisposable
{
    private readonly TrainerFixture _fixture = new(trainRows: 300, testRows: 60);
    private readonly TempFolder _dir = new();

    public void Dispose()
    {
        _fixture.Dispose();
        _dir.Dispose();
    }

    /// <summary>The rows of a CSV file as column name -> text, every column included (label and difficulty too).</summary>
    internal static List<IReadOnlyDictionary<string, string?>> RawRows(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
        var header = lines[0].Split(',');
        return [.. lines.Skip(1).Select(l => (IReadOnlyDictionary<string, string?>)header.Zip(l.Split(','))
            .ToDictionary(p => p.First, p => (string?)p.Second, StringComparer.Ordinal))];
    }

    [Fact]
    public void A_loaded_bundle_scores_raw_rows_exactly_as_training_encoded_the_same_file()
    {
        var outcome = new TrainingJob(_fixture.Resolve(_fixture.Manifest("bundle", epochs: 2)), TimeProvider.System).Run(TestContext.Current.CancellationToken);

        using var bundle = ModelBundle.Load(outcome.ModelFolder);
        var testFile = Path.Combine(_fixture.Folder, "test.csv");
        var encodedByLoader = DataLoader.LoadWithSchema(new DatasetSource { Uri = testFile }, new DataSpec(), bundle.Schema, _fixture.Folder, new DataLoadReport());
        using var fromRows = bundle.PredictProbabilities(RawRows(testFile));
        var fromFile = bundle.PredictProbabilities(encodedByLoader, out _);

        Assert.Equal(TrainerFixture.Classes, bundle.Classes);
        Assert.Equal(["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"], bundle.Schema.FeatureNames);
        Assert.Equal(Normalizations.Standard, bundle.Schema.Normalization);
        Assert.Equal(ModelArtifactFingerprint(outcome.ModelFolder), bundle.SchemaFingerprint);
        Assert.Equal(fromFile, fromRows.data<float>().ToArray());
        // The test split's metrics in the report are the bundle's on the same file.
        Assert.Equal(outcome.Report.Metrics!["accuracy"], bundle.Evaluate(encodedByLoader).Accuracy, 9);
    }

    private static string? ModelArtifactFingerprint(string folder) => ModelArtifact.LoadDocument(folder).SchemaFingerprint;

    [Fact]
    public void A_bundle_whose_schema_was_edited_is_refused()
    {
        var outcome = new TrainingJob(_fixture.Resolve(_fixture.Manifest("edited", epochs: 1)), TimeProvider.System).Run(TestContext.Current.CancellationToken);
        var path = Path.Combine(outcome.ModelFolder, ModelDocument.FileName);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["featureSchema"]!["columns"]![0]!["shift"] = 123.0;
        File.WriteAllText(path, json.ToJsonString());

        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(outcome.ModelFolder));

        Assert.Contains("schemaFingerprint", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encoding_rejects_unknown_and_absent_columns_by_name()
    {
        var spec = Specs.Csv(_dir.Csv("train.csv", "x,colour,label", "1,red,a", "3,blue,b"), "train.csv");
        spec.CategoricalColumns = ["colour"];
        var schema = DataLoader.Load(spec, _dir.Path, 1).Schema;

        var unknown = Assert.Throws<DataException>(() => schema.Encode(new Dictionary<string, string?> { ["x"] = "1", ["colour"] = "red", ["colour2"] = "blue" }));
        var absent = Assert.Throws<DataException>(() => schema.Encode(new Dictionary<string, string?> { ["colour"] = "red", ["label"] = "a" }));
        var encoded = schema.Encode(new Dictionary<string, string?> { ["x"] = "3", ["colour"] = "red", ["label"] = "zebra" });

        Assert.Equal("colour2", unknown.Column);
        Assert.Contains("'colour2'", unknown.Message, StringComparison.Ordinal);
        Assert.Equal("x", absent.Column);
        Assert.Contains("'x'", absent.Message, StringComparison.Ordinal);
        // The label column is allowed (and not read: "zebra" is no class).
        Assert.Equal([3f, 0f, 1f], encoded);
    }

    [Theory]
    [InlineData("NaN", "is not a finite number")]
    [InlineData("Infinity", "is not a finite number")]
    [InlineData("-Infinity", "is not a finite number")]
    [InlineData("1e39", "is beyond float range (±3.4e38)")]
    [InlineData("-4e38", "is beyond float range (±3.4e38)")]
    [InlineData("seven", "is not a finite number (nor one of data.missingValues.tokens)")]
    public void Training_and_serving_reject_the_same_numbers_with_the_same_reason(string value, string reason)
    {
        var spec = Specs.Csv(_dir.Csv("train.csv", "x,label", "1,a", "2,b", $"{value},a", "3,b"));
        spec.MaxBadRows = 5;
        // Only blanks are missing here: "NaN" is one of pandas' missing-value tokens by default.
        spec.MissingValues = new MissingValuesSpec { Tokens = [""] };

        var data = DataLoader.Load(spec, _dir.Path, 1);
        var serving = Assert.Throws<DataException>(() => data.Schema.Encode(new Dictionary<string, string?> { ["x"] = value }));

        var bad = Assert.Single(data.Report.BadRows);
        Assert.Equal(4, bad.Line);
        Assert.Equal($"'{value}' {reason}", bad.Reason);
        Assert.EndsWith($"column 'x': '{value}' {reason}.", serving.Message, StringComparison.Ordinal);
        Assert.Equal(3, data.Train.Count + data.Validation.Count);
    }

    [Fact]
    public void Values_within_float_range_encode_identically_in_training_and_serving()
    {
        var spec = Specs.Csv(_dir.Csv("train.csv", "x,label", "3.4e38,a", "-1.5,b", "0.1,a", "1e-45,b"), validation: null, Normalizations.None);
        spec.ValidationFraction = null;
        spec.Validation = new DatasetSource { Uri = "train.csv" };

        var data = DataLoader.Load(spec, _dir.Path, 1);
        var served = data.Schema.Encode([.. new[] { "3.4e38", "-1.5", "0.1", "1e-45" }.Select(v => (IReadOnlyDictionary<string, string?>)new Dictionary<string, string?> { ["x"] = v })]);

        Assert.Equal(data.Validation.Features, served);
    }

    [Fact]
    public void A_missing_value_token_in_a_serving_request_is_imputed_exactly_as_in_a_training_file()
    {
        // As R's write.csv leaves missing values: NA in every fifth row's second feature, in train and test.
        _fixture.WriteNaInEveryFifthRowOfSecondFeature();

        var manifest = _fixture.Manifest("na-served", epochs: 1, dataExtra: "    missingValues: {policy: Impute, impute: Median}");
        var outcome = new TrainingJob(_fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken);

        // The bundle as serving loads it: the tokens come back from model.json with the fitted schema.
        using var bundle = ModelBundle.Load(outcome.ModelFolder);
        var testFile = Path.Combine(_fixture.Folder, "test.csv");
        var encodedByLoader = DataLoader.LoadWithSchema(new DatasetSource { Uri = testFile }, new DataSpec(), bundle.Schema, _fixture.Folder, new DataLoadReport());
        var rows = RawRows(testFile);
        using var served = bundle.Encode(rows);
        var imputed = bundle.Schema.Columns[1].EncodeNumber(null, bundle.Schema.MissingValuePolicy);

        Assert.Contains("NA", bundle.Schema.MissingValueTokens);
        Assert.Equal(encodedByLoader.Features, served.cpu().data<float>().ToArray());
        Assert.Equal(imputed, encodedByLoader.Features[1]);
        // Any other default token, a blank and a null are the same missing value.
        foreach (var token in new[] { "NaN", "", "  ", "null", "N/A", null })
        {
            var row = new Dictionary<string, string?>(rows[0], StringComparer.Ordinal) { ["f1"] = token };
            Assert.Equal(encodedByLoader.Features[..bundle.Schema.FeatureCount], bundle.Schema.Encode(row));
        }
    }

    [Fact]
    public void Configured_missing_value_tokens_are_kept_with_the_schema_and_served_as_in_training()
    {
        var spec = Specs.Csv(_dir.Csv("train.csv", "x,colour,label", "1,red,a", "-999,blue,b", "3,-999,a", "5,red,b"), "train.csv");
        spec.CategoricalColumns = ["colour"];
        spec.MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Impute, Impute = ImputeStrategies.Mean, Tokens = ["-999"] };
        var data = DataLoader.Load(spec, _dir.Path, 1);
        // As serving reads it back from model.json.
        var schema = System.Text.Json.JsonSerializer.Deserialize<FeatureSchema>(System.Text.Json.JsonSerializer.Serialize(data.Schema))!;

        var served = schema.Encode([.. new[] { ("1", "red"), ("-999", "blue"), ("3", "-999"), ("5", "red") }
            .Select(v => (IReadOnlyDictionary<string, string?>)new Dictionary<string, string?> { ["x"] = v.Item1, ["colour"] = v.Item2 })]);
        // "NA" is not a token of this schema: not missing, and not a number, in serving as in training.
        var notMissing = Assert.Throws<DataException>(() => schema.Encode(new Dictionary<string, string?> { ["x"] = "NA", ["colour"] = "red" }));

        Assert.Equal(["-999"], schema.MissingValueTokens);
        Assert.Equal(data.Validation.Features, served);
        Assert.Equal(3f, served[3]);
        Assert.Contains("'NA' is not a finite number", notMissing.Message, StringComparison.Ordinal);
    }
}
