using System.Diagnostics.CodeAnalysis;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Syllabus.Runtime;
using Syllabus.Runtime.Json;

namespace Syllabus.Runtime.Hosting;

public static class OperatorServiceCollectionExtensions
{
    /// <summary>
    /// The runtime's services: validated <see cref="OperatorOptions"/>, the Kubernetes client (a registered
    /// <see cref="KubernetesClientConfiguration"/> wins over the options), resource clients, the event recorder,
    /// metrics, probes and the controller manager.
    /// </summary>
    public static IServiceCollection AddSyllabusOperator(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        KubernetesJsonMetadata.Add(RuntimeJsonContext.Default);
        services.AddOptions<OperatorOptions>()
            .Bind(configuration.GetSection(OperatorOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OperatorOptions>, OperatorOptionsAnnotationsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OperatorOptions>, OperatorOptionsValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<OperatorOptions>>().Value;
            var le = options.LeaderElection;
            return new LeaseFence(sp.GetRequiredService<TimeProvider>(), le.RenewDeadline);
        });
        services.TryAddSingleton<IKubernetes>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<OperatorOptions>>().Value;
            var config = sp.GetService<KubernetesClientConfiguration>() ?? BuildClientConfiguration(options);
            var fence = options.LeaderElection.Enabled ? sp.GetRequiredService<LeaseFence>() : null;

            // Outermost first: the rate limiter may hold a request for a while, so the fence checks after it, just before the wire.
            DelegatingHandler[] handlers =
            [
                .. options.ClientQps > 0 ? [new ClientRateLimitingHandler(options.ClientQps, options.ClientBurst)] : Array.Empty<DelegatingHandler>(),
                LeaderWriteFenceHandler.ForReconciles(fence),
                .. sp.GetServices<KubernetesClientHandler>().Select(h => h.Create(sp)),
            ];
            return CreateClient(config, handlers);
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<OperatorOptions>>().Value;
            var config = sp.GetService<KubernetesClientConfiguration>() ?? BuildClientConfiguration(options);
            var fence = options.LeaderElection.Enabled ? sp.GetRequiredService<LeaseFence>() : null;
            return new LeaderElectionClient(CreateClient(config, [LeaderWriteFenceHandler.ForLease(fence), .. sp.GetServices<KubernetesClientHandler>().Select(h => h.Create(sp))]));
        });
        services.TryAdd(ServiceDescriptor.Singleton(typeof(IResourceClient<>), typeof(ResourceClient<>)));
        services.TryAddSingleton<CacheProvider>();
        services.TryAdd(ServiceDescriptor.Singleton(typeof(ICacheReader<>), typeof(CacheReader<>)));
        services.TryAdd(ServiceDescriptor.Singleton(typeof(Expectations<>), typeof(Expectations<>)));
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<OperatorOptions>>().Value;
            return new ApplyOptions { FieldManager = options.FieldManager, ManagedBy = options.ManagedBy };
        });
        services.TryAddSingleton<IApplier, ServerSideApplier>();
        services.TryAddSingleton(new EventRecorderOptions());
        services.TryAddSingleton<EventRecorder>();
        services.TryAddSingleton<QueuedEventRecorder>();
        services.TryAddSingleton<IEventRecorder>(sp => sp.GetRequiredService<QueuedEventRecorder>());
        services.AddHostedService(sp => sp.GetRequiredService<QueuedEventRecorder>());
        services.TryAddSingleton<OperatorMetrics>();
        services.TryAddSingleton<OperatorStatus>();
        services.AddHostedService<ControllerManager>();

        services.AddHealthChecks()
            .AddCheck<LivenessCheck>("manager", tags: ["live"])
            .AddCheck<ReadinessCheck>("controllers", tags: ["ready"]);
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(OperatorMetrics.MeterName)
            .AddPrometheusExporter());
        return services;
    }

    /// <summary>
    /// Registers a controller for <typeparamref name="TResource"/> with <typeparamref name="TReconciler"/> (a singleton),
    /// e.g. <c>services.AddController&lt;TrainingRun, TrainingRunReconciler&gt;(c =&gt; c.Owns&lt;V1Job&gt;().Owns&lt;V1ConfigMap&gt;())</c>.
    /// </summary>
    public static IServiceCollection AddController<TResource, [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] TReconciler>(this IServiceCollection services, Action<ControllerBuilder<TResource>>? configure = null)
        where TResource : class, IKubernetesObject<V1ObjectMeta>
        where TReconciler : class, IReconciler<TResource>
    {
        _ = ResourceType<TResource>.Kind; // a type without [KubernetesEntity] fails here, at registration
        if (services.Any(d => d.ServiceType == typeof(ControllerRegistration) && d.ImplementationInstance is ControllerRegistration r && r.Kind == ResourceType<TResource>.Kind))
        {
            throw new InvalidOperationException($"A controller for {ResourceType<TResource>.Kind} is already registered.");
        }

        var builder = new ControllerBuilder<TResource>();
        configure?.Invoke(builder);
        services.TryAddSingleton<TReconciler>();
        services.AddSingleton<ControllerRegistration>(new ControllerRegistration<TResource, TReconciler>(builder));
        return services;
    }

    /// <summary>
    /// Adds a handler to every Kubernetes client the runtime builds (the reconcile client and the lease client), innermost,
    /// e.g. to record or authenticate requests. <paramref name="create"/> runs once per client.
    /// </summary>
    public static IServiceCollection AddKubernetesClientHandler(this IServiceCollection services, Func<IServiceProvider, DelegatingHandler> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        services.AddSingleton(new KubernetesClientHandler(create));
        return services;
    }

    /// <summary>
    /// The client the runtime uses: <paramref name="handlers"/> plus <see cref="CoreApiPathHandler"/>, which lets the
    /// generic custom-object calls of <see cref="ServerSideApplier"/> reach core/v1 kinds, and
    /// <see cref="ResponseBufferingHandler"/>, so no response is deserialised by blocking reads from the network.
    /// </summary>
    public static IKubernetes CreateClient(KubernetesClientConfiguration config, params DelegatingHandler[] handlers) =>
        new Kubernetes(config, [new CoreApiPathHandler(), .. handlers, new ResponseBufferingHandler()]);

    internal static KubernetesClientConfiguration BuildClientConfiguration(OperatorOptions options)
    {
        if (options.InCluster)
        {
            return KubernetesClientConfiguration.InClusterConfig();
        }

        return Kubeconfig.BuildConfiguration(options.Kubeconfig, options.KubeconfigContext);
    }
}

/// <summary>A factory of one extra <see cref="DelegatingHandler"/> per Kubernetes client (see AddKubernetesClientHandler).</summary>
public sealed class KubernetesClientHandler(Func<IServiceProvider, DelegatingHandler> create)
{
    internal DelegatingHandler Create(IServiceProvider services) => create(services);
}
