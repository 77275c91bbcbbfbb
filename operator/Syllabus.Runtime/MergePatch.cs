using System.Text.Json.Nodes;

namespace Syllabus.Runtime;

/// <summary>
/// RFC 7386 JSON merge patches computed as a difference (what controller-runtime's client.MergeFrom does):
/// changed members are written, removed members become null, arrays are replaced whole.
/// </summary>
public static class MergePatch
{
    /// <summary>
    /// The merge patch that turns <paramref name="original"/> into <paramref name="modified"/>, or null when they are
    /// equal. A null <paramref name="modified"/> (the whole value removed) is JSON null.
    /// </summary>
    public static JsonNode? Diff(JsonNode? original, JsonNode? modified, out bool changed)
    {
        if (original is JsonObject from && modified is JsonObject to)
        {
            var patch = new JsonObject();
            foreach (var (name, value) in to)
            {
                var child = Diff(from[name], value, out var childChanged);
                if (childChanged)
                {
                    patch[name] = child;
                }
            }

            foreach (var (name, value) in from)
            {
                if (!to.ContainsKey(name) && value is not null)
                {
                    patch[name] = null;
                }
            }

            changed = patch.Count > 0;
            return changed ? patch : null;
        }

        changed = !JsonNode.DeepEquals(original, modified);
        return changed ? modified?.DeepClone() : null;
    }
}
