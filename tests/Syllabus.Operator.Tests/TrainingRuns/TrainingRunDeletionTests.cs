using System.Diagnostics.Metrics;
using k8s;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Syllabus.Api;
using Syllabus.Operator.TrainingRuns;
using Syllabus.Runtime;

namespace Syllabus.Operator.Tests.TrainingRuns;

/// <summary>The delete path of the TrainingRun reconciler over in-memory caches: the finalizer stays while a child may exist.</summary>
public sealed class TrainingRunDeletionTests
{
    [Fact]
    public async Task A_run_deleted_before_the_cache_shows_the_Job_it_just_created_keeps_its_finalizer()
    {
        var time = new FakeTimeProvider(TestRuns.T0);
        var runs = new RecordingRunClient();
        var expectations = new Expectations<TrainingRun>(time);
        var jobs = new ResourceCache<V1Job>();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var reconciler = new TrainingRunReconciler(
            runs,
            null!,
            null!,
            new TrainingRunCaches(
                CacheReader<TrainingRun>.Over(new ResourceCache<TrainingRun>()),
                CacheReader<V1Job>.Over(jobs),
                CacheReader<V1Pod>.Over(new ResourceCache<V1Pod>()),
                CacheReader<V1ConfigMap>.Over(new ResourceCache<V1ConfigMap>()),
                CacheReader<Curriculum>.Over(new ResourceCache<Curriculum>())),
            null!,
            expectations,
            null!,
            null!,
            Options.Create(TestRuns.Options()),
            new OperatorMetrics(services.GetRequiredService<IMeterFactory>()),
            time,
            NullLogger<TrainingRunReconciler>.Instance);

        // The last reconcile created attempt 1's Job; its watch event has not reached the Job cache when the run is deleted.
        var run = TestRuns.Run();
        run.Metadata.ResourceVersion = "7";
        run.Metadata.Finalizers = [TrainingRunNames.Finalizer];
        run.Metadata.DeletionTimestamp = TestRuns.T0.UtcDateTime;
        var key = ObjectKey.From(run);
        var jobName = TrainingRunNames.Job(run.Metadata.Name, 1);
        expectations.Expect(key, $"Job {jobName}", () => jobs.Get(run.Metadata.NamespaceProperty, jobName) is not null);

        var result = await reconciler.ReconcileAsync(run, TestContext.Current.CancellationToken);

        Assert.Equal(0, runs.FinalizerRemovals);
        Assert.NotNull(result.RequeueAfter);
    }

    /// <summary>Only the finalizer removal is expected on this path; anything else fails the test by throwing.</summary>
    private sealed class RecordingRunClient : IResourceClient<TrainingRun>
    {
        public int FinalizerRemovals { get; private set; }

        public Task<TrainingRun?> RemoveFinalizerAsync(TrainingRun resource, string finalizer, CancellationToken ct = default)
        {
            FinalizerRemovals++;
            return Task.FromResult<TrainingRun?>(resource);
        }

        public Task<TrainingRun?> GetAsync(string ns, string name, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<TrainingRun>> ListAsync(string? ns = null, string? labelSelector = null, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<TrainingRun> CreateAsync(TrainingRun obj, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<TrainingRun> CreateOrGetAsync(TrainingRun obj, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<TrainingRun> PatchAsync(string ns, string name, V1Patch patch, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> DeleteAsync(string ns, string name, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> DeleteAsync(TrainingRun observed, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<TrainingRun> UpdateStatusAsync(TrainingRun observed, object? status, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<TrainingRun> AddFinalizerAsync(TrainingRun resource, string finalizer, CancellationToken ct = default) => throw new NotSupportedException();
    }
}
