using Syllabus.Api;
using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.DriftPolicies;

/// <summary>What one look read from the stable replicas' windows.</summary>
public sealed record DriftWindowLook
{
    /// <summary>Per stattest, the readings of the replicas taken into the evaluation (failures included: they are errors).</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<DriftReading>> Readings { get; init; }

    /// <summary>Replicas taken into the evaluation (read, or failed).</summary>
    public required IReadOnlySet<string> Evaluated { get; init; }

    /// <summary>Where the next evaluation starts on every stable replica that still exists: status.windowMarks once this one counts.</summary>
    public required IReadOnlyList<DriftWindowMark> Marks { get; init; }

    /// <summary>Rows tested (over the replicas read), or, when none was, rows waiting on the replicas below the minimum.</summary>
    public long Rows { get; init; }

    /// <summary>Rows served after a replica's mark that left its window before this look could test them.</summary>
    public long UntestedRows { get; init; }

    /// <summary>Why nothing was evaluated (WaitingForWindow or WindowTooSmall), when no replica was taken.</summary>
    public (string Reason, string Message)? NotEvaluated { get; init; }
}

/// <summary>
/// Reads each stable replica's window from the row after its mark, so consecutive evaluations test disjoint rows (as
/// Evidently and NannyML compare chunks). The first stattest's answer fixes the rows (its instance and newest row) and
/// every other stattest asks for exactly those; a replica whose answers disagree (it restarted, or rows left its window,
/// between the requests) is left out of this evaluation and keeps its mark. A mark moves only for a replica read in full;
/// the marks of stable replicas not looked at (not Ready for a moment) are kept, and a replica that no longer exists
/// takes its mark with it.
/// </summary>
public static class DriftWindowReader
{
    /// <param name="pods">The Ready stable replicas of the stable revision, to read.</param>
    /// <param name="existing">Every stable replica of the stable revision that still exists (Ready or not).</param>
    public static async Task<DriftWindowLook> ReadAsync(
        IDriftReportReader reports, IReadOnlyList<ServingPod> pods, IReadOnlyCollection<string> existing, string model,
        IReadOnlyList<string> stattests, IReadOnlyList<DriftWindowMark>? marks, int minWindowSize, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(stattests);
        var previous = (marks ?? []).GroupBy(m => m.Pod, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var readings = stattests.ToDictionary(s => s, _ => new List<DriftReading>(), StringComparer.Ordinal);
        var evaluated = new HashSet<string>(StringComparer.Ordinal);
        var moved = new Dictionary<string, DriftWindowMark>(StringComparer.Ordinal);
        var small = new List<string>();
        var unreachable = new List<string>();
        long rows = 0, waiting = 0, untested = 0;
        foreach (var pod in pods)
        {
            var mark = previous.GetValueOrDefault(pod.Name);
            var read = new List<(string Stattest, DriftReading Reading)>();
            DriftWindowSequence? first = null;
            long firstRows = 0;
            string? failure = null;
            var leftOut = false;
            foreach (var stattest in stattests)
            {
                if (failure is not null)
                {
                    // A replica that failed one stattest fails them all: each detector sees the error.
                    read.Add((stattest, DriftReading.Failed(pod, failure)));
                    continue;
                }

                var reading = await reports.ReadAsync(pod, model, stattest, mark, first?.RowsSeen, ct).ConfigureAwait(false);
                if (reading.Report is not { } report)
                {
                    failure = reading.Problem;
                    read.Add((stattest, reading));
                    continue;
                }

                if (read.Count == 0)
                {
                    first = report.Window;
                    firstRows = report.CurrentRows;
                    if (first is not null && first.Capacity < minWindowSize)
                    {
                        unreachable.Add($"{pod.Name} holds at most {first.Capacity}");
                        leftOut = true;
                        break;
                    }

                    if (report.CurrentRows < minWindowSize)
                    {
                        small.Add($"{pod.Name} {report.CurrentRows}");
                        waiting += report.CurrentRows;
                        leftOut = true;
                        break;
                    }
                }
                else if (report.CurrentRows != firstRows || report.Window?.Instance != first?.Instance || report.Window?.RowsSeen != first?.RowsSeen)
                {
                    leftOut = true; // not the rows the first stattest tested: this replica waits for the next evaluation
                    break;
                }

                read.Add((stattest, reading));
            }

            if (leftOut)
            {
                continue;
            }

            evaluated.Add(pod.Name);
            foreach (var (stattest, reading) in read)
            {
                readings[stattest].Add(reading);
            }

            if (failure is null && first is not null)
            {
                rows += firstRows;
                moved[pod.Name] = new DriftWindowMark { Pod = pod.Name, Instance = first.Instance, RowsSeen = first.RowsSeen };
                if (mark is not null && mark.Instance == first.Instance)
                {
                    untested += Math.Max(0, first.RowsSeen - firstRows - mark.RowsSeen);
                }
            }
            else if (failure is null)
            {
                rows += firstRows; // a server that does not number its rows: read whole, no mark
            }
        }

        List<DriftWindowMark> next = [.. existing.Order(StringComparer.Ordinal).Select(p => moved.GetValueOrDefault(p) ?? previous.GetValueOrDefault(p)).OfType<DriftWindowMark>()];
        (string, string)? notEvaluated = stattests.Count > 0 && evaluated.Count == 0
            ? unreachable.Count > 0 && small.Count == 0
                ? ("WindowTooSmall", $"minWindowSize {minWindowSize} can never be reached: the serving window of {string.Join(", ", unreachable)} rows; lower minWindowSize")
                : ("WaitingForWindow", $"fewer than minWindowSize {minWindowSize} new rows on every stable replica{(previous.Count > 0 ? " since the last evaluation" : "")} ({(small.Count + unreachable.Count > 0 ? string.Join(", ", small.Concat(unreachable)) : "replicas re-read next time")})")
            : null;
        return new DriftWindowLook
        {
            Readings = readings.ToDictionary(p => p.Key, p => (IReadOnlyList<DriftReading>)p.Value, StringComparer.Ordinal),
            Evaluated = evaluated,
            Marks = next,
            Rows = evaluated.Count > 0 ? rows : waiting,
            UntestedRows = untested,
            NotEvaluated = notEvaluated,
        };
    }
}
