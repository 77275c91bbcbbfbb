using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

/// <summary>One informer per kind, shared by every controller that watches or owns that kind (client-go's SharedInformerFactory).</summary>
public sealed class InformerFactory(IKubernetes client, InformerOptions options, TimeProvider time, ILoggerFactory loggerFactory)
{
    private readonly Lock gate = new();
    private readonly Dictionary<Type, IInformer> informers = [];

    public IReadOnlyList<IInformer> Informers
    {
        get
        {
            lock (gate)
            {
                return [.. informers.Values];
            }
        }
    }

    public bool AllSynced => Informers.All(i => i.HasSynced);

    public Informer<T> Get<T>()
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        lock (gate)
        {
            if (!informers.TryGetValue(typeof(T), out var informer))
            {
                informer = new Informer<T>(KindApi.For<T>(client), options, time, loggerFactory.CreateLogger($"Syllabus.Operator.Informer.{ResourceType<T>.Kind}"));
                informers[typeof(T)] = informer;
            }

            return (Informer<T>)informer;
        }
    }

    /// <summary>Runs every informer created so far until <paramref name="ct"/> is cancelled.</summary>
    public Task RunAsync(CancellationToken ct) => Task.WhenAll(Informers.Select(i => i.RunAsync(ct)));

    public Task WaitForSyncAsync(CancellationToken ct) => Task.WhenAll(Informers.Select(i => i.WaitForSyncAsync(ct)));
}
