using System.Globalization;

namespace Syllabus.Trainer.Data;

/// <summary>
/// Which cells are missing: a null (Parquet) value, or text that equals one of data.missingValues.tokens after
/// trimming (pandas' default na_values unless the spec lists its own). Numbers stored as numbers are never missing.
/// </summary>
public sealed class MissingValueTokens
{
    private readonly HashSet<string> tokens;

    public MissingValueTokens(IEnumerable<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        this.tokens = new HashSet<string>(tokens.Select(t => (t ?? "").Trim()), StringComparer.Ordinal);
        // A token such as "-999" reads as a number, so cells must be compared with the tokens before parsing.
        HasNumericTokens = this.tokens.Any(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x));
    }

    /// <summary>The tokens, sorted, as kept in the fitted schema.</summary>
    public IReadOnlyList<string> Tokens => [.. tokens.Order(StringComparer.Ordinal)];

    /// <summary>Whether some token parses as a finite number (then the fast path "a finite number is present" does not hold).</summary>
    public bool HasNumericTokens { get; }

    /// <summary>Whether an empty cell counts as missing ("" is a token).</summary>
    public bool EmptyIsMissing => tokens.Contains("");

    internal bool IsMissing(RawCell cell) => !cell.IsNumber && (cell.Text is null || tokens.Contains(cell.Text.Trim()));

    /// <summary>Whether a cell's text (null: a null value) is missing.</summary>
    public bool IsMissing(string? text) => IsMissing(RawCell.OfText(text));
}
