using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Syllabus.Runtime;
using Syllabus.Testing;

namespace Syllabus.Benchmarks.Operator;

/// <summary>The runtime alone: a test kind and a minimal reconciler (mode "widgets", the default).</summary>
internal static class WidgetBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        // Operator runtime benchmark: N objects of a test kind, a controller whose reconciler reads the cached object and
        // writes status through the status subresource, against the floor of the same writes from a plain client.
        // Usage: dotnet run -c Release --project tests/Syllabus.Benchmarks.Operator -- [widgets] [--objects 1000] [--workers 8]
        var objects = BenchArgs.Int(args, "--objects", 1000);
        var workers = BenchArgs.Int(args, "--workers", 8);
        BenchArgs.RequireKnown(args, "--objects", "--workers");
        if (ControlPlane.SkipReason is { } skip)
        {
            Console.Error.WriteLine($"Cannot run: {skip}");
            return 2;
        }

        Console.WriteLine($"Starting etcd + kube-apiserver ({objects} objects, {workers} workers / concurrent writers)...");
        // The watch cache on, as on real clusters (the fixture turns it off by default only so that compaction yields 410s).
        await using var plane = await ControlPlane.StartAsync(new ControlPlaneOptions { WatchCache = true });
        var crdDir = Directory.CreateTempSubdirectory("bench-crd-");
        await File.WriteAllTextAsync(Path.Combine(crdDir.FullName, "benchwidgets.yaml"), BenchWidget.CrdYaml);
        await plane.InstallCrdsAsync(crdDir.FullName);
        crdDir.Delete(recursive: true);

        using var setup = plane.CreateClient();
        const string Group = "bench.syllabus.dev";
        const string Plural = "benchwidgets";
        foreach (var ns in new[] { "bench-floor-1", "bench-operator", "bench-floor-2" })
        {
            await setup.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } });
            var created = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, objects), new ParallelOptions { MaxDegreeOfParallelism = workers }, async (i, ct) =>
                await setup.CustomObjects.CreateNamespacedCustomObjectAsync(
                    new BenchWidget
                    {
                        Metadata = new V1ObjectMeta { Name = $"w{i:D5}", NamespaceProperty = ns },
                        Spec = new BenchWidgetSpec { Size = i, Labels = new() { ["team"] = "ml", ["tier"] = (i % 3).ToString(CultureInfo.InvariantCulture) } },
                    },
                    Group,
                    "v1",
                    ns,
                    Plural,
                    cancellationToken: ct));
            Console.WriteLine($"Created {objects} objects in {ns} in {created.Elapsed.TotalSeconds:F2} s");
        }

        // Floor: one list (what an informer does first), then the same status writes from a plain client at the same
        // concurrency. Run before and after the operator so warm-up and database growth do not favour either side.
        var floorBefore = await FloorAsync("bench-floor-1");

        // Operator: informer (list + watch) and a controller; time until every object's status is written.
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new OperatorMetrics(services.GetRequiredService<IMeterFactory>());
        long workTicks = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == OperatorMetrics.MeterName && instrument.Name == "syllabus.workqueue.work.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, _, _) => Interlocked.Add(ref workTicks, (long)(seconds * TimeSpan.TicksPerSecond)));
        listener.Start();

        using var operatorClient = plane.CreateClient();
        var reconciler = new BenchReconciler(new ResourceClient<BenchWidget>(operatorClient), objects);
        var factory = new InformerFactory(operatorClient, new InformerOptions { Namespaces = ["bench-operator"], ResyncPeriod = TimeSpan.Zero }, TimeProvider.System, NullLoggerFactory.Instance);
        var controller = new Controller<BenchWidget>(factory.Get<BenchWidget>(), reconciler, new ControllerOptions { Workers = workers }, TimeProvider.System, NullLogger.Instance, metrics);

        using var process = Process.GetCurrentProcess();
        long peakWorkingSet = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                process.Refresh();
                peakWorkingSet = Math.Max(peakWorkingSet, process.WorkingSet64);
                try
                {
                    await Task.Delay(20, sampling.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        using var stop = new CancellationTokenSource();
        var operatorTime = Stopwatch.StartNew();
        var informers = factory.RunAsync(stop.Token);
        await controller.StartAsync(CancellationToken.None);
        await reconciler.AllDone.WaitAsync(TimeSpan.FromMinutes(10));
        operatorTime.Stop();
        await controller.StopAsync(CancellationToken.None);
        await stop.CancelAsync();
        await informers;
        await sampling.CancelAsync();
        await sampler;

        // Check the result on the server, not just the reconciler's own count.
        var floorAfter = await FloorAsync("bench-floor-2");
        var floor = floorBefore < floorAfter ? floorBefore : floorAfter;

        var written = await setup.CustomObjects.ListNamespacedCustomObjectAsync<ResourceList<BenchWidget>>(Group, "v1", "bench-operator", Plural);
        var observed = written.Items.Count(w => w.Status?.Writer == "operator" && w.Status.ObservedGeneration == w.Metadata.Generation);
        if (observed != objects)
        {
            Console.Error.WriteLine($"Only {observed}/{objects} objects carry the operator's status.");
            return 1;
        }

        var work = TimeSpan.FromTicks(Interlocked.Read(ref workTicks));
        var api = reconciler.ApiTime;
        var ratio = operatorTime.Elapsed / floor;
        Console.WriteLine();
        Console.WriteLine($"objects                         {objects}");
        Console.WriteLine($"workers / concurrent writers    {workers}");
        Console.WriteLine($"reconciles                      {controller.ReconcileCount}");
        Console.WriteLine($"operator: time to all reconciled {operatorTime.Elapsed.TotalSeconds:F2} s (list + watch + reconcile)");
        Console.WriteLine($"operator: reconciles/s          {controller.ReconcileCount / operatorTime.Elapsed.TotalSeconds:F0}");
        Console.WriteLine($"operator: peak working set      {peakWorkingSet / (1024.0 * 1024.0):F1} MiB (this process, during the run)");
        Console.WriteLine($"operator: time in workers       {work.TotalSeconds:F2} s, of which waiting on the API {api.TotalSeconds:F2} s");
        Console.WriteLine($"operator: own-code share        {(work - api) / work:P1} (copy, queue, status diff) vs API {api / work:P1}");
        Console.WriteLine($"floor: plain client, same writes {floorBefore.TotalSeconds:F2} s before, {floorAfter.TotalSeconds:F2} s after the operator run ({objects / floor.TotalSeconds:F0} writes/s at best)");
        Console.WriteLine($"ratio operator/floor            {ratio:F2} against the faster floor (target <= 1.5)");
        return 0;

        async Task<TimeSpan> FloorAsync(string ns)
        {
            using var plain = plane.CreateClient();
            var watch = Stopwatch.StartNew();
            var list = await plain.CustomObjects.ListNamespacedCustomObjectAsync<ResourceList<BenchWidget>>(Group, "v1", ns, Plural);
            await Parallel.ForEachAsync(list.Items, new ParallelOptions { MaxDegreeOfParallelism = workers }, async (w, ct) =>
            {
                w.Status = StatusFor(w, "floor", DateTimeOffset.UtcNow);
                await plain.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync<BenchWidget>(w, Group, "v1", ns, Plural, w.Metadata.Name, cancellationToken: ct);
            });
            return watch.Elapsed;
        }

        static BenchWidgetStatus StatusFor(BenchWidget w, string writer, DateTimeOffset now)
        {
            var status = new BenchWidgetStatus { ObservedGeneration = w.Metadata.Generation, Writer = writer };
            Conditions.SetCondition(status.Conditions, "Ready", Conditions.True, "Reconciled", $"size {w.Spec.Size}", w.Metadata.Generation, now);
            return status;
        }
    }
}

/// <summary>The typical reconcile: look at the cached object, compute status, write it once through the status subresource.</summary>
internal sealed class BenchReconciler(IResourceClient<BenchWidget> widgets, int expected) : IReconciler<BenchWidget>
{
    private readonly TaskCompletionSource allDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long apiTicks;
    private int done;

    public Task AllDone => allDone.Task;

    public TimeSpan ApiTime => TimeSpan.FromTicks(Interlocked.Read(ref apiTicks));

    public async Task<ReconcileResult> ReconcileAsync(BenchWidget resource, CancellationToken ct)
    {
        if (resource.Status?.Writer == "operator" && resource.Status.ObservedGeneration == resource.Metadata.Generation)
        {
            return ReconcileResult.Done;
        }

        var generation = resource.Metadata.Generation;
        var api = Stopwatch.StartNew();
        var status = resource.Status is null ? new BenchWidgetStatus() : KubernetesObjects.DeepClone(resource.Status);
        Conditions.SetCondition(status.Conditions, "Ready", Conditions.True, "Reconciled", $"size {resource.Spec.Size}", generation, DateTimeOffset.UtcNow);
        status.ObservedGeneration = generation;
        status.Writer = "operator";
        await widgets.UpdateStatusAsync(resource, status, ct);
        api.Stop();
        Interlocked.Add(ref apiTicks, api.Elapsed.Ticks);
        if (Interlocked.Increment(ref done) == expected)
        {
            allDone.TrySetResult();
        }

        return ReconcileResult.Done;
    }
}
