using System.Buffers;
using System.IO.Pipelines;

namespace Hbone.Http2;

/// <summary>
/// One CONNECT stream of <see cref="Http2ClientConnection"/>. Received DATA is copied once into a pipe the
/// application reads; flow-control credit goes back as the application consumes it.
/// </summary>
internal sealed class Http2ClientStream
{
    private readonly Http2ClientConnection _connection;
    private readonly ClientStreamInput _receive;
    // Once a tunnel took the response, a shared completed source stands in for it: an open tunnel keeps none of it.
    private static readonly TaskCompletionSource<Http2Response> s_delivered = Delivered();

    private TaskCompletionSource<Http2Response> _response = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _failure;
    private long _unconsumed;
    private bool _inputCompleted;

    // The receive side locks this stream, which nothing outside it locks; its input locks the same monitor (one object
    // fewer per open stream), so the input's writes under this lock just re-enter it.
    public Http2ClientStream(Http2ClientConnection connection, int id, long sendWindow, long receiveWindow, PipeScheduler readerScheduler)
    {
        _connection = connection;
        _receive = new ClientStreamInput(this, readerScheduler);
        Id = id;
        SendWindow = sendWindow;
        ReceiveAvailable = receiveWindow;
    }

    public int Id { get; }

    // The next four are guarded by the connection's lock.
    internal long SendWindow { get; set; }

    internal long ReceiveAvailable { get; set; }

    internal int ReceiveUnacked { get; set; }

    internal bool LocalEnded { get; private set; }

    internal bool RemoteEnded { get; private set; }

    internal bool IsFinished => (LocalEnded && RemoteEnded) || _failure is not null;

    public Http2ClientConnection Connection => _connection;

    public Task<Http2Response> Response => _response.Task;

    /// <summary>Received DATA; what the reader consumes goes back to the peer as window.</summary>
    public PipeReader Input => _receive;

    /// <summary>The tunnel told how many bytes its reader consumed (its byte counters), after the window was updated.</summary>
    internal Client.HboneStream? Tunnel { get; set; }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) =>
        _connection.SendDataAsync(this, data, endStream: false, cancellationToken);

    /// <summary>Sends END_STREAM (the tunnel's FIN) unless it was already sent.</summary>
    public ValueTask CompleteWritesAsync(CancellationToken cancellationToken) =>
        LocalEnded || _failure is not null ? ValueTask.CompletedTask : _connection.SendDataAsync(this, ReadOnlyMemory<byte>.Empty, endStream: true, cancellationToken);

    /// <summary>Resets the stream (RST_STREAM); reads and writes fail afterwards.</summary>
    public void Abort(Http2ErrorCode code = Http2ErrorCode.Cancel)
    {
        if (IsFinished)
        {
            return;
        }

        Fail(new Http2StreamResetException(code, $"The stream was reset locally ({code})."));
        _connection.ResetStream(this, code);
    }

    public void OnConsumed(int count)
    {
        lock (this)
        {
            if (_inputCompleted)
            {
                return; // everything still unconsumed was given back already
            }

            _unconsumed -= count;
        }

        _connection.OnDataConsumed(this, count);
        Tunnel?.OnReceived(count);
    }

    /// <summary>Called by the tunnel once it holds what it needs of the response (status and headers were read).</summary>
    internal void ReleaseResponse() => Volatile.Write(ref _response, s_delivered);

    internal void MarkLocalEnded() => LocalEnded = true;

    internal void ThrowIfCannotSendLocked()
    {
        if (_failure is not null)
        {
            throw _failure;
        }

        if (LocalEnded)
        {
            throw new InvalidOperationException("The stream's write side is already completed (END_STREAM sent).");
        }
    }

    internal void OnHeaders(ResponseHeaderCollector headers, bool endStream)
    {
        if (_response.Task.IsCompleted)
        {
            // Trailers on a CONNECT stream are malformed (RFC 9113 §8.5): a stream error.
            ProtocolError("HEADERS after the response on a CONNECT stream.");
            return;
        }

        if (headers.Status is < 100 or > 999 || headers.HasInvalidPseudoHeader)
        {
            ProtocolError("The response has no valid :status or carries an unknown pseudo-header.");
            return;
        }

        if (headers.Status < 200)
        {
            // Interim responses are skipped; the final one follows.
            return;
        }

        if (endStream)
        {
            lock (this)
            {
                if (_failure is null)
                {
                    MarkRemoteEndedLocked();
                }
            }
        }

        _response.TrySetResult(new Http2Response(headers.Status, headers.ToArray(), endStream));
        if (IsFinished)
        {
            _connection.RemoveStream(this);
        }
    }

    /// <summary>Buffers received DATA for the application; returns how many bytes it took (they count as unconsumed).</summary>
    internal int OnData(in ReadOnlySequence<byte> data, bool endStream)
    {
        if (!_response.Task.IsCompleted)
        {
            ProtocolError("DATA before the response headers.");
            return 0;
        }

        lock (this)
        {
            // Checked under the lock: an abort on another thread completes the pipe writer (see Fail).
            if (RemoteEnded || _failure is not null || _inputCompleted)
            {
                return 0;
            }

            // Never waits: flow control already bounds what the input holds.
            _unconsumed += data.Length;
            _receive.Write(data);
            if (endStream)
            {
                MarkRemoteEndedLocked();
            }
        }

        if (endStream && IsFinished)
        {
            _connection.RemoveStream(this);
        }

        return (int)data.Length;
    }

    /// <summary>
    /// The application will read no more: bytes it left in the pipe go back to the connection window, which
    /// would otherwise shrink for good with every tunnel closed before reading everything.
    /// </summary>
    internal void OnInputCompleted()
    {
        long left;
        lock (this)
        {
            _inputCompleted = true;
            left = _unconsumed;
            _unconsumed = 0;
        }

        if (left > 0)
        {
            _connection.CreditConnection((int)left);
        }
    }

    internal void OnReset(Http2ErrorCode code) => Fail(new Http2StreamResetException(code));

    internal void OnConnectionAborted(Exception reason) => Fail(reason);

    internal void FailLocalProtocolError(Http2ErrorCode code) =>
        Fail(new Http2StreamResetException(code, $"The stream was reset for a protocol violation by the peer ({code})."));

    private static TaskCompletionSource<Http2Response> Delivered()
    {
        var delivered = new TaskCompletionSource<Http2Response>();
        delivered.SetResult(new Http2Response(200, [], false));
        return delivered;
    }

    private void ProtocolError(string message)
    {
        Fail(new Http2StreamResetException(Http2ErrorCode.ProtocolError, message));
        _connection.ResetStream(this, Http2ErrorCode.ProtocolError);
    }

    private void MarkRemoteEndedLocked()
    {
        RemoteEnded = true;
        _receive.CompleteWriting();
    }

    private void Fail(Exception reason)
    {
        // The pipe writer belongs to the connection's reader loop; a failure from another thread (an abort, a
        // cancelled connect) takes the same lock so it never completes the writer in the middle of a write.
        lock (this)
        {
            if (_failure is not null)
            {
                return;
            }

            _failure = reason;
            if (!RemoteEnded)
            {
                _receive.Fail(reason);
            }
        }

        _response.TrySetException(reason);

        // A failed stream's pipe throws on read: what it holds goes back to the connection window now, also
        // for a refused CONNECT that never became an HboneStream.
        OnInputCompleted();
    }
}
