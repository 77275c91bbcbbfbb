using System.Buffers.Binary;
using System.Text;
using Syllabus.Api;
using Syllabus.Trainer.Artifacts;
using Syllabus.Trainer.Cli;
using Syllabus.Trainer.Models;
using Syllabus.Trainer.Tests.Training;
using Syllabus.Trainer.Training;

namespace Syllabus.Trainer.Tests.Artifacts;

/// <summary>The reader against the safetensors specification: dtypes, offsets, large files and malformed headers.</summary>
[Collection(TorchCollection.Name)]
public sealed class SafeTensorsSpecTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("syllabus-st-spec-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static string TestData(string name) => Path.Combine(AppContext.BaseDirectory, "Artifacts", "testdata", name);

    [Fact]
    public void Reads_F64_F32_F16_BF16_empty_and_scalar_tensors_as_float32()
    {
        // Written byte for byte from the specification by testdata/write_safetensors.py (see testdata/README.md).
        var tensors = SafeTensors.Load(TestData("mixed-dtype.safetensors"), out var metadata);
        try
        {
            Assert.Equal("pt", metadata["format"]);
            Assert.Equal(["bf16", "empty", "f16", "f32", "f64", "scalar"], tensors.Keys.Order(StringComparer.Ordinal));
            Assert.All(tensors.Values, t => Assert.Equal(TorchSharp.torch.ScalarType.Float32, t.dtype));
            Assert.Equal([2L, 3], tensors["f64"].shape);
            // F64 is rounded to the nearest float32.
            Assert.Equal([0.1f, -1.5f, 1e-3f, 3.0f, 123456.789f, 2.5f], tensors["f64"].data<float>().ToArray());
            Assert.Equal([1.0f, -2.25f, 3.5e-5f], tensors["f32"].data<float>().ToArray());
            // F16 and BF16 widen exactly: the largest half (65504) and the smallest normal half (2^-14) included.
            Assert.Equal([2L, 2], tensors["f16"].shape);
            Assert.Equal([0.5f, -1.0f, 65504f, MathF.Pow(2, -14)], tensors["f16"].data<float>().ToArray());
            Assert.Equal([1.0f, -2.0f, 0.15625f, 1.5f], tensors["bf16"].data<float>().ToArray());
            Assert.Equal([0L], tensors["empty"].shape);
            Assert.Empty(tensors["scalar"].shape);
            Assert.Equal(7f, tensors["scalar"].item<float>());
        }
        finally
        {
            foreach (var t in tensors.Values)
            {
                t.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12, "hole: bytes 4..8")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "'a' and 'b' overlap")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 12, "its last 8 bytes belong to no tensor")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, "past the end of the file")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", 4, "not a non-negative integer")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""", 4, "end before they begin")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "shape holds -1")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}""", 4, "hold 4 bytes, but F32 of shape [3] takes 12")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}""", 4, "must be [begin, end]")]
    [InlineData("""{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}""", 4, "unknown dtype 'Q4'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4, "names 'a' twice")]
    [InlineData("""{"__metadata__":{"format":1}}""", 0, "__metadata__.format is not a string")]
    [InlineData("""{"a":{"dtype":"F32","shape":[9223372036854775807,2],"data_offsets":[0,4]}}""", 4, "is too large")]
    [InlineData("""[1, 2]""", 0, "does not start with '{'")]
    [InlineData("""{"a": """, 0, "is not JSON")]
    public void A_header_breaking_the_format_is_rejected_naming_the_problem(string header, long bufferLength, string expected)
    {
        var error = Assert.Throws<InvalidDataException>(() => SafeTensors.ParseHeader(Encoding.UTF8.GetBytes(header), bufferLength, "x.safetensors"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("x.safetensors", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Offsets_are_checked_in_data_order_whatever_the_header_order()
    {
        var header = SafeTensors.ParseHeader(Encoding.UTF8.GetBytes(
            """{"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"e":{"dtype":"F64","shape":[0],"data_offsets":[8,8]}}    """), 8, "x");
        Assert.Equal(["z", "a", "e"], header.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void A_header_length_beyond_the_file_or_the_format_limit_is_rejected()
    {
        var path = Path.Combine(_folder, "long.safetensors");
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, SafeTensors.MaxHeaderBytes + 1);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("limit", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path, out _)).Message, StringComparison.Ordinal);

        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 9);
        File.WriteAllBytes(path, bytes);
        Assert.Contains("exceeds the file", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path, out _)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_over_2_GB_is_read_with_64_bit_offsets()
    {
        // A sparse file: 2^31 + 8 bytes of U8 padding (never written, so it takes no disk) and then a small F32 tensor.
        const long padding = (1L << 31) + 8;
        var json = Encoding.UTF8.GetBytes(
            "{\"padding\":{\"dtype\":\"U8\",\"shape\":[" + padding + "],\"data_offsets\":[0," + padding + "]},"
            + "\"tail\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + padding + "," + (padding + 8) + "]}}");
        var headerLength = (json.Length + 7) / 8 * 8;
        var path = Path.Combine(_folder, "large.safetensors");
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            var prefix = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)headerLength);
            stream.Write(prefix);
            stream.Write(json);
            stream.Write(Enumerable.Repeat((byte)' ', headerLength - json.Length).ToArray());
            stream.Seek(8 + headerLength + padding, SeekOrigin.Begin);
            var tail = new byte[8];
            BinaryPrimitives.WriteSingleLittleEndian(tail, 1.25f);
            BinaryPrimitives.WriteSingleLittleEndian(tail.AsSpan(4), -3.5f);
            stream.Write(tail);
        }

        using var file = File.OpenRead(path);
        Assert.True(file.Length > int.MaxValue);
        var header = SafeTensors.ReadHeader(file, path);
        var entry = Assert.Single(header.Tensors, t => t.Name == "tail");
        Assert.Equal(padding, entry.Begin);
        using var tensor = SafeTensors.ReadTensor(file, path, header.DataStart, entry);
        Assert.Equal([1.25f, -3.5f], tensor.data<float>().ToArray());
        // Whole-file loading names the dtype it does not read as weights.
        Assert.Contains("dtype U8", Assert.Throws<InvalidDataException>(() => SafeTensors.Load(path, out _)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_base_model_with_a_malformed_header_is_bad_input()
    {
        using var fixture = new TrainerFixture(trainRows: 60, testRows: 30);
        // A real base model (a bundle: weights with their fitted preprocessing), so loading reaches the weights.
        var trained = new TrainingJob(fixture.Resolve(fixture.Manifest("base-run", epochs: 1, file: "base-run.yaml")), TimeProvider.System).Run(TestContext.Current.CancellationToken);
        var baseFolder = Path.Combine(fixture.Folder, "base");
        Directory.CreateDirectory(baseFolder);
        foreach (var file in Directory.GetFiles(trained.ModelFolder))
        {
            File.Copy(file, Path.Combine(baseFolder, Path.GetFileName(file)));
        }

        // The second tensor's data now begins at 0: its offsets no longer match its shape (and would overlap the first).
        var weights = Path.Combine(baseFolder, ModelArtifact.WeightsFileName);
        var bytes = File.ReadAllBytes(weights);
        var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = Encoding.UTF8.GetString(bytes, 8, length);
        var second = header.IndexOf("\"data_offsets\":[", header.IndexOf("\"data_offsets\":[", StringComparison.Ordinal) + 1, StringComparison.Ordinal);
        var begin = second + "\"data_offsets\":[".Length;
        var digits = header[begin..header.IndexOf(',', begin)];
        var corrupted = header[..begin] + "0".PadLeft(digits.Length) + header[(begin + digits.Length)..];
        Encoding.UTF8.GetBytes(corrupted).CopyTo(bytes, 8);
        File.WriteAllBytes(weights, bytes);
        var manifest = fixture.Manifest("malformed-base", "  baseModel: {uri: base}");

        var error = Assert.Throws<InputException>(() => new TrainingJob(fixture.Resolve(manifest), TimeProvider.System).Run(TestContext.Current.CancellationToken));

        Assert.Contains("model.safetensors: tensor 'features.0.weight': data_offsets [0, ", error.Message, StringComparison.Ordinal);
    }
}
