using Syllabus.Trainer.Storage;

namespace Syllabus.Trainer.Tests.Data;

public sealed class ArtifactLocationTests
{
    [Theory]
    [InlineData("file:///data/train.csv", "/base", "/data/train.csv")]
    [InlineData("file:///data/with%20space.csv", "/base", "/data/with space.csv")]
    [InlineData("data/train.csv", "/base", "/base/data/train.csv")]
    [InlineData("../up.csv", "/base/dir", "/base/up.csv")]
    [InlineData("/abs/x.csv", "/base", "/abs/x.csv")]
    [InlineData("pvc://datasets/mnist/train.csv", "/base", "/mnt/claims/datasets/mnist/train.csv")]
    [InlineData("pvc://models/runs/", "/base", "/mnt/claims/models/runs")]
    public void Resolves_uris(string uri, string baseDirectory, string expected) =>
        Assert.Equal(expected, ArtifactLocation.ResolvePath(uri, baseDirectory, "/mnt/claims"));

    [Fact]
    public void Pvc_uris_default_to_the_operator_mount_root() =>
        Assert.Equal("/var/run/syllabus/pvc/c/x", ArtifactLocation.ResolvePath("pvc://c/x", "/base", null));

    [Theory]
    [InlineData("s3://bucket/x.csv", "unsupported scheme 's3'")]
    [InlineData("pvc:///x", "names no claim")]
    [InlineData("pvc://claim/../other/x", "outside claim 'claim'")]
    [InlineData("file://server/share/x.csv", "names host 'server'")]
    public void Rejects_other_uris_naming_them(string uri, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => ArtifactLocation.ResolvePath(uri, "/base", "/mnt/claims"));
        Assert.Contains(uri, e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
