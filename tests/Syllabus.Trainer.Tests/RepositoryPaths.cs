namespace Syllabus.Trainer.Tests;

/// <summary>The checkout the tests run from: the nearest folder above the test binaries holding Operator.sln.</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = Find(AppContext.BaseDirectory);

    private static string Find(string start)
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
