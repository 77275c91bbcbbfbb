using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;
using Syllabus.Testing;

namespace Syllabus.Benchmarks.Operator;

/// <summary>
/// The real operator (Syllabus.Operator.dll as shipped, in its own process, TrainingRun and Curriculum controllers)
/// taking N applied TrainingRuns to Job + ConfigMap created and phase Pending, against a plain client doing the same
/// three writes per run (ConfigMap create, Job create, status merge patch) at the same concurrency, on etcd +
/// kube-apiserver 1.20 with its watch cache on (no controller manager: the Jobs only have to exist). Then the API
/// requests per reconcile in steady state (each Pending run is requeued after Trainer:ProgressInterval), the
/// operator's peak working set, and the same again with unrelated ConfigMaps and Jobs in the cluster.
/// </summary>
/// <remarks>
/// The operator starts before the clock: it runs with leader election while the benchmark holds the lease, so the
/// process is up (runtime started, host built) but has neither listed nor reconciled anything. Deleting the lease
/// starts the clock; the operator takes the lease within its retry period (0.2 s here), starts its informers (list +
/// watch) and reconciles. That is a leader's cold start without the process start, which is what the floor is
/// compared with: the floor also lists the runs first.
/// </remarks>
internal static class TrainingRunBenchmark
{
    private const string LeaseNamespace = "syllabus-system";
    private const string GateHolder = "benchmark-gate";
    private const string UnrelatedNamespace = "bench-unrelated";

    // What the operator reads and writes; apiserver_request_total is counted over these only (the API server's own
    // loopback clients poll endpoints, services and flow-control objects, and lease renewals are leader election's).
    // Services are left out for that reason: the API server GETs default/kubernetes every 10 s, and the operator makes
    // no Service request here beyond its informer's list and watch (no ModelDeployment exists in the benchmark).
    private static readonly string[] OperatorResources = ["trainingruns", "curricula", "modeldeployments", "deployments", "jobs", "configmaps", "pods", "events"];

    public static async Task<int> RunAsync(string[] args)
    {
        BenchArgs.RequireKnown(args, "--runs", "--workers", "--unrelated", "--qps", "--burst", "--steady-seconds", "--gc", "--operator");
        var runs = BenchArgs.Int(args, "--runs", 1000);
        var workers = BenchArgs.Int(args, "--workers", 8);
        var unrelated = BenchArgs.Int(args, "--unrelated", 10_000, minimum: 0);
        var qps = BenchArgs.Int(args, "--qps", 0, minimum: 0);
        var burst = BenchArgs.Int(args, "--burst", qps * 2, minimum: 0);
        var steadySeconds = BenchArgs.Int(args, "--steady-seconds", 20);

        // "shipped": the operator's runtimeconfig (Workstation GC, non-concurrent); "server" overrides it with the Web
        // SDK's default (Server GC, concurrent) for comparison.
        var gc = BenchArgs.Choice(args, "--gc", "shipped", "server");
        if (ControlPlane.SkipReason is { } skip)
        {
            Console.Error.WriteLine($"Cannot run: {skip}");
            return 2;
        }

        // "aot": the Native AOT executable, as the image ships it (this project's build publishes it to operator-aot/);
        // "jit": Syllabus.Operator.dll on the dotnet host, as before the operator shipped native.
        var build = BenchArgs.Choice(args, "--operator", "aot", "jit");
        var launch = build == "aot"
            ? new OperatorLaunch(await PublishNativeOperatorAsync(), "Syllabus.Operat")
            : new OperatorLaunch(Path.Combine(AppContext.BaseDirectory, "Syllabus.Operator.dll"), "dotnet");
        if (!File.Exists(launch.Path))
        {
            Console.Error.WriteLine($"Cannot run: {launch.Path} is missing (the project reference copies the built operator there).");
            return 2;
        }

        Console.WriteLine($"Operator: {(build == "aot" ? "Native AOT executable" : "JIT (dotnet Syllabus.Operator.dll)")} {launch.Path}.");
        var clientLimits = qps == 0 ? "the shipped Operator:ClientQps / ClientBurst (appsettings.json)" : $"Operator:ClientQps={qps}, ClientBurst={burst}";
        Console.WriteLine($"The operator runs with the environment its image sets (Dockerfile ENV): {(ShippedEnvironment.Value.Count == 0 ? "none" : string.Join(", ", ShippedEnvironment.Value.Select(e => $"{e.Key}={e.Value}")))}.");
        Console.WriteLine($"Starting etcd + kube-apiserver (watch cache on): {runs} TrainingRuns, {workers} workers / concurrent writers, {clientLimits}, {unrelated} unrelated ConfigMaps and Jobs in the second pass.");
        await using var plane = await ControlPlane.StartAsync(new ControlPlaneOptions { WatchCache = true });
        // 1.20 rejects x-kubernetes-validations: the variant without CEL rules (the operator enforces them as Valid=False).
        await InstallCrdsAsync(plane, Path.Combine(RepositoryPaths.Root, "crds", "legacy"));
        using var admin = plane.CreateClient();
        var bench = new Bench(plane, admin, runs, workers, steadySeconds, launch, qps, burst, gc);
        await bench.CreateNamespaceAsync(LeaseNamespace);

        var floorBefore = await bench.FloorAsync("bench-floor-1", FloorWrites.Issue);
        var finalizerBefore = await bench.FloorAsync("bench-finalizer-1", FloorWrites.Finalizer);
        var ownBefore = await bench.FloorAsync("bench-own-1", FloorWrites.OwnWrites);
        var clean = await bench.OperatorPassAsync("bench-operator-1");
        OperatorPass? crowded = null;
        if (unrelated > 0)
        {
            await bench.CreateNamespaceAsync(UnrelatedNamespace);
            await bench.CreateNamespaceAsync("bench-operator-2");
            var created = Stopwatch.StartNew();
            await bench.CreateUnrelatedAsync(UnrelatedNamespace, unrelated - (unrelated / 2));
            await bench.CreateUnrelatedAsync("bench-operator-2", unrelated / 2);
            Console.WriteLine($"Created {unrelated} unrelated ConfigMaps and {unrelated} unrelated Jobs (half in {UnrelatedNamespace}, half in the watched namespace) in {created.Elapsed.TotalSeconds:F1} s");
            crowded = await bench.OperatorPassAsync("bench-operator-2", namespaceExists: true);
        }

        // In the reverse order, so what accumulates in etcd and the watch caches pass after pass weighs on each floor alike.
        var ownAfter = await bench.FloorAsync("bench-own-2", FloorWrites.OwnWrites);
        var finalizerAfter = await bench.FloorAsync("bench-finalizer-2", FloorWrites.Finalizer);
        var floorAfter = await bench.FloorAsync("bench-floor-2", FloorWrites.Issue);
        static FloorPass Faster(FloorPass before, FloorPass after) => before.Elapsed < after.Elapsed ? before : after;
        var floor = Faster(floorBefore, floorAfter);
        var finalizer = Faster(finalizerBefore, finalizerAfter);
        var own = Faster(ownBefore, ownAfter);

        var table = new StringBuilder();
        var unrelatedHeader = crowded is null ? "" : $" | with {unrelated:N0} unrelated ConfigMaps + {unrelated:N0} Jobs";
        table.AppendLine(CultureInfo.InvariantCulture, $"| {runs:N0} TrainingRuns, {workers} workers, {ClientLimitsCell(qps, burst)}, {(gc == "shipped" ? "GC as shipped (Workstation, non-concurrent)" : "Server GC (DOTNET_gcServer=1, DOTNET_gcConcurrent=1)")} | no unrelated objects{unrelatedHeader} |");
        table.AppendLine(crowded is null ? "|---|---|" : "|---|---|---|");
        void Row(string name, Func<OperatorPass, string> cell) =>
            table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {cell(clean)}{(crowded is null ? "" : $" | {cell(crowded)}")} |");
        // Rows measured on the floors alone: one cell, under the pass without unrelated objects.
        void FloorRow(string name, string cell) =>
            table.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {cell}{(crowded is null ? "" : " | ")} |");
        static string Passes(FloorPass best, FloorPass before, FloorPass after) =>
            $"{best.Elapsed.TotalSeconds:F2} s (before {before.Elapsed.TotalSeconds:F2}, after {after.Elapsed.TotalSeconds:F2})";
        Row("operator: lease released → every run has Job + ConfigMap, phase Pending (as seen by the benchmark's own TrainingRun watch, which the floors do not have)", p => $"{p.Elapsed.TotalSeconds:F2} s ({runs / p.Elapsed.TotalSeconds:F0} runs/s)");
        Row("operator CPU time (user + system) from the lease's release until all Pending: less sensitive to other load than the time", p => $"{p.BurstCpuSeconds:F2} s");
        FloorRow("floor: plain client, ConfigMap create + Job create + status patch per run (each floor: the better of two passes, one before the operator passes and one after them in the reverse order; timed from its LIST until its last write returned)", Passes(floor, floorBefore, floorAfter));
        Row("**operator / floor** (target ≤ 1.5)", p => $"**{p.Elapsed / floor.Elapsed:F2}**");
        FloorRow("plain client: the floor with the operator's finalizer patch first (guarded merge patch of metadata.finalizers), nothing else changed", Passes(finalizer, finalizerBefore, finalizerAfter));
        FloorRow("its time / the floor's: the finalizer patch alone (client time included; the API server's share is in the CPU row)", $"{finalizer.Elapsed / floor.Elapsed:F2}");
        FloorRow("plain client writing what the operator writes before Pending, in its order and through its runtime calls: finalizer patch, ConfigMap, Job, status diff patch guarded by the resourceVersion, the run's Event queued to one background writer as the operator does", $"{Passes(own, ownBefore, ownAfter)}; Events sent before its last write returned: {own.EventsSent} and {(ReferenceEquals(own, ownBefore) ? ownAfter : ownBefore).EventsSent}");
        FloorRow("its time / the floor's: the operator's own writes, without the operator", $"{own.Elapsed / floor.Elapsed:F2}");
        Row("operator / those writes by a plain client: what the operator process adds beyond its writes (its informers' lists and watch streams, later reconciles' writes, leader election) and the benchmark's TrainingRun watch", p => $"{p.Elapsed / own.Elapsed:F2}");
        Row("kube-apiserver + etcd CPU (user + system) per run in ms: floor, floor + finalizer patch, the operator's writes by a plain client (before / after passes), the operator pass", p => $"{ServerMs(floorBefore, floorAfter, runs)}, {ServerMs(finalizerBefore, finalizerAfter, runs)}, {ServerMs(ownBefore, ownAfter, runs)}, {p.BurstServerCpuSeconds * 1000 / runs:F2}");
        Row("operator: API requests per run until all Pending (and in all, by verb and resource)", p => PerRun(p.Burst, runs));
        Row("operator: API requests per run until quiet (the second reconcile's status patch, the last events)", p => PerRun(p.UntilQuiet, runs));
        Row("operator: reconciles per run until all Pending (by result)", p => $"{p.BurstReconciles.Values.Sum() / (double)runs:F2} ({Describe(p.BurstReconciles)})");
        Row($"steady state ({steadySeconds} s once quiet; runs requeue every 15 s): reconciles", p => p.SteadyReconciles.Values.Sum().ToString(CultureInfo.InvariantCulture));
        Row("steady state: API requests per reconcile, **reads (GET + LIST) per reconcile** (target 0)", p => SteadyCell(p));
        Row("operator process start → /healthz answers (not in the time above; 20 ms polls)", p => $"{p.StartUp.TotalSeconds:F2} s");
        Row("**operator peak working set** (VmHWM; target < 150 MiB)", p => $"**{p.PeakWorkingSetMiB:F1} MiB** (started and waiting for the lease: {p.IdleWorkingSetMiB:F1} MiB; at the end {p.EndWorkingSetMiB:F1} MiB)");
        if (crowded is not null)
        {
            var change = (crowded.PeakWorkingSetMiB - clean.PeakWorkingSetMiB) / clean.PeakWorkingSetMiB;
            Row("peak working set vs no unrelated objects (target within 10%)", p => ReferenceEquals(p, clean) ? "" : $"**{change:+0.0%;-0.0%}**");
        }

        Console.WriteLine();
        Console.WriteLine($"kube-apiserver v1.20.2 with its watch cache on; {Environment.ProcessorCount} cores; load average at the end: {LoadAverage()}");
        Console.Write(table.ToString());

        // Every run must be there on the server, not just counted by the benchmark's watch.
        var missing = clean.Missing.Concat(crowded?.Missing ?? []).ToList();
        if (missing.Count > 0)
        {
            Console.Error.WriteLine($"{missing.Count} runs are missing their Job, ConfigMap or phase Pending, e.g.:\n  {string.Join("\n  ", missing.Take(10))}");
            return 1;
        }

        return 0;
    }

    /// <summary>
    /// The runtime's environment variables (DOTNET_*) the operator image sets with ENV in the Dockerfile, so the measured
    /// process runs as shipped. Only the one-variable form "ENV NAME=VALUE" is accepted; anything else is an error, not
    /// a variable silently left out of the measurement.
    /// </summary>
    private static readonly Lazy<IReadOnlyDictionary<string, string>> ShippedEnvironment = new(() =>
    {
        var dockerfile = Path.Combine(RepositoryPaths.Root, "Dockerfile");
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines(dockerfile).Select(l => l.Trim()))
        {
            if (!line.StartsWith("ENV ", StringComparison.Ordinal))
            {
                continue;
            }

            var assignment = line[4..].Trim();
            var equals = assignment.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || assignment.Contains(' ', StringComparison.Ordinal) || assignment.Contains('"', StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{dockerfile}: '{line}' is not of the form ENV NAME=VALUE (one variable, no quotes or spaces), which is all the benchmark reads.");
            }

            if (assignment.StartsWith("DOTNET_", StringComparison.Ordinal))
            {
                variables[assignment[..equals]] = assignment[(equals + 1)..];
            }
        }

        return variables;
    });

    /// <summary>
    /// Every Syllabus CRD of <paramref name="directory"/>, with kubectl create + wait as a user installs them (the
    /// operator's controllers wait for all their informers, so a missing CRD would keep it from starting).
    /// </summary>
    private static async Task InstallCrdsAsync(ControlPlane plane, string directory)
    {
        Console.WriteLine($"Installing the CRDs of {directory}.");
        await KubectlAsync(plane, "create", "-f", directory);
        await KubectlAsync(plane, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all");
    }

    private static async Task KubectlAsync(ControlPlane plane, params string[] arguments)
    {
        var kubectl = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("kubectl is not on PATH; the benchmark installs the CRDs with it");
        var start = new ProcessStartInfo(kubectl) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add($"--kubeconfig={plane.KubeconfigPath}");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"kubectl {string.Join(' ', arguments)} failed ({process.ExitCode}): {await stderr}{await stdout}");
        }
    }

    private static string ServerMs(FloorPass before, FloorPass after, int runs) =>
        string.Create(CultureInfo.InvariantCulture, $"{before.ServerCpuSeconds * 1000 / runs:F2} / {after.ServerCpuSeconds * 1000 / runs:F2}");

    private static string ClientLimitsCell(int qps, int burst) =>
        qps == 0 ? "shipped client settings (no client-side rate limit)" : $"ClientQps {qps}, burst {burst}";

    private static string PerRun(IReadOnlyDictionary<string, long> byVerb, int runs)
    {
        var total = byVerb.Values.Sum();
        return $"{total / (double)runs:F2}: {string.Join(", ", byVerb.OrderByDescending(v => v.Value).ThenBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key} {v.Value}"))}";
    }

    private static string Describe(IReadOnlyDictionary<string, long> counts) =>
        string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));

    private static string SteadyCell(OperatorPass p)
    {
        var reconciles = p.SteadyReconciles.Values.Sum();
        if (reconciles == 0)
        {
            return "no reconcile in the window";
        }

        var total = p.Steady.Values.Sum();
        var reads = p.Steady.Where(v => v.Key.StartsWith("GET ", StringComparison.Ordinal) || v.Key.StartsWith("LIST ", StringComparison.Ordinal)).Sum(v => v.Value);
        var verbs = total == 0 ? "none" : string.Join(", ", p.Steady.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key} {v.Value}"));
        return $"{total / (double)reconciles:F3} ({verbs}); **reads {reads / (double)reconciles:F3}**";
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    /// <summary>What one operator pass measured.</summary>
    private sealed record OperatorPass(
        TimeSpan Elapsed,
        IReadOnlyDictionary<string, long> Burst,
        IReadOnlyDictionary<string, long> BurstReconciles,
        IReadOnlyDictionary<string, long> UntilQuiet,
        IReadOnlyDictionary<string, long> Steady,
        IReadOnlyDictionary<string, long> SteadyReconciles,
        double PeakWorkingSetMiB,
        double EndWorkingSetMiB,
        double IdleWorkingSetMiB,
        TimeSpan StartUp,
        double BurstCpuSeconds,
        double BurstServerCpuSeconds,
        IReadOnlyList<string> Missing);

    /// <summary>One floor pass: its time and the API server's and etcd's CPU during it.</summary>
    private sealed record FloorPass(TimeSpan Elapsed, double ServerCpuSeconds, long EventsSent);

    /// <summary>What a floor pass writes per run (see Bench.FloorAsync).</summary>
    private enum FloorWrites
    {
        Issue,
        Finalizer,
        OwnWrites,
    }

    /// <summary>The operator as the image ships it (Native AOT), published into operator-aot/ beside this benchmark.</summary>
    private static async Task<string> PublishNativeOperatorAsync()
    {
        var output = Path.Combine(AppContext.BaseDirectory, "operator-aot");
        Console.WriteLine($"Publishing the Native AOT operator to {output} (minutes the first time) ...");
        return await NativeOperator.PublishAsync(output);
    }

    private sealed class Bench(ControlPlane plane, IKubernetes admin, int runs, int workers, int steadySeconds, OperatorLaunch launch, int qps, int burst, string gc)
    {
        private readonly TrainerImageOptions image = new();
        private int[]? serverPids;

        public async Task CreateNamespaceAsync(string ns) =>
            await admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } });

        /// <summary>The same runs for the floor and the operator: only model, data and artifacts, as a new user writes them.</summary>
        public async Task ApplyRunsAsync(string ns)
        {
            var applied = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, runs), new ParallelOptions { MaxDegreeOfParallelism = workers }, async (i, ct) =>
            {
                // The manifest as written, not a serialised C# TrainingRun (whose initialisers would add fields).
                var manifest = new JsonObject
                {
                    ["apiVersion"] = SyllabusGroup.ApiVersion,
                    ["kind"] = TrainingRun.KindName,
                    ["metadata"] = new JsonObject { ["name"] = RunName(i), ["namespace"] = ns },
                    ["spec"] = new JsonObject
                    {
                        ["model"] = new JsonObject { ["architecture"] = ModelArchitectures.Mlp, ["hiddenLayers"] = new JsonArray(64) },
                        ["data"] = new JsonObject { ["train"] = new JsonObject { ["uri"] = "pvc://datasets/mnist/train.csv" } },
                        ["artifacts"] = new JsonObject { ["uri"] = $"pvc://artifacts/runs/{RunName(i)}" },
                    },
                };
                await admin.CustomObjects.CreateNamespacedCustomObjectAsync(manifest, SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, fieldManager: "kubectl", cancellationToken: ct);
            });
            Console.WriteLine($"Applied {runs} TrainingRuns in {ns} in {applied.Elapsed.TotalSeconds:F2} s");
        }

        /// <summary>
        /// A floor: one list, then per run the operator's own objects and first status (built by its builders and status
        /// calculator) written by a plain client, with none of the runtime (no cache, queue, rate limiter).
        /// <see cref="FloorWrites.Issue"/> is the issue's floor (ConfigMap create, Job create, status patch);
        /// <see cref="FloorWrites.Finalizer"/> is that with the operator's finalizer patch first, nothing else changed;
        /// <see cref="FloorWrites.OwnWrites"/> adds what the operator also writes before a run is Pending, in its order and
        /// through the same runtime calls: the finalizer patch first (guarded merge patch of metadata.finalizers), the
        /// status diff patch guarded by the resourceVersion, and the run's Events queued to one background writer
        /// (<see cref="QueuedEventRecorder"/>, as the operator registers it), so "this / issue floor" is what those writes
        /// cost without the operator and "operator / this" what the operator process adds beyond them.
        /// </summary>
        public async Task<FloorPass> FloorAsync(string ns, FloorWrites writes)
        {
            await CreateNamespaceAsync(ns);
            await ApplyRunsAsync(ns);
            using var plain = plane.CreateClient();
            var runClient = new ResourceClient<TrainingRun>(plain);
            var eventOptions = new EventRecorderOptions();
            using var events = new QueuedEventRecorder(
                new EventRecorder(plain, eventOptions, TimeProvider.System, NullLogger<EventRecorder>.Instance), eventOptions, NullLogger<QueuedEventRecorder>.Instance);
            await events.StartAsync(CancellationToken.None);
            var expectedEvents = 0;
            var requestsBefore = await CountRequestsAsync();
            var serverBefore = await ServerCpuSecondsAsync();
            var watch = Stopwatch.StartNew();
            var list = await plain.CustomObjects.ListNamespacedCustomObjectAsync<ResourceList<TrainingRun>>(SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural);
            await Parallel.ForEachAsync(list.Items, new ParallelOptions { MaxDegreeOfParallelism = workers }, async (run, ct) =>
            {
                if (writes != FloorWrites.Issue)
                {
                    run = await runClient.AddFinalizerAsync(run, TrainingRunNames.Finalizer, ct);
                }

                var config = ResolvedConfigBuilder.Build(run, null, null);
                var decision = TrainingRunStatusCalculator.Compute(new TrainingRunObservation { Run = run, Now = DateTimeOffset.UtcNow, Options = image });
                var attempt = decision.Actions.OfType<TrainingRunAction.CreateAttempt>().Single();
                await plain.CoreV1.CreateNamespacedConfigMapAsync(TrainerJobBuilder.BuildConfigMap(run, config), ns, cancellationToken: ct);
                await plain.BatchV1.CreateNamespacedJobAsync(TrainerJobBuilder.Build(run, config, image, attempt.Attempt, attempt.ActiveDeadlineSeconds), ns, cancellationToken: ct);
                var status = decision.Status;
                status.ObservedGeneration = run.Metadata.Generation;
                if (writes == FloorWrites.OwnWrites)
                {
                    await runClient.UpdateStatusAsync(run, status, ct);
                    foreach (var e in decision.Events)
                    {
                        await events.RecordAsync(run, e.Type, e.Reason, e.Message, ct);
                        Interlocked.Increment(ref expectedEvents);
                    }

                    return;
                }

                var patch = new JsonObject { ["status"] = JsonNode.Parse(KubernetesJson.Serialize(status)) };
                await plain.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
                    new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural, run.Metadata.Name, cancellationToken: ct);
            });
            var elapsed = watch.Elapsed;
            var serverCpu = await ServerCpuSecondsAsync() - serverBefore;
            var eventsSent = Difference(requestsBefore, await CountRequestsAsync()).GetValueOrDefault("POST events");

            // The queued Events go out after the clock, as the operator's do after its runs are Pending; every one must
            // be on the server (the writer logs and drops a failed one, which would flatter this floor).
            await events.StopAsync(CancellationToken.None);
            var recorded = (await admin.CoreV1.ListNamespacedEventAsync(ns)).Items.Count;
            if (recorded != expectedEvents)
            {
                throw new InvalidOperationException($"the floor queued {expectedEvents} Events in {ns} but the server holds {recorded}");
            }

            var missing = await MissingAsync(ns);
            if (missing.Count > 0)
            {
                throw new InvalidOperationException($"the floor left {missing.Count} runs incomplete, e.g. {missing[0]}");
            }

            Console.WriteLine($"Floor ({writes}) in {ns}: {elapsed.TotalSeconds:F2} s, API server + etcd CPU {serverCpu:F2} s, {eventsSent} Events sent meanwhile");
            return new FloorPass(elapsed, serverCpu, eventsSent);
        }

        /// <summary>User + system CPU seconds of kube-apiserver and etcd so far: where the time of a write goes on this machine.</summary>
        public async Task<double> ServerCpuSecondsAsync()
        {
            serverPids ??= [
                await ChildPidAsync(plane.Components["kube-apiserver"], "kube-apiserver"),
                await ChildPidAsync(plane.Components["etcd"], "etcd"),
            ];
            var total = 0.0;
            foreach (var pid in serverPids)
            {
                total += await CpuSecondsAsync(pid);
            }

            return total;
        }

        /// <summary>ConfigMaps (1 KiB of data each) and Jobs that are not the operator's: its caches must not hold them.</summary>
        public async Task CreateUnrelatedAsync(string ns, int count)
        {
            var payload = new string('x', 1024);
            var labels = new Dictionary<string, string> { ["app"] = "unrelated" };
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = workers * 2 }, async (i, ct) =>
            {
                var name = $"unrelated-{i:D5}";
                await admin.CoreV1.CreateNamespacedConfigMapAsync(
                    new V1ConfigMap { Metadata = new V1ObjectMeta { Name = name, Labels = labels }, Data = new Dictionary<string, string> { ["payload"] = payload } }, ns, cancellationToken: ct);
                await admin.BatchV1.CreateNamespacedJobAsync(
                    new V1Job
                    {
                        Metadata = new V1ObjectMeta { Name = name, Labels = labels },
                        Spec = new V1JobSpec
                        {
                            BackoffLimit = 0,
                            Template = new V1PodTemplateSpec
                            {
                                Metadata = new V1ObjectMeta { Labels = labels },
                                Spec = new V1PodSpec
                                {
                                    RestartPolicy = "Never",
                                    Containers = [new V1Container { Name = "work", Image = "busybox", Command = ["sh", "-c", $"echo {name}"] }],
                                },
                            },
                        },
                    },
                    ns,
                    cancellationToken: ct);
            });
        }

        public async Task<OperatorPass> OperatorPassAsync(string ns, bool namespaceExists = false)
        {
            if (!namespaceExists)
            {
                await CreateNamespaceAsync(ns);
            }

            await ApplyRunsAsync(ns);
            var leaseName = $"syllabus-operator-{ns}";
            await HoldLeaseAsync(leaseName);

            var probePort = FreePort();
            List<string> arguments =
            [
                $"--Operator:Kubeconfig={plane.KubeconfigPath}",
                $"--Operator:ProbePort={probePort}",
                $"--Operator:Namespaces:0={ns}",
                $"--Operator:DefaultWorkers={workers}",
                "--Operator:LeaderElection:Enabled=true",
                $"--Operator:LeaderElection:LeaseNamespace={LeaseNamespace}",
                $"--Operator:LeaderElection:LeaseName={leaseName}",
                "--Operator:LeaderElection:RetryPeriod=00:00:00.2",
            ];
            if (qps > 0)
            {
                arguments.Add($"--Operator:ClientQps={qps}");
                arguments.Add($"--Operator:ClientBurst={burst}");
            }

            // The working directory is the operator's own folder, so the shipped appsettings.json applies (content root).
            var logPath = Path.Combine(plane.WorkDirectory, $"operator-{ns}.log");
            var start = launch.ProcessName == "dotnet"
                ? new ProcessStartInfo(Dotnet()) { WorkingDirectory = Path.GetDirectoryName(launch.Path)! }.With([launch.Path, .. arguments])
                : new ProcessStartInfo(launch.Path) { WorkingDirectory = Path.GetDirectoryName(launch.Path)! }.With(arguments);
            foreach (var (name, value) in ShippedEnvironment.Value)
            {
                start.Environment[name] = value;
            }

            if (gc == "server")
            {
                start.Environment["DOTNET_gcServer"] = "1";
                start.Environment["DOTNET_gcConcurrent"] = "1";
            }

            var startingUp = Stopwatch.StartNew();
            await using var process = ManagedProcess.Start($"operator-{ns}", start, logPath);
            var pid = await ChildPidAsync(process, launch.ProcessName);
            using var probe = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{probePort}"), Timeout = TimeSpan.FromSeconds(5) };
            await WaitUntilAsync(async () => await OkAsync(probe, "/healthz"), "the operator's /healthz", TimeSpan.FromSeconds(120), process);
            var startUp = startingUp.Elapsed;

            // The benchmark's own view of the runs, for the clock; verified on the server afterwards.
            using var watchClient = plane.CreateClient();
            var informers = new InformerFactory(watchClient, new InformerOptions { Namespaces = [ns], ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLoggerFactory.Instance);
            var informer = informers.Get<TrainingRun>();
            var pending = new ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
            var allPending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void Observe(TrainingRun run)
            {
                if (run.Status?.Phase == TrainingRunPhases.Pending && pending.TryAdd(run.Metadata.Name, true) && pending.Count == runs)
                {
                    allPending.TrySetResult();
                }
            }

            informer.AddHandler(new ResourceEventHandler<TrainingRun>(OnAdd: Observe, OnUpdate: (_, run) => Observe(run)));
            using var stopInformers = new CancellationTokenSource();
            var informing = informers.RunAsync(stopInformers.Token);
            await informers.WaitForSyncAsync(CancellationToken.None);

            var (_, idle) = await ReadMemoryAsync(pid);
            using var sampling = new CancellationTokenSource();
            var sampler = SampleResidentAsync(pid, sampling.Token);

            var before = await CountRequestsAsync();
            var reconcilesBefore = await ReconcilesAsync(probe);
            var cpuBefore = await CpuSecondsAsync(pid);
            var serverBefore = await ServerCpuSecondsAsync();
            var clock = Stopwatch.StartNew();
            await admin.CoordinationV1.DeleteNamespacedLeaseAsync(leaseName, LeaseNamespace);
            await WaitUntilAsync(() => Task.FromResult(allPending.Task.IsCompleted), $"all {runs} runs in {ns} to be Pending (log: {logPath})", TimeSpan.FromMinutes(30), process);
            var elapsed = clock.Elapsed;
            var burstCpu = await CpuSecondsAsync(pid) - cpuBefore;
            var burstServerCpu = await ServerCpuSecondsAsync() - serverBefore;
            var afterBurst = await CountRequestsAsync();
            var reconcilesAfterBurst = await ReconcilesAsync(probe);
            Console.WriteLine($"Operator in {ns}: all {runs} Pending {elapsed.TotalSeconds:F2} s after the lease was released");

            // Pending is written by a run's first reconcile; its children's watch events bring a second one, which
            // writes the status once more (Scheduled: "Created Job" becomes "has no pod yet") and events are still
            // being sent. Settled: no request for 3 s.
            var settle = Stopwatch.StartNew();
            var settled = afterBurst;
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(3));
                var now = await CountRequestsAsync();
                if (Difference(settled, now).Count == 0)
                {
                    break;
                }

                settled = now;
                if (settle.Elapsed > TimeSpan.FromMinutes(10))
                {
                    throw new TimeoutException($"the operator kept sending requests for 10 minutes after all runs were Pending: {Describe(Difference(afterBurst, now))}");
                }
            }

            Console.WriteLine($"Operator in {ns}: quiet {settle.Elapsed.TotalSeconds:F0} s after all Pending");

            // Steady state: every Pending run is requeued after Trainer:ProgressInterval and finds nothing to do.
            var relists = informer.Relists;
            var reconcilesSettled = await ReconcilesAsync(probe);
            await Task.Delay(TimeSpan.FromSeconds(steadySeconds));
            var afterSteady = await CountRequestsAsync();
            var reconcilesAfterSteady = await ReconcilesAsync(probe);
            if (informer.Relists != relists)
            {
                Console.Error.WriteLine("warning: the benchmark's own watch relisted during the steady-state window; LIST counts include it.");
            }

            var missing = await MissingAsync(ns);
            process.ThrowIfExited();
            var (peak, end) = await ReadMemoryAsync(pid);
            await sampling.CancelAsync();
            await sampler;
            await stopInformers.CancelAsync();
            await informing;
            Console.WriteLine($"Operator in {ns}: peak working set {peak:F1} MiB");
            return new OperatorPass(
                elapsed,
                Difference(before, afterBurst),
                Difference(reconcilesBefore, reconcilesAfterBurst),
                Difference(before, settled),
                Difference(settled, afterSteady),
                Difference(reconcilesSettled, reconcilesAfterSteady),
                peak,
                end,
                idle,
                startUp,
                burstCpu,
                burstServerCpu,
                missing);
        }

        /// <summary>Runs of <paramref name="ns"/> without their ConfigMap, attempt-1 Job or phase Pending, from the server.</summary>
        private async Task<IReadOnlyList<string>> MissingAsync(string ns)
        {
            var list = await admin.CustomObjects.ListNamespacedCustomObjectAsync<ResourceList<TrainingRun>>(SyllabusGroup.Name, SyllabusGroup.Version, ns, TrainingRun.Plural);
            var jobs = (await admin.BatchV1.ListNamespacedJobAsync(ns)).Items.Select(j => j.Metadata.Name).ToHashSet(StringComparer.Ordinal);
            var configMaps = (await admin.CoreV1.ListNamespacedConfigMapAsync(ns)).Items.Select(c => c.Metadata.Name).ToHashSet(StringComparer.Ordinal);
            var missing = new List<string>();
            var names = list.Items.Select(r => r.Metadata.Name).ToHashSet(StringComparer.Ordinal);
            missing.AddRange(Enumerable.Range(0, runs).Select(RunName).Where(n => !names.Contains(n)).Select(n => $"{ns}/{n}: the run itself"));
            foreach (var run in list.Items)
            {
                var name = run.Metadata.Name;
                var problems = new List<string>();
                if (!jobs.Contains(TrainingRunNames.Job(name, 1)))
                {
                    problems.Add("no Job");
                }

                if (!configMaps.Contains(TrainingRunNames.ConfigMap(name)))
                {
                    problems.Add("no ConfigMap");
                }

                if (run.Status?.Phase != TrainingRunPhases.Pending)
                {
                    problems.Add($"phase {run.Status?.Phase ?? "(none)"}");
                }

                if (problems.Count > 0)
                {
                    missing.Add($"{ns}/{name}: {string.Join(", ", problems)}");
                }
            }

            return missing;
        }

        /// <summary>Takes the operator's lease for the benchmark, so a started operator waits (as a standby) until it is deleted.</summary>
        private async Task HoldLeaseAsync(string leaseName)
        {
            var now = DateTime.UtcNow;
            await admin.CoordinationV1.CreateNamespacedLeaseAsync(
                new V1Lease
                {
                    Metadata = new V1ObjectMeta { Name = leaseName, NamespaceProperty = LeaseNamespace },
                    Spec = new V1LeaseSpec { HolderIdentity = GateHolder, LeaseDurationSeconds = 3600, AcquireTime = now, RenewTime = now },
                },
                LeaseNamespace);
        }

        /// <summary>apiserver_request_total over <see cref="OperatorResources"/> by "VERB resource[/subresource]", WATCH excluded (a watch is one long request).</summary>
        private async Task<Dictionary<string, long>> CountRequestsAsync()
        {
            using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator };
            using var http = new HttpClient(handler);
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(plane.ApiServerUri, "/metrics"));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", plane.CreateClientConfiguration().AccessToken);
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var (labels, value) in Series(await response.Content.ReadAsStringAsync(), "apiserver_request_total"))
            {
                if (labels.TryGetValue("resource", out var resource) && OperatorResources.Contains(resource)
                    && labels.TryGetValue("verb", out var verb) && verb != "WATCH")
                {
                    var subresource = labels.GetValueOrDefault("subresource") is { Length: > 0 } sub ? "/" + sub : "";
                    var key = $"{verb} {resource}{subresource}";
                    counts[key] = counts.GetValueOrDefault(key) + value;
                }
            }

            return counts;
        }

        /// <summary>The operator's TrainingRun reconciles so far by result, from its own /metrics.</summary>
        private static async Task<Dictionary<string, long>> ReconcilesAsync(HttpClient probe)
        {
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var (labels, value) in Series(await probe.GetStringAsync("/metrics"), "syllabus_reconcile_total"))
            {
                if (labels.GetValueOrDefault("kind") == TrainingRun.KindName)
                {
                    var result = labels.GetValueOrDefault("result") ?? "unknown";
                    counts[result] = counts.GetValueOrDefault(result) + value;
                }
            }

            return counts;
        }

        private static IEnumerable<(Dictionary<string, string> Labels, long Value)> Series(string text, string metric)
        {
            foreach (var line in text.Split('\n'))
            {
                if (!line.StartsWith(metric + "{", StringComparison.Ordinal))
                {
                    continue;
                }

                var close = line.LastIndexOf('}');
                var labels = Regex.Matches(line[..close], "(\\w+)=\"([^\"]*)\"").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value, StringComparer.Ordinal);
                var value = line[(close + 1)..].Trim().Split(' ')[0];
                yield return (labels, (long)double.Parse(value, CultureInfo.InvariantCulture));
            }
        }

        private static Dictionary<string, long> Difference(Dictionary<string, long> before, Dictionary<string, long> after) =>
            after.Select(a => (a.Key, Value: a.Value - before.GetValueOrDefault(a.Key))).Where(d => d.Value != 0).ToDictionary(d => d.Key, d => d.Value, StringComparer.Ordinal);

        /// <summary>Samples VmRSS while the pass runs; the kernel's VmHWM is the peak, this keeps the process observed to the end.</summary>
        private static async Task SampleResidentAsync(int pid, CancellationToken ct)
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await ReadMemoryAsync(pid);
                    await Task.Delay(200, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        /// <summary>User plus system CPU time of <paramref name="pid"/> so far, from /proc/PID/stat (utime, stime in clock ticks of 1/100 s).</summary>
        private static async Task<double> CpuSecondsAsync(int pid)
        {
            var stat = await File.ReadAllTextAsync($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }

        /// <summary>VmHWM (peak resident set) and VmRSS of <paramref name="pid"/> in MiB.</summary>
        private static async Task<(double Peak, double Now)> ReadMemoryAsync(int pid)
        {
            var status = await File.ReadAllLinesAsync($"/proc/{pid}/status");
            double Field(string name) =>
                status.Where(l => l.StartsWith(name + ":", StringComparison.Ordinal))
                    .Select(l => long.Parse(l[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0)
                    .Single();
            return (Field("VmHWM"), Field("VmRSS"));
        }

        /// <summary>The process (its /proc comm: "dotnet", "etcd", or an executable's first 15 characters) under a ManagedProcess guard (bash is the guard's own PID).</summary>
        private static async Task<int> ChildPidAsync(ManagedProcess guard, string processName)
        {
            for (var tries = 0; tries < 100; tries++)
            {
                foreach (var directory in Directory.EnumerateDirectories("/proc"))
                {
                    if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                    {
                        continue;
                    }

                    try
                    {
                        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so parse after the last ')'.
                        var stat = await File.ReadAllTextAsync(Path.Combine(directory, "stat"));
                        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                        if (int.Parse(fields[1], CultureInfo.InvariantCulture) == guard.ProcessId && stat.Contains($"({processName})", StringComparison.Ordinal))
                        {
                            return pid;
                        }
                    }
                    catch (IOException)
                    {
                    }
                }

                await Task.Delay(100);
            }

            throw new InvalidOperationException($"no {processName} child of the guard process {guard.ProcessId} ({guard.Name})");
        }

        private static async Task<bool> OkAsync(HttpClient probe, string path)
        {
            try
            {
                using var response = await probe.GetAsync(path);
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }

        private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout, ManagedProcess process)
        {
            var deadline = Stopwatch.StartNew();
            while (!await condition())
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"the operator exited ({process.ExitCode}) while waiting for {what}:\n{process.Tail()}");
                }

                if (deadline.Elapsed > timeout)
                {
                    throw new TimeoutException($"timed out after {timeout.TotalSeconds:0} s waiting for {what}:\n{process.Tail()}");
                }

                await Task.Delay(20);
            }
        }

        private static string RunName(int i) => $"run-{i:D5}";

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        private static string Dotnet() =>
            Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
                ? host
                : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists)
                    ?? throw new InvalidOperationException("dotnet is not on PATH");
    }

    private static ProcessStartInfo With(this ProcessStartInfo start, IEnumerable<string> arguments)
    {
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }
}

/// <summary>How the benchmark starts the operator: the file it runs, and the process name /proc shows for it.</summary>
internal sealed record OperatorLaunch(string Path, string ProcessName);
