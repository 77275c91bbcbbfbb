using k8s;
using k8s.Models;

namespace Syllabus.Runtime;

/// <summary>
/// Binds the built-in kinds the operator creates or watches to KubernetesClient's typed clients.
/// Written out per kind because the generated clients share no generic interface.
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
        Create: (c, o, ns, ct) => c.BatchV1.CreateNamespacedJobAsync(o, ns, cancellationToken: ct),
        Patch: (c, p, ns, n, fm, ct) => c.BatchV1.PatchNamespacedJobAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        PatchStatus: (c, p, ns, n, fm, ct) => c.BatchV1.PatchNamespacedJobStatusAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.BatchV1.DeleteNamespacedJobAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Pod, V1PodList> Pod = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListPodForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedPodWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedPodAsync(n, ns, cancellationToken: ct),
        Create: (c, o, ns, ct) => c.CoreV1.CreateNamespacedPodAsync(o, ns, cancellationToken: ct),
        Patch: (c, p, ns, n, fm, ct) => c.CoreV1.PatchNamespacedPodAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        PatchStatus: (c, p, ns, n, fm, ct) => c.CoreV1.PatchNamespacedPodStatusAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedPodAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Deployment, V1DeploymentList> Deployment = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.AppsV1.ListDeploymentForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.AppsV1.ListNamespacedDeploymentWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.AppsV1.ReadNamespacedDeploymentAsync(n, ns, cancellationToken: ct),
        Create: (c, o, ns, ct) => c.AppsV1.CreateNamespacedDeploymentAsync(o, ns, cancellationToken: ct),
        Patch: (c, p, ns, n, fm, ct) => c.AppsV1.PatchNamespacedDeploymentAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        PatchStatus: (c, p, ns, n, fm, ct) => c.AppsV1.PatchNamespacedDeploymentStatusAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.AppsV1.DeleteNamespacedDeploymentAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Service, V1ServiceList> Service = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListServiceForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedServiceWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedServiceAsync(n, ns, cancellationToken: ct),
        Create: (c, o, ns, ct) => c.CoreV1.CreateNamespacedServiceAsync(o, ns, cancellationToken: ct),
        Patch: (c, p, ns, n, fm, ct) => c.CoreV1.PatchNamespacedServiceAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        PatchStatus: (c, p, ns, n, fm, ct) => c.CoreV1.PatchNamespacedServiceStatusAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedServiceAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1ConfigMap, V1ConfigMapList> ConfigMap = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListConfigMapForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedConfigMapWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedConfigMapAsync(n, ns, cancellationToken: ct),
        Create: (c, o, ns, ct) => c.CoreV1.CreateNamespacedConfigMapAsync(o, ns, cancellationToken: ct),
        Patch: (c, p, ns, n, fm, ct) => c.CoreV1.PatchNamespacedConfigMapAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        PatchStatus: null,
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedConfigMapAsync(n, ns, o, cancellationToken: ct));

    private static readonly TypedBinding<V1Secret, V1SecretList> Secret = new(
        List: (c, ns, sel, rv, limit, cont, timeout, watch, ct) => ns is null
            ? c.CoreV1.ListSecretForAllNamespacesWithHttpMessagesAsync(allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct)
            : c.CoreV1.ListNamespacedSecretWithHttpMessagesAsync(ns, allowWatchBookmarks: watch ? true : null, continueParameter: cont, labelSelector: sel, limit: limit, resourceVersion: rv, timeoutSeconds: timeout, watch: watch ? true : null, cancellationToken: ct),
        Get: (c, ns, n, ct) => c.CoreV1.ReadNamespacedSecretAsync(n, ns, cancellationToken: ct),
        Create: (c, o, ns, ct) => c.CoreV1.CreateNamespacedSecretAsync(o, ns, cancellationToken: ct),
        Patch: (c, p, ns, n, fm, ct) => c.CoreV1.PatchNamespacedSecretAsync(p, n, ns, fieldManager: fm, cancellationToken: ct),
        PatchStatus: null,
        Delete: (c, ns, n, o, ct) => c.CoreV1.DeleteNamespacedSecretAsync(n, ns, o, cancellationToken: ct));
}
