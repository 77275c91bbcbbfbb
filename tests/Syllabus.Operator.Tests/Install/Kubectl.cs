using System.Diagnostics;
using System.Text.Json;

namespace Syllabus.Operator.Tests.Install;

/// <summary>Renders kustomizations with the kubectl on PATH (its embedded kustomize).</summary>
internal static class Kubectl
{
    // labels: with pairs needs kustomize 4.1, components 3.7; Debian 12's kubectl 1.20 embeds kustomize 2.0.3.
    private static readonly Version MinimumKustomize = new(4, 5);

    private static readonly Lazy<(string? Path, string? Problem)> Located = new(Locate);

    public static bool IsAvailable => Located.Value.Path is not null;

    /// <summary>Skips the calling test, with the reason, when no usable kubectl is on PATH.</summary>
    public static string RequirePath()
    {
        var (path, problem) = Located.Value;
        if (path is null)
        {
            Assert.Skip(problem ?? "kubectl is not available");
        }

        return path;
    }

    /// <summary>Runs <c>kubectl kustomize <paramref name="directory"/></c> and returns the YAML; fails with kubectl's error.</summary>
    public static string Kustomize(string directory)
    {
        var (exit, stdout, stderr) = Run(RequirePath(), "kustomize", directory);
        if (exit != 0)
        {
            Assert.Fail($"kubectl kustomize {directory} failed (exit {exit}):\n{stderr}");
        }

        return stdout;
    }

    private static (string? Path, string? Problem) Locate()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "kubectl"))
            .FirstOrDefault(File.Exists);
        if (path is null)
        {
            return (null, "kubectl is not on PATH; install it to render config/ (any kubectl whose embedded kustomize is 4.5 or newer)");
        }

        var (exit, stdout, stderr) = Run(path, "version", "--client", "-o", "json");
        if (exit != 0)
        {
            return (null, $"'{path} version --client' failed: {stderr}");
        }

        using var doc = JsonDocument.Parse(stdout);
        var text = doc.RootElement.TryGetProperty("kustomizeVersion", out var v) ? v.GetString() : null;
        if (text is null || !Version.TryParse(text.TrimStart('v').Split('-', '+')[0], out var version))
        {
            return (null, $"{path} reports no kustomize version ({text ?? "none"}); it cannot render config/");
        }

        return version < MinimumKustomize
            ? (null, $"{path} embeds kustomize {text}, older than {MinimumKustomize}; config/ needs labels and components")
            : (path, null);
    }

    /// <summary>Runs kubectl with <paramref name="args"/> (skipping the test without a usable kubectl).</summary>
    public static (int Exit, string Stdout, string Stderr) Invoke(params string[] args) => Run(RequirePath(), args);

    private static (int Exit, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 2 minutes");
        }

        return (process.ExitCode, stdout, stderr.GetAwaiter().GetResult());
    }
}
