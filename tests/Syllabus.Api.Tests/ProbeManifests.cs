namespace Syllabus.Api.Tests;

/// <summary>
/// The valid TrainingRun the invalid-manifest tests mutate: the CEL/schema validator (InvalidManifestTests) and the
/// C# rules (SpecValidationTests) start from the same manifest, so they judge the same cases.
/// </summary>
internal static class ProbeManifests
{
    public const string ValidRun = """
        apiVersion: syllabus.dev/v1alpha1
        kind: TrainingRun
        metadata:
          name: probe
        spec:
          model:
            architecture: MLP
            hiddenLayers: [64]
          data:
            train: {uri: data/train.csv}
            labelColumn: label
          artifacts: {uri: file:///tmp/probe}
          gates:
            - metric: accuracy
              atLeast: 0.9
        """;
}
