namespace Syllabus.CrdGen;

public static class RepositoryRoot
{
    /// <summary>The nearest folder at or above <paramref name="start"/> holding Operator.sln.</summary>
    public static string Find(string start)
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
