using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Syllabus.Runtime;

namespace Syllabus.Runtime.Hosting;

/// <summary>How one controller is wired: which kinds it owns, how many workers, which updates it reacts to.</summary>
public sealed class ControllerBuilder<TResource>
    where TResource : class, IKubernetesObject<V1ObjectMeta>
{
    internal List<Action<Controller<TResource>, InformerFactory>> OwnedWatches { get; } = [];

    internal int? Workers { get; private set; }

    internal Func<IKubernetesObject<V1ObjectMeta>, IKubernetesObject<V1ObjectMeta>, bool>? UpdatePredicate { get; private set; }

    /// <summary>Reconcile the controlling owner (a <typeparamref name="TResource"/>) whenever a <typeparamref name="TChild"/> it controls changes.</summary>
    public ControllerBuilder<TResource> Owns<TChild>()
        where TChild : class, IKubernetesObject<V1ObjectMeta>
    {
        _ = ResourceType<TChild>.Kind; // fail at registration, not at start-up, when TChild lacks [KubernetesEntity]
        OwnedWatches.Add((controller, informers) => controller.Owns(informers.Get<TChild>()));
        return this;
    }

    /// <summary>Workers for this kind, overriding Operator:Workers and Operator:DefaultWorkers.</summary>
    public ControllerBuilder<TResource> WithWorkers(int workers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        Workers = workers;
        return this;
    }

    /// <summary>Which updates enqueue a reconcile (default <see cref="Predicates.GenerationOrMetadataChanged{T}"/>).</summary>
    public ControllerBuilder<TResource> WithUpdatePredicate(Func<IKubernetesObject<V1ObjectMeta>, IKubernetesObject<V1ObjectMeta>, bool> predicate)
    {
        UpdatePredicate = predicate ?? throw new ArgumentNullException(nameof(predicate));
        return this;
    }
}

/// <summary>A registered controller; the manager builds a fresh one for each leadership term.</summary>
public abstract class ControllerRegistration
{
    public abstract string Kind { get; }

    internal abstract IController Build(IServiceProvider services, InformerFactory informers, OperatorOptions options);
}

internal sealed class ControllerRegistration<TResource, TReconciler>(ControllerBuilder<TResource> builder) : ControllerRegistration
    where TResource : class, IKubernetesObject<V1ObjectMeta>
    where TReconciler : class, IReconciler<TResource>
{
    public override string Kind => ResourceType<TResource>.Kind;

    internal override IController Build(IServiceProvider services, InformerFactory informers, OperatorOptions options)
    {
        var workers = builder.Workers
            ?? (options.Workers.TryGetValue(Kind, out var configured) ? configured : options.DefaultWorkers);
        var controllerOptions = new ControllerOptions { Workers = workers };
        if (builder.UpdatePredicate is { } predicate)
        {
            controllerOptions = controllerOptions with { UpdatePredicate = predicate };
        }

        var controller = new Controller<TResource>(
            informers.Get<TResource>(),
            services.GetRequiredService<TReconciler>(),
            controllerOptions,
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger($"Syllabus.Operator.Controller.{Kind}"),
            services.GetRequiredService<OperatorMetrics>());
        foreach (var watch in builder.OwnedWatches)
        {
            watch(controller, informers);
        }

        return controller;
    }
}
