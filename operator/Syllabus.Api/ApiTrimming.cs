namespace Syllabus.Api;

/// <summary>Why the trim warnings on the Api types' DataAnnotations are suppressed where they are.</summary>
internal static class ApiTrimming
{
    /// <summary>
    /// MinLength and MaxLength read a Count property by reflection only for a value that is neither a string, an array
    /// nor an ICollection; every property they are on here is a string or a List, so they never do. (The spec
    /// validation reads these attributes, so Native AOT keeps them, and the trimmer warns about the constructors.)
    /// </summary>
    public const string LengthAttributes =
        "MinLength/MaxLength are only on string and List<T> properties, which they measure without reflection.";
}
