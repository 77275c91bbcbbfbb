using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json.Serialization;
using Syllabus.Api;

namespace Syllabus.Trainer.Cli;

/// <summary>
/// Checks a spec against the DataAnnotations on the Api types (the same ones the CRD schema is generated from),
/// recursively, and reports each problem with its field path (e.g. <c>spec.optimizer.learningRate</c>).
/// DataAnnotations' own Validator does not descend into nested objects, hence this walk.
/// </summary>
public static class SpecValidator
{
    public static IReadOnlyList<string> Validate(object spec, string path = "spec")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var problems = new List<string>();
        Walk(spec, path, problems);
        return problems;
    }

    private static void Walk(object value, string path, List<string> problems)
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
                    problems.Add(message.Contains(fieldPath, StringComparison.Ordinal) ? message : $"{fieldPath}: {message}");
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
