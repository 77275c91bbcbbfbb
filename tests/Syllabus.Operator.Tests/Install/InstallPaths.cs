using Syllabus.Testing;
namespace Syllabus.Operator.Tests.Install;

internal static class InstallPaths
{
    public static string Root => RepositoryPaths.Root;

    public static string Config(params string[] parts) => Path.Combine([Root, "config", .. parts]);
}
