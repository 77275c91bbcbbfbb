namespace Syllabus.Operator.Tests.Install;

internal static class InstallPaths
{
    public static string Root { get; } = FindRoot(AppContext.BaseDirectory);

    public static string Config(params string[] parts) => Path.Combine([Root, "config", .. parts]);

    private static string FindRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No Operator.sln at or above {start}");
    }
}
