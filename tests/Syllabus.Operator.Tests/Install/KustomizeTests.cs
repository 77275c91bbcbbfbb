using System.Text.Json;
using k8s.Models;
using Syllabus.Api;

namespace Syllabus.Operator.Tests.Install;

/// <summary>config/ renders with kubectl's kustomize and has the shape the install guide promises.</summary>
public sealed class KustomizeTests
{
    private const string OperatorNamespace = "syllabus-system";

    [Fact]
    public void DefaultRendersEveryCrdIntoTheOperatorNamespaceWithPrefixedNames()
    {
        var manifests = Manifests.Render(InstallPaths.Config("default"));

        var crds = manifests.Where(m => m.Kind == "CustomResourceDefinition").Select(m => m.As<V1CustomResourceDefinition>()).ToList();
        Assert.Equal(
            SyllabusKinds.All.Select(k => $"{k.Plural}.{SyllabusGroup.Name}").Order(StringComparer.Ordinal),
            crds.Select(c => c.Metadata.Name).Order(StringComparer.Ordinal));
        Assert.All(crds, c => Assert.Equal(SyllabusGroup.Name, c.Spec.Group));

        manifests.Single("Namespace", OperatorNamespace);
        var clusterScoped = new HashSet<string>(StringComparer.Ordinal) { "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding" };
        Assert.All(manifests.Where(m => !clusterScoped.Contains(m.Kind)), m => Assert.Equal(OperatorNamespace, m.Namespace));
        Assert.All(manifests.Where(m => m.Kind != "CustomResourceDefinition"), m => Assert.StartsWith("syllabus-", m.Name, StringComparison.Ordinal));

        // Bindings must follow the prefix and the namespace, or the operator runs without permissions.
        var sa = manifests.Single("ServiceAccount", "syllabus-controller-manager");
        var crb = manifests.Single("ClusterRoleBinding", "syllabus-manager-rolebinding").As<V1ClusterRoleBinding>();
        Assert.Equal("syllabus-manager-role", crb.RoleRef.Name);
        Assert.Contains(crb.Subjects, s => s.Kind == "ServiceAccount" && s.Name == sa.Name && s.NamespaceProperty == OperatorNamespace);
    }

    [Fact]
    public void ManagerDeploymentIsRestrictedProbedAndLeaderElected()
    {
        var manifests = Manifests.Render(InstallPaths.Config("default"));
        var deployment = manifests.Single("Deployment", "syllabus-controller-manager").As<V1Deployment>();
        var pod = deployment.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);

        Assert.Equal("syllabus-controller-manager", pod.ServiceAccountName);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], container.SecurityContext.Capabilities.Drop);
        Assert.NotNull(container.Resources.Requests);
        Assert.NotNull(container.Resources.Limits);

        var port = Assert.Single(container.Ports);
        Assert.Equal("/healthz", container.LivenessProbe.HttpGet.Path);
        Assert.Equal("/readyz", container.ReadinessProbe.HttpGet.Path);
        Assert.Equal(port.Name, container.LivenessProbe.HttpGet.Port.Value);
        Assert.Equal(port.Name, container.ReadinessProbe.HttpGet.Port.Value);

        // Option names must match OperatorOptions, or the environment is silently ignored.
        var env = container.Env.ToDictionary(e => e.Name, StringComparer.Ordinal);
        Assert.Equal(port.ContainerPort.ToString(System.Globalization.CultureInfo.InvariantCulture), env["Operator__ProbePort"].Value);
        Assert.Equal("true", env["Operator__LeaderElection__Enabled"].Value);
        Assert.Equal("metadata.namespace", env["Operator__LeaderElection__LeaseNamespace"].ValueFrom.FieldRef.FieldPath);
        var optionNames = OptionPaths(typeof(Syllabus.Runtime.Hosting.OperatorOptions), Syllabus.Runtime.Hosting.OperatorOptions.SectionName)
            .Concat(OptionPaths(typeof(Syllabus.Operator.TrainingRuns.TrainerImageOptions), Syllabus.Operator.TrainingRuns.TrainerImageOptions.SectionName)).ToHashSet();
        Assert.All(env.Keys.Where(k => k.Contains("__", StringComparison.Ordinal)), k => Assert.Contains(k, optionNames));
        Assert.DoesNotContain(":latest", env["Trainer__Image"].Value, StringComparison.Ordinal);
        Assert.True(deployment.Spec.Replicas >= 2, "two replicas show that leader election is on");

        var service = manifests.Single("Service", "syllabus-controller-manager-metrics").As<V1Service>();
        Assert.Equal(port.Name, Assert.Single(service.Spec.Ports).TargetPort.Value);
        Assert.All(service.Spec.Selector, kv => Assert.Equal(kv.Value, deployment.Spec.Template.Metadata.Labels[kv.Key]));
    }

    [Fact]
    public void PrometheusComponentScrapesTheOperatorServiceAndTrainerPods()
    {
        Kubectl.RequirePath();

        // Do what the install guide says: uncomment the component in config/default. The copy sits next to
        // config/default so its relative paths resolve the same way.
        var text = File.ReadAllText(InstallPaths.Config("default", "kustomization.yaml"));
        const string Commented = "#components:\n#- ../prometheus\n";
        Assert.Contains(Commented, text, StringComparison.Ordinal);
        var overlay = Directory.CreateDirectory(InstallPaths.Config($".test-prometheus-{Guid.NewGuid():N}"));
        try
        {
            File.WriteAllText(Path.Combine(overlay.FullName, "kustomization.yaml"), text.Replace(Commented, "components:\n- ../prometheus\n", StringComparison.Ordinal));
            var manifests = Manifests.Render(overlay.FullName);
            var service = manifests.Single("Service", "syllabus-controller-manager-metrics").As<V1Service>();
            var monitor = manifests.Single("ServiceMonitor", "syllabus-controller-manager-metrics-monitor");
            var podMonitor = manifests.Single("PodMonitor", "syllabus-trainer");
            Assert.Equal(OperatorNamespace, monitor.Namespace);
            Assert.Equal(OperatorNamespace, podMonitor.Namespace);

            using var monitorJson = monitor.ToJson();
            var spec = monitorJson.RootElement.GetProperty("spec");
            Assert.Equal(Assert.Single(service.Spec.Ports).Name, spec.GetProperty("endpoints")[0].GetProperty("port").GetString());
            foreach (var label in spec.GetProperty("selector").GetProperty("matchLabels").EnumerateObject())
            {
                Assert.Equal(label.Value.GetString(), service.Metadata.Labels[label.Name]);
            }

            using var podMonitorJson = podMonitor.ToJson();
            var podSpec = podMonitorJson.RootElement.GetProperty("spec");
            Assert.Equal("syllabus-trainer", podSpec.GetProperty("selector").GetProperty("matchLabels").GetProperty("app.kubernetes.io/name").GetString());
            Assert.True(podSpec.GetProperty("namespaceSelector").GetProperty("any").GetBoolean());
            Assert.Equal("metrics", podSpec.GetProperty("podMetricsEndpoints")[0].GetProperty("port").GetString());
        }
        finally
        {
            overlay.Delete(recursive: true);
        }
    }

    [Fact]
    public void ArgoCdKustomizationRendersOneHealthCheckPerKindAndAnApplicationOfConfigDefault()
    {
        var manifests = Manifests.Render(InstallPaths.Config("argocd"));
        var cm = manifests.Single("ConfigMap", "argocd-cm").As<V1ConfigMap>();
        Assert.Equal("argocd", cm.Metadata.NamespaceProperty);
        Assert.Equal(
            SyllabusKinds.All.Select(k => HealthChecks.Key(k.Kind)).Order(StringComparer.Ordinal),
            cm.Data.Keys.Order(StringComparer.Ordinal));

        var app = manifests.Single("Application", "syllabus-operator");
        Assert.Contains("path: config/default", app.Yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void GrafanaDashboardRendersAndQueriesEveryOperatorAndTrainerMetric()
    {
        var manifests = Manifests.Render(InstallPaths.Config("grafana"));
        var cm = manifests.Single("ConfigMap", "syllabus-dashboard").As<V1ConfigMap>();
        Assert.Equal("1", cm.Metadata.Labels["grafana_dashboard"]);
        var json = cm.Data["syllabus-dashboard.json"];
        Assert.Equal(File.ReadAllText(InstallPaths.Config("grafana", "syllabus-dashboard.json")), json);

        using var doc = JsonDocument.Parse(json);
        var expressions = doc.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Select(t => t.GetProperty("expr").GetString() ?? "")
            .ToList();
        string[] metrics =
        [
            "syllabus_reconcile_total", "syllabus_reconcile_errors_total", "syllabus_reconcile_duration_seconds_bucket",
            "syllabus_workqueue_depth", "syllabus_workqueue_latency_seconds_bucket", "syllabus_objects",
            "syllabus_trainer_epoch", "syllabus_trainer_total_epochs", "syllabus_trainer_step", "syllabus_trainer_loss",
            "syllabus_trainer_learning_rate", "syllabus_trainer_stage_info", "syllabus_trainer_stage_index",
            "syllabus_trainer_data_fraction", "syllabus_trainer_samples_per_second", "syllabus_trainer_validation_accuracy",
        ];
        var missing = metrics.Where(m => !expressions.Any(e => e.Contains(m + "{", StringComparison.Ordinal))).ToList();
        Assert.True(missing.Count == 0, $"the dashboard never queries: {string.Join(", ", missing)}");
    }

    /// <summary>Every configuration path of an options type, in environment-variable form (Operator__LeaderElection__Enabled).</summary>
    private static HashSet<string> OptionPaths(Type type, string prefix)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in type.GetProperties())
        {
            var path = $"{prefix}__{p.Name}";
            paths.Add(path);
            if (p.PropertyType.IsClass && p.PropertyType != typeof(string) && p.PropertyType.Namespace == type.Namespace)
            {
                paths.UnionWith(OptionPaths(p.PropertyType, path));
            }
        }

        return paths;
    }
}
