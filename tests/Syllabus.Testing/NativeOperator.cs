using System.Diagnostics;

namespace Syllabus.Testing;

/// <summary>
/// The operator as the image ships it: published as the Dockerfile does (Release, Native AOT, linux-x64), so a test or
/// benchmark runs the executable users run, not the JIT build next to the test binaries.
/// </summary>
public static class NativeOperator
{
    /// <summary>Why the Native AOT operator cannot be built here (ILC links with clang), or null.</summary>
    public static string? SkipReason { get; } =
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, "clang")) || File.Exists(Path.Combine(d, "clang-14")))
            ? null
            : "Native AOT publishing needs clang on PATH (scripts/test-prereqs.sh installs it with apt-get)";

    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>
    /// Publishes the operator into <paramref name="output"/> and returns the executable's path; one publish at a time in
    /// this process, and ILC skips the work when nothing changed.
    /// </summary>
    public static async Task<string> PublishAsync(string output, CancellationToken ct = default)
    {
        var project = Path.Combine(RepositoryPaths.Root, "operator", "Syllabus.Operator", "Syllabus.Operator.csproj");
        var publish = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "publish", project, "-c", "Release", "-r", "linux-x64", "-o", output, "--nologo", "-v", "quiet" })
        {
            publish.ArgumentList.Add(argument);
        }

        await Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var process = Process.Start(publish) ?? throw new InvalidOperationException("dotnet publish did not start.");
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"dotnet publish of the operator failed ({process.ExitCode}):\n{await stdout.ConfigureAwait(false)}{await stderr.ConfigureAwait(false)}");
            }
        }
        finally
        {
            Gate.Release();
        }

        var executable = Path.Combine(output, "Syllabus.Operator");
        return File.Exists(executable) ? executable : throw new InvalidOperationException($"dotnet publish wrote no {executable}");
    }
}
