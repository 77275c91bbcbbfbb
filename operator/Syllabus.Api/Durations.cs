using System.Globalization;
using System.Text.RegularExpressions;

namespace Syllabus.Api;

/// <summary>Durations as the CRDs write them (<see cref="SyllabusGroup.DurationPattern"/>): 250ms, 30s, 5m, 1h30m, 1.5h.</summary>
public static partial class Durations
{
    /// <exception cref="FormatException">The text is not a duration; the message quotes it.</exception>
    public static TimeSpan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!Whole().IsMatch(text))
        {
            throw new FormatException($"'{text}' is not a duration (like 250ms, 30s, 5m, 1h30m).");
        }

        var total = TimeSpan.Zero;
        foreach (Match part in Part().Matches(text))
        {
            var value = double.Parse(part.Groups["value"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            total += part.Groups["unit"].Value switch
            {
                "ms" => TimeSpan.FromMilliseconds(value),
                "s" => TimeSpan.FromSeconds(value),
                "m" => TimeSpan.FromMinutes(value),
                _ => TimeSpan.FromHours(value),
            };
        }

        return total;
    }

    /// <summary>Like <see cref="Parse"/>, false instead of an exception.</summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = default;
        if (text is null || !Whole().IsMatch(text))
        {
            return false;
        }

        duration = Parse(text);
        return true;
    }

    [GeneratedRegex(SyllabusGroup.DurationPattern)]
    private static partial Regex Whole();

    [GeneratedRegex(@"(?<value>[0-9]+(\.[0-9]+)?)(?<unit>ms|s|m|h)")]
    private static partial Regex Part();
}
