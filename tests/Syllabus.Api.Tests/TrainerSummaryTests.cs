using System.Text;

namespace Syllabus.Api.Tests;

public sealed class TrainerSummaryTests
{
    private static TrainerSummary Large(int gates, int messageLength) => new()
    {
        Phase = "Succeeded",
        Message = new string('m', messageLength),
        ModelUri = "pvc://models/runs/a/model",
        Metrics = new Dictionary<string, double> { ["accuracy"] = 0.97 },
        GatesFailed = [.. Enumerable.Range(0, gates).Select(i => $"recall/class-{i}-with-a-long-name@slice-{i}")],
        GateValues = Enumerable.Range(0, gates).ToDictionary(i => $"recall/class-{i}-with-a-long-name@slice-{i}", i => i / 1000.0),
    };

    [Theory]
    [InlineData(2, 10_000)]
    [InlineData(300, 0)]
    [InlineData(300, 10_000)]
    public void A_large_summary_is_shortened_to_fit_the_termination_message(int gates, int messageLength)
    {
        var json = Large(gates, messageLength).ToJson();
        Assert.True(Encoding.UTF8.GetByteCount(json) <= TrainerSummary.MaxBytes, $"{Encoding.UTF8.GetByteCount(json)} bytes");
        var back = TrainerSummary.TryParse(json)!;
        Assert.Equal("Succeeded", back.Phase);
        Assert.Equal("pvc://models/runs/a/model", back.ModelUri);
    }

    [Fact]
    public void A_small_summary_round_trips_unchanged()
    {
        var summary = Large(gates: 2, messageLength: 10);
        var back = TrainerSummary.TryParse(summary.ToJson())!;
        Assert.Equal(summary.GatesFailed, back.GatesFailed);
        Assert.Equal(summary.GateValues, back.GateValues);
        Assert.Equal(summary.Message, back.Message);
    }

    [Fact]
    public void Uris_longer_than_the_limit_end_the_shortening_instead_of_looping()
    {
        var summary = Large(gates: 3, messageLength: 100);
        summary.ModelUri = "pvc://models/" + new string('x', 5000);
        var json = summary.ToJson();
        Assert.Contains(summary.ModelUri, json, StringComparison.Ordinal);
        Assert.Null(TrainerSummary.TryParse(json)!.GatesFailed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("panic: out of memory")]
    [InlineData("{not json")]
    public void Anything_but_the_trainers_json_is_not_a_summary(string? message) => Assert.Null(TrainerSummary.TryParse(message));
}
