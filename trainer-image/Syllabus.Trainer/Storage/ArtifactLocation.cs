namespace Syllabus.Trainer.Storage;

/// <summary>Turns the data and artifact URIs of a manifest into local paths.</summary>
public static class ArtifactLocation
{
    /// <summary>Where the operator mounts persistent volume claims unless SYLLABUS_PVC_ROOT says otherwise.</summary>
    public const string DefaultPvcRoot = "/var/run/syllabus/pvc";

    public const string PvcRootVariable = "SYLLABUS_PVC_ROOT";

    /// <summary>
    /// file:///x -> /x; a relative path -> against <paramref name="baseDirectory"/>; pvc://CLAIM/path ->
    /// $SYLLABUS_PVC_ROOT/CLAIM/path. Anything else is an <see cref="ArgumentException"/> naming the URI.
    /// </summary>
    public static string ResolvePath(string uri, string baseDirectory) =>
        ResolvePath(uri, baseDirectory, Environment.GetEnvironmentVariable(PvcRootVariable));

    /// <summary>As <see cref="ResolvePath(string, string)"/> with an explicit claim mount root (null: the default).</summary>
    public static string ResolvePath(string uri, string baseDirectory, string? pvcRoot)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(baseDirectory);
        if (string.IsNullOrWhiteSpace(uri))
        {
            throw new ArgumentException("The URI is empty.", nameof(uri));
        }

        if (uri.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || !parsed.IsFile)
            {
                throw new ArgumentException($"'{uri}' is not a valid file URI.", nameof(uri));
            }

            if (!string.IsNullOrEmpty(parsed.Host) && !parsed.IsLoopback)
            {
                throw new ArgumentException($"'{uri}' names host '{parsed.Host}'; only local file URIs (file:///path) are supported.", nameof(uri));
            }

            return Path.GetFullPath(parsed.LocalPath);
        }

        if (uri.StartsWith("pvc://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = uri["pvc://".Length..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var claim = slash < 0 ? rest : rest[..slash];
            var inner = slash < 0 ? "" : Uri.UnescapeDataString(rest[(slash + 1)..]);
            if (claim.Length == 0)
            {
                throw new ArgumentException($"'{uri}' names no claim (expected pvc://CLAIM/path).", nameof(uri));
            }

            var claimRoot = Path.GetFullPath(Path.Combine(string.IsNullOrEmpty(pvcRoot) ? DefaultPvcRoot : pvcRoot, claim));
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(claimRoot, inner)));
            // A path must not climb out of its claim with "..".
            if (full != claimRoot && !full.StartsWith(claimRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{uri}' points outside claim '{claim}'.", nameof(uri));
            }

            return full;
        }

        var schemeEnd = uri.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd > 0)
        {
            throw new ArgumentException($"'{uri}' has unsupported scheme '{uri[..schemeEnd]}'; use pvc://CLAIM/path, file:///path or a relative path.", nameof(uri));
        }

        return Path.GetFullPath(Path.IsPathRooted(uri) ? uri : Path.Combine(baseDirectory, uri));
    }
}
