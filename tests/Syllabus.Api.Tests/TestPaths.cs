using Syllabus.CrdGen;

namespace Syllabus.Api.Tests;

internal static class TestPaths
{
    public static string Root { get; } = RepositoryRoot.Find(AppContext.BaseDirectory);
    public static string Crds => Path.Combine(Root, "crds");
    public static string Examples => Path.Combine(Root, "examples");
    public static string Validator => Path.Combine(Root, "tests", "schema-validator");
}
