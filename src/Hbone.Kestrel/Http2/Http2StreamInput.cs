using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// The tunnel's input: the stream's pipe, plus flow control. What the consumer advances past is returned to
/// the peer as WINDOW_UPDATE, so a slow consumer slows the peer instead of growing a buffer.
/// </summary>
internal sealed class Http2StreamInput : PipeReader
{
    private readonly Http2ServerStream _stream;
    private readonly PipeReader _inner;
    private ReadOnlySequence<byte> _last;
    private volatile Exception? _failure;
    private bool _completed;

    public Http2StreamInput(Http2ServerStream stream, PipeReader inner)
    {
        _stream = stream;
        _inner = inner;
    }

    public void Fail(Exception reason)
    {
        _failure ??= reason;
        _inner.CancelPendingRead();
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfFailed();
        var pending = _inner.ReadAsync(cancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            return new ValueTask<ReadResult>(Observe(pending.Result));
        }

        return ReadSlowAsync(pending);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadSlowAsync(ValueTask<ReadResult> pending) => Observe(await pending.ConfigureAwait(false));

    public override bool TryRead(out ReadResult result)
    {
        ThrowIfFailed();
        if (_inner.TryRead(out result))
        {
            result = Observe(result);
            return true;
        }

        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        var count = _last.Slice(0, consumed).Length;
        _last = default;
        _inner.AdvanceTo(consumed, examined);
        if (count > 0)
        {
            _stream.Connection.OnInputConsumed(_stream, count);
        }
    }

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        _inner.Complete(exception);
        _stream.Connection.OnInputCompleted(_stream);
    }

    private ReadResult Observe(ReadResult result)
    {
        // A reset after the peer's END_STREAM must not read as a clean end.
        ThrowIfFailed();
        _last = result.Buffer;
        return result;
    }

    private void ThrowIfFailed()
    {
        if (_failure is { } failure)
        {
            throw failure is IOException io ? new IOException(io.Message, io) : failure;
        }
    }
}
