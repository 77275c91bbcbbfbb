using System.Text.Json.Nodes;
using Syllabus.Trainer.Data;
using Syllabus.Trainer.Profiling;
using Syllabus.Trainer.Serving;

namespace Syllabus.Trainer.Tests.Drift;

/// <summary>What the training profile keeps for drift, and serve's live window binned by it.</summary>
public sealed class DriftProfileTests
{
    [Fact]
    public void Quantile_bins_are_distinct_ventile_edges_with_open_outer_bins()
    {
        // 0..99: the k/20 quantiles (linear) are 4.95, 9.9, ..., 94.05.
        float[] x = [.. Enumerable.Range(0, 100).Select(i => (float)i)];

        var p = DataProfile.Build(["x"], [x], [], [], ["a"], new long[100]).Numeric.Single();

        Assert.Equal(19, p.QuantileBinEdges!.Count);
        Assert.Equal(4.95, p.QuantileBinEdges[0], 12);
        Assert.Equal(94.05, p.QuantileBinEdges[^1], 12);
        Assert.Equal(100, p.QuantileBinCounts!.Sum());
        Assert.Equal(5, p.QuantileBinCounts![0]); // 0..4 below the first edge
        Assert.Equal(0, NumericFeatureProfile.QuantileBin(p.QuantileBinEdges, -1e9));
        Assert.Equal(19, NumericFeatureProfile.QuantileBin(p.QuantileBinEdges, 1e9));
        Assert.Equal(100, p.DistinctCount);
        Assert.Null(p.ValueCounts); // more than 20 distinct values
    }

    [Fact]
    public void Tied_quantiles_collapse_and_few_values_keep_their_counts()
    {
        float[] x = [.. Enumerable.Repeat(0f, 90), .. Enumerable.Repeat(7f, 10)];

        var p = DataProfile.Build(["x"], [x], [], [], ["a"], new long[100]).Numeric.Single();

        // Ventiles 0.05..0.85 are all 0 (one edge), 0.9 interpolates between 0 and 7 (0.7), 0.95 is 7.
        Assert.Equal(3, p.QuantileBinEdges!.Count);
        Assert.Equal((0.0, 0.7, 7.0), (p.QuantileBinEdges[0], Math.Round(p.QuantileBinEdges[1], 9), p.QuantileBinEdges[2]));
        Assert.Equal([0L, 90, 0, 10], p.QuantileBinCounts!);
        Assert.Equal([(0.0, 90L), (7.0, 10L)], p.ValueCounts!.Select(v => (v.Value, v.Count)));
    }

    [Fact]
    public void The_reservoir_sample_is_seeded_bounded_and_skips_missing_values()
    {
        float[] x = [.. Enumerable.Range(0, 10_000).Select(i => i % 10 == 0 ? float.NaN : i)];

        var a = DataProfile.Build(["x"], [x], [], [], ["a"], new long[10_000], sampleSize: 500, seed: 1);
        var b = DataProfile.Build(["x"], [x], [], [], ["a"], new long[10_000], sampleSize: 500, seed: 1);
        var c = DataProfile.Build(["x"], [x], [], [], ["a"], new long[10_000], sampleSize: 500, seed: 2);

        Assert.Equal(500, a.Sample!.Rows);
        Assert.Equal(a.Numeric[0].Sample, b.Numeric[0].Sample);
        Assert.NotEqual(a.Numeric[0].Sample, c.Numeric[0].Sample);
        Assert.All(a.Numeric[0].Sample!, v => Assert.False(float.IsNaN(v)));
        Assert.InRange(a.Numeric[0].Sample!.Length, 400, 499); // about a tenth of the drawn rows are missing
        // Algorithm R draws every row with the same chance: the sample's mean is near the data's.
        Assert.InRange(a.Numeric[0].Sample!.Average(), 4000, 6000);
        Assert.Equal(Enumerable.Range(0, 10), ReservoirSample.Draw(10, 500, 3)); // fewer rows than the capacity: all of them
    }

    [Fact]
    public void The_profile_round_trips_through_json_with_the_sample_on_one_line()
    {
        var profile = DataProfile.Build(["x"], [[1.5f, 2.25f, 3f]], [], [], ["a", "b"], [0, 1, 1], seed: 9)
            .WithModel("abc", PredictionProfile.Build("test", [0.9f, 0.1f, 0.3f, 0.7f], ["a", "b"], [0, 0]));
        var path = Path.Combine(Path.GetTempPath(), $"profile-{Guid.NewGuid():N}.json");
        try
        {
            profile.Save(path);
            var text = File.ReadAllText(path);
            var loaded = DataProfile.Load(path);

            Assert.Contains("\"sample\": [1.5,2.25,3]", text, StringComparison.Ordinal);
            Assert.Equal([1.5f, 2.25f, 3f], loaded.Numeric[0].Sample!);
            Assert.Equal("abc", loaded.SchemaFingerprint);
            Assert.Equal(9, loaded.Sample!.Seed);
            var predictions = loaded.Predictions!;
            Assert.Equal([1L, 1], predictions.PredictedClasses.Select(c => c.Count));
            Assert.Equal(0.8, predictions.MeanConfidence, 6);
            Assert.Equal(0.5, predictions.Accuracy);
            Assert.Equal(1, predictions.ConfidenceHistogram[PredictionProfile.ConfidenceBin(0.9f)]);
            Assert.Equal(1, predictions.ConfidenceHistogram[PredictionProfile.ConfidenceBin(0.7f)]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static FeatureSchema Schema() => new()
    {
        Classes = ["a", "b"],
        Columns = [new FeatureColumn { Name = "x" }],
    };

    [Fact]
    public void Serves_live_window_counts_the_profiles_quantile_bins_and_refuses_another_fingerprint()
    {
        var schema = Schema();
        var protocol = new InferenceProtocol(schema);
        float[] x = [.. Enumerable.Range(0, 100).Select(i => (float)i)];
        var profile = DataProfile.Build(["x"], [x], [], [], ["a", "b"], new long[100])
            .WithModel(schema.Fingerprint(), PredictionProfile.Build("test", [1f, 0f], ["a", "b"], [0]));

        var refused = Assert.Throws<InvalidDataException>(() => new LiveWindow(protocol, schema.Classes, profile, 10, "another"));
        var window = new LiveWindow(protocol, schema.Classes, profile, 10, schema.Fingerprint());
        window.Add(new InputRows(3, [0, 0, 0], [-5, 50, 1000], []), [0, 1, 1]);
        var column = window.Snapshot("m")["numeric"]!.AsArray().Single()!;

        Assert.Contains($"schema fingerprint {schema.Fingerprint()}", refused.Message, StringComparison.Ordinal);
        Assert.Equal(profile.Numeric[0].QuantileBinEdges, column["quantileBinEdges"]!.AsArray().Select(e => (double)e!));
        var counts = column["quantileBinCounts"]!.AsArray().Select(n => (long)n!).ToArray();
        Assert.Equal(20, counts.Length);
        Assert.Equal(1, counts[0]); // -5: the open lower bin
        Assert.Equal(1, counts[^1]); // 1000: the open upper bin, never out of range
        Assert.Equal(1, counts[NumericFeatureProfile.QuantileBin(profile.Numeric[0].QuantileBinEdges!, 50)]);
        Assert.Equal(3, counts.Sum());
    }

    [Fact]
    public void A_live_window_gives_the_rows_served_after_a_mark_so_consecutive_evaluations_test_disjoint_rows()
    {
        var schema = Schema();
        var window = new LiveWindow(new InferenceProtocol(schema), schema.Classes, null, 5, schema.Fingerprint());
        float[] Values(Syllabus.Trainer.Drift.DriftWindow w) => w.Numeric[0];
        void Serve(params float[] values) => window.Add(new InputRows(values.Length, new float[values.Length], [.. values.Select(v => (double)v)], []), new int[values.Length]);

        Serve(1, 2, 3);
        var first = window.ToDriftWindow();
        Assert.Equal([1f, 2f, 3f], Values(first));
        Assert.Equal((window.Instance, 3L, 5), (first.Sequence!.Instance, first.Sequence.RowsSeen, first.Sequence.Capacity));

        // Rows 4..7 arrive; the window holds 3..7 (capacity 5): after the mark, only 4..7, and `until` stops at 6.
        Serve(4, 5, 6, 7);
        Assert.Equal([4f, 5f, 6f, 7f], Values(window.ToDriftWindow(since: 3, sinceInstance: window.Instance)));
        var upTo6 = window.ToDriftWindow(since: 3, until: 6, sinceInstance: window.Instance);
        Assert.Equal([4f, 5f, 6f], Values(upTo6));
        Assert.Equal(6L, upTo6.Sequence!.RowsSeen);

        // Nothing served since: empty, and the mark stays where it was.
        var none = window.ToDriftWindow(since: 7, sinceInstance: window.Instance);
        Assert.Equal((0, 7L), (none.Rows, none.Sequence!.RowsSeen));

        // More served since the mark than the window holds: what it still holds (the evicted rows are gone for everyone).
        Serve(8, 9, 10, 11, 12, 13);
        Assert.Equal([9f, 10f, 11f, 12f, 13f], Values(window.ToDriftWindow(since: 7, sinceInstance: window.Instance)));

        // A mark of another server instance (before a restart) says nothing about these rows: all of them.
        Assert.Equal([9f, 10f, 11f, 12f, 13f], Values(window.ToDriftWindow(since: 12, sinceInstance: "another")));
        Assert.NotEqual(window.Instance, new LiveWindow(new InferenceProtocol(schema), schema.Classes, null, 5).Instance);
    }
}
