using Syllabus.Api;
using Syllabus.Operator.DriftPolicies;
using Syllabus.Operator.ModelDeployments;

namespace Syllabus.Operator.Tests.DriftPolicies;

public sealed class DriftWindowReaderTests
{
    private static readonly string[] Stattests = ["auto", "jensenshannon"];
    private static readonly ServingPod A = new("digits-stable-a", "10.0.0.1:8080");
    private static readonly ServingPod B = new("digits-stable-b", "10.0.0.2:8080");

    /// <summary>Serving pods whose windows number their rows as serve's LiveWindow does (since/until/instance), with hooks between requests.</summary>
    private sealed class FakeServe : IDriftReportReader
    {
        public Dictionary<string, Window> Pods { get; } = [];

        public List<(string Pod, string Stattest, long? Since, long? Until)> Calls { get; } = [];

        public Action<string>? AfterRequest { get; set; }

        public Task<DriftReading> ReadAsync(ServingPod pod, string model, string stattest, DriftWindowMark? since, long? until, CancellationToken ct)
        {
            Calls.Add((pod.Name, stattest, since?.RowsSeen, until));
            var w = Pods[pod.Name];
            DriftReading result;
            if (w.Failure is { } failure)
            {
                result = DriftReading.Failed(pod, failure);
            }
            else
            {
                var from = since is not null && since.Instance == w.Instance ? since.RowsSeen : 0;
                var last = Math.Min(until ?? w.Served, w.Served);
                var first = from >= last ? last + 1 : Math.Max(from + 1, w.Served - Math.Min(w.Served, w.Capacity) + 1);
                var rows = Math.Max(0, last - first + 1);
                result = DriftReading.Of(pod, new DriftReport { CurrentRows = rows, Window = new DriftWindowSequence { Instance = w.Instance, RowsSeen = last, Capacity = w.Capacity } });
            }

            AfterRequest?.Invoke(pod.Name);
            return Task.FromResult(result);
        }
    }

    private sealed class Window(string instance, long served, int capacity = 1000)
    {
        public string Instance { get; set; } = instance;

        public long Served { get; set; } = served;

        public int Capacity { get; } = capacity;

        public string? Failure { get; set; }
    }

    private static DriftWindowMark Mark(ServingPod pod, string instance, long rows) => new() { Pod = pod.Name, Instance = instance, RowsSeen = rows };

    private static Task<DriftWindowLook> Read(FakeServe serve, IReadOnlyList<DriftWindowMark>? marks, ServingPod[]? pods = null, string[]? existing = null, int min = 200) =>
        DriftWindowReader.ReadAsync(serve, pods ?? [A, B], existing ?? [A.Name, B.Name], "digits", Stattests, marks, min, CancellationToken.None);

    [Fact]
    public async Task Every_stattest_reads_the_rows_the_first_answer_fixed_and_the_marks_move_to_them()
    {
        var serve = new FakeServe { Pods = { [A.Name] = new Window("ia", 700), [B.Name] = new Window("ib", 650) } };
        // Traffic goes on between the requests: the second stattest must still test the first one's rows.
        serve.AfterRequest = pod => serve.Pods[pod].Served += 10;

        var look = await Read(serve, [Mark(A, "ia", 300), Mark(B, "ib", 400)]);

        Assert.Equal([(A.Name, "auto", 300L, (long?)null), (A.Name, "jensenshannon", 300L, 700L), (B.Name, "auto", 400L, null), (B.Name, "jensenshannon", 400L, 650L)], serve.Calls);
        Assert.Equal(400 + 250, look.Rows);
        Assert.Equal([700L, 650L], look.Marks.Select(m => m.RowsSeen));
        Assert.All(look.Readings.Values, r => Assert.Equal([400L, 250L], r.Select(x => x.Report!.CurrentRows)));
        Assert.Null(look.NotEvaluated);
        Assert.Equal(0, look.UntestedRows);
    }

    [Fact]
    public async Task A_replica_below_the_minimum_keeps_its_mark_and_none_above_it_is_a_wait()
    {
        var serve = new FakeServe { Pods = { [A.Name] = new Window("ia", 700), [B.Name] = new Window("ib", 450) } };
        var look = await Read(serve, [Mark(A, "ia", 300), Mark(B, "ib", 400)]);

        Assert.Equal([A.Name], look.Evaluated);
        Assert.Equal([700L, 400L], look.Marks.Select(m => m.RowsSeen));
        Assert.DoesNotContain(serve.Calls, c => c.Pod == B.Name && c.Stattest == "jensenshannon");

        var waiting = await Read(serve, look.Marks);
        Assert.Equal(("WaitingForWindow", 50L), (waiting.NotEvaluated!.Value.Reason, waiting.Rows));
        Assert.Contains("digits-stable-a 0, digits-stable-b 50", waiting.NotEvaluated.Value.Message, StringComparison.Ordinal);
        Assert.Equal([700L, 400L], waiting.Marks.Select(m => m.RowsSeen));
    }

    [Fact]
    public async Task A_replica_not_ready_keeps_its_mark_and_one_that_is_gone_takes_it_away()
    {
        var serve = new FakeServe { Pods = { [A.Name] = new Window("ia", 700) } };
        var notReady = await Read(serve, [Mark(A, "ia", 300), Mark(B, "ib", 400)], pods: [A]);
        Assert.Equal([(A.Name, 700L), (B.Name, 400L)], notReady.Marks.Select(m => (m.Pod, m.RowsSeen)));

        var gone = await Read(serve, notReady.Marks, pods: [A], existing: [A.Name]);
        Assert.Equal([A.Name], gone.Marks.Select(m => m.Pod));
    }

    [Fact]
    public async Task A_replica_that_restarts_between_the_requests_waits_for_the_next_evaluation_with_its_old_mark()
    {
        var serve = new FakeServe { Pods = { [A.Name] = new Window("ia", 700), [B.Name] = new Window("ib", 900) } };
        serve.AfterRequest = pod =>
        {
            if (pod == B.Name && serve.Pods[pod].Instance == "ib")
            {
                serve.Pods[pod].Instance = "ib2"; // restarted: numbering from 1 again
                serve.Pods[pod].Served = 250;
            }
        };

        var look = await Read(serve, [Mark(A, "ia", 300), Mark(B, "ib", 400)]);

        Assert.Equal([A.Name], look.Evaluated);
        Assert.All(look.Readings.Values, r => Assert.Equal([A.Name], r.Select(x => x.Pod.Name)));
        Assert.Equal([("ia", 700L), ("ib", 400L)], look.Marks.Select(m => (m.Instance, m.RowsSeen)));
        Assert.Equal(400, look.Rows);

        // Next time the old instance's mark says nothing about the new server's rows: all of them are tested.
        serve.AfterRequest = null;
        var next = await Read(serve, look.Marks, pods: [B]);
        Assert.Equal(250, next.Rows);
        Assert.Equal(("ib2", 250L), (next.Marks.Single(m => m.Pod == B.Name).Instance, next.Marks.Single(m => m.Pod == B.Name).RowsSeen));
    }

    [Fact]
    public async Task A_failing_replica_fails_every_stattest_and_keeps_its_mark()
    {
        var serve = new FakeServe { Pods = { [A.Name] = new Window("ia", 700), [B.Name] = new Window("ib", 900) { Failure = "pod digits-stable-b answered 409: no profile" } } };
        var look = await Read(serve, [Mark(A, "ia", 300), Mark(B, "ib", 400)]);

        Assert.Equal([A.Name, B.Name], look.Evaluated.Order());
        Assert.All(look.Readings.Values, r => Assert.Contains(r, x => x.Pod == B && x.Problem == "pod digits-stable-b answered 409: no profile"));
        Assert.Single(serve.Calls, c => c.Pod == B.Name);
        Assert.Equal([700L, 400L], look.Marks.Select(m => m.RowsSeen));
    }

    [Fact]
    public async Task Rows_that_left_the_window_before_a_look_are_counted_untested_and_an_unreachable_minimum_is_said()
    {
        var serve = new FakeServe { Pods = { [A.Name] = new Window("ia", 1500) } };
        var look = await Read(serve, [Mark(A, "ia", 100)], pods: [A], existing: [A.Name]);
        Assert.Equal((1000L, 400L), (look.Rows, look.UntestedRows));

        var tooLarge = await Read(new FakeServe { Pods = { [A.Name] = new Window("ia", 1500) } }, null, pods: [A], existing: [A.Name], min: 5000);
        Assert.Equal("WindowTooSmall", tooLarge.NotEvaluated!.Value.Reason);
        Assert.Contains("digits-stable-a holds at most 1000", tooLarge.NotEvaluated.Value.Message, StringComparison.Ordinal);
        Assert.Empty(tooLarge.Marks);
    }
}
