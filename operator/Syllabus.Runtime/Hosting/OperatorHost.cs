using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime.Hosting;

/// <summary>Builds the operator's web host: Program.cs uses it, and so do end-to-end tests (with their own controllers and client).</summary>
public static class OperatorHost
{
    /// <summary>Time in-flight reconciles get to finish on shutdown before they are cancelled.</summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The exit code after losing the leader lease (the Deployment restarts the pod, which stands by afresh).</summary>
    public const int LeaseLostExitCode = 3;

    /// <summary>The exit code when the controller manager failed.</summary>
    public const int FailedExitCode = 1;

    /// <summary>
    /// Runs the host until it stops; returns 0 after a requested stop, <see cref="LeaseLostExitCode"/> after losing the
    /// lease, <see cref="FailedExitCode"/> when the controller manager failed. Program.cs returns it as the exit code.
    /// </summary>
    public static async Task<int> RunOperatorAsync(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var status = app.Services.GetRequiredService<OperatorStatus>(); // RunAsync disposes the services
        await app.RunAsync().ConfigureAwait(false);
        return status.LeaseLost ? LeaseLostExitCode : status.Fault is not null ? FailedExitCode : 0;
    }

    public static WebApplicationBuilder CreateBuilder(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);

        var section = builder.Configuration.GetSection(OperatorOptions.SectionName);
        if (section.GetValue<bool>(nameof(OperatorOptions.JsonLogs)))
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(o => o.IncludeScopes = true);
        }

        // Read early because Kestrel binds before options are resolved; out-of-range values fail validation at start.
        var port = section.GetValue<int?>(nameof(OperatorOptions.ProbePort)) ?? 8080;
        builder.WebHost.UseUrls($"http://0.0.0.0:{Math.Clamp(port, 0, 65535)}");
        builder.Services.Configure<HostOptions>(o =>
        {
            if (o.ShutdownTimeout < DefaultShutdownTimeout)
            {
                o.ShutdownTimeout = DefaultShutdownTimeout;
            }
        });
        builder.Services.AddSyllabusOperator(builder.Configuration);
        return builder;
    }

    /// <summary>/healthz (liveness), /readyz (readiness), /metrics (Prometheus text).</summary>
    public static WebApplication MapOperatorEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("live") });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
