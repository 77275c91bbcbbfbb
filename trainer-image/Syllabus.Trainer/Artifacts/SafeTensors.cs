using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Artifacts;

/// <summary>
/// The safetensors format (8-byte little-endian header length, JSON header with dtype/shape/data_offsets
/// per tensor and optional __metadata__, then raw little-endian data). Hand-written because TorchSharp 0.107
/// has no safetensors support; only F32 is written (and read), which is all the built-in models use.
/// </summary>
public static class SafeTensors
{
    private const string MetadataKey = "__metadata__";

    /// <summary>Writes the named tensors (converted to contiguous float32 on the CPU) in name order.</summary>
    public static void Save(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var items = new List<(string Name, long[] Shape, float[] Data)>();
        foreach (var (name, tensor) in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            using var cpu = tensor.detach().to(ScalarType.Float32).cpu().contiguous();
            items.Add((name, cpu.shape, cpu.data<float>().ToArray()));
        }

        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (key, value) in metadata)
            {
                meta[key] = value;
            }

            header[MetadataKey] = meta;
        }

        long offset = 0;
        foreach (var (name, shape, data) in items)
        {
            var end = offset + (data.LongLength * sizeof(float));
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray([.. shape.Select(d => (JsonNode)d)]),
                ["data_offsets"] = new JsonArray(offset, end),
            };
            offset = end;
        }

        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        // The format pads the header with spaces so the data starts 8-byte aligned.
        var padded = (headerBytes.Length + 7) / 8 * 8;
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(headerBytes);
        for (var i = headerBytes.Length; i < padded; i++)
        {
            stream.WriteByte((byte)' ');
        }

        foreach (var (_, _, data) in items)
        {
            var bytes = new byte[data.Length * sizeof(float)];
            for (var i = 0; i < data.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), data[i]);
            }

            stream.Write(bytes);
        }
    }

    /// <summary>Reads every tensor of a safetensors file as float32 CPU tensors (caller disposes them).</summary>
    /// <exception cref="InvalidDataException">The file is not safetensors or holds a dtype other than F32.</exception>
    public static Dictionary<string, Tensor> Load(string path, out IReadOnlyDictionary<string, string> metadata)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8)
        {
            throw new InvalidDataException($"{path}: too short for a safetensors file");
        }

        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8))
        {
            throw new InvalidDataException($"{path}: safetensors header length {headerLength} exceeds the file");
        }

        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))?.AsObject() ?? throw new InvalidDataException($"{path}: empty safetensors header");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: safetensors header is not JSON: {e.Message}", e);
        }

        var dataStart = 8 + (long)headerLength;
        var meta = new Dictionary<string, string>();
        var result = new Dictionary<string, Tensor>();
        foreach (var (name, node) in header)
        {
            if (name == MetadataKey)
            {
                foreach (var (key, value) in node!.AsObject())
                {
                    meta[key] = value?.GetValue<string>() ?? "";
                }

                continue;
            }

            var entry = node!.AsObject();
            var dtype = entry["dtype"]?.GetValue<string>();
            if (dtype != "F32")
            {
                throw new InvalidDataException($"{path}: tensor {name} has dtype {dtype}; only F32 is supported");
            }

            var shape = entry["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
            var offsets = entry["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
            var count = shape.Aggregate(1L, (a, b) => a * b);
            if (offsets.Length != 2 || offsets[1] - offsets[0] != count * sizeof(float) || dataStart + offsets[1] > bytes.Length)
            {
                throw new InvalidDataException($"{path}: tensor {name} has data_offsets that do not match its shape or the file");
            }

            var data = new float[count];
            var span = bytes.AsSpan((int)(dataStart + offsets[0]), (int)(count * sizeof(float)));
            for (var i = 0; i < count; i++)
            {
                data[i] = BinaryPrimitives.ReadSingleLittleEndian(span[(i * sizeof(float))..]);
            }

            result[name] = tensor(data, shape);
        }

        metadata = meta;
        return result;
    }
}
