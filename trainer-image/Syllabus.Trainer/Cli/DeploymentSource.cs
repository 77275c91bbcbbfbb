using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Trainer.Reporting;

namespace Syllabus.Trainer.Cli;

/// <summary>The model a ModelDeployment manifest serves, resolved locally from the files given with `serve -f`.</summary>
/// <param name="Deployment">metadata.name of the ModelDeployment (the name the model is served under).</param>
/// <param name="TrainingRun">The TrainingRun whose model is served.</param>
/// <param name="ModelFolder">Its local model folder (artifacts/model).</param>
public sealed record DeploymentSource(string Deployment, string TrainingRun, string ModelFolder);

/// <summary>
/// Resolves `serve -f`: the ModelDeployment's source.trainingRun, or the newest Succeeded TrainingRun in the files
/// matching source.selector whose report (in its artifacts) says so and, with promotion.requireGates, that its gates
/// passed, as the operator chooses a candidate. Canary, analysis and revision history need the cluster and are not
/// applied locally; a pinnedRevision is refused, since only the operator's status records revisions.
/// </summary>
public static class DeploymentResolver
{
    /// <exception cref="InputException">No or several ModelDeployments, a reference or selector nothing answers, named.</exception>
    public static DeploymentSource Resolve(IReadOnlyList<string> files, string? deploymentName, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(environment);
        var deployments = new List<ModelDeployment>();
        var runs = new List<TrainingRun>();
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                throw new InputException($"{file}: file not found");
            }

            try
            {
                foreach (var document in Manifests.LoadFile(file))
                {
                    if (document is ModelDeployment deployment)
                    {
                        deployments.Add(deployment);
                    }
                    else if (document is TrainingRun trainingRun)
                    {
                        runs.Add(trainingRun);
                    }
                }
            }
            catch (InvalidDataException e)
            {
                throw new InputException(e.Message, e);
            }
        }

        var chosen = deploymentName is null
            ? deployments.Count == 1 ? deployments[0]
                : throw new InputException(deployments.Count == 0
                    ? "no ModelDeployment in the given files"
                    : $"the files hold {deployments.Count} ModelDeployments ({string.Join(", ", deployments.Select(d => d.Metadata?.Name))}); choose one with --deployment")
            : deployments.FirstOrDefault(d => d.Metadata?.Name == deploymentName)
              ?? throw new InputException($"--deployment: no ModelDeployment named '{deploymentName}' in the given files");
        var name = chosen.Metadata?.Name ?? "model";
        var spec = chosen.Spec ?? throw new InputException($"ModelDeployment {name}: spec is missing");
        if (spec.PinnedRevision is { } pinned)
        {
            throw new InputException($"ModelDeployment {name}: spec.pinnedRevision {pinned} names a revision from the status history only the operator keeps; serve that revision's model with --model URI");
        }

        string runName;
        if (spec.Source.TrainingRun is { } reference)
        {
            runName = reference.Name;
        }
        else if (spec.Source.Selector is { } selector)
        {
            runName = NewestMatching(name, selector, spec.Promotion.RequireGates, runs, files, environment);
        }
        else
        {
            throw new InputException($"ModelDeployment {name}: spec.source needs trainingRun or selector");
        }

        var run = ManifestResolver.Resolve(files, runName, null, environment);
        return new DeploymentSource(name, run.Name, Path.Combine(run.ArtifactsDirectory, "model"));
    }

    private static string NewestMatching(string deployment, V1LabelSelector selector, bool requireGates, List<TrainingRun> runs, IReadOnlyList<string> files, Func<string, string?> environment)
    {
        var candidates = new List<(string Name, DateTimeOffset Finished)>();
        var skipped = new List<string>();
        foreach (var run in runs.Where(r => Matches(selector, r.Metadata?.Labels)))
        {
            var runName = run.Metadata?.Name ?? "";
            var reportPath = Path.Combine(ManifestResolver.Resolve(files, runName, null, environment).ArtifactsDirectory, TrainingReport.FileName);
            if (!File.Exists(reportPath))
            {
                skipped.Add($"{runName} (not trained: no {reportPath})");
                continue;
            }

            var report = TrainingReport.Load(reportPath);
            if (report.Phase != TrainingRunPhases.Succeeded || (requireGates && !report.GatesPassed))
            {
                skipped.Add($"{runName} ({report.Phase}{(report.GatesPassed ? "" : ", gates failed")})");
                continue;
            }

            candidates.Add((runName, report.FinishedAt));
        }

        return candidates.Count > 0
            ? candidates.MaxBy(c => c.Finished).Name
            : throw new InputException($"ModelDeployment {deployment}: no Succeeded TrainingRun{(requireGates ? " with passed gates" : "")} in the given files matches spec.source.selector"
                + (skipped.Count > 0 ? $" (matching but not eligible: {string.Join(", ", skipped)})" : ""));
    }

    /// <summary>Kubernetes label selector semantics: every matchLabels pair and every matchExpressions requirement holds.</summary>
    internal static bool Matches(V1LabelSelector selector, IDictionary<string, string>? labels)
    {
        labels ??= new Dictionary<string, string>();
        if (selector.MatchLabels?.Any(p => !labels.TryGetValue(p.Key, out var v) || v != p.Value) == true)
        {
            return false;
        }

        foreach (var requirement in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(requirement.Key, out var value);
            var values = requirement.Values ?? [];
            var holds = requirement.OperatorProperty switch
            {
                "In" => has && values.Contains(value!),
                "NotIn" => !has || !values.Contains(value!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => throw new InputException($"spec.source.selector: operator '{requirement.OperatorProperty}' is not In, NotIn, Exists or DoesNotExist"),
            };
            if (!holds)
            {
                return false;
            }
        }

        return true;
    }
}
