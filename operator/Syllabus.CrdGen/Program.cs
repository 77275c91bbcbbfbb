using Syllabus.CrdGen;

// Writes the CRDs into crds/ and config/crd/bases/ (kustomize may not load files outside its folder), and the variant
// for clusters before 1.25 (no CEL rules) into crds/legacy/ and config/crd-legacy/bases/.
// Usage: dotnet run --project operator/Syllabus.CrdGen [-- REPO_ROOT]
var root = args.Length > 0 ? args[0] : RepositoryRoot.Find(Directory.GetCurrentDirectory());
(string[] Targets, IReadOnlyList<GeneratedFile> Files)[] outputs =
[
    ([Path.Combine(root, "crds"), Path.Combine(root, "config", "crd", "bases")], CrdGenerator.Generate()),
    ([Path.Combine(root, "crds", "legacy"), Path.Combine(root, "config", "crd-legacy", "bases")], CrdGenerator.GenerateLegacy()),
];
foreach (var (targets, files) in outputs)
{
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
}

return 0;
