using System.Threading.Channels;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Syllabus.Runtime;

/// <summary>
/// What reconcilers record Events through, as client-go's broadcaster: <see cref="RecordAsync"/> queues the Event and
/// returns, one background writer sends it through <see cref="EventRecorder"/> (which aggregates repeats), so a
/// reconcile never waits for an Event's round trip. The queue is bounded like client-go's (1,000 by default): when it
/// is full the Event is dropped and a warning logged, never the reconcile blocked. Stopping the host drains what is
/// queued, within the host's shutdown timeout.
/// </summary>
public sealed partial class QueuedEventRecorder : IEventRecorder, IHostedService, IDisposable
{
    private readonly EventRecorder writer;
    private readonly ILogger<QueuedEventRecorder> log;
    private readonly Channel<QueuedEvent> queue;
    private readonly CancellationTokenSource stopping = new();
    private Task? drain;
    private int disposed;

    public QueuedEventRecorder(EventRecorder writer, EventRecorderOptions options, ILogger<QueuedEventRecorder> log)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.writer = writer;
        this.log = log;
        queue = Channel.CreateBounded<QueuedEvent>(new BoundedChannelOptions(options.QueueLimit)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of dropping silently
            SingleReader = true,
        });
    }

    public Task RecordAsync(IKubernetesObject<V1ObjectMeta> obj, string type, string reason, string message, CancellationToken ct = default)
    {
        EventRecorder.Check(obj, type, reason);
        if (!queue.Writer.TryWrite(new QueuedEvent(obj, type, reason, message)))
        {
            LogDropped(reason, ObjectKey.From(obj));
        }

        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        drain = Task.Run(() => DrainAsync(stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        queue.Writer.TryComplete();
        if (drain is null)
        {
            return;
        }

        // The queued Events go out until the host's shutdown timeout, then the writer is cancelled.
        using var registration = cancellationToken.Register(stopping.Cancel);
        await drain.ConfigureAwait(false);
    }

    private async Task DrainAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var e in queue.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    await writer.RecordAsync(e.Object, e.Type, e.Reason, e.Message, ct).ConfigureAwait(false);
                }
                catch (Exception failure) when (!ct.IsCancellationRequested)
                {
                    // One Event that could not be written (a client timeout surfaces as a cancellation) must not stop
                    // the writer: every later Event would be lost.
                    LogWriteFailed(failure, e.Reason, ObjectKey.From(e.Object));
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            LogAbandoned(queue.Reader.Count);
        }
    }

    // The container disposes this once per registration it was resolved through (the recorder and the hosted service).
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        stopping.Cancel();
        stopping.Dispose();
    }

    private sealed record QueuedEvent(IKubernetesObject<V1ObjectMeta> Object, string Type, string Reason, string Message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {Reason} about {Key} dropped: the event queue is full")]
    private partial void LogDropped(string reason, ObjectKey key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event {Reason} about {Key} could not be written")]
    private partial void LogWriteFailed(Exception exception, string reason, ObjectKey key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Shutdown timed out with {Count} Events still queued; they are not recorded")]
    private partial void LogAbandoned(int count);
}
