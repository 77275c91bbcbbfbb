namespace Syllabus.Api;

/// <summary>
/// The folder outside git where local runs and the tests find what the scripts prepare (scripts/prepare-mnist.sh,
/// scripts/kube-assets.sh): <c>$SYLLABUS_CACHE</c>, else <c>$HOME/.cache/syllabus</c>.
/// </summary>
public static class LocalCache
{
    public const string Variable = "SYLLABUS_CACHE";

    /// <summary>Overrides the MNIST CSV folder (what scripts/prepare-mnist.sh prints on its last line).</summary>
    public const string MnistVariable = "SYLLABUS_MNIST";

    /// <summary>The cache root from <paramref name="environment"/>, or null when neither SYLLABUS_CACHE nor HOME is set.</summary>
    public static string? Root(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (environment(Variable) is { Length: > 0 } configured)
        {
            return configured;
        }

        return environment("HOME") is { Length: > 0 } home ? Path.Combine(home, ".cache", "syllabus") : null;
    }

    /// <summary>The cache root of this process.</summary>
    public static string Root() =>
        Root(Environment.GetEnvironmentVariable) ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "syllabus");

    /// <summary>Where scripts/prepare-mnist.sh writes train.csv, test.csv and the digit subsets.</summary>
    public static string MnistFolder() =>
        Environment.GetEnvironmentVariable(MnistVariable) is { Length: > 0 } folder ? folder : Path.Combine(Root(), "mnist");
}
