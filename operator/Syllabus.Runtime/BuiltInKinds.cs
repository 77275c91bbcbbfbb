using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>
/// Binds the reads (list, watch, get) and deletes of the built-in kinds the operator watches to KubernetesClient's typed
/// clients, which reach core/v1 with any client. Written out per kind because the generated clients share no generic
/// interface. Writes are generic (see <see cref="TypedBinding{T, TList}"/>).
/// </summary>
internal static class BuiltInKinds
{
    public static IKindApi<T>? Create<T>(IKubernetes client)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        if (typeof(T) == typeof(V1Job))
        {
            return (IKindApi<T>)(object)new TypedKindApi<V1Job, V1JobList>(client, Job);
        }

        if (typeof(T) == typeof(V1Pod))
        {
            return (IKindApi<T>)(object)new TypedKindApi<V1Pod, V1PodList>(client, Pod);
        }

        if (typeof(T) == typeof(V1Deployment))
        {
            return (IKindApi<T>)(object)new TypedKindApi<V1Deployment, V1DeploymentList>(client, Deployment);
        }

        if (typeof(T) == typeof(V1Service))
        {
            return (IKindApi<T>)(object)new TypedKindApi<V1Service, V1ServiceList>(client, Service);
        }

        if (typeof(T) == typeof(V1ConfigMap))
        {
            return (IKindApi<T>)(object)new TypedKindApi<V1ConfigMap, V1ConfigMapList>(client, ConfigMap);
        }

        if (typeof(T) == typeof(V1Secret))
        {
            return (IKindApi<T>)(object)new TypedKindApi<V1Secret, V1SecretList>(client, Secret);
        }

        return null;
    }

    private static readonly TypedBinding<V1Job, V1JobList> Job = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.BatchV1.ListJobForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.BatchV1.ListNamespacedJobWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.BatchV1.ReadNamespacedJobAsync(n, ns, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.BatchV1.DeleteNamespacedJobAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Pod, V1PodList> Pod = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListPodForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedPodWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedPodAsync(n, ns, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedPodAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Deployment, V1DeploymentList> Deployment = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.AppsV1.ListDeploymentForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.AppsV1.ReadNamespacedDeploymentAsync(n, ns, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.AppsV1.DeleteNamespacedDeploymentAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Service, V1ServiceList> Service = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListServiceForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedServiceWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedServiceAsync(n, ns, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedServiceAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1ConfigMap, V1ConfigMapList> ConfigMap = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListConfigMapForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedConfigMapWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedConfigMapAsync(n, ns, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedConfigMapAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Secret, V1SecretList> Secret = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListSecretForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedSecretWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedSecretAsync(n, ns, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedSecretAsync(n, ns, o, cancellationToken: ct));
}
