using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Syllabus.Api;
using Syllabus.Api.Validation;
using Syllabus.Trainer.Storage;

namespace Syllabus.Trainer.Cli;

/// <summary>The TrainingRun to run with everything it refers to resolved to local folders.</summary>
/// <param name="Name">metadata.name of the run.</param>
/// <param name="Spec">The spec with the curriculum inlined and URIs' environment variables expanded.</param>
/// <param name="BaseDirectory">Folder relative data paths resolve against (the manifest's folder).</param>
/// <param name="ArtifactsUri">The artifacts URI as given (expanded), used for the URIs in the report.</param>
/// <param name="ArtifactsDirectory">Local folder of the artifacts.</param>
/// <param name="BaseModelFolder">Local model folder of the base model, if any.</param>
/// <param name="TeacherFolder">Local model folder of the curriculum's teacher, if any.</param>
public sealed record ResolvedRun(
    string Name, TrainingRunSpec Spec, string BaseDirectory, string ArtifactsUri, string ArtifactsDirectory,
    string? BaseModelFolder, string? TeacherFolder);

/// <summary>
/// Reads the manifest files given with -f and resolves the TrainingRun to run. URIs may use <c>${NAME}</c> for
/// environment variables; <c>SYLLABUS_CACHE</c> defaults to <c>$HOME/.cache/syllabus</c> as in scripts/prepare-mnist.sh,
/// so examples can point at the MNIST cache that lives outside git.
/// </summary>
public static partial class ManifestResolver
{
    public const string CacheVariable = LocalCache.Variable;

    /// <exception cref="InputException">A file, document, reference or field is wrong; the message names it.</exception>
    public static ResolvedRun Resolve(IReadOnlyList<string> files, string? runName, string? artifactsOverride, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(environment);
        if (files.Count == 0)
        {
            throw new InputException("no manifest given: use -f FILE");
        }

        var runs = new List<(TrainingRun Run, string Directory)>();
        var curricula = new List<(Api.Curriculum Curriculum, string Directory)>();
        foreach (var file in files)
        {
            if (!File.Exists(file))
            {
                throw new InputException($"{file}: file not found");
            }

            IReadOnlyList<IKubernetesObject<V1ObjectMeta>> documents;
            try
            {
                documents = Manifests.LoadFile(file);
            }
            catch (InvalidDataException e)
            {
                throw new InputException(e.Message, e);
            }

            var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
            foreach (var document in documents)
            {
                switch (document)
                {
                    case TrainingRun run:
                        runs.Add((run, directory));
                        break;
                    case Api.Curriculum curriculum:
                        curricula.Add((curriculum, directory));
                        break;
                    default:
                        break;
                }
            }
        }

        var (selected, baseDirectory) = Select(runs, runName);
        var name = selected.Metadata?.Name ?? "trainingrun";
        var spec = selected.Spec ?? throw new InputException($"TrainingRun {name}: spec is missing");
        if (spec.CurriculumRef is { } reference)
        {
            if (spec.Curriculum is not null)
            {
                throw new InputException($"TrainingRun {name}: set at most one of spec.curriculumRef or spec.curriculum");
            }

            var found = curricula.FirstOrDefault(c => c.Curriculum.Metadata?.Name == reference.Name);
            spec.Curriculum = found.Curriculum?.Spec
                ?? throw new InputException($"spec.curriculumRef.name: no Curriculum named '{reference.Name}' in the given files (add its file with another -f)");
            spec.CurriculumRef = null;
        }

        // The schema's rules and its cross-field (CEL) rules: a local run gets the answer a cluster would give.
        List<ValidationError> problems = [.. SpecValidation.ValidateSchema(spec), .. SpecValidation.Validate(spec)];
        if (problems.Count > 0)
        {
            throw new InputException($"TrainingRun {name}: {string.Join("; ", problems)}");
        }

        var data = spec.Data;
        // One truth for the difficulty column: a Column curriculum's own column, which the loader reads as
        // data.difficultyColumn (kept out of the features). Naming another column there is a contradiction, not a choice.
        if (spec.Curriculum?.Difficulty is { Source: DifficultySources.Column, Column: { } difficultyColumn })
        {
            if (!string.IsNullOrEmpty(data.DifficultyColumn) && data.DifficultyColumn != difficultyColumn)
            {
                throw new InputException(
                    $"TrainingRun {name}: spec.data.difficultyColumn '{data.DifficultyColumn}' differs from spec.curriculum.difficulty.column '{difficultyColumn}'; "
                    + "the curriculum's column is the difficulty: remove data.difficultyColumn or name the same column");
            }

            data.DifficultyColumn = difficultyColumn;
        }

        data.Train.Uri = Expand(data.Train.Uri, "spec.data.train.uri", environment);
        foreach (var (source, i) in (data.AdditionalTrain ?? []).Select((s, i) => (s, i)))
        {
            source.Uri = Expand(source.Uri, $"spec.data.additionalTrain[{i}].uri", environment);
        }

        if (data.Validation is { } validation)
        {
            validation.Uri = Expand(validation.Uri, "spec.data.validation.uri", environment);
        }

        if (data.Test is { } test)
        {
            test.Uri = Expand(test.Uri, "spec.data.test.uri", environment);
        }

        if (data.Replay is { } replay)
        {
            replay.Data.Uri = Expand(replay.Data.Uri, "spec.data.replay.data.uri", environment);
        }

        if (spec.Continual?.Ewc?.FisherData is { } fisherData)
        {
            fisherData.Uri = Expand(fisherData.Uri, "spec.continual.ewc.fisherData.uri", environment);
        }

        foreach (var (task, i) in (spec.Continual?.PreviousTasks ?? []).Select((t, i) => (t, i)))
        {
            task.Test.Uri = Expand(task.Test.Uri, $"spec.continual.previousTasks[{i}].test.uri", environment);
        }

        var artifactsUri = Expand(artifactsOverride ?? spec.Artifacts.Uri, artifactsOverride is null ? "spec.artifacts.uri" : "--artifacts", environment);
        spec.Artifacts.Uri = artifactsUri;
        var artifactsDirectory = ResolveLocation(artifactsUri, baseDirectory, "spec.artifacts.uri");

        string? baseModelFolder = null;
        if (spec.BaseModel is { } baseModel)
        {
            baseModelFolder = ResolveModel(baseModel.TrainingRun, baseModel.Uri, "spec.baseModel", runs, baseDirectory, environment);
            if (baseModel.Uri is not null)
            {
                baseModel.Uri = Expand(baseModel.Uri, "spec.baseModel.uri", environment);
            }
        }

        string? teacherFolder = null;
        if (spec.Curriculum?.Difficulty is { Source: not DifficultySources.Column } difficulty)
        {
            if (difficulty.Teacher is not { } teacher)
            {
                throw new InputException("spec.curriculum.difficulty.teacher: required when source is TeacherLoss or TeacherConfidence");
            }

            teacherFolder = ResolveModel(teacher.TrainingRun, teacher.Uri, "spec.curriculum.difficulty.teacher", runs, baseDirectory, environment);
        }

        return new ResolvedRun(name, spec, baseDirectory, artifactsUri, artifactsDirectory, baseModelFolder, teacherFolder);
    }

    /// <summary>The model folder of a reference: another run's &lt;artifacts&gt;/model, or a URI.</summary>
    private static string ResolveModel(
        LocalObjectReference? run, string? uri, string field, List<(TrainingRun Run, string Directory)> runs, string baseDirectory,
        Func<string, string?> environment)
    {
        if ((run is null) == (uri is null))
        {
            throw new InputException($"{field}: set exactly one of trainingRun or uri");
        }

        if (uri is not null)
        {
            return ResolveLocation(Expand(uri, $"{field}.uri", environment), baseDirectory, $"{field}.uri");
        }

        var other = runs.FirstOrDefault(r => r.Run.Metadata?.Name == run!.Name);
        if (other.Run?.Spec is null)
        {
            throw new InputException(
                $"{field}.trainingRun.name: no TrainingRun named '{run!.Name}' in the given files (add its file with another -f, or use {field}.uri)");
        }

        var artifacts = Expand(other.Run.Spec.Artifacts.Uri, $"TrainingRun {run!.Name} spec.artifacts.uri", environment);
        return Path.Combine(ResolveLocation(artifacts, other.Directory, $"TrainingRun {run.Name} spec.artifacts.uri"), "model");
    }

    private static (TrainingRun Run, string Directory) Select(List<(TrainingRun Run, string Directory)> runs, string? runName)
    {
        if (runs.Count == 0)
        {
            throw new InputException("the given files hold no TrainingRun");
        }

        if (runName is not null)
        {
            var match = runs.FirstOrDefault(r => r.Run.Metadata?.Name == runName);
            return match.Run is null
                ? throw new InputException($"--run: no TrainingRun named '{runName}' (found: {string.Join(", ", runs.Select(r => r.Run.Metadata?.Name))})")
                : match;
        }

        return runs.Count == 1
            ? runs[0]
            : throw new InputException($"the files hold {runs.Count} TrainingRuns ({string.Join(", ", runs.Select(r => r.Run.Metadata?.Name))}); pick one with --run NAME");
    }

    private static string ResolveLocation(string uri, string baseDirectory, string field)
    {
        try
        {
            return ArtifactLocation.ResolvePath(uri, baseDirectory);
        }
        catch (ArgumentException e)
        {
            throw new InputException($"{field}: {e.Message}", e);
        }
    }

    /// <summary>Replaces <c>${NAME}</c> with the environment variable's value.</summary>
    /// <exception cref="InputException">A variable is not set.</exception>
    public static string Expand(string value, string field, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(environment);
        return VariablePattern().Replace(value, match =>
        {
            var variable = match.Groups[1].Value;
            var resolved = environment(variable);
            if (string.IsNullOrEmpty(resolved) && variable == CacheVariable)
            {
                resolved = LocalCache.Root(environment);
            }

            return string.IsNullOrEmpty(resolved)
                ? throw new InputException($"{field}: environment variable {variable} in '{value}' is not set")
                : resolved;
        });
    }

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex VariablePattern();
}
