using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using k8s.Models;
using NLua;
using YamlDotNet.RepresentationModel;

namespace Syllabus.Operator.Tests.Install;

/// <summary>An Argo CD health assessment: the <c>hs</c> table a health script returns.</summary>
internal sealed record Health(string Status, string Message);

/// <summary>The Argo CD health scripts of config/argocd and a Lua 5.4 interpreter (NLua) to run them.</summary>
internal static class HealthChecks
{
    private const string Prefix = "resource.customizations.health.syllabus.dev_";

    public static string Key(string kind) => Prefix + kind;

    /// <summary>
    /// The scripts by kind, from the argocd-cm that kubectl renders from config/argocd; without kubectl, from the
    /// files its configMapGenerator names (the same files, read the same way kustomize reads them).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Load() =>
        Kubectl.IsAvailable ? FromRenderedConfigMap() : FromKustomization();

    public static IReadOnlyDictionary<string, string> FromRenderedConfigMap()
    {
        var cm = Manifests.Render(InstallPaths.Config("argocd")).Single("ConfigMap", "argocd-cm").As<V1ConfigMap>();
        return ByKind(cm.Data);
    }

    public static IReadOnlyDictionary<string, string> FromKustomization()
    {
        var dir = InstallPaths.Config("argocd");
        var stream = new YamlStream();
        using (var reader = File.OpenText(Path.Combine(dir, "kustomization.yaml")))
        {
            stream.Load(reader);
        }

        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var generator = ((YamlSequenceNode)root["configMapGenerator"]).Children.Cast<YamlMappingNode>()
            .Single(g => ((YamlScalarNode)g["name"]).Value == "argocd-cm");
        var data = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in ((YamlSequenceNode)generator["files"]).Children.Cast<YamlScalarNode>())
        {
            var parts = entry.Value!.Split('=', 2);
            if (parts.Length != 2)
            {
                throw new InvalidDataException($"configMapGenerator file entry '{entry.Value}' has no key= prefix");
            }

            data[parts[0]] = File.ReadAllText(Path.Combine(dir, parts[1]));
        }

        return ByKind(data);
    }

    /// <summary>Runs <paramref name="script"/> as Argo CD does: the resource as the global <c>obj</c>, the result is <c>hs</c>.</summary>
    public static Health Run(string script, JsonNode resource)
    {
        using var lua = NewSandbox();
        lua.DoString("obj = " + ToLua(resource), "resource");
        var results = lua.DoString(script, "health.lua");
        if (results is not [LuaTable hs, ..])
        {
            throw new InvalidDataException($"the health script returned {(results is null ? "nothing" : string.Join(", ", results))}, not a table");
        }

        using (hs)
        {
            return new Health(
                hs["status"] as string ?? throw new InvalidDataException("the health script's result has no status"),
                hs["message"] as string ?? "");
        }
    }

    /// <summary>
    /// Runs the script on a Lua 5.1 interpreter (<c>lua5.1</c> on PATH), the language version of Argo CD's
    /// gopher-lua, so 5.2+-only constructs are caught. Null when no lua5.1 is installed.
    /// </summary>
    public static Health? RunLua51(string script, JsonNode resource)
    {
        var lua = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "lua5.1"))
            .FirstOrDefault(File.Exists);
        if (lua is null)
        {
            return null;
        }

        // The script's top-level returns become the wrapper function's; the result goes out one field per line.
        var program = $"""
            os.exit = nil
            obj = {ToLua(resource)}
            local function check()
            {script}
            end
            local hs = check()
            io.write(tostring(hs.status), "\n", tostring(hs.message))
            """;
        var info = new System.Diagnostics.ProcessStartInfo(lua, "-")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException($"could not start {lua}");
        process.StandardInput.Write(program);
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidDataException($"lua5.1 failed (exit {process.ExitCode}): {stderr.GetAwaiter().GetResult()}");
        }

        var lines = stdout.Split('\n', 2);
        return new Health(lines[0], lines.Length > 1 ? lines[1] : "");
    }

    /// <summary>A Lua state with what Argo CD's gopher-lua VM offers: base, table, string, math and coroutine; UTF-8 strings as in Go.</summary>
    public static Lua NewSandbox()
    {
        var lua = new Lua();
        lua.State.Encoding = Encoding.UTF8;
        lua.DoString("os = nil; io = nil; debug = nil; package = nil; require = nil; dofile = nil; loadfile = nil");
        return lua;
    }

    /// <summary>A Lua table constructor for a JSON value (NLua has no JSON bridge; this is the few lines it takes).</summary>
    public static string ToLua(JsonNode? node)
    {
        var sb = new StringBuilder();
        Write(sb, node);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, JsonNode? node)
    {
        switch (node)
        {
            case null:
                sb.Append("nil");
                break;
            case JsonObject o:
                sb.Append('{');
                foreach (var (key, value) in o)
                {
                    if (value is null)
                    {
                        continue;
                    }

                    sb.Append('[');
                    Quote(sb, key);
                    sb.Append("]=");
                    Write(sb, value);
                    sb.Append(',');
                }

                sb.Append('}');
                break;
            case JsonArray a:
                sb.Append('{');
                foreach (var item in a)
                {
                    Write(sb, item);
                    sb.Append(',');
                }

                sb.Append('}');
                break;
            case JsonValue v when v.TryGetValue<string>(out var s):
                Quote(sb, s);
                break;
            case JsonValue v when v.TryGetValue<bool>(out var b):
                sb.Append(b ? "true" : "false");
                break;
            case JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number:
                // Integers stay integers (as gopher-lua compares them), anything else is a double.
                var text = v.ToJsonString();
                sb.Append(long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l)
                    ? l.ToString(CultureInfo.InvariantCulture)
                    : double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture));
                break;
            default:
                throw new NotSupportedException($"cannot convert {node.GetValueKind()} to Lua");
        }
    }

    private static void Quote(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in Encoding.UTF8.GetBytes(s))
        {
            // Decimal escapes for anything that is not printable ASCII, a quote or a backslash; valid in Lua 5.1 and 5.4.
            if (c is >= 0x20 and < 0x7f && c != '"' && c != '\\')
            {
                sb.Append((char)c);
            }
            else
            {
                sb.Append('\\').Append(c.ToString("D3", CultureInfo.InvariantCulture));
            }
        }

        sb.Append('"');
    }

    private static Dictionary<string, string> ByKind(IDictionary<string, string> data) =>
        data.Where(kv => kv.Key.StartsWith(Prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[Prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
}
