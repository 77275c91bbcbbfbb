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
        var runs = new RecordingClient<TrainingRun>();
        var expectations = new Expectations<TrainingRun>(time);
        var jobs = new ResourceCache<V1Job>();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var reconciler = Reconciler(services, time, runs, new RecordingClient<V1Job>(), jobs, expectations);

        // The last reconcile created attempt 1's Job; its watch event has not reached the Job cache when the run is deleted.
        var run = DeletedRun();
        var key = ObjectKey.From(run);
        var jobName = TrainingRunNames.Job(run.Metadata.Name, 1);
        expectations.Expect(key, $"Job {jobName}", () => jobs.Get(run.Metadata.NamespaceProperty, jobName) is not null);

        var result = await reconciler.ReconcileAsync(run, TestContext.Current.CancellationToken);

        Assert.Equal(0, runs.FinalizerRemovals);
        Assert.NotNull(result.RequeueAfter);
    }

    [Fact]
    public async Task A_deleted_runs_Job_is_deleted_as_cached_by_its_UID_and_the_finalizer_stays_until_it_is_gone()
    {
        var time = new FakeTimeProvider(TestRuns.T0);
        var runs = new RecordingClient<TrainingRun>();
        var jobClient = new RecordingClient<V1Job>();
        var jobs = new ResourceCache<V1Job>();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var reconciler = Reconciler(services, time, runs, jobClient, jobs, new Expectations<TrainingRun>(time));
        var run = DeletedRun();
        var config = ResolvedConfigBuilder.Build(run, null, null);
        var job = TrainerJobBuilder.Build(run, config, TestRuns.Options(), attempt: 1, activeDeadlineSeconds: 3600);
        job.Metadata.Uid = "job-uid-1";
        jobs.Upsert(job);

        var result = await reconciler.ReconcileAsync(run, TestContext.Current.CancellationToken);

        // The delete names the object the decision was made on (its UID is the API server's precondition), never a name.
        var deleted = Assert.Single(jobClient.DeletedObjects);
        Assert.Equal("job-uid-1", deleted.Metadata.Uid);
        Assert.Equal(0, runs.FinalizerRemovals);
        Assert.NotNull(result.RequeueAfter);
    }

    private static TrainingRunReconciler Reconciler(
        ServiceProvider services, FakeTimeProvider time, RecordingClient<TrainingRun> runs, RecordingClient<V1Job> jobClient, ResourceCache<V1Job> jobs, Expectations<TrainingRun> expectations) =>
        new(
            runs,
            jobClient,
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

    private static TrainingRun DeletedRun()
    {
        var run = TestRuns.Run();
        run.Metadata.ResourceVersion = "7";
        run.Metadata.Finalizers = [TrainingRunNames.Finalizer];
        run.Metadata.DeletionTimestamp = TestRuns.T0.UtcDateTime;
        return run;
    }

    /// <summary>Records finalizer removals and deletes by identity, the only writes of this path; anything else throws.</summary>
    private sealed class RecordingClient<T> : IResourceClient<T>
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        public int FinalizerRemovals { get; private set; }

        public List<T> DeletedObjects { get; } = [];

        public Task<T?> RemoveFinalizerAsync(T resource, string finalizer, CancellationToken ct = default)
        {
            FinalizerRemovals++;
            return Task.FromResult<T?>(resource);
        }

        public Task<bool> DeleteAsync(T observed, CancellationToken ct = default)
        {
            DeletedObjects.Add(observed);
            return Task.FromResult(true);
        }

        public Task<T?> GetAsync(string ns, string name, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<T>> ListAsync(string? ns = null, string? labelSelector = null, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<T> CreateAsync(T obj, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<T> CreateOrGetAsync(T obj, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<T> PatchAsync(string ns, string name, V1Patch patch, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<bool> DeleteAsync(string ns, string name, CancellationToken ct = default) => throw new NotSupportedException("a reconciler deletes what it observed, by identity");

        public Task<T> UpdateStatusAsync(T observed, object? status, CancellationToken ct = default) => throw new NotSupportedException();

        public Task<T> AddFinalizerAsync(T resource, string finalizer, CancellationToken ct = default) => throw new NotSupportedException();
    }
}
