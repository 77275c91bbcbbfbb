using System.Globalization;

namespace Syllabus.Trainer.Data;

/// <summary>
/// Which cells are missing: a null (Parquet) value, an empty cell, or text that equals one of data.missingValues.tokens
/// after trimming (pandas' default na_values unless the spec lists its own). Numbers stored as numbers are never missing.
/// Empty cells are always missing, not through a "" token: Kubernetes before 1.25 rejects "" in a CRD default list.
/// </summary>
public sealed class MissingValueTokens
{
    private readonly HashSet<string> tokens;

    public MissingValueTokens(IEnumerable<string> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        this.tokens = new HashSet<string>(tokens.Select(t => (t ?? "").Trim()).Where(t => t.Length > 0), StringComparer.Ordinal);
        // A token such as "-999" reads as a number, so cells must be compared with the tokens before parsing.
        HasNumericTokens = this.tokens.Any(t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x));
    }

    /// <summary>The tokens, sorted, as kept in the fitted schema.</summary>
    public IReadOnlyList<string> Tokens => [.. tokens.Order(StringComparer.Ordinal)];

    /// <summary>Whether some token parses as a finite number (then the fast path "a finite number is present" does not hold).</summary>
    public bool HasNumericTokens { get; }

    internal bool IsMissing(RawCell cell) => !cell.IsNumber && (cell.Text is null || cell.Text.Trim() is var text && (text.Length == 0 || tokens.Contains(text)));

    /// <summary>Whether a cell's text (null: a null value) is missing.</summary>
    public bool IsMissing(string? text) => IsMissing(RawCell.OfText(text));
}
