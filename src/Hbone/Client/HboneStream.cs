using System.IO.Pipelines;
using Hbone.Http2;
using Hbone.Protocol;
using Hbone.Telemetry;

namespace Hbone.Client;

/// <summary>
/// An open HBONE tunnel: a duplex stream that exists only after the server answered 200. Writes become DATA,
/// <see cref="CompleteWritesAsync"/> sends END_STREAM (a FIN at the far end), <see cref="Abort()"/> sends
/// RST_STREAM CANCEL (a TCP RST at the far end). Reads end with 0 at the server's END_STREAM and throw
/// <see cref="Http2StreamResetException"/> when it resets the stream.
/// </summary>
public sealed class HboneStream : Stream
{
    private readonly Http2ClientStream _stream;
    private readonly PipeReader _input;
    private readonly HboneClientMetrics? _metrics;
    private readonly IAsyncDisposable? _owned;
    private long _bytesSent;
    private long _bytesReceived;
    private int _disposed;
    private PipeWriter? _output;

    internal HboneStream(Http2ClientStream stream, Http2Response response, TraceParent traceParent, HboneClientMetrics? metrics, IAsyncDisposable? owned = null)
    {
        _stream = stream;
        _metrics = metrics;
        _owned = owned;
        _input = stream.Input;
        stream.Tunnel = this;
        ResponseHeaders = response.Headers;
        stream.ReleaseResponse();
        TraceParent = traceParent;
    }

    /// <summary>Headers of the 200 response, such as the destination's <c>baggage</c>.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ResponseHeaders { get; }

    /// <summary>The trace context sent with the CONNECT.</summary>
    public TraceParent TraceParent { get; }

    /// <summary>Tunnel bytes received from the server side.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    /// <summary>Tunnel bytes sent to the server side.</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>The received bytes as a pipe, read without an extra copy; advancing it returns flow-control credit.</summary>
    public PipeReader Input => _input;

    /// <summary>
    /// A pipe writer over this stream: flushed bytes become DATA frames. Completing it does not end the tunnel;
    /// call <see cref="CompleteWritesAsync"/> for END_STREAM.
    /// </summary>
    public PipeWriter Output => _output ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    /// <inheritdoc />
    public override bool CanRead => true;

    /// <inheritdoc />
    public override bool CanWrite => true;

    /// <inheritdoc />
    public override bool CanSeek => false;

    /// <inheritdoc />
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc />
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc />
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
        var data = result.Buffer;
        if (data.IsEmpty)
        {
            _input.AdvanceTo(data.End);
            return 0;
        }

        var count = (int)Math.Min(data.Length, buffer.Length);
        var slice = data.Slice(0, count);
        System.Buffers.BuffersExtensions.CopyTo(slice, buffer.Span);
        _input.AdvanceTo(slice.End);
        return count;
    }

    /// <inheritdoc />
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _bytesSent, buffer.Length);
        _metrics?.BytesSent(buffer.Length);
    }

    /// <inheritdoc />
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc />
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    /// <summary>Frames are handed to the connection's writer as they are written; nothing is held back here.</summary>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public override void Flush()
    {
    }

    /// <summary>Sends END_STREAM: the far end sees a half-close (FIN) and may keep sending.</summary>
    public ValueTask CompleteWritesAsync(CancellationToken cancellationToken = default) => _stream.CompleteWritesAsync(cancellationToken);

    /// <summary>Resets the tunnel (RST_STREAM CANCEL); the far end's TCP connection is reset.</summary>
    public void Abort() => _stream.Abort(Http2ErrorCode.Cancel);

    /// <summary>Resets the tunnel with <paramref name="errorCode"/>; use CONNECT_ERROR when the local TCP side was reset.</summary>
    public void Abort(Http2ErrorCode errorCode) => _stream.Abort(errorCode);

    /// <summary>
    /// Copies between this tunnel and <paramref name="socket"/> until both sides half-closed, keeping half-close
    /// both ways: a socket RST resets the stream with CONNECT_ERROR, a stream reset resets the socket.
    /// </summary>
    public Task<TunnelOutcome> BridgeAsync(System.Net.Sockets.Socket socket, CancellationToken cancellationToken = default) =>
        new Relay.TunnelRelay(Relay.RelayEndpoint.Create(socket), Relay.RelayEndpoint.Create(this)).RunAsync(cancellationToken);

    /// <inheritdoc />
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc />
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>
    /// Ends the tunnel: after both sides finished nothing is sent; if only the server finished, END_STREAM;
    /// otherwise (data still coming) RST_STREAM CANCEL.
    /// </summary>
    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            if (!_stream.IsFinished)
            {
                if (_stream.RemoteEnded)
                {
                    await _stream.CompleteWritesAsync(CancellationToken.None).ConfigureAwait(false);
                }
                else
                {
                    _stream.Abort(Http2ErrorCode.Cancel);
                }
            }
        }
        catch (HboneException)
        {
            // The stream or connection already failed; there is nothing left to close.
        }
        finally
        {
            _input.Complete();
            if (_owned is not null)
            {
                await _owned.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Counts bytes the reader consumed; called by the HTTP/2 stream once their window went back.</summary>
    internal void OnReceived(int count)
    {
        Interlocked.Add(ref _bytesReceived, count);
        _metrics?.BytesReceived(count);
    }
}
