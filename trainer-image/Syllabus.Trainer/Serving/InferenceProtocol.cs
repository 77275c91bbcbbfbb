using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Syllabus.Trainer.Data;

namespace Syllabus.Trainer.Serving;

/// <summary>A request the server refuses: the HTTP status and a message naming the input and the problem.</summary>
public sealed class InferenceException : Exception
{
    public InferenceException()
    {
    }

    public InferenceException(string message) : base(message)
    {
    }

    public InferenceException(string message, Exception innerException) : base(message, innerException)
    {
    }

    public InferenceException(int statusCode, string message) : base(message)
    {
        StatusCode = statusCode;
    }

    public int StatusCode { get; } = 400;
}

/// <summary>A tensor as Open Inference Protocol metadata describes it.</summary>
public sealed record TensorMetadata(string Name, string Datatype, IReadOnlyList<long> Shape);

/// <summary>
/// Decoded infer request rows: the model features (rows x features, row-major, encoded by the schema's own column
/// encoders) and the raw values they came from (numeric columns' values with NaN for missing, categorical columns'
/// text with null for missing), which the live window and the uncertain rows keep.
/// </summary>
public sealed record InputRows(int Count, float[] Features, double[] Numeric, string?[] Categorical);

/// <summary>A decoded infer request.</summary>
public sealed record InferenceRequest(string? Id, InputRows Rows, IReadOnlyList<string> Outputs);

/// <summary>
/// The Open Inference Protocol (KServe v2) REST tensors of one model, from its fitted feature schema: one FP32
/// [-1, F] input named <see cref="FeaturesInput"/> when every column is numeric, otherwise one input per column (FP32
/// for numeric, BYTES for categorical, shape [-1] or [-1, 1]); outputs <see cref="ProbabilitiesOutput"/> FP32 [-1, K]
/// and <see cref="LabelOutput"/> BYTES [-1].
/// </summary>
public sealed class InferenceProtocol
{
    public const string FeaturesInput = "features";
    public const string ProbabilitiesOutput = "probabilities";
    public const string LabelOutput = "label";
    public const string Fp32 = "FP32";
    public const string Bytes = "BYTES";

    private readonly FeatureSchema _schema;
    // FeatureSchema.FeatureCount sums the columns on every call; decoding needs it per element.
    private readonly int _featureCount;
    private readonly int[] _offsets;
    private readonly int[] _numericIndex;
    private readonly int[] _categoricalIndex;

    public InferenceProtocol(FeatureSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        _schema = schema;
        _featureCount = schema.FeatureCount;
        _offsets = new int[schema.Columns.Count];
        _numericIndex = new int[schema.Columns.Count];
        _categoricalIndex = new int[schema.Columns.Count];
        int offset = 0, numeric = 0, categorical = 0;
        for (var c = 0; c < schema.Columns.Count; c++)
        {
            _offsets[c] = offset;
            offset += schema.Columns[c].Width;
            var isCategorical = schema.Columns[c].Kind == FeatureKinds.Categorical;
            _numericIndex[c] = isCategorical ? -1 : numeric++;
            _categoricalIndex[c] = isCategorical ? categorical++ : -1;
        }

        NumericColumns = [.. schema.Columns.Where(c => c.Kind != FeatureKinds.Categorical).Select(c => c.Name)];
        CategoricalColumns = [.. schema.Columns.Where(c => c.Kind == FeatureKinds.Categorical).Select(c => c.Name)];
        SingleTensor = CategoricalColumns.Count == 0;
        Inputs = SingleTensor
            ? [new TensorMetadata(FeaturesInput, Fp32, [-1, schema.Columns.Count])]
            : [.. schema.Columns.Select(c => new TensorMetadata(c.Name, c.Kind == FeatureKinds.Categorical ? Bytes : Fp32, [-1]))];
        Outputs = [new TensorMetadata(ProbabilitiesOutput, Fp32, [-1, schema.Classes.Count]), new TensorMetadata(LabelOutput, Bytes, [-1])];
    }

    /// <summary>True when the model takes one FP32 [-1, F] tensor (every column numeric).</summary>
    public bool SingleTensor { get; }

    public IReadOnlyList<TensorMetadata> Inputs { get; }

    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>Numeric columns in <see cref="InputRows.Numeric"/> order.</summary>
    public IReadOnlyList<string> NumericColumns { get; }

    /// <summary>Categorical columns in <see cref="InputRows.Categorical"/> order.</summary>
    public IReadOnlyList<string> CategoricalColumns { get; }

    /// <summary>Decodes an inference request JSON object (inputs data flat or nested, row-major).</summary>
    /// <exception cref="InferenceException">400 naming the input and problem; 413 beyond <paramref name="maxRows"/>.</exception>
    public InferenceRequest Decode(JsonElement request, int maxRows)
    {
        if (request.ValueKind != JsonValueKind.Object)
        {
            throw Bad($"the request body is a JSON {Kind(request)}; an inference request is an object with \"inputs\"");
        }

        string? id = null;
        if (request.TryGetProperty("id", out var idElement) && idElement.ValueKind != JsonValueKind.Null)
        {
            id = idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : throw Bad($"\"id\" is a JSON {Kind(idElement)}; it must be a string");
        }

        if (!request.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
        {
            throw Bad("the request has no \"inputs\" array");
        }

        var given = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var input in inputs.EnumerateArray())
        {
            if (input.ValueKind != JsonValueKind.Object || !input.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
            {
                throw Bad($"inputs[{given.Count}] has no \"name\" string");
            }

            var inputName = name.GetString()!;
            if (!Inputs.Any(i => i.Name == inputName))
            {
                throw Bad($"input '{inputName}' is not an input of this model (inputs: {string.Join(", ", Inputs.Select(i => i.Name))})");
            }

            if (!given.TryAdd(inputName, input))
            {
                throw Bad($"input '{inputName}' is given twice");
            }
        }

        var missing = Inputs.FirstOrDefault(i => !given.ContainsKey(i.Name));
        if (missing is not null)
        {
            throw Bad($"input '{missing.Name}' is missing (the model takes {string.Join(", ", Inputs.Select(i => $"{i.Name} {i.Datatype} [{string.Join(", ", i.Shape)}]"))})");
        }

        var rows = SingleTensor ? DecodeSingleTensor(given[FeaturesInput], maxRows) : DecodeColumns(given, maxRows);
        return new InferenceRequest(id, rows, RequestedOutputs(request));
    }

    private List<string> RequestedOutputs(JsonElement request)
    {
        if (!request.TryGetProperty("outputs", out var outputs) || outputs.ValueKind == JsonValueKind.Null)
        {
            return [.. Outputs.Select(o => o.Name)];
        }

        if (outputs.ValueKind != JsonValueKind.Array)
        {
            throw Bad($"\"outputs\" is a JSON {Kind(outputs)}; it must be an array of {{\"name\": ...}}");
        }

        var names = new List<string>();
        foreach (var output in outputs.EnumerateArray())
        {
            if (output.ValueKind != JsonValueKind.Object || !output.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
            {
                throw Bad($"outputs[{names.Count}] has no \"name\" string");
            }

            var outputName = name.GetString()!;
            if (!Outputs.Any(o => o.Name == outputName))
            {
                throw Bad($"requested output '{outputName}' is not an output of this model (outputs: {string.Join(", ", Outputs.Select(o => o.Name))})");
            }

            if (output.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object
                && parameters.TryGetProperty("binary_data", out var binary) && binary.ValueKind == JsonValueKind.True)
            {
                throw Bad($"output '{outputName}': the binary tensor data extension is not supported; ask for JSON data");
            }

            if (!names.Contains(outputName))
            {
                names.Add(outputName);
            }
        }

        return names.Count == 0 ? [.. Outputs.Select(o => o.Name)] : names;
    }

    private InputRows DecodeSingleTensor(JsonElement input, int maxRows)
    {
        var width = _schema.Columns.Count;
        var (shape, data) = Header(input, FeaturesInput, Fp32);
        if (shape.Length != 2 || shape[1] != width)
        {
            throw Bad($"input '{FeaturesInput}': shape [{string.Join(", ", shape)}], the model takes [-1, {width}] (rows x features)");
        }

        var count = Rows(shape, FeaturesInput, maxRows);
        var values = Flatten(data, shape, FeaturesInput);
        var features = new float[(long)count * _featureCount];
        var numeric = new double[(long)count * width];
        for (var r = 0; r < count; r++)
        {
            for (var c = 0; c < width; c++)
            {
                var element = (r * width) + c;
                var x = Number(values[element], FeaturesInput, element);
                numeric[element] = x ?? double.NaN;
                features[(r * _featureCount) + _offsets[c]] = Encode(FeaturesInput, () => _schema.Columns[c].EncodeNumber(x, _schema.MissingValuePolicy, r));
            }
        }

        return new InputRows(count, features, numeric, []);
    }

    private InputRows DecodeColumns(Dictionary<string, JsonElement> inputs, int maxRows)
    {
        int? count = null;
        string? first = null;
        var columns = new List<JsonElement>[_schema.Columns.Count];
        for (var c = 0; c < _schema.Columns.Count; c++)
        {
            var column = _schema.Columns[c];
            var (shape, data) = Header(inputs[column.Name], column.Name, Inputs[c].Datatype);
            if (shape.Length is not (1 or 2) || (shape.Length == 2 && shape[1] != 1))
            {
                throw Bad($"input '{column.Name}': shape [{string.Join(", ", shape)}], the model takes [-1] or [-1, 1] (one value per row)");
            }

            var rows = Rows(shape, column.Name, maxRows);
            if (count is { } n && n != rows)
            {
                throw Bad($"input '{column.Name}' has {rows} rows, input '{first}' {n}; every input needs the same number of rows");
            }

            count = rows;
            first ??= column.Name;
            columns[c] = Flatten(data, shape, column.Name);
        }

        var rowCount = count!.Value;
        var features = new float[(long)rowCount * _featureCount];
        var numeric = new double[(long)rowCount * NumericColumns.Count];
        var categorical = new string?[(long)rowCount * CategoricalColumns.Count];
        for (var c = 0; c < _schema.Columns.Count; c++)
        {
            var column = _schema.Columns[c];
            for (var r = 0; r < rowCount; r++)
            {
                var span = features.AsSpan((r * _featureCount) + _offsets[c], column.Width);
                if (column.Kind == FeatureKinds.Categorical)
                {
                    var text = Text(columns[c][r], column.Name, r);
                    var category = _schema.MissingCells.IsMissing(text) ? null : RawCell.OfText(text).AsText();
                    categorical[(r * CategoricalColumns.Count) + _categoricalIndex[c]] = category;
                    try
                    {
                        column.EncodeCategory(category, span, _schema.MissingValuePolicy, r);
                    }
                    catch (DataException e)
                    {
                        throw Bad($"input '{column.Name}': {e.Message}");
                    }
                }
                else
                {
                    // A number written as a missing-value token (e.g. -999) is missing, as in a training file.
                    var x = _schema.MissingCells.HasNumericTokens && columns[c][r].ValueKind == JsonValueKind.Number && _schema.MissingCells.IsMissing(columns[c][r].GetRawText())
                        ? null
                        : Number(columns[c][r], column.Name, r);
                    numeric[(r * NumericColumns.Count) + _numericIndex[c]] = x ?? double.NaN;
                    var row = r;
                    span[0] = Encode(column.Name, () => column.EncodeNumber(x, _schema.MissingValuePolicy, row));
                }
            }
        }

        return new InputRows(rowCount, features, numeric, categorical);
    }

    private static float Encode(string input, Func<float> encode)
    {
        try
        {
            return encode();
        }
        catch (DataException e)
        {
            throw Bad($"input '{input}': {e.Message}");
        }
    }

    private static (long[] Shape, JsonElement Data) Header(JsonElement input, string name, string datatype)
    {
        if (!input.TryGetProperty("datatype", out var type) || type.ValueKind != JsonValueKind.String)
        {
            throw Bad($"input '{name}' has no \"datatype\" string (the model takes {datatype})");
        }

        if (type.GetString() != datatype)
        {
            throw Bad($"input '{name}': datatype {type.GetString()}, the model takes {datatype}");
        }

        if (!input.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw Bad($"input '{name}' has no \"shape\" array");
        }

        var shape = new long[shapeElement.GetArrayLength()];
        var i = 0;
        foreach (var dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out var d) || d < 0)
            {
                throw Bad($"input '{name}': shape element {i} is {dimension.GetRawText()}, not a non-negative integer");
            }

            shape[i++] = d;
        }

        if (input.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("binary_data_size", out _))
        {
            throw Bad($"input '{name}': the binary tensor data extension is not supported; send the data as JSON");
        }

        if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            throw Bad($"input '{name}' has no \"data\" array");
        }

        return (shape, data);
    }

    private static int Rows(long[] shape, string name, int maxRows)
    {
        if (shape[0] == 0)
        {
            throw Bad($"input '{name}': shape [{string.Join(", ", shape)}] has no rows");
        }

        return shape[0] > maxRows
            ? throw new InferenceException(StatusCodes.Status413PayloadTooLarge, $"input '{name}': {shape[0]} rows, more than this server takes in one request (--max-rows {maxRows})")
            : (int)shape[0];
    }

    /// <summary>The elements of <paramref name="data"/>, flat or nested as <paramref name="shape"/> says, row-major.</summary>
    private static List<JsonElement> Flatten(JsonElement data, long[] shape, string name)
    {
        var expected = shape.Aggregate(1L, (a, d) => a * d);
        var values = new List<JsonElement>((int)Math.Min(expected, 1 << 20));
        var nested = data.GetArrayLength() > 0 && data[0].ValueKind == JsonValueKind.Array;
        if (!nested)
        {
            foreach (var element in data.EnumerateArray())
            {
                if (element.ValueKind == JsonValueKind.Array)
                {
                    throw Bad($"input '{name}': data mixes nested arrays and values");
                }

                values.Add(element);
            }

            if (values.Count != expected)
            {
                throw Bad($"input '{name}': data has {values.Count} elements, shape [{string.Join(", ", shape)}] needs {expected}");
            }

            return values;
        }

        void Walk(JsonElement element, int depth, string path)
        {
            if (depth == shape.Length)
            {
                if (element.ValueKind == JsonValueKind.Array)
                {
                    throw Bad($"input '{name}': data{path} is nested deeper than shape [{string.Join(", ", shape)}]");
                }

                values.Add(element);
                return;
            }

            if (element.ValueKind != JsonValueKind.Array)
            {
                throw Bad($"input '{name}': data{path} is a value where shape [{string.Join(", ", shape)}] needs an array of {shape[depth]}");
            }

            if (element.GetArrayLength() != shape[depth])
            {
                throw Bad($"input '{name}': data{path} has {element.GetArrayLength()} elements, shape [{string.Join(", ", shape)}] needs {shape[depth]}");
            }

            var i = 0;
            foreach (var child in element.EnumerateArray())
            {
                Walk(child, depth + 1, $"{path}[{i++}]");
            }
        }

        Walk(data, 0, "");
        return values;
    }

    /// <summary>A FP32 element: a finite number within float range, or null (a missing value the schema may impute).</summary>
    private static double? Number(JsonElement element, string name, int index)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.Number:
                if (!element.TryGetDouble(out var x) || !double.IsFinite(x))
                {
                    throw Bad($"input '{name}': element {index} ({element.GetRawText()}) {FeatureValues.NotANumber}");
                }

                return FeatureValues.NumberProblem(x) is { } problem ? throw Bad($"input '{name}': element {index} ({element.GetRawText()}) {problem}") : x;
            default:
                throw Bad($"input '{name}': element {index} is a JSON {Kind(element)}; FP32 data holds numbers (null for a missing value)");
        }
    }

    /// <summary>A BYTES element: a string, or null (missing).</summary>
    private static string? Text(JsonElement element, string name, int index) => element.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => element.GetString(),
        _ => throw Bad($"input '{name}': element {index} is a JSON {Kind(element)}; BYTES data holds strings (null for a missing value)"),
    };

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static InferenceException Bad(string message) => new(StatusCodes.Status400BadRequest, message);

    /// <summary>Writes an inference response object: the requested outputs, data flat and row-major.</summary>
    public static void WriteResponse(
        Utf8JsonWriter writer, string model, string version, string id, IReadOnlyList<string> outputs, ReadOnlySpan<float> probabilities, int rows, IReadOnlyList<string> classes)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(classes);
        var k = classes.Count;
        writer.WriteStartObject();
        writer.WriteString("model_name", model);
        writer.WriteString("model_version", version);
        writer.WriteString("id", id);
        writer.WriteStartArray("outputs");
        foreach (var output in outputs)
        {
            writer.WriteStartObject();
            writer.WriteString("name", output);
            writer.WriteStartArray("shape");
            writer.WriteNumberValue(rows);
            if (output == ProbabilitiesOutput)
            {
                writer.WriteNumberValue(k);
            }

            writer.WriteEndArray();
            writer.WriteString("datatype", output == ProbabilitiesOutput ? Fp32 : Bytes);
            writer.WriteStartArray("data");
            if (output == ProbabilitiesOutput)
            {
                foreach (var p in probabilities)
                {
                    writer.WriteNumberValue(p);
                }
            }
            else
            {
                for (var r = 0; r < rows; r++)
                {
                    writer.WriteStringValue(classes[ArgMax(probabilities.Slice(r * k, k))]);
                }
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>The index of the largest value (the first on ties, as torch.argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
