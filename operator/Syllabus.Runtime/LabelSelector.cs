using System.Text.RegularExpressions;

namespace Syllabus.Runtime;

/// <summary>
/// A parsed Kubernetes label selector (the string form kubectl and the API accept): <c>k=v</c>, <c>k==v</c>,
/// <c>k!=v</c>, <c>k</c>, <c>!k</c>, <c>k in (a,b)</c>, <c>k notin (a,b)</c>, joined by commas (AND). Matched against
/// cached objects so a cache list answers what an API list with the same selector would.
/// </summary>
public sealed partial class LabelSelector
{
    private readonly IReadOnlyList<Requirement> requirements;

    private LabelSelector(IReadOnlyList<Requirement> requirements, string text)
    {
        this.requirements = requirements;
        Text = text;
    }

    /// <summary>Matches every object.</summary>
    public static LabelSelector Everything { get; } = new([], string.Empty);

    public string Text { get; }

    /// <summary>
    /// A metav1.LabelSelector (matchLabels and matchExpressions, ANDed), as apimachinery's LabelSelectorAsSelector: an
    /// empty selector matches everything.
    /// </summary>
    /// <exception cref="FormatException">An expression has an unknown operator, or values where it must have none.</exception>
    public static LabelSelector From(k8s.Models.V1LabelSelector? selector)
    {
        if (selector is null)
        {
            return Everything;
        }

        var terms = new List<string>();
        foreach (var (key, value) in (selector.MatchLabels ?? new Dictionary<string, string>()).OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            terms.Add($"{key}={value}");
        }

        foreach (var e in selector.MatchExpressions ?? [])
        {
            var values = e.Values ?? [];
            terms.Add(e.OperatorProperty switch
            {
                "In" when values.Count > 0 => $"{e.Key} in ({string.Join(',', values)})",
                "NotIn" when values.Count > 0 => $"{e.Key} notin ({string.Join(',', values)})",
                "Exists" when values.Count == 0 => e.Key,
                "DoesNotExist" when values.Count == 0 => $"!{e.Key}",
                _ => throw new FormatException($"Label selector expression on '{e.Key}': operator '{e.OperatorProperty}' with {values.Count} values is not valid (In and NotIn need values, Exists and DoesNotExist none)."),
            });
        }

        return Parse(string.Join(',', terms));
    }

    /// <exception cref="FormatException">The selector is malformed; the message names the part that is.</exception>
    public static LabelSelector Parse(string? selector)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return Everything;
        }

        var requirements = new List<Requirement>();
        foreach (var part in SplitTopLevel(selector))
        {
            var term = part.Trim();
            Match m;
            if ((m = SetRequirement().Match(term)).Success)
            {
                var values = m.Groups["values"].Value.Split(',', StringSplitOptions.TrimEntries);
                if (values.Any(v => !IsLabelValue(v)))
                {
                    throw new FormatException($"Label selector '{selector}': '{term}' has an invalid value in its set.");
                }

                requirements.Add(new Requirement(Key(m, selector, term), m.Groups["op"].Value == "in" ? Operator.In : Operator.NotIn, [.. values]));
            }
            else if ((m = EqualityRequirement().Match(term)).Success)
            {
                var value = m.Groups["value"].Value;
                if (!IsLabelValue(value))
                {
                    throw new FormatException($"Label selector '{selector}': '{value}' in '{term}' is not a valid label value.");
                }

                requirements.Add(new Requirement(Key(m, selector, term), m.Groups["op"].Value == "!=" ? Operator.NotIn : Operator.In, [value]));
            }
            else if ((m = ExistsRequirement().Match(term)).Success)
            {
                requirements.Add(new Requirement(Key(m, selector, term), m.Groups["not"].Success ? Operator.DoesNotExist : Operator.Exists, []));
            }
            else
            {
                throw new FormatException($"Label selector '{selector}': cannot parse '{term}' (expected k=v, k!=v, k, !k, k in (a,b) or k notin (a,b)).");
            }
        }

        return new LabelSelector(requirements, selector.Trim());
    }

    public bool Matches(IDictionary<string, string>? labels)
    {
        foreach (var r in requirements)
        {
            string? value = null;
            var has = labels is not null && labels.TryGetValue(r.Key, out value);
            var ok = r.Op switch
            {
                Operator.Exists => has,
                Operator.DoesNotExist => !has,
                Operator.In => has && r.Values.Contains(value!),
                Operator.NotIn => !has || !r.Values.Contains(value!),
                _ => false,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    public override string ToString() => Text;

    private static string Key(Match m, string selector, string term)
    {
        var key = m.Groups["key"].Value;
        return LabelKey().IsMatch(key) ? key : throw new FormatException($"Label selector '{selector}': '{key}' in '{term}' is not a valid label key.");
    }

    private static bool IsLabelValue(string value) => value.Length == 0 || LabelValue().IsMatch(value);

    private static IEnumerable<string> SplitTopLevel(string selector)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < selector.Length; i++)
        {
            switch (selector[i])
            {
                case '(':
                    depth++;
                    break;
                case ')':
                    depth--;
                    break;
                case ',' when depth == 0:
                    yield return selector[start..i];
                    start = i + 1;
                    break;
            }
        }

        yield return selector[start..];
    }

    [GeneratedRegex(@"^(?<key>[^\s=!(),]+)\s+(?<op>in|notin)\s*\((?<values>[^()]*)\)$")]
    private static partial Regex SetRequirement();

    [GeneratedRegex(@"^(?<key>[^\s=!(),]+)\s*(?<op>==|=|!=)\s*(?<value>[^\s=!(),]*)$")]
    private static partial Regex EqualityRequirement();

    [GeneratedRegex(@"^(?<not>!)?\s*(?<key>[^\s=!(),]+)$")]
    private static partial Regex ExistsRequirement();

    // An optional DNS-subdomain prefix and a name of at most 63 characters, as the API server validates label keys.
    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex LabelKey();

    [GeneratedRegex(@"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex LabelValue();

    private enum Operator
    {
        In,
        NotIn,
        Exists,
        DoesNotExist,
    }

    private sealed record Requirement(string Key, Operator Op, string[] Values);
}
