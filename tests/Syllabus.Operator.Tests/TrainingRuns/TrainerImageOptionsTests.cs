using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Syllabus.Operator.TrainingRuns;

namespace Syllabus.Operator.Tests.TrainingRuns;

public sealed class TrainerImageOptionsTests
{
    private static TrainerImageOptions Resolve(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)))
            .Build();
        var services = new ServiceCollection().AddLogging();
        services.AddTrainingRunControllers(configuration);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<TrainerImageOptions>>().Value;
    }

    [Fact]
    public void Defaults_are_valid_and_bounded()
    {
        var options = Resolve();
        Assert.Equal(TimeSpan.FromSeconds(15), options.ProgressInterval);
        Assert.Equal("nvidia.com/gpu", options.GpuResourceName);
        Assert.Equal(9090, options.MetricsPort);
    }

    [Fact]
    public void Settings_bind_from_the_Trainer_section()
    {
        var options = Resolve(("Trainer:Image", "registry.example/trainer:1"), ("Trainer:GpuResourceName", "amd.com/gpu"), ("Trainer:ProgressInterval", "00:00:30"));
        Assert.Equal("registry.example/trainer:1", options.Image);
        Assert.Equal("amd.com/gpu", options.GpuResourceName);
        Assert.Equal(TimeSpan.FromSeconds(30), options.ProgressInterval);
    }

    [Fact]
    public void Invalid_settings_fail_naming_each_setting()
    {
        var e = Assert.Throws<OptionsValidationException>(() => Resolve(
            ("Trainer:MetricsPort", "70000"),
            ("Trainer:ProgressInterval", "00:00:00.1"),
            ("Trainer:BackoffBase", "00:05:00"),
            ("Trainer:BackoffCap", "00:01:00"),
            ("Trainer:GpuResourceName", "gpus")));
        var message = string.Join("\n", e.Failures);
        Assert.Contains("MetricsPort", message, StringComparison.Ordinal);
        Assert.Contains("ProgressInterval", message, StringComparison.Ordinal);
        Assert.Contains("GpuResourceName", message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cross_field_rules_are_checked()
    {
        var e = Assert.Throws<OptionsValidationException>(() => Resolve(
            ("Trainer:BackoffBase", "00:05:00"), ("Trainer:BackoffCap", "00:01:00"),
            ("Trainer:ProgressInterval", "00:00:02"), ("Trainer:ScrapeTimeout", "00:00:05")));
        var message = string.Join("\n", e.Failures);
        Assert.Contains("Trainer:BackoffCap", message, StringComparison.Ordinal);
        Assert.Contains("Trainer:ScrapeTimeout", message, StringComparison.Ordinal);
    }
}
