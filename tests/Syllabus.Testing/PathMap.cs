using System.Text;
using System.Text.RegularExpressions;

namespace Syllabus.Testing;

/// <summary>
/// Container paths (volume mounts, the termination message file) to host paths, substituted in arguments
/// and environment values wherever a mapped path appears as a whole path or a path prefix.
/// </summary>
internal sealed class PathMap
{
    private readonly List<KeyValuePair<string, string>> entries;
    private readonly Regex? pattern;

    public PathMap(IEnumerable<KeyValuePair<string, string>> map)
    {
        // Longest first, so /data/models wins over /data.
        entries = [.. map.Select(e => KeyValuePair.Create(e.Key.TrimEnd('/'), e.Value.TrimEnd('/')))
            .Where(e => e.Key.Length > 0)
            .DistinctBy(e => e.Key)
            .OrderByDescending(e => e.Key.Length)];
        if (entries.Count > 0)
        {
            // A mapped path must not be preceded by a path character (so /x/data is not /data) and must end
            // at a separator or a non-path character (so /database is not /data).
            var alternatives = string.Join('|', entries.Select(e => Regex.Escape(e.Key)));
            pattern = new Regex($@"(?<![\w.\-/])(?:{alternatives})(?![\w.\-])", RegexOptions.CultureInvariant);
        }
    }

    public IReadOnlyDictionary<string, string> Entries => entries.ToDictionary(e => e.Key, e => e.Value);

    public string Apply(string value)
    {
        if (pattern is null)
        {
            return value;
        }

        return pattern.Replace(value, m => entries.First(e => e.Key == m.Value).Value);
    }

    /// <summary>The SYLLABUS_PATH_MAP value: <c>containerPath=hostPath;...</c>.</summary>
    public string ToEnvironmentValue()
    {
        var builder = new StringBuilder();
        foreach (var (container, host) in entries)
        {
            if (builder.Length > 0)
            {
                builder.Append(';');
            }

            builder.Append(container).Append('=').Append(host);
        }

        return builder.ToString();
    }

    /// <summary>Kubernetes' $(VAR) expansion in env values, command and args: $$ escapes, unknown references stay as written.</summary>
    public static string Expand(string input, Func<string, string?> lookup)
    {
        if (!input.Contains('$', StringComparison.Ordinal))
        {
            return input;
        }

        var output = new StringBuilder(input.Length);
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] != '$' || i + 1 >= input.Length)
            {
                output.Append(input[i]);
                continue;
            }

            if (input[i + 1] == '$')
            {
                output.Append('$');
                i++;
                continue;
            }

            if (input[i + 1] == '(')
            {
                var close = input.IndexOf(')', i + 2);
                if (close > 0)
                {
                    var name = input[(i + 2)..close];
                    if (lookup(name) is { } value)
                    {
                        output.Append(value);
                    }
                    else
                    {
                        output.Append(input, i, close - i + 1);
                    }

                    i = close;
                    continue;
                }
            }

            output.Append('$');
        }

        return output.ToString();
    }
}
