using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Syllabus.Api.Tests;

/// <summary>Runs tests/schema-validator (ajv + @bufbuild/cel on Node.js) against manifest files.</summary>
internal static class SchemaValidator
{
    /// <summary>Why the validator cannot run here, or null when it can.</summary>
    public static string? SkipReason { get; } = FindSkipReason();

    private static string? FindSkipReason()
    {
        if (!Directory.Exists(Path.Combine(TestPaths.Validator, "node_modules", "@bufbuild", "cel")))
        {
            return "tests/schema-validator has no node_modules: run `npm ci --prefix tests/schema-validator` (.ci/run does)";
        }

        try
        {
            using var node = Process.Start(new ProcessStartInfo("node", "--version") { RedirectStandardOutput = true });
            node!.WaitForExit();
            return node.ExitCode == 0 ? null : "node --version failed";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "Node.js (node) is not on PATH";
        }
    }

    public sealed record DocumentResult(string File, int Document, string? Kind, string? Name, IReadOnlyList<(string Path, string Message)> Errors, JsonObject? Defaulted);

    public static IReadOnlyList<DocumentResult> Validate(params string[] files)
    {
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(TestPaths.Validator, "validate.mjs"));
        start.ArgumentList.Add(TestPaths.Crds);
        foreach (var file in files)
        {
            start.ArgumentList.Add(file);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode is not (0 or 1))
        {
            throw new InvalidOperationException($"validator exited {process.ExitCode}: {stderr.Result}");
        }

        var report = JsonNode.Parse(stdout.Result)!.AsArray();
        return [.. report.Select(r => new DocumentResult(
            r!["file"]!.GetValue<string>(),
            r["document"]!.GetValue<int>(),
            r["kind"]?.GetValue<string>(),
            r["name"]?.GetValue<string>(),
            [.. r["errors"]!.AsArray().Select(e => (e!["path"]!.GetValue<string>(), e["message"]!.GetValue<string>()))],
            r["defaulted"] as JsonObject))];
    }
}
