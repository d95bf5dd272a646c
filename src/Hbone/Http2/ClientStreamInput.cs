using System.IO.Pipelines;

namespace Hbone.Http2;

/// <summary>A client stream's received DATA; what the application consumes goes back to the peer as window.</summary>
internal sealed class ClientStreamInput(Http2ClientStream stream, PipeScheduler scheduler) : StreamInputBuffer(scheduler, stream)
{
    protected override void OnConsumed(long count) => stream.OnConsumed((int)count);

    protected override void OnReaderCompleted() => stream.OnInputCompleted();
}
