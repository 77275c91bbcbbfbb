using System.Security.Cryptography;
using System.Text;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Runtime;

namespace Syllabus.Operator.TrainingRuns;

/// <summary>
/// The trainer's input for one run, fixed when the run starts: a TrainingRun manifest with the curriculum inlined and
/// the base model resolved to an artifact URI, so later changes to a Curriculum or base run do not alter it.
/// </summary>
/// <param name="Yaml">The TrainingRun manifest the trainer reads (<c>train -f</c>).</param>
/// <param name="Hash">First 16 hex digits of the SHA-256 of <paramref name="Yaml"/>.</param>
/// <param name="CurriculumName">The Curriculum that was inlined, if any.</param>
/// <param name="BaseModelUri">The resolved base model artifact, if any.</param>
/// <param name="Claims">PersistentVolumeClaims named by pvc:// URIs (artifacts, data, base model), sorted.</param>
public sealed record ResolvedTrainerConfig(string Yaml, string Hash, string? CurriculumName, string? BaseModelUri, IReadOnlyList<string> Claims)
{
    public const string FileName = "trainingrun.yaml";

    /// <summary>Reads a config back from its ConfigMap (after an operator restart, or for a later attempt).</summary>
    public static ResolvedTrainerConfig FromConfigMap(V1ConfigMap configMap)
    {
        ArgumentNullException.ThrowIfNull(configMap);
        if (configMap.Data is null || !configMap.Data.TryGetValue(FileName, out var yaml))
        {
            throw new InvalidDataException($"ConfigMap {configMap.Metadata?.Name} has no key {FileName}.");
        }

        var run = ManifestYaml.Deserialize<TrainingRun>(yaml, $"ConfigMap {configMap.Metadata?.Name}");
        return ResolvedConfigBuilder.Describe(yaml, run.Spec, null);
    }
}

public static class ResolvedConfigBuilder
{
    /// <summary>
    /// Builds the resolved manifest. <paramref name="curriculum"/> must be the Curriculum that spec.curriculumRef names
    /// (null when there is none); <paramref name="baseModelUri"/> the model of the base TrainingRun when
    /// spec.baseModel.trainingRun is set; <paramref name="teacherModelUri"/> the model of the curriculum's teacher
    /// TrainingRun when its difficulty.teacher.trainingRun is set.
    /// </summary>
    /// <exception cref="ArgumentException">A reference is set but what it names was not given.</exception>
    public static ResolvedTrainerConfig Build(TrainingRun run, Curriculum? curriculum, string? baseModelUri, string? teacherModelUri = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        var spec = KubernetesObjects.DeepClone(run.Spec);
        string? curriculumName = null;
        if (spec.CurriculumRef is { } reference)
        {
            if (curriculum is null || curriculum.Metadata?.Name != reference.Name)
            {
                throw new ArgumentException($"TrainingRun {run.Metadata?.Name} refers to Curriculum '{reference.Name}', which was not given.", nameof(curriculum));
            }

            spec.Curriculum = KubernetesObjects.DeepClone(curriculum.Spec);
            spec.CurriculumRef = null;
            curriculumName = reference.Name;
        }

        if (spec.BaseModel is { TrainingRun: { } baseRun } baseModel)
        {
            if (string.IsNullOrEmpty(baseModelUri))
            {
                throw new ArgumentException($"TrainingRun {run.Metadata?.Name} starts from TrainingRun '{baseRun.Name}', whose model URI was not given.", nameof(baseModelUri));
            }

            baseModel.TrainingRun = null;
            baseModel.Uri = baseModelUri;
        }

        if (spec.Curriculum?.Difficulty?.Teacher is { TrainingRun: { } teacherRun } teacher)
        {
            if (string.IsNullOrEmpty(teacherModelUri))
            {
                throw new ArgumentException($"TrainingRun {run.Metadata?.Name} has a curriculum whose teacher is TrainingRun '{teacherRun.Name}', whose model URI was not given.", nameof(teacherModelUri));
            }

            teacher.TrainingRun = null;
            teacher.Uri = teacherModelUri;
        }

        var resolved = new TrainingRun
        {
            Metadata = new V1ObjectMeta { Name = run.Metadata?.Name, NamespaceProperty = run.Metadata?.NamespaceProperty },
            Spec = spec,
        };
        return Describe(ManifestYaml.Serialize(resolved), spec, curriculumName);
    }

    internal static ResolvedTrainerConfig Describe(string yaml, TrainingRunSpec spec, string? curriculumName)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)))[..16];
        return new ResolvedTrainerConfig(yaml, hash, curriculumName, spec.BaseModel?.Uri, ClaimsOf(spec));
    }

    /// <summary>The claims of every pvc:// URI the trainer reads or writes.</summary>
    public static IReadOnlyList<string> ClaimsOf(TrainingRunSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var uris = new List<string?>
        {
            spec.Artifacts?.Uri, spec.Data?.Train?.Uri, spec.Data?.Validation?.Uri, spec.Data?.Test?.Uri, spec.Data?.Replay?.Data?.Uri,
            spec.Continual?.Ewc?.FisherData?.Uri, spec.BaseModel?.Uri, spec.Curriculum?.Difficulty?.Teacher?.Uri,
        };
        uris.AddRange(spec.Data?.AdditionalTrain?.Select(s => s.Uri) ?? []);
        uris.AddRange(spec.Continual?.PreviousTasks?.Select(t => t.Test?.Uri) ?? []);
        return [.. uris.Select(ClaimOf).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }

    /// <summary>CLAIM of pvc://CLAIM/path, or null for other URIs.</summary>
    public static string? ClaimOf(string? uri)
    {
        if (uri is null || !uri.StartsWith("pvc://", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var rest = uri["pvc://".Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var claim = slash < 0 ? rest : rest[..slash];
        return claim.Length == 0 ? null : claim;
    }
}
