using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Syllabus.Operator.Tests.Install;

/// <summary>
/// Static checks of the Dockerfiles, since no Docker engine builds them here: every COPY source exists and is not
/// excluded by .dockerignore, every file a project imports is in place before its restore, base images are pinned,
/// and the final stage runs as a numeric non-root user.
/// </summary>
public sealed partial class DockerfileTests
{
    public static TheoryData<string, string> Dockerfiles => new()
    {
        { "Dockerfile", "operator/Syllabus.Operator/Syllabus.Operator.csproj" },
        { "trainer-image/Dockerfile", "trainer-image/Syllabus.Trainer/Syllabus.Trainer.csproj" },
    };

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void CopySourcesExistAndAreInTheBuildContext(string dockerfile, string project)
    {
        _ = project;
        var ignored = DockerIgnore();
        foreach (var source in Instructions(dockerfile).Where(i => i.Op == "COPY" && !i.Args.StartsWith("--from", StringComparison.Ordinal)).SelectMany(i => CopySources(i.Args)))
        {
            var path = Path.Combine(InstallPaths.Root, source);
            Assert.True(File.Exists(path) || Directory.Exists(path), $"{dockerfile}: COPY source {source} does not exist");
            Assert.False(ignored.Any(p => source.TrimEnd('/').Equals(p, StringComparison.Ordinal) || source.StartsWith(p + "/", StringComparison.Ordinal)), $"{dockerfile}: COPY source {source} is excluded by .dockerignore");
        }
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void RestoreSeesEveryFileTheProjectImports(string dockerfile, string project)
    {
        // The restore layer copies project files only; an Import missing there breaks the build (or silently drops
        // a package reference, like the torch variant switch).
        var instructions = Instructions(dockerfile);
        var restore = instructions.FindIndex(i => i.Op == "RUN" && i.Args.Contains("dotnet restore", StringComparison.Ordinal));
        Assert.True(restore > 0, $"{dockerfile} has no dotnet restore step");
        var copiedBefore = instructions.Take(restore).Where(i => i.Op == "COPY").SelectMany(i => CopySources(i.Args)).ToList();

        var projects = new Queue<string>([project]);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (projects.TryDequeue(out var current))
        {
            if (!seen.Add(current))
            {
                continue;
            }

            Assert.Contains(current, copiedBefore);
            var dir = Path.GetDirectoryName(current)!;
            var xml = XDocument.Load(Path.Combine(InstallPaths.Root, current));
            foreach (var import in xml.Descendants("Import").Select(e => (string?)e.Attribute("Project")).OfType<string>().Where(p => !p.Contains("$(", StringComparison.Ordinal)))
            {
                var imported = Normalize(Path.Combine(dir, import));
                Assert.True(
                    copiedBefore.Any(c => imported == c || imported.StartsWith(c.TrimEnd('/') + "/", StringComparison.Ordinal)),
                    $"{dockerfile}: {current} imports {imported}, which is not copied before dotnet restore");
            }

            foreach (var reference in xml.Descendants("ProjectReference").Select(e => (string?)e.Attribute("Include")).OfType<string>())
            {
                projects.Enqueue(Normalize(Path.Combine(dir, reference)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void BaseImagesArePinnedAndTheImageRunsAsANumericNonRootUser(string dockerfile, string project)
    {
        _ = project;
        var instructions = Instructions(dockerfile);
        var args = instructions.Where(i => i.Op == "ARG" && i.Args.Contains('=', StringComparison.Ordinal))
            .Select(i => i.Args.Split('=', 2)).ToDictionary(a => a[0], a => a[1], StringComparer.Ordinal);
        var stages = new HashSet<string>(StringComparer.Ordinal);
        foreach (var from in instructions.Where(i => i.Op == "FROM"))
        {
            var parts = from.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var image = ArgReference().Replace(parts[0], m => args.TryGetValue(m.Groups[1].Value, out var v) ? v : m.Value);
            if (parts.Length == 3 && parts[1].Equals("AS", StringComparison.OrdinalIgnoreCase))
            {
                stages.Add(parts[2]);
            }

            if (stages.Contains(image) || image.StartsWith("runtime-", StringComparison.Ordinal))
            {
                continue; // an earlier stage
            }

            var tag = image.Contains(':', StringComparison.Ordinal) ? image[(image.LastIndexOf(':') + 1)..] : "";
            Assert.True(tag.Length > 0 && tag != "latest" && Regex.IsMatch(tag, @"\d+\.\d+\.\d+"), $"{dockerfile}: base image {image} is not pinned to a patch version");
        }

        var user = instructions.Last(i => i.Op == "USER").Args;
        Assert.Matches(@"^[1-9]\d*(:\d+)?$", user);
        Assert.True(instructions.FindLastIndex(i => i.Op == "USER") > instructions.FindLastIndex(i => i.Op == "FROM"), $"{dockerfile}: the final stage sets no USER");
    }

    [Fact]
    public void TheOperatorImageShipsTheNativeAotExecutableOnRuntimeDeps()
    {
        // The project publishes Native AOT; the build stage needs clang and zlib to link it and a runtime identifier to
        // publish it; the final stage is runtime-deps (no .NET runtime: the executable carries its own) and runs the
        // executable itself, not "dotnet X.dll" (which would fail there: no dotnet, no dll).
        var project = XDocument.Load(Path.Combine(InstallPaths.Root, "operator/Syllabus.Operator/Syllabus.Operator.csproj"));
        Assert.Equal("true", project.Descendants("PublishAot").Single().Value);

        var instructions = Instructions("Dockerfile");
        var finalFrom = instructions.FindLastIndex(i => i.Op == "FROM");
        var build = instructions.Take(finalFrom).ToList();
        Assert.Contains(build, i => i.Op == "RUN" && i.Args.Contains("apt-get install", StringComparison.Ordinal)
            && i.Args.Contains(" clang", StringComparison.Ordinal) && i.Args.Contains("zlib1g-dev", StringComparison.Ordinal));
        Assert.Contains(build, i => i.Op == "RUN" && i.Args.Contains("dotnet publish", StringComparison.Ordinal) && i.Args.Contains(" -r ", StringComparison.Ordinal));

        var runtimeImage = instructions.Single(i => i.Op == "ARG" && i.Args.StartsWith("RUNTIME_IMAGE=", StringComparison.Ordinal)).Args;
        Assert.Contains("/dotnet/runtime-deps:", runtimeImage, StringComparison.Ordinal);
        Assert.Equal("""["/app/Syllabus.Operator"]""", instructions.Last(i => i.Op == "ENTRYPOINT").Args);
    }

    private sealed record Instruction(string Op, string Args);

    private static List<Instruction> Instructions(string dockerfile)
    {
        var text = File.ReadAllText(Path.Combine(InstallPaths.Root, dockerfile)).Replace("\\\n", " ", StringComparison.Ordinal);
        return [.. text.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', 2))
            .Select(p => new Instruction(p[0].ToUpperInvariant(), p.Length > 1 ? p[1].Trim() : ""))];
    }

    /// <summary>All but the last argument of a COPY are sources.</summary>
    private static IEnumerable<string> CopySources(string args)
    {
        var parts = args.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(p => !p.StartsWith("--", StringComparison.Ordinal)).ToArray();
        return parts[..^1].Select(Normalize);
    }

    private static string Normalize(string path)
    {
        var trailing = path.EndsWith('/');
        var full = Path.GetRelativePath(InstallPaths.Root, Path.GetFullPath(path.Replace('\\', '/'), InstallPaths.Root)).Replace('\\', '/');
        return trailing ? full + "/" : full;
    }

    private static List<string> DockerIgnore() =>
        [.. File.ReadAllLines(Path.Combine(InstallPaths.Root, ".dockerignore"))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#') && !l.StartsWith("**", StringComparison.Ordinal) && !l.Contains('*', StringComparison.Ordinal))
            .Select(l => l.TrimEnd('/'))];

    [GeneratedRegex(@"\$\{(\w+)\}")]
    private static partial Regex ArgReference();
}
