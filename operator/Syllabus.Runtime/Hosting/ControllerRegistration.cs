using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Syllabus.Runtime;

namespace Syllabus.Runtime.Hosting;

/// <summary>How one controller is wired: what it owns, watches, reads and indexes, how many workers, which updates it reacts to.</summary>
public sealed class ControllerBuilder<TResource>
    where TResource : class, IKubernetesObject<V1ObjectMeta>
{
    /// <summary>Run in order against the term's informers: declare informers and indexes, then hook handlers to the controller.</summary>
    internal List<Action<Controller<TResource>, InformerFactory>> Wiring { get; } = [];

    internal int? Workers { get; private set; }

    internal Func<IKubernetesObject<V1ObjectMeta>, IKubernetesObject<V1ObjectMeta>, bool>? UpdatePredicate { get; private set; }

    /// <summary>
    /// Reconcile the controlling owner (a <typeparamref name="TResource"/>) whenever a <typeparamref name="TChild"/> it
    /// controls changes. The <typeparamref name="TChild"/> informer holds only objects labelled
    /// <see cref="ManagedObjects.Label"/> with the operator's value, so every child must carry it (<see cref="IApplier"/> checks).
    /// </summary>
    public ControllerBuilder<TResource> Owns<TChild>()
        where TChild : class, IKubernetesObject<V1ObjectMeta>
    {
        _ = ResourceType<TChild>.Kind; // fail at registration, not at start-up, when TChild lacks [KubernetesEntity]
        Wiring.Add((controller, informers) => controller.Owns(informers.GetManaged<TChild>()));
        return this;
    }

    /// <summary>
    /// Reconcile the <typeparamref name="TResource"/>s that <paramref name="map"/> relates a <typeparamref name="TOther"/>
    /// to, whenever one is added, deleted, or updated (as <paramref name="updatePredicate"/> allows). The map gets cache
    /// readers, typically to look the dependants up by an index. <paramref name="managedOnly"/> caches only objects the
    /// operator created (the same filter as <see cref="Owns{TChild}"/>).
    /// </summary>
    public ControllerBuilder<TResource> Watches<TOther>(
        Func<TOther, ICacheReaders, IEnumerable<ObjectKey>> map,
        Func<TOther, TOther, bool>? updatePredicate = null,
        bool managedOnly = false)
        where TOther : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(map);
        _ = ResourceType<TOther>.Kind;
        Wiring.Add((controller, informers) =>
        {
            var informer = managedOnly ? informers.GetManaged<TOther>() : informers.Get<TOther>();
            controller.Watches(informer, other => map(other, informers), updatePredicate);
        });
        return this;
    }

    /// <summary>
    /// Reconcile every <typeparamref name="TResource"/> in the same namespace filed under <c>valueOf(other)</c> in its
    /// index <paramref name="index"/> (registered with <see cref="WithIndex{T}(string, Func{T, string?})"/>): e.g. a
    /// Curriculum edit enqueues the runs whose spec.curriculumRef.name index holds its name.
    /// </summary>
    public ControllerBuilder<TResource> Watches<TOther>(string index, Func<TOther, string?> valueOf, Func<TOther, TOther, bool>? updatePredicate = null, bool managedOnly = false)
        where TOther : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentException.ThrowIfNullOrEmpty(index);
        ArgumentNullException.ThrowIfNull(valueOf);
        return Watches<TOther>(
            (other, caches) => valueOf(other) is { Length: > 0 } value ? caches.For<TResource>().KeysByIndex(index, value, NamespaceOf(other)) : [],
            updatePredicate,
            managedOnly);
    }

    /// <summary>Caches <typeparamref name="T"/> for reading (<see cref="ICacheReader{T}"/>) without reacting to its changes.</summary>
    public ControllerBuilder<TResource> Reads<T>(bool managedOnly = false)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        _ = ResourceType<T>.Kind;
        Wiring.Add((controller, informers) =>
        {
            var declared = managedOnly ? informers.GetManaged<T>() : informers.Get<T>();
            ArgumentNullException.ThrowIfNull(declared);
        });
        return this;
    }

    /// <summary>Adds an index to the <typeparamref name="T"/> cache: each object is filed under the values <paramref name="valuesOf"/> returns.</summary>
    public ControllerBuilder<TResource> WithIndex<T>(string name, Func<T, IEnumerable<string?>?> valuesOf)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(valuesOf);
        _ = ResourceType<T>.Kind;
        Wiring.Add((_, informers) => informers.AddIndex(name, valuesOf));
        return this;
    }

    /// <summary>Adds a single-valued index (null or empty leaves the object out), e.g. <c>WithIndex&lt;TrainingRun&gt;("spec.curriculumRef.name", r =&gt; r.Spec.CurriculumRef?.Name)</c>.</summary>
    public ControllerBuilder<TResource> WithIndex<T>(string name, Func<T, string?> valueOf)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(valueOf);
        return WithIndex<T>(name, obj => [valueOf(obj)]);
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

    private static string? NamespaceOf(IKubernetesObject<V1ObjectMeta> obj) =>
        string.IsNullOrEmpty(obj.Metadata?.NamespaceProperty) ? null : obj.Metadata.NamespaceProperty;
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
        foreach (var wire in builder.Wiring)
        {
            wire(controller, informers);
        }

        return controller;
    }
}
