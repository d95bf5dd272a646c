using System.IO.Pipelines;
using Hbone.Http2;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// The tunnel's input, with flow control: what the consumer advances past is returned to the peer as
/// WINDOW_UPDATE, so a slow consumer slows the peer instead of growing a buffer.
/// </summary>
internal sealed class Http2StreamInput(Http2ServerStream stream, PipeScheduler scheduler) : StreamInputBuffer(scheduler, stream)
{
    protected override void OnConsumed(long count) => stream.Connection.OnInputConsumed(stream, count);

    protected override void OnReaderCompleted() => stream.Connection.OnInputCompleted(stream);
}
