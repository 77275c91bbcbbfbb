using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json.Serialization;

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
        Walk(spec, path, problems);
        return problems;
    }

    private static void Walk(object value, string path, List<ValidationError> problems)
    {
        foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? property.Name;
            var fieldPath = $"{path}.{name}";
            var propertyValue = property.GetValue(value);
            var context = new ValidationContext(value) { MemberName = property.Name, DisplayName = fieldPath };
            foreach (var attribute in property.GetCustomAttributes<ValidationAttribute>())
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

            if (propertyValue is null || !IsApiType(property.PropertyType, propertyValue))
            {
                continue;
            }

            if (propertyValue is IList list)
            {
                for (var i = 0; i < list.Count; i++)
                {
                    if (list[i] is { } item && IsApiType(item.GetType(), item))
                    {
                        Walk(item, $"{fieldPath}[{i}]", problems);
                    }
                }
            }
            else
            {
                Walk(propertyValue, fieldPath, problems);
            }
        }
    }

    private static bool IsApiType(Type declared, object value)
    {
        var type = value is IList && declared.IsGenericType ? declared.GetGenericArguments()[0] : value.GetType();
        return type.Assembly == typeof(TrainingRunSpec).Assembly && type.IsClass && type != typeof(string);
    }
}
