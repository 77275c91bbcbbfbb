using Syllabus.CrdGen;

// Writes the CRDs into crds/ and config/crd/bases/ (kustomize may not load files outside its folder).
// Usage: dotnet run --project operator/Syllabus.CrdGen [-- REPO_ROOT]
var root = args.Length > 0 ? args[0] : RepositoryRoot.Find(Directory.GetCurrentDirectory());
string[] targets = [Path.Combine(root, "crds"), Path.Combine(root, "config", "crd", "bases")];
var files = CrdGenerator.Generate();
foreach (var target in targets)
{
    Directory.CreateDirectory(target);
    foreach (var stale in Directory.GetFiles(target, "*.yaml").Where(f => files.All(g => g.Name != Path.GetFileName(f))))
    {
        File.Delete(stale);
    }

    foreach (var file in files)
    {
        File.WriteAllText(Path.Combine(target, file.Name), file.Content);
    }
}

Console.WriteLine($"Wrote {files.Count} CRDs to {string.Join(" and ", targets.Select(t => Path.GetRelativePath(root, t)))}");
return 0;
