namespace Syllabus.Api.Schema;

// Attributes the CRD generator (operator/Syllabus.CrdGen) reads. Descriptions, ranges, required fields,
// allowed values, patterns and defaults use the standard System.ComponentModel(.DataAnnotations) attributes;
// these cover what Kubernetes schemas have and DataAnnotations does not.

/// <summary>A CEL rule (<c>x-kubernetes-validations</c>) on the schema of the annotated type or property.</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Property, AllowMultiple = true)]
public sealed class CelRuleAttribute(string rule, string message) : Attribute
{
    public string Rule { get; } = rule;
    public string Message { get; } = message;
}

/// <summary>Names, short names and categories of a custom resource kind.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class CustomResourceAttribute(string singular, params string[] shortNames) : Attribute
{
    public string Singular { get; } = singular;
    public IReadOnlyList<string> ShortNames { get; } = shortNames;
    public string[] Categories { get; init; } = [SyllabusGroup.Category];
}

/// <summary>An <c>additionalPrinterColumns</c> entry; order of declaration is column order.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
public sealed class PrinterColumnAttribute(int order, string name, string type, string jsonPath) : Attribute
{
    public int Order { get; } = order;
    public string Name { get; } = name;
    public string Type { get; } = type;
    public string JsonPath { get; } = jsonPath;
    public string? Description { get; init; }
    public string? Format { get; init; }
    public int Priority { get; init; }
}

/// <summary>An integer-or-string value such as a resource quantity (<c>cpu: 2</c>, <c>memory: 4Gi</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class IntOrStringAttribute : Attribute;

/// <summary>A free-form object whose fields the schema does not describe (kept, not pruned).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PreserveUnknownFieldsAttribute : Attribute;

/// <summary>A list whose items are keyed by these fields (<c>x-kubernetes-list-type: map</c>).</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ListMapKeysAttribute(params string[] keys) : Attribute
{
    public IReadOnlyList<string> Keys { get; } = keys;
}
