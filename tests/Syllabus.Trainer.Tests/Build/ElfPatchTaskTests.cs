using System.Diagnostics;
using TorchSharp;

namespace Syllabus.Trainer.Tests.Build;

// Runs the inline MSBuild task from build/LibTorchSharpGlibcxx.targets on its own through `dotnet msbuild`.
public sealed class ElfPatchTaskTests
{
    [Fact]
    public void PatchesACopyIdempotentlyAndLeavesTheSourceAlone()
    {
        var source = CachedLibrary();
        using var dir = new TempDir();
        var destination = Path.Combine(dir.Path, "out", "libLibTorchSharp.so");
        var before = File.ReadAllBytes(source);

        var again = Path.Combine(dir.Path, "again.so");
        // One msbuild run: patch, patch the same again (must not rewrite), then patch the patched copy (must not change).
        var (code, output) = Patch(dir.Path, (source, destination), (source, destination), (destination, again));
        Assert.True(code == 0, output);
        var patched = File.ReadAllBytes(destination);
        Assert.Equal(before, File.ReadAllBytes(source));
        var diff = Enumerable.Range(0, before.Length).Where(i => before[i] != patched[i]).ToArray();
        // Exactly one byte changes: the low byte of vna_flags gains VER_FLG_WEAK (0x2).
        var at = Assert.Single(diff);
        Assert.Equal(before[at] | 0x2, patched[at]);
        Assert.Equal(patched, File.ReadAllBytes(again));
        Assert.Contains("is already patched", output, StringComparison.Ordinal);
    }

    [Fact]
    public void FailsLoudlyOnFilesItDoesNotUnderstand()
    {
        using var dir = new TempDir();
        var notElf = Path.Combine(dir.Path, "not-elf.so");
        File.WriteAllText(notElf, "this is not a shared library");
        var (code, output) = Patch(dir.Path, (notElf, Path.Combine(dir.Path, "x.so")));
        Assert.NotEqual(0, code);
        Assert.Contains("is not an ELF file", output, StringComparison.Ordinal);

        // libstdc++ itself defines GLIBCXX versions but requires none of them: the task must refuse, not silently copy.
        const string libstdcxx = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
        if (!File.Exists(libstdcxx))
        {
            Assert.Skip($"{libstdcxx} not present");
        }

        (code, output) = Patch(dir.Path, (libstdcxx, Path.Combine(dir.Path, "y.so")));
        Assert.NotEqual(0, code);
        Assert.Contains("does not require GLIBCXX_3.4.32", output, StringComparison.Ordinal);
    }

    private static string CachedLibrary()
    {
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(cache, "torchsharp", typeof(torch).Assembly.GetName().Version!.ToString(3), "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} not present (packages restored elsewhere)");
        }

        return path;
    }

    private static (int Code, string Output) Patch(string workDir, params (string Source, string Destination)[] copies)
    {
        var calls = string.Join(Environment.NewLine, copies.Select(c =>
            $"""    <SyllabusWeakenElfVersionRequirement SourceFile="{c.Source}" DestinationFile="{c.Destination}" VersionName="GLIBCXX_3.4.32" Mode="true" />"""));
        var targets = Path.Combine(RepositoryPaths.Root, "trainer-image", "Syllabus.Trainer", "build", "LibTorchSharpGlibcxx.targets");
        var project = Path.Combine(workDir, "patch.proj");
        File.WriteAllText(project, $"""
            <Project>
              <Import Project="{targets}" />
              <Target Name="Patch">
            {calls}
              </Target>
            </Project>
            """);
        var psi = new ProcessStartInfo("dotnet", ["msbuild", project, "-t:Patch", "-nologo", "-v:d", "-nodeReuse:false"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workDir,
        };
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr);
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("syllabus-elf-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
