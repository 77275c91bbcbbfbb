using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Syllabus.Trainer.Artifacts;

/// <summary>
/// The safetensors format (8-byte little-endian header length, JSON header with dtype/shape/data_offsets
/// per tensor and optional __metadata__, then raw little-endian data). Hand-written because TorchSharp 0.107
/// has no safetensors support. F32 is written (all the built-in models use); F32, F16, BF16 and F64 are read, as
/// float32 tensors.
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

    /// <summary>The header-size limit of the format (the reference implementation rejects larger headers).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>
    /// Reads every tensor of a safetensors file as float32 CPU tensors (caller disposes them): F32 as stored, F16 and
    /// BF16 widened exactly, F64 rounded to the nearest float32. The file is streamed tensor by tensor with 64-bit
    /// offsets, so files over 2 GB load (each tensor must fit a .NET array of floats).
    /// </summary>
    /// <exception cref="InvalidDataException">
    /// The file is not valid safetensors (header length, JSON, dtype, shape, offsets that leave holes, overlap, run
    /// backwards or past the file) or holds a dtype other than F32/F16/BF16/F64. Callers report it as bad input.
    /// </exception>
    public static Dictionary<string, Tensor> Load(string path, out IReadOnlyDictionary<string, string> metadata)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        var header = ReadHeader(stream, path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var entry in header.Tensors)
            {
                result[entry.Name] = ReadTensor(stream, path, header.DataStart, entry);
            }
        }
        catch
        {
            foreach (var t in result.Values)
            {
                t.Dispose();
            }

            throw;
        }

        metadata = header.Metadata;
        return result;
    }

    /// <summary>Reads and validates the header of an open safetensors stream.</summary>
    internal static SafeTensorsHeader ReadHeader(Stream stream, string path)
    {
        Span<byte> prefix = stackalloc byte[8];
        if (stream.Length < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
        {
            throw new InvalidDataException($"{path}: too short for a safetensors file ({stream.Length} bytes; the header length alone takes 8)");
        }

        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
        {
            throw new InvalidDataException($"{path}: safetensors header length {headerLength} exceeds the format's limit of {MaxHeaderBytes} bytes");
        }

        if (headerLength > (ulong)(stream.Length - 8))
        {
            throw new InvalidDataException($"{path}: safetensors header length {headerLength} exceeds the file ({stream.Length} bytes)");
        }

        var json = new byte[headerLength];
        stream.ReadExactly(json);
        var dataStart = 8 + (long)headerLength;
        return ParseHeader(json, stream.Length - dataStart, path) with { DataStart = dataStart };
    }

    /// <summary>
    /// Validates a header as the format requires: a JSON object (starting with '{', trailing spaces allowed) whose
    /// keys are unique; <c>__metadata__</c> a string-to-string map; every tensor a known dtype, a shape of
    /// non-negative dimensions and data_offsets [begin, end] with end - begin = elements x dtype size; and the tensors
    /// together covering the data buffer of <paramref name="bufferLength"/> bytes exactly, with no hole, no overlap
    /// and nothing past its end. Tensors come back in data order.
    /// </summary>
    internal static SafeTensorsHeader ParseHeader(ReadOnlySpan<byte> json, long bufferLength, string path)
    {
        if (json.Length == 0 || json[0] != (byte)'{')
        {
            throw new InvalidDataException($"{path}: safetensors header does not start with '{{'");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: safetensors header is not JSON: {e.Message}", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{path}: safetensors header is not a JSON object");
            }

            var names = new HashSet<string>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafeTensorEntry>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name))
                {
                    throw new InvalidDataException($"{path}: safetensors header names '{property.Name}' twice");
                }

                if (property.Name == MetadataKey)
                {
                    if (property.Value.ValueKind != JsonValueKind.Object)
                    {
                        throw new InvalidDataException($"{path}: safetensors {MetadataKey} is not an object of strings");
                    }

                    foreach (var item in property.Value.EnumerateObject())
                    {
                        metadata[item.Name] = item.Value.ValueKind == JsonValueKind.String
                            ? item.Value.GetString()!
                            : throw new InvalidDataException($"{path}: safetensors {MetadataKey}.{item.Name} is not a string");
                    }

                    continue;
                }

                tensors.Add(ParseEntry(property, path));
            }

            CheckCoverage(tensors, bufferLength, path);
            return new SafeTensorsHeader([.. tensors.OrderBy(t => t.Begin).ThenBy(t => t.End)], metadata, 0);
        }
    }

    private static SafeTensorEntry ParseEntry(JsonProperty property, string path)
    {
        var name = property.Name;
        var value = property.Value;
        string Where() => $"{path}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{Where()}: its header entry is not an object");
        }

        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new InvalidDataException($"{Where()}: no dtype");
        }

        var dtype = dtypeElement.GetString()!;
        var size = DtypeSize(dtype) ?? throw new InvalidDataException($"{Where()}: unknown dtype '{dtype}'");
        var shape = NonNegativeIntegers(value, "shape", Where);
        var offsets = NonNegativeIntegers(value, "data_offsets", Where);
        if (offsets.Length != 2)
        {
            throw new InvalidDataException($"{Where()}: data_offsets must be [begin, end], got {offsets.Length} number(s)");
        }

        if (offsets[1] < offsets[0])
        {
            throw new InvalidDataException($"{Where()}: data_offsets [{offsets[0]}, {offsets[1]}] end before they begin");
        }

        long bytes;
        try
        {
            bytes = checked(shape.Aggregate(1L, (a, d) => a * d) * size);
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{Where()}: shape [{string.Join(", ", shape)}] is too large");
        }

        if (offsets[1] - offsets[0] != bytes)
        {
            throw new InvalidDataException(
                $"{Where()}: data_offsets [{offsets[0]}, {offsets[1]}] hold {offsets[1] - offsets[0]} bytes, but {dtype} of shape [{string.Join(", ", shape)}] takes {bytes}");
        }

        return new SafeTensorEntry(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] NonNegativeIntegers(JsonElement entry, string field, Func<string> where)
    {
        if (!entry.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{where()}: no {field} array");
        }

        var values = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var v) || v < 0)
            {
                throw new InvalidDataException($"{where()}: {field} holds {item.GetRawText()}, not a non-negative integer");
            }

            values[i++] = v;
        }

        return values;
    }

    /// <summary>The tensors, in offset order, must tile [0, bufferLength): each begins where the previous ended.</summary>
    private static void CheckCoverage(List<SafeTensorEntry> tensors, long bufferLength, string path)
    {
        long expected = 0;
        string? previous = null;
        foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin > expected)
            {
                throw new InvalidDataException($"{path}: safetensors data has a hole: bytes {expected}..{t.Begin} belong to no tensor (before '{t.Name}')");
            }

            if (t.Begin < expected)
            {
                throw new InvalidDataException($"{path}: tensors '{previous}' and '{t.Name}' overlap (at byte {t.Begin} of the data)");
            }

            expected = t.End;
            previous = t.Name;
        }

        if (expected > bufferLength)
        {
            throw new InvalidDataException($"{path}: tensor '{previous}' ends at byte {expected} of the data, past the end of the file ({bufferLength} data bytes)");
        }

        if (expected < bufferLength)
        {
            throw new InvalidDataException($"{path}: safetensors data has a hole: its last {bufferLength - expected} bytes belong to no tensor");
        }
    }

    /// <summary>Bytes per element of a safetensors dtype; null for an unknown one.</summary>
    internal static int? DtypeSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "I64" or "U64" or "F64" => 8,
        _ => null,
    };

    internal static Tensor ReadTensor(Stream stream, string path, long dataStart, SafeTensorEntry entry)
    {
        var size = DtypeSize(entry.Dtype)!.Value;
        if (entry.Dtype is not ("F32" or "F16" or "BF16" or "F64"))
        {
            throw new InvalidDataException($"{path}: tensor '{entry.Name}' has dtype {entry.Dtype}; model weights are read from F32, F16, BF16 or F64");
        }

        var count = (entry.End - entry.Begin) / size;
        if (count > Array.MaxLength)
        {
            throw new InvalidDataException($"{path}: tensor '{entry.Name}' has {count} elements, more than one array can hold");
        }

        var values = new float[count];
        stream.Seek(dataStart + entry.Begin, SeekOrigin.Begin);
        // Whole elements per chunk, so a chunk never splits one.
        var buffer = new byte[Math.Min(1 << 20, Math.Max(size, (entry.End - entry.Begin)))];
        var chunkElements = buffer.Length / size;
        for (long done = 0; done < count;)
        {
            var n = (int)Math.Min(chunkElements, count - done);
            var span = buffer.AsSpan(0, n * size);
            stream.ReadExactly(span);
            Convert(entry.Dtype, span, values.AsSpan((int)done, n));
            done += n;
        }

        return tensor(values, entry.Shape);
    }

    /// <summary>Little-endian elements of <paramref name="dtype"/> to float32.</summary>
    internal static void Convert(string dtype, ReadOnlySpan<byte> source, Span<float> target)
    {
        switch (dtype)
        {
            case "F32":
                for (var i = 0; i < target.Length; i++)
                {
                    target[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
                }

                break;
            case "F16":
                for (var i = 0; i < target.Length; i++)
                {
                    target[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(source[(i * 2)..]);
                }

                break;
            case "BF16":
                // bfloat16 is the upper half of a float32.
                for (var i = 0; i < target.Length; i++)
                {
                    target[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]) << 16);
                }

                break;
            case "F64":
                for (var i = 0; i < target.Length; i++)
                {
                    target[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(source[(i * 8)..]);
                }

                break;
            default:
                throw new ArgumentException($"no float32 conversion for dtype {dtype}", nameof(dtype));
        }
    }
}

/// <summary>One tensor of a safetensors header: data_offsets are relative to the start of the data buffer.</summary>
internal sealed record SafeTensorEntry(string Name, string Dtype, long[] Shape, long Begin, long End);

/// <summary>A validated safetensors header: tensors in data order, metadata, and where the data buffer starts in the file.</summary>
internal sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorEntry> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart);
