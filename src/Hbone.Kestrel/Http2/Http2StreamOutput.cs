using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Hbone.Kestrel.Http2;

/// <summary>
/// The tunnel's output: bytes are staged in one pooled buffer (rented on first use, returned once sent, so an
/// idle stream holds none) and framed as DATA into the connection's transport writer on flush, as the peer's
/// windows allow. A flush completes only once everything was framed: a stalled peer pauses the producer.
/// </summary>
internal sealed class Http2StreamOutput : PipeWriter
{
    private const int MinimumBuffer = 4096;

    private readonly Http2ServerStream _stream;
    private byte[]? _buffer;
    private int _length;
    private bool _completed;
    private Task? _completion;

    public Http2StreamOutput(Http2ServerStream stream)
    {
        _stream = stream;
    }

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _length;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureCapacity(sizeHint);
        return _buffer.AsMemory(_length);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureCapacity(sizeHint);
        return _buffer.AsSpan(_length);
    }

    public override void Advance(int bytes)
    {
        if (_buffer is null || (uint)bytes > (uint)(_buffer.Length - _length))
        {
            throw new ArgumentOutOfRangeException(nameof(bytes));
        }

        _length += bytes;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        }

        if (_length == 0)
        {
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: _stream.IsReset));
        }

        return SendAsync(endStream: false, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> SendAsync(bool endStream, CancellationToken cancellationToken = default)
    {
        bool sent;
        try
        {
            sent = await _stream.Connection.SendDataAsync(_stream, _buffer.AsMemory(0, _length), endStream, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Release();
        }

        return new FlushResult(isCanceled: false, isCompleted: !sent);
    }

    public override void CancelPendingFlush() => _stream.Connection.WakeStream(_stream);

    public override void Complete(Exception? exception = null) => _ = CompleteAsync(exception).AsTask();

    public override ValueTask CompleteAsync(Exception? exception = null)
    {
        if (_completed)
        {
            return _completion is null ? default : new ValueTask(_completion);
        }

        _completed = true;
        if (exception is not null)
        {
            Release();
            _stream.Reset(Hbone.Http2.Http2ErrorCode.InternalError);
            return default;
        }

        var ending = SendAsync(endStream: true);
        if (ending.IsCompletedSuccessfully)
        {
            return default;
        }

        _completion = ending.AsTask();
        return new ValueTask(_completion);
    }

    private void EnsureCapacity(int sizeHint)
    {
        if (_completed)
        {
            throw new InvalidOperationException("The tunnel's output was completed.");
        }

        var needed = Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, MinimumBuffer));
            return;
        }

        if (_buffer.Length - _length < needed)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_length + needed, _buffer.Length * 2));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
    }

    private void Release()
    {
        _length = 0;
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
