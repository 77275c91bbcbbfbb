using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json.Serialization.Metadata;

namespace Syllabus.Api.Validation;

/// <summary>
/// <see cref="ValidateSchema"/>: a spec against the DataAnnotations on the Api types (the ones the CRD schema is
/// generated from), recursively, each problem with its field path (e.g. <c>spec.optimizer.learningRate</c>).
/// DataAnnotations' own Validator does not descend into nested objects, hence this walk.
/// </summary>
public static partial class SpecValidation
{
    public static IReadOnlyList<ValidationError> ValidateSchema(object spec, string path = "spec")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var problems = new List<ValidationError>();
        Walk(spec, TypeInfo(spec.GetType()), path, problems);
        return problems;
    }

    // The properties come from the source-generated JSON metadata (names as on the wire, getters, and each property's
    // attributes through a PropertyInfo the generator names statically), not from reflection over the runtime type,
    // so the walk sees the same fields under Native AOT.
    private static JsonTypeInfo TypeInfo(Type type) =>
        SyllabusJsonContext.Default.GetTypeInfo(type)
        ?? throw new InvalidOperationException($"{type.Name} is not in SyllabusJsonContext; add the kind that holds it there.");

    private static void Walk(object value, JsonTypeInfo typeInfo, string path, List<ValidationError> problems)
    {
        foreach (var property in typeInfo.Properties)
        {
            if (property.Get is not { } get)
            {
                continue;
            }

            var fieldPath = $"{path}.{property.Name}";
            var propertyValue = get(value);
            var memberName = (property.AttributeProvider as MemberInfo)?.Name ?? property.Name;
            var context = new ValidationContext(value, fieldPath, serviceProvider: null, items: null) { MemberName = memberName };
            var attributes = property.AttributeProvider?.GetCustomAttributes(typeof(ValidationAttribute), inherit: true) ?? [];
            foreach (ValidationAttribute attribute in attributes)
            {
                // Absent optional fields are fine; Required catches missing ones (AllowedValues would reject null).
                if (propertyValue is null && attribute is not RequiredAttribute)
                {
                    continue;
                }

                var result = attribute.GetValidationResult(propertyValue, context);
                if (result != ValidationResult.Success && result?.ErrorMessage is { } message)
                {
                    problems.Add(new ValidationError(fieldPath, message));
                }
            }

            if (propertyValue is null)
            {
                continue;
            }

            var propertyInfo = TypeInfo(property.PropertyType);
            if (propertyInfo.Kind == JsonTypeInfoKind.Enumerable && propertyValue is IList list
                && propertyInfo.ElementType is { } elementType && IsApiType(elementType))
            {
                var elementInfo = TypeInfo(elementType);
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is { } item)
                    {
                        Walk(item, elementInfo, $"{fieldPath}[{i}]", problems);
                    }
                }
            }
            else if (propertyInfo.Kind == JsonTypeInfoKind.Object && IsApiType(property.PropertyType))
            {
                Walk(propertyValue, propertyInfo, fieldPath, problems);
            }
        }
    }

    private static bool IsApiType(Type type) =>
        type.Assembly == typeof(TrainingRunSpec).Assembly && type.IsClass && type != typeof(string);
}
