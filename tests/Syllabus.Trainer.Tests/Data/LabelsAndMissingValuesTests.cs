using Syllabus.Api;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Tests.Data;

public sealed class LabelsAndMissingValuesTests : IDisposable
{
    private readonly TempFolder dir = new();

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Integer_labels_1_to_K_make_K_classes_in_numeric_order_and_no_class_0()
    {
        var train = dir.Csv("train.csv", "x,label", "1,1", "2,2", "3,10", "4,3", "5,2");

        var data = DataLoader.Load(Specs.Csv(train, train), dir.Path, 1);

        Assert.Equal(["1", "2", "3", "10"], data.Schema.Classes);
        Assert.Equal([0L, 1, 3, 2, 1], data.Train.Labels);
    }

    [Fact]
    public void Labels_are_names_compared_as_written_so_1_and_1_0_are_different_classes()
    {
        var train = dir.Csv("train.csv", "x,label", "1,1", "2,1.0", "3,1", "4,2");

        var data = DataLoader.Load(Specs.Csv(train, train), dir.Path, 1);

        Assert.Equal(["1", "1.0", "2"], data.Schema.Classes);
        Assert.Equal([0L, 1, 0, 2], data.Train.Labels);
        Assert.Equal(-1, data.Schema.ClassIndex("01"));
    }

    [Fact]
    public void A_label_matching_no_class_name_is_a_bad_row_even_when_it_looks_like_an_index()
    {
        var train = dir.Csv("train.csv", "x,label", "1,cat", "2,dog");
        var test = dir.Csv("test.csv", "x,label", "1,cat", "2,0", "3,1.0");
        var spec = Specs.Csv(train, train);
        spec.Test = new DatasetSource { Uri = test };
        spec.MaxBadRows = 2;

        var data = DataLoader.Load(spec, dir.Path, 1);

        Assert.Equal([0L], data.Test!.Labels);
        Assert.Equal(["unknown label '0'", "unknown label '1.0'"], data.Report.BadRows.Select(b => b.Reason[..b.Reason.IndexOf(" (", StringComparison.Ordinal)]));
    }

    [Fact]
    public void Pandas_and_R_missing_value_tokens_are_missing_by_default()
    {
        // As pandas' to_csv (empty, "NaN" with na_rep) and R's write.csv ("NA") write missing values.
        var train = dir.Csv("train.csv", "x,colour,label", "1,red,a", "NA,blue,b", "3,NA,a", "NaN,red,b", ",N/A,a", "5,null,b");
        var spec = Specs.Csv(train, train);
        spec.CategoricalColumns = ["colour"];
        spec.MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Impute, Impute = ImputeStrategies.Mean };

        var data = DataLoader.Load(spec, dir.Path, 1);

        // Three per column, counted in train and again in validation (the same file).
        Assert.Equal(6, data.Report.Imputed["x"]);
        Assert.Equal(6, data.Report.Imputed["colour"]);
        Assert.Equal(["red", "blue"], data.Schema.Columns[1].Categories!.Order(StringComparer.Ordinal).Reverse());
        // x imputed with the mean of 1, 3, 5.
        Assert.Equal(3f, data.Train.Features[data.Train.FeatureCount * 1]);
        Assert.Equal(0, data.Report.BadRowCount);
    }

    [Fact]
    public void Configured_tokens_replace_the_defaults_and_may_look_like_numbers()
    {
        var train = dir.Csv("train.csv", "x,label", "1,a", "-999,b", "NA,a", "4,b");
        var spec = Specs.Csv(train, train);
        spec.MissingValues = new MissingValuesSpec { Policy = MissingValuePolicies.Skip, Tokens = ["-999"] };
        spec.MaxBadRows = 2;

        var data = DataLoader.Load(spec, dir.Path, 1);

        // -999 is missing (skipped); NA is no longer a token, so it is a bad number.
        Assert.Equal(2, data.Train.Count);
        Assert.Equal(2, data.Report.SkippedMissingCount); // the -999 row, in train and in validation (the same file)
        Assert.Equal([4L, 4L], data.Report.BadRows.Select(b => b.Line));
        Assert.All(data.Report.BadRows, b => Assert.Contains("'NA' is not a finite number", b.Reason, StringComparison.Ordinal));
        Assert.Equal(["-999"], data.Schema.MissingValueTokens);
    }

    [Fact]
    public void An_empty_cell_is_missing_whatever_the_tokens()
    {
        foreach (string[] tokens in new[] { new[] { "-999" }, [] })
        {
            var missing = new MissingValueTokens(tokens);
            Assert.True(missing.IsMissing(""));
            Assert.True(missing.IsMissing("   "));
            Assert.True(missing.IsMissing(null));
            Assert.False(missing.IsMissing("NA"));
            Assert.Equal(tokens, missing.Tokens);
        }
    }

    [Fact]
    public void The_default_tokens_are_pandas_na_values_and_the_schema_default_equals_the_csharp_default()
    {
        string[] pandas = ["#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"];
        Assert.Equal(pandas, new MissingValuesSpec().Tokens);

        var crd = k8s.KubernetesYaml.Deserialize<k8s.Models.V1CustomResourceDefinition>(
            File.ReadAllText(Path.Combine(RepositoryPaths.Root, "crds", "syllabus.dev_trainingruns.yaml")));
        var schema = System.Text.Json.Nodes.JsonNode.Parse(k8s.KubernetesJson.Serialize(crd.Spec.Versions[0].Schema.OpenAPIV3Schema))!;
        var tokens = schema["properties"]!["spec"]!["properties"]!["data"]!["properties"]!["missingValues"]!["properties"]!["tokens"]!;
        var listed = tokens["default"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        Assert.Equal(pandas, listed);
    }
}
